/*
 * The countdown allocator and the driver of tests/unit/oom (see oom.h).
 *
 * __real_malloc and friends are the process's allocator: glibc's, or
 * AddressSanitizer's in a sanitized build, so leaks, double frees and uses
 * after free on the failure paths are still reported by ASan.
 */
#include "oom.h"

#include <criterion/criterion.h>

#include <dlfcn.h>
#include <execinfo.h>

#include <jansson.h>
#include <libxml/xmlmemory.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void __wrap_free(void *p);

/* ---- the countdown ---- */

static int armed;
static int paused; /* armed, but paused */
static enum oom_mode mode;
static long fail_at;
static long calls;
static long injected;

static int should_fail(void)
{
    long i;

    if (!armed)
        return 0;
    i = calls++;
    if (i == fail_at || (mode == OOM_FROM && i > fail_at)) {
        injected++;
        return 1;
    }
    return 0;
}

/*
 * ---- live allocations ----
 *
 * An open-addressing set of the pointers allocated while armed. Pointers
 * allocated before the run (or by code the wrappers do not see) are simply
 * not in it, and freeing them leaves it alone.
 */
#define SLOTS (1u << 16)
#define TOMB ((void *)1)

static void *slot[SLOTS];
/* Where each live allocation was made: the caller's address, or OpenSSL's file and line. */
static struct site {
    const void *caller;
    const char *file;
    int line;
} site[SLOTS];
static size_t used; /* slots holding a pointer or a tombstone */
static size_t live;

static size_t slot_of(const void *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p;

    h ^= h >> 29;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 48) & (SLOTS - 1);
}

static void track_at(void *p, const void *caller, const char *file, int line)
{
    size_t i;

    if (!p || !armed)
        return;
    if (used >= SLOTS - SLOTS / 8) {
        fprintf(stderr, "oom: more than %u allocations live in one run\n", SLOTS - SLOTS / 8);
        abort();
    }
    for (i = slot_of(p); slot[i] && slot[i] != TOMB; i = (i + 1) & (SLOTS - 1))
        ;
    if (!slot[i])
        used++;
    slot[i] = p;
    site[i] = (struct site){caller, file, line};
    live++;
}

#define track(p) track_at((p), __builtin_return_address(0), NULL, 0)

static void untrack(const void *p)
{
    size_t i;

    if (!p || live == 0)
        return;
    for (i = slot_of(p); slot[i]; i = (i + 1) & (SLOTS - 1)) {
        if (slot[i] == p) {
            slot[i] = TOMB;
            live--;
            return;
        }
    }
}

void oom_arm(long n, enum oom_mode m)
{
    if (used) {
        memset(slot, 0, sizeof(slot));
        used = 0;
        live = 0;
    }
    fail_at = n;
    mode = m;
    calls = 0;
    injected = 0;
    armed = 1;
}

void oom_disarm(void)
{
    armed = 0;
    paused = 0;
}

void oom_pause(void)
{
    paused = armed;
    armed = 0;
}

void oom_resume(void)
{
    armed = paused;
    paused = 0;
}

long oom_calls(void)
{
    return calls;
}

long oom_injected(void)
{
    return injected;
}

size_t oom_live(void)
{
    return live;
}

/* This executable's path (Criterion's workers run it under another name). */
static const char *self_path(void)
{
    static char path[512];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

    path[n > 0 ? n : 0] = '\0';
    return path;
}

/* Prints where the allocations still live were made (addr2line -f -e EXE OFFSET for ours). */
static void print_live(void)
{
    int shown = 0;

    for (size_t i = 0; i < SLOTS && shown < 8; i++) {
        Dl_info info;

        if (!slot[i] || slot[i] == TOMB)
            continue;
        shown++;
        if (site[i].file) {
            fprintf(stderr, "oom:   leaked %p, allocated at %s:%d\n", slot[i], site[i].file,
                    site[i].line);
        } else if (dladdr(site[i].caller, &info) && info.dli_fname) {
            unsigned long off =
                (unsigned long)((const char *)site[i].caller - (const char *)info.dli_fbase);

            if (info.dli_sname)
                fprintf(stderr, "oom:   leaked %p, allocated from %s+%#lx (%s)\n", slot[i],
                        info.dli_fname, off, info.dli_sname);
            else
                fprintf(stderr, "oom:   leaked %p, allocated from %#lx (addr2line -f -e %s %#lx)\n",
                        slot[i], off, self_path(), off);
        } else {
            fprintf(stderr, "oom:   leaked %p, allocated from %p\n", slot[i], site[i].caller);
        }
    }
}

/* ---- the wrappers ---- */

void *__wrap_malloc(size_t n)
{
    void *p;

    if (should_fail())
        return NULL;
    p = __real_malloc(n);
    track(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    void *p;

    if (should_fail())
        return NULL;
    p = __real_calloc(n, size);
    track(p);
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    void *q;

    if (should_fail())
        return NULL;
    q = __real_realloc(p, n);
    if (q || (p && n == 0))
        untrack(p);
    track(q);
    return q;
}

char *__wrap_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p;

    if (should_fail())
        return NULL;
    p = __real_malloc(n);
    track(p);
    if (p)
        memcpy(p, s, n);
    return p;
}

char *__wrap_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p;

    if (should_fail())
        return NULL;
    p = __real_malloc(len + 1);
    track(p);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

void __wrap_free(void *p)
{
    untrack(p);
    __real_free(p);
}

void *oom_malloc(size_t n)
{
    return __wrap_malloc(n);
}

void oom_free(void *p)
{
    __wrap_free(p);
}

/* ---- the libraries' own allocator hooks ---- */

/*
 * jansson 2.14 ignores a failed growth of its lexer's token buffer: lex_save
 * drops strbuffer_append_byte's result (akheron/jansson#362, unfixed in any
 * release), so the token loses a byte and the parse goes on. A string then
 * silently loses a character, or the lexer asserts, or it reads past the
 * token. That allocation is found once by its call chain (the growth inside
 * strbuffer_append_byte, which only the lexer calls) and is never failed;
 * every other allocation jansson makes can fail.
 */
static void *lexer_site[2]; /* return addresses: inside strbuffer_append_bytes, _byte */
static int probing;

static int lexer_growth(size_t n)
{
    void *frames[3];
    int k;

    if (!probing && !lexer_site[0])
        return 0;
    k = backtrace(frames, 3);
    if (k < 3)
        return 0;
    if (probing) {
        /* The probe's first 32- and 64-byte allocations are the token buffer's first growths. */
        if (n == 32 && probing == 1) {
            lexer_site[0] = frames[1];
            lexer_site[1] = frames[2];
            probing = 2;
        } else if (n == 64 && probing == 2) {
            probing = frames[1] == lexer_site[0] && frames[2] == lexer_site[1] ? 3 : -1;
        }
        return 0;
    }
    return frames[1] == lexer_site[0] && frames[2] == lexer_site[1];
}

static void *jansson_malloc(size_t n)
{
    void *p;

    if (lexer_growth(n)) {
        p = __real_malloc(n);
        track(p);
        return p;
    }
    if (should_fail())
        return NULL;
    p = __real_malloc(n);
    track(p);
    return p;
}

void oom_route_jansson(void)
{
    char probe[256];
    json_t *j;

    memset(probe, 'x', sizeof(probe));
    probe[0] = '"';
    probe[sizeof(probe) - 2] = '"';
    probe[sizeof(probe) - 1] = '\0';
    json_set_alloc_funcs(jansson_malloc, oom_free);
    probing = 1;
    j = json_loads(probe, JSON_DECODE_ANY, NULL);
    if (probing != 3) {
        lexer_site[0] = lexer_site[1] = NULL;
        cr_log_warn("jansson's lexer buffer was not found: its growth will be failed too");
    }
    probing = 0;
    cr_assert_not_null(j);
    json_decref(j);
}

/*
 * SQLite asks for the size of an allocation, so each one carries it in a
 * header; 16 bytes keep the memory after it aligned for any type.
 */
#define SQL_HEAD 16
static int sqlite_tracked;

static void *sql_malloc(int n)
{
    char *p;

    if (n <= 0 || should_fail())
        return NULL;
    p = __real_malloc((size_t)n + SQL_HEAD);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof(n));
    if (sqlite_tracked)
        track(p);
    return p + SQL_HEAD;
}

static void sql_free(void *q)
{
    char *p = q;

    if (!p)
        return;
    untrack(p - SQL_HEAD);
    __real_free(p - SQL_HEAD);
}

static void *sql_realloc(void *q, int n)
{
    char *p = q;
    char *r;

    if (n <= 0 || should_fail())
        return NULL;
    r = __real_realloc(p - SQL_HEAD, (size_t)n + SQL_HEAD);
    if (!r)
        return NULL;
    untrack(p - SQL_HEAD);
    memcpy(r, &n, sizeof(n));
    if (sqlite_tracked)
        track(r);
    return r + SQL_HEAD;
}

static int sql_size(void *q)
{
    int n;

    memcpy(&n, (char *)q - SQL_HEAD, sizeof(n));
    return n;
}

static int sql_roundup(int n)
{
    return (n + 7) & ~7;
}

static int sql_init(void *unused)
{
    return SQLITE_OK;
}

static void sql_shutdown(void *unused)
{
}

void oom_route_sqlite(int tracked)
{
    static const sqlite3_mem_methods methods = {
        sql_malloc, sql_free, sql_realloc, sql_size, sql_roundup, sql_init, sql_shutdown, NULL,
    };

    static int routed;

    sqlite_tracked = tracked;
    if (routed)
        return;
    cr_assert_eq(sqlite3_config(SQLITE_CONFIG_MALLOC, &methods), SQLITE_OK,
                 "SQLITE_CONFIG_MALLOC must come before sqlite3_initialize");
    routed = 1;
}

static char *xml_strdup(const char *s)
{
    return __wrap_strdup(s);
}

void oom_route_libxml2(void)
{
    cr_assert_eq(xmlMemSetup(oom_free, oom_malloc, __wrap_realloc, xml_strdup), 0);
}

/*
 * OpenSSL keeps what it fetched (digests, MACs) in a process-wide cache
 * that lives until exit; an entry added during a run is no leak. Those
 * allocations can fail but are not counted as live.
 */
static int ssl_cache(const char *file)
{
    return file && strstr(file, "crypto/property/") != NULL;
}

static void *ssl_malloc(size_t n, const char *file, int line)
{
    void *p;

    if (should_fail())
        return NULL;
    p = __real_malloc(n);
    if (!ssl_cache(file))
        track_at(p, NULL, file, line);
    return p;
}

static void *ssl_realloc(void *p, size_t n, const char *file, int line)
{
    void *q;

    if (should_fail())
        return NULL;
    q = __real_realloc(p, n);
    if (q || (p && n == 0))
        untrack(p);
    if (!ssl_cache(file))
        track_at(q, NULL, file, line);
    return q;
}

static void ssl_free(void *p, const char *file, int line)
{
    __wrap_free(p);
}

/*
 * OpenSSL takes its allocator only before its first allocation, which the
 * test runner's own libraries may make before any test starts; so it is
 * routed as the executable starts, and only fails while a run is armed.
 */
static int openssl_routed;

__attribute__((constructor)) static void route_openssl_early(void)
{
    openssl_routed = CRYPTO_set_mem_functions(ssl_malloc, ssl_realloc, ssl_free);
}

int oom_route_openssl(void)
{
    return openssl_routed;
}

/* ---- the driver ---- */

/* The run under way, printed when the process dies of a signal it did not catch. */
static char current[160];

static void on_fatal(int sig)
{
    static const char head[] = "\noom: died in run: ";
    ssize_t unused;

    unused = write(2, head, sizeof(head) - 1);
    unused = write(2, current, strnlen(current, sizeof(current)));
    unused = write(2, "\n", 1);
    (void)unused;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Installs on_fatal where nothing else (a sanitizer) handles the signal already. */
static void watch_fatal(void)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
    static int done;

    if (done)
        return;
    done = 1;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction old;

        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
            !(old.sa_flags & SA_SIGINFO))
            signal(sigs[i], on_fatal);
    }
}

/* Past this many allocations in one run the operation is not what the test meant to drive. */
#define MAX_RUN_ALLOCS 20000

static void drive(const char *name, int (*run)(void *ctx), void *ctx, struct oom_report *report,
                  enum oom_mode last)
{
    static const char *const mode_name[] = {"only", "from"};
    const int trace = getenv("OOM_TRACE") != NULL;
    struct oom_report rep = {0, 0, 0};

    watch_fatal();
    for (int m = OOM_ONE; m <= (int)last; m++) {
        for (long n = 0;; n++) {
            long inj;
            size_t left;
            int rc;

            snprintf(current, sizeof(current), "%s: allocation %ld failing (%s)", name, n,
                     mode_name[m]);
            if (trace)
                fprintf(stderr, "oom: %s\n", current);
            oom_arm(n, (enum oom_mode)m);
            rc = run(ctx);
            oom_disarm();
            inj = oom_injected();
            left = oom_live();
            rep.runs++;
            if (left)
                print_live();
            cr_assert_eq(left, 0, "%s: %zu allocation(s) leaked (rc %d)", current, left, rc);
            if (inj == 0) {
                cr_assert_eq(rc, 0, "%s: failed with rc %d although no allocation failed", name,
                             rc);
                if (m == OOM_ONE)
                    rep.allocs = oom_calls();
                break;
            }
            cr_assert_neq(rc, OOM_WRONG, "%s: succeeded with a wrong result", current);
            cr_assert_leq(rc, 0, "%s: returned %d", current, rc);
            if (rc == 0)
                rep.absorbed++;
            cr_assert_lt(n, MAX_RUN_ALLOCS, "%s: no end in sight", name);
        }
    }
    current[0] = '\0';
    fprintf(stderr, "oom: %s: %ld allocations, %ld runs, %ld failures absorbed\n", name, rep.allocs,
            rep.runs, rep.absorbed);
    if (report)
        *report = rep;
}

void oom_drive(const char *name, int (*run)(void *ctx), void *ctx, struct oom_report *report)
{
    drive(name, run, ctx, report, OOM_FROM);
}

void oom_drive_one(const char *name, int (*run)(void *ctx), void *ctx, struct oom_report *report)
{
    drive(name, run, ctx, report, OOM_ONE);
}

char *oom_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data;
    long size;

    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    cr_assert_geq(size, 0);
    cr_assert_eq(fseek(f, 0, SEEK_SET), 0);
    data = __real_malloc((size_t)size + 1);
    cr_assert_not_null(data);
    cr_assert_eq(fread(data, 1, (size_t)size, f), (size_t)size, "cannot read %s", path);
    fclose(f);
    data[size] = '\0';
    if (len)
        *len = (size_t)size;
    return data;
}
