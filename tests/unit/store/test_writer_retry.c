/*
 * The writer while the store refuses writes for a while: the jobs nobody
 * waits on (a call's log row) are tried again until the store takes them;
 * a job someone waits on (a status callback) fails at once.
 */
#include <criterion/criterion.h>

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "store/store.h"
#include "store/writer.h"

static char dir[256];
static char path[300];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    struct store *s = NULL;

    snprintf(dir, sizeof(dir), "%s/sb-retry-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/sb.db", dir);
    cr_assert_eq(store_open(&s, path), 0);
    store_close(s);
}

static void teardown(void)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(writer_retry, .init = setup, .fini = teardown);

/* Runs SQL on the file through a connection of its own: the store "going away" for a while. */
static void raw(const char *sql)
{
    sqlite3 *db = NULL;

    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    /* The writer's retries hold the write lock for a moment: wait for it, as the store does. */
    sqlite3_busy_timeout(db, 5000);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
}

struct waited {
    int called;
    int rc;
};

static void on_done(void *arg, int rc, enum status_outcome outcome)
{
    struct waited *w = arg;

    w->rc = rc;
    __atomic_store_n(&w->called, 1, __ATOMIC_RELEASE);
}

static int call_logged(const char *sid)
{
    struct store *s = NULL;
    struct call_record c;
    int rc;

    cr_assert_eq(store_open(&s, path), 0);
    rc = store_call_get(s, sid, &c);
    store_close(s);
    return rc == 0;
}

Test(writer_retry, an_unawaited_write_waits_out_the_outage_and_an_awaited_one_fails_at_once)
{
    struct writer *w = NULL;
    struct call_record c = {.call_sid = "CA00000000000000000000000000000abc",
                            .tenant = "peluqueria",
                            .direction = "inbound",
                            .from = "+34600000001",
                            .to = "+34910000001",
                            .status = "ringing",
                            .duration = -1,
                            .lang = "es-ES",
                            .started_at = 1760000000};
    struct status_event e = {.call_sid = "CA00000000000000000000000000000abc",
                             .sequence = 1,
                             .status = "in-progress",
                             .duration = -1,
                             .at = 1760000001};
    struct waited status = {0, 0};
    struct timespec pause = {0, 20 * 1000 * 1000};

    cr_assert_eq(writer_start(&w, path), 0);
    /* The calls table is gone: every batch fails until it is back. */
    raw("ALTER TABLE calls RENAME TO calls_away");
    cr_assert_eq(writer_submit_call(w, &c, NULL, NULL), 0);
    cr_assert_eq(writer_submit_status(w, &e, on_done, &status), 0);
    for (int i = 0; i < 250 && !__atomic_load_n(&status.called, __ATOMIC_ACQUIRE); i++)
        nanosleep(&pause, NULL);
    cr_assert(status.called, "the awaited job was not answered");
    cr_assert_lt(status.rc, 0, "a status callback is acknowledged only after its commit");
    nanosleep(&pause, NULL);
    raw("ALTER TABLE calls_away RENAME TO calls");
    for (int i = 0; i < 250 && !call_logged(c.call_sid); i++)
        nanosleep(&pause, NULL);
    cr_assert(call_logged(c.call_sid), "the call's row was lost in the outage");
    writer_stop(w);
}

Test(writer_retry, stopping_gives_up_on_a_store_that_stays_down)
{
    struct writer *w = NULL;
    struct call_record c = {.call_sid = "CA00000000000000000000000000000abd",
                            .direction = "inbound",
                            .status = "ringing",
                            .duration = -1,
                            .started_at = 1760000000};
    time_t before;

    cr_assert_eq(writer_start(&w, path), 0);
    raw("ALTER TABLE calls RENAME TO calls_away");
    cr_assert_eq(writer_submit_call(w, &c, NULL, NULL), 0);
    before = time(NULL);
    writer_stop(w);
    cr_assert_leq(time(NULL) - before, 5, "the shutdown waited on the store");
    raw("ALTER TABLE calls_away RENAME TO calls");
    cr_assert_not(call_logged(c.call_sid));
}
