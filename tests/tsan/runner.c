/*
 * Runs the tests registered through tests/tsan/criterion/criterion.h, each in
 * a child process (as Criterion does), with its suite's init and fini and
 * timeout, and ends with Criterion's summary line so that scripts/test.sh
 * reads it the same way. A child that a sanitizer stops (exit code 66 under
 * ThreadSanitizer with halt_on_error=1) or that crashes counts as crashing.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "criterion/criterion.h"

static struct tsan_test *tests, **tests_tail = &tests;
static struct tsan_suite *suites;

void tsan_register_test(struct tsan_test *t)
{
    *tests_tail = t; /* in definition order */
    tests_tail = &t->next;
}

void tsan_register_suite(struct tsan_suite *s)
{
    s->next = suites;
    suites = s;
}

void tsan_fail(const char *file, int line, const char *what, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s:%d: Assertion failed: %s", file, line, what);
    if (*fmt) {
        fputs(": ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
    exit(1);
}

static const struct tsan_suite *suite_of(const struct tsan_test *t)
{
    for (const struct tsan_suite *s = suites; s; s = s->next)
        if (strcmp(s->name, t->suite) == 0)
            return s;
    return NULL;
}

int main(int argc, char **argv)
{
    int tested = 0, passing = 0, failing = 0, crashing = 0;
    const char *filter = NULL;

    /* A name filter; Criterion's own options (--jobs=2 from scripts/test.sh) are ignored. */
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] != '-')
            filter = argv[i];
    }
    for (struct tsan_test *t = tests; t; t = t->next) {
        const struct tsan_suite *s = suite_of(t);
        pid_t pid;
        int status;

        if (filter && !strstr(t->name, filter))
            continue;
        tested++;
        fflush(NULL);
        pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            alarm(s && s->timeout > 0 ? (unsigned)s->timeout : 300);
            if (s && s->init)
                s->init();
            t->fn();
            if (s && s->fini)
                s->fini();
            exit(0);
        }
        while (waitpid(pid, &status, 0) < 0)
            ;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            passing++;
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 1) {
            failing++;
            printf("[FAIL] %s::%s\n", t->suite, t->name);
        } else {
            crashing++;
            if (WIFSIGNALED(status))
                printf("[FAIL] %s::%s: Crash (signal %d)\n", t->suite, t->name, WTERMSIG(status));
            else
                printf("[FAIL] %s::%s: Crash (exit code %d)\n", t->suite, t->name,
                       WEXITSTATUS(status));
        }
    }
    printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d\n", tested,
           passing, failing, crashing);
    return failing || crashing || !tested;
}
