/* Routing changes pushed by the store, for the event loop (server/routes_watch.h). */
#include "server/routes_watch.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "core/log.h"
#include "server/server_internal.h"
#include "store/store.h"
#include "store/target.h"
#include "core/banned.h"

/* How long one wait lasts: also how long stopping may take. */
#define WATCH_WAIT_MS 500
/* The pause after a failed wait (the store unreachable): the store paces its own reconnects. */
#define WATCH_RETRY_MS 500

struct routes_watch {
    struct server_group *group;
    struct store *store; /* the thread's own connection */
    pthread_t thread;
    int stopping;     /* atomic */
    unsigned changes; /* atomic: counted by the thread, compared by each loop */
    int live;         /* atomic: the last wait succeeded */
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void *watch_main(void *arg)
{
    struct routes_watch *w = arg;
    int was_live = 1;

    while (!__atomic_load_n(&w->stopping, __ATOMIC_ACQUIRE)) {
        int changed = 0;
        int rc = store_changes_wait(w->store, WATCH_WAIT_MS, &changed);

        __atomic_store_n(&w->live, rc == 0, __ATOMIC_RELEASE);
        if (rc != 0) {
            if (was_live)
                log_event(LOG_WARN, "routes.watch",
                          "reason=\"not listening for routing changes\" error=\"%s\"",
                          sb_strerror(rc));
            was_live = 0;
            sleep_ms(WATCH_RETRY_MS);
            continue;
        }
        if (!was_live)
            log_event(LOG_INFO, "routes.watch", "reason=\"listening for routing changes again\"");
        was_live = 1;
        if (changed) {
            __atomic_add_fetch(&w->changes, 1, __ATOMIC_RELEASE);
            for (int i = 0; i < w->group->nloops; i++)
                lws_cancel_service(w->group->loops[i]->lws);
        }
    }
    return NULL;
}

int routes_watch_start(struct routes_watch **out, struct server_group *g, const char *target)
{
    struct routes_watch *w;
    sigset_t all, old;
    int changed = 0;
    int rc;

    *out = NULL;
    if (store_target_engine(target) != STORE_POSTGRES)
        return 0;
    w = calloc(1, sizeof(*w));
    if (!w)
        return SB_ENOMEM;
    w->group = g;
    rc = store_open(&w->store, target);
    /* The first wait listens; a store that cannot push changes leaves the poll alone. */
    if (rc == 0)
        rc = store_changes_wait(w->store, 0, &changed);
    if (rc) {
        log_event(LOG_WARN, "routes.watch",
                  "reason=\"routing changes are polled, not pushed\" error=\"%s\"",
                  sb_strerror(rc));
        store_close(w->store);
        free(w);
        return 0;
    }
    w->live = 1;
    /* Signals go to the thread that shuts the server down. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&w->thread, NULL, watch_main, w) == 0 ? 0 : SB_ENOMEM;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        store_close(w->store);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int routes_watch_take(struct routes_watch *w, unsigned *seen)
{
    unsigned now;

    if (!w)
        return 0;
    now = __atomic_load_n(&w->changes, __ATOMIC_ACQUIRE);
    if (now == *seen)
        return 0;
    *seen = now;
    return 1;
}

int routes_watch_live(const struct routes_watch *w)
{
    return w && __atomic_load_n(&w->live, __ATOMIC_ACQUIRE);
}

void routes_watch_stop(struct routes_watch *w)
{
    if (!w)
        return;
    __atomic_store_n(&w->stopping, 1, __ATOMIC_RELEASE);
    pthread_join(w->thread, NULL);
    store_close(w->store);
    free(w);
}
