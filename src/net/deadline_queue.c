#include "net/deadline_queue.h"

#include <string.h>

#include "core/banned.h"

static void on_timer(lws_sorted_usec_list_t *sul);

static void arm(struct deadline_queue *q, lws_usec_t now)
{
    lws_dll2_t *head = lws_dll2_get_head(&q->entries);
    struct deadline_entry *e;

    q->armed = 0;
    if (!head)
        return;
    e = lws_container_of(head, struct deadline_entry, link);
    lws_sul_schedule(q->cx, 0, &q->timer, on_timer, e->due > now ? e->due - now : 0);
    q->armed = 1;
}

/* Expires every entry that is due, then waits for the next one. */
static void on_timer(lws_sorted_usec_list_t *sul)
{
    struct deadline_queue *q = lws_container_of(sul, struct deadline_queue, timer);
    lws_usec_t now = lws_now_usecs();
    lws_dll2_t *head;

    while ((head = lws_dll2_get_head(&q->entries))) {
        struct deadline_entry *e = lws_container_of(head, struct deadline_entry, link);

        if (e->due > now)
            break;
        lws_dll2_remove(&e->link);
        q->expired(e);
    }
    arm(q, now);
}

void deadline_queue_init(struct deadline_queue *q, struct lws_context *cx, lws_usec_t after_us,
                         deadline_expired_fn expired)
{
    memset(q, 0, sizeof(*q));
    q->cx = cx;
    q->after = after_us;
    q->expired = expired;
}

void deadline_queue_add(struct deadline_queue *q, struct deadline_entry *e)
{
    lws_usec_t now = lws_now_usecs();

    e->due = now + q->after;
    lws_dll2_add_tail(&e->link, &q->entries);
    /*
     * Entries taken off before their time leave the timer as it was: when it
     * fires early it only re-arms for the new head, once per deadline's length
     * at most, instead of once per entry.
     */
    if (!q->armed)
        arm(q, now);
}

void deadline_queue_remove(struct deadline_entry *e)
{
    if (!lws_dll2_is_detached(&e->link))
        lws_dll2_remove(&e->link);
}

void deadline_queue_release(struct deadline_queue *q)
{
    if (q->cx)
        lws_sul_cancel(&q->timer);
    q->armed = 0;
}
