/*
 * A precise timer for the event loop: one timerfd, adopted into lws, that
 * wakes the loop at an absolute time (clock_mono_us's clock) and then calls
 * stream_clock_fired. Used instead of lws_sul for the pacing of speaking
 * calls: lws 4.1 waits in poll() for its next timer's delay truncated to
 * whole milliseconds, so a timer under 1 ms away makes poll() return at once,
 * again and again until it is due. With calls speaking, some pacing timer is
 * nearly always that close and the loop never slept.
 */
#ifndef SB_SERVER_LOOP_CLOCK_H
#define SB_SERVER_LOOP_CLOCK_H

#include <stddef.h>

#include <libwebsockets.h>

struct server;

/* The protocol the timerfd is adopted under; listed in the server's protocols. */
#define LOOP_CLOCK_PROTOCOL "switchboard-clock"

/** Creates the timerfd and adopts it into srv->lws. Returns 0 or SB_EIO. */
int loop_clock_start(struct server *srv);

/**
 * Makes the clock fire at `due_us` at the latest (an earlier arming stands),
 * but not sooner than 2 ms from now, so that wake-ups are shared.
 */
void loop_clock_arm(struct server *srv, long long due_us);

/**
 * The least time a pass of the loop takes with `nstreams` streams open: 0
 * under 64 streams, then 2 us a stream, at most 4 ms.
 */
long long loop_clock_pass_us(size_t nstreams);

/**
 * Called after each pass of the loop (lws_service) that began at
 * `pass_started_us`. While many streams are open it sleeps out the rest of a
 * minimum pass time, so that the frames of many streams gather for one
 * poll(); see loop_clock.c.
 */
void loop_clock_end_pass(struct server *srv, long long pass_started_us);

/** Forgets the timerfd once the lws context, which closes it, is gone. */
void loop_clock_stop(struct server *srv);

/** The lws callback of LOOP_CLOCK_PROTOCOL. */
int loop_clock_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len);

#endif
