/*
 * Deadlines that all last the same time (a request body's --body-timeout),
 * kept in the order they were set. lws keeps its timers in one sorted list,
 * so arming one per request costs a walk of that list; here adding and
 * removing a deadline is O(1), and one lws timer stands for the earliest.
 *
 * Loop thread only. The queue does not own its entries: whoever embeds an
 * entry removes it before freeing or reusing its memory.
 */
#ifndef SB_NET_DEADLINE_QUEUE_H
#define SB_NET_DEADLINE_QUEUE_H

#include <libwebsockets.h>

struct deadline_entry {
    lws_dll2_t link;
    lws_usec_t due; /* lws_now_usecs() when it expires */
};

struct deadline_queue;

/* Called once for an entry whose time ran out; it is off the queue by then. */
typedef void (*deadline_expired_fn)(struct deadline_entry *e);

struct deadline_queue {
    struct lws_context *cx;
    lws_sorted_usec_list_t timer; /* due at the head's deadline (or a little before) */
    lws_dll2_owner_t entries;     /* oldest first, so earliest due first */
    lws_usec_t after;             /* how long every deadline lasts */
    deadline_expired_fn expired;
    int armed;
};

/** Sets up an empty queue whose deadlines last `after_us`. */
void deadline_queue_init(struct deadline_queue *q, struct lws_context *cx, lws_usec_t after_us,
                         deadline_expired_fn expired);

/** Starts `e`'s deadline now. `e` must not be on a queue. */
void deadline_queue_add(struct deadline_queue *q, struct deadline_entry *e);

/** Takes `e` off its queue, if it is on one. */
void deadline_queue_remove(struct deadline_entry *e);

/** Stops the timer. Entries still queued are left detached from it, not expired. */
void deadline_queue_release(struct deadline_queue *q);

#endif
