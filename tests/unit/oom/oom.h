/*
 * The allocation-failure harness: a countdown allocator and the loop that
 * drives an operation through every failing allocation.
 *
 * The unit-oom executable is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup,--wrap=free,
 * so every allocation made by the code under test (the layers' static
 * libraries) goes through the wrappers in oom.c. jansson, SQLite, libxml2
 * and OpenSSL allocate inside their shared libraries, where --wrap does not
 * reach; each is handed the same countdown through its own allocator hook
 * (oom_route_*), called before the library allocates anything.
 *
 * A run is armed with a number N: the Nth allocation (counting from 0) fails,
 * or, in OOM_FROM mode, the Nth and every one after it, so that cleanup paths
 * that allocate fail too. Allocations made while armed are tracked until
 * freed; whatever is still tracked when the run ends was leaked.
 */
#ifndef SB_TESTS_OOM_H
#define SB_TESTS_OOM_H

#include <stddef.h>

enum oom_mode {
    OOM_ONE,  /* only the Nth allocation fails */
    OOM_FROM, /* the Nth and every later allocation fail */
};

/* What a run callback returns besides 0 and SB_E* codes. */
#define OOM_WRONG 1 /* the operation succeeded but its result differs from the reference */

/** Starts counting: the `n`th allocation from now fails (and later ones with OOM_FROM). */
void oom_arm(long n, enum oom_mode mode);

/** Stops failing and counting; tracking of live allocations continues until the next arm. */
void oom_disarm(void);

/**
 * Pauses an armed run: nothing fails and nothing is tracked until oom_resume
 * (for a run that checks its result with code that allocates).
 */
void oom_pause(void);
void oom_resume(void);

/** Allocations attempted since the last arm. */
long oom_calls(void);

/** Failures injected since the last arm. */
long oom_injected(void);

/** Allocations made since the last arm that are still live. */
size_t oom_live(void);

/** The countdown allocator itself, for libraries that take allocator functions. */
void *oom_malloc(size_t n);
void oom_free(void *p);

/** Routes jansson's allocations through the countdown (before jansson allocates). */
void oom_route_jansson(void);

/**
 * Routes SQLite's allocations through the countdown (before sqlite3_initialize).
 * With `track` 0 they can fail but are not counted as live: for runs on a
 * connection opened outside the run, whose page cache may keep what it read.
 * May be called again (after the first call only `track` changes).
 */
void oom_route_sqlite(int track);

/** Routes libxml2's allocations through the countdown (before libxml2 allocates). */
void oom_route_libxml2(void);

/** Routes OpenSSL's allocations through the countdown. Returns 0 when it was too late. */
int oom_route_openssl(void);

/* The outcome of driving one operation through every failing allocation. */
struct oom_report {
    long allocs;   /* allocations of one complete run */
    long runs;     /* runs made, in both modes */
    long absorbed; /* runs with an injected failure that still succeeded (same result) */
};

/**
 * Drives `run(ctx)` with N = 0, 1, 2, ... in both modes until a run meets no
 * injected failure. The test fails at the first run that crashes (the test
 * process dies; OOM_TRACE=1 in the environment prints each run before it
 * starts), returns OOM_WRONG or anything else that is neither 0 nor an
 * SB_E* code, or leaves allocations live; and when the run without failure
 * does not return 0. `run` frees everything it allocated, compares a
 * successful result with its reference (returning OOM_WRONG when they
 * differ) and returns the operation's code: a run that absorbs a failure
 * and still produces the right result passes. Prints one line of counts.
 */
void oom_drive(const char *name, int (*run)(void *ctx), void *ctx, struct oom_report *report);

/** oom_drive in OOM_ONE mode only: for long operations whose cleanup allocates nothing. */
void oom_drive_one(const char *name, int (*run)(void *ctx), void *ctx, struct oom_report *report);

/** Reads a whole file into a new NUL-terminated buffer (the test fails when it cannot). */
char *oom_read_file(const char *path, size_t *len);

#endif
