#include "server/loop_clock.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "server/server_internal.h"
#include "server/stream.h"
#include "core/banned.h"

/*
 * The clock does not wake the loop more often than this: a wake-up serves
 * every stream due by then, so many speaking calls share wake-ups. Being up
 * to 2 ms late costs nothing: Twilio holds up to the pacer's lead (200 ms).
 */
#define LOOP_CLOCK_MIN_GAP_US 2000

/*
 * lws 4.1 waits in poll(), which walks every socket on each call: about
 * 0.1 us a socket here, 0.1 ms a call at 1,000 streams. Woken for each frame
 * or few, the loop spent a sixth of its core in poll() alone. So while many
 * streams are open a pass of the loop lasts at least 2 us per stream (the
 * rest is slept out): poll() then costs about 5 % of the core whatever the
 * number of streams, and one call finds the frames of dozens of them. A
 * frame waits at most a pass longer (2 ms at 1,000 streams, never over 4 ms;
 * Twilio plays 20 ms frames from a buffer), and so does an HTTP request,
 * only while that many streams are open.
 */
#define LOOP_BATCH_MIN_STREAMS 64
#define LOOP_PASS_US_PER_STREAM 2
#define LOOP_PASS_MAX_US 4000

int loop_clock_start(struct server *srv)
{
    lws_sock_file_fd_type fd;
    struct lws_vhost *vh = lws_get_vhost_by_name(srv->lws, "default");

    srv->clock_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (srv->clock_fd < 0) {
        char why[128];

        log_event(LOG_ERROR, "server.clock", "error=\"timerfd: %s\"",
                  strerror_r(errno, why, sizeof(why)));
        return SB_EIO;
    }
    fd.filefd = srv->clock_fd;
    if (!vh ||
        !lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, fd, LOOP_CLOCK_PROTOCOL, NULL)) {
        log_event(LOG_ERROR, "server.clock", "error=\"cannot add the timer to the loop\"");
        close(srv->clock_fd);
        srv->clock_fd = -1;
        return SB_EIO;
    }
    srv->clock_armed_us = 0;
    return 0;
}

void loop_clock_arm(struct server *srv, long long due_us)
{
    struct itimerspec at = {{0, 0}, {0, 0}};
    long long soonest = clock_mono_us() + LOOP_CLOCK_MIN_GAP_US;

    if (due_us < soonest)
        due_us = soonest;
    if (srv->clock_fd < 0 || (srv->clock_armed_us && srv->clock_armed_us <= due_us))
        return;
    at.it_value.tv_sec = (time_t)(due_us / 1000000);
    at.it_value.tv_nsec = (long)(due_us % 1000000) * 1000;
    if (timerfd_settime(srv->clock_fd, TFD_TIMER_ABSTIME, &at, NULL) == 0)
        srv->clock_armed_us = due_us;
}

long long loop_clock_pass_us(size_t nstreams)
{
    if (nstreams < LOOP_BATCH_MIN_STREAMS)
        return 0;
    if (nstreams > LOOP_PASS_MAX_US / LOOP_PASS_US_PER_STREAM)
        return LOOP_PASS_MAX_US;
    return (long long)nstreams * LOOP_PASS_US_PER_STREAM;
}

void loop_clock_end_pass(struct server *srv, long long pass_started_us)
{
    long long pass_us = loop_clock_pass_us(srv->nstreams), left;
    struct timespec nap;

    if (!pass_us || srv->draining)
        return;
    left = pass_started_us + pass_us - clock_mono_us();
    if (left <= 0)
        return;
    nap.tv_sec = 0;
    nap.tv_nsec = (long)left * 1000;
    nanosleep(&nap, NULL); /* a signal cuts it short, which is fine */
}

void loop_clock_stop(struct server *srv)
{
    /* Once adopted the descriptor is lws's: destroying the context closed it. */
    srv->clock_fd = -1;
}

int loop_clock_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    struct server *srv = lws_context_user(lws_get_context(wsi));
    uint64_t expirations;
    long long next;
    int raw = server_raw_reason(reason);

    (void)user;
    (void)in;
    (void)len;
    if (reason == LWS_CALLBACK_RAW_CLOSE_FILE) {
        /* lws closed the descriptor; its number may be reused, so forget it. */
        srv->clock_fd = -1;
        srv->clock_armed_us = 0;
        return 0;
    }
    /* The protocol is listed only for the timer: a WebSocket asking for it is refused. */
    if (raw <= 0)
        return raw;
    /* Nonblocking: a spurious wake-up reads EAGAIN and changes nothing. */
    if (read(srv->clock_fd, &expirations, sizeof(expirations)) < 0)
        return 0;
    srv->clock_armed_us = 0;
    next = stream_clock_fired(srv, clock_mono_us());
    if (next > 0)
        loop_clock_arm(srv, next);
    return 0;
}
