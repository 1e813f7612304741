/*
 * A stand-in for the part of Criterion's API that the thread tests use
 * (tests/unit/store/test_writer.c, tests/unit/server/test_workers.c), so that
 * those same sources can run under ThreadSanitizer. Criterion itself cannot:
 * its sandbox (BoxFort) maps a shared arena at random addresses between
 * 0x2000'0000'0000 and 0x7f00'0000'0000, which ThreadSanitizer reserves for
 * its shadow memory, and every test run aborts with "Could not initialize
 * inheritable arena". tests/tsan/runner.c runs each test in a child process
 * of its own and prints Criterion's "Synthesis:" line.
 */
#ifndef SB_TSAN_CRITERION_H
#define SB_TSAN_CRITERION_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tsan_test {
    const char *suite, *name;
    void (*fn)(void);
    struct tsan_test *next;
};

struct tsan_suite {
    const char *name;
    void (*init)(void);
    void (*fini)(void);
    double timeout;
    struct tsan_suite *next;
};

void tsan_register_test(struct tsan_test *t);
void tsan_register_suite(struct tsan_suite *s);
void tsan_fail(const char *file, int line, const char *what, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

#define Test(suite, name)                                                                  \
    static void tsan_fn_##suite##_##name(void);                                            \
    static struct tsan_test tsan_t_##suite##_##name = {#suite, #name,                      \
                                                       tsan_fn_##suite##_##name, NULL};    \
    __attribute__((constructor)) static void tsan_reg_##suite##_##name(void)               \
    {                                                                                      \
        tsan_register_test(&tsan_t_##suite##_##name);                                      \
    }                                                                                      \
    static void tsan_fn_##suite##_##name(void)

#define TestSuite(suite, ...)                                                              \
    static struct tsan_suite tsan_s_##suite = {.name = #suite, __VA_ARGS__};               \
    __attribute__((constructor)) static void tsan_regs_##suite(void)                       \
    {                                                                                      \
        tsan_register_suite(&tsan_s_##suite);                                              \
    }

/* The message, when given, starts with a string literal, as in Criterion. */
#define cr_assert(cond, ...)                                                               \
    do {                                                                                   \
        if (!(cond))                                                                       \
            tsan_fail(__FILE__, __LINE__, #cond, "" __VA_ARGS__);                          \
    } while (0)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_null(p, ...) cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_assert_not(cond, ...) cr_assert(!(cond), __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr_assert((a) <= (b), __VA_ARGS__)

#endif
