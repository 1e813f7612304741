/* Tests for net/deadline_queue: order, removal, and the timer it keeps. */
#include <criterion/criterion.h>
#include <libwebsockets.h>

#include "net/deadline_queue.h"

#define AFTER_US (30 * 1000)

static struct deadline_entry *fired[8];
static int nfired;

static void on_expired(struct deadline_entry *e)
{
    cr_assert(lws_dll2_is_detached(&e->link), "an expired entry is off the queue");
    if (nfired < 8)
        fired[nfired++] = e;
}

static struct lws_context *context(void)
{
    struct lws_context_creation_info info;
    struct lws_context *cx;

    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    lws_set_log_level(LLL_ERR, NULL);
    cx = lws_create_context(&info);
    cr_assert_not_null(cx);
    return cx;
}

static lws_sorted_usec_list_t tick;

static void on_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul;
}

/*
 * Services the loop until `n` entries fired or `ms` passed. lws 4.1 ignores
 * lws_service's timeout and waits for the next timer or event (30 s when
 * there is none), so a 5 ms tick keeps each pass short.
 */
static void run_until(struct lws_context *cx, int n, int ms)
{
    lws_usec_t end = lws_now_usecs() + (lws_usec_t)ms * 1000;

    while (nfired < n && lws_now_usecs() < end) {
        lws_sul_schedule(cx, 0, &tick, on_tick, 5 * LWS_US_PER_MS);
        lws_service(cx, 0);
    }
    lws_sul_cancel(&tick);
}

Test(deadline_queue, expires_in_the_order_added_and_skips_removed_entries)
{
    struct lws_context *cx = context();
    struct deadline_queue q;
    struct deadline_entry a = {0}, b = {0}, c = {0};
    lws_usec_t start = lws_now_usecs();

    nfired = 0;
    deadline_queue_init(&q, cx, AFTER_US, on_expired);
    deadline_queue_add(&q, &a);
    deadline_queue_add(&q, &b);
    deadline_queue_add(&q, &c);
    deadline_queue_remove(&b);
    cr_assert(lws_dll2_is_detached(&b.link));
    run_until(cx, 2, 2000);
    cr_assert_eq(nfired, 2);
    cr_assert_eq(fired[0], &a);
    cr_assert_eq(fired[1], &c);
    cr_assert_geq(lws_now_usecs() - start, AFTER_US, "expired before its time");
    deadline_queue_release(&q);
    lws_context_destroy(cx);
}

Test(deadline_queue, an_entry_added_after_the_head_left_still_expires)
{
    struct lws_context *cx = context();
    struct deadline_queue q;
    struct deadline_entry a = {0}, b = {0};

    nfired = 0;
    deadline_queue_init(&q, cx, AFTER_US, on_expired);
    deadline_queue_add(&q, &a);
    /* The timer stays armed for a's time; it must re-arm for b when it fires. */
    deadline_queue_remove(&a);
    run_until(cx, 1, AFTER_US / 3000);
    deadline_queue_add(&q, &b);
    run_until(cx, 1, 2000);
    cr_assert_eq(nfired, 1);
    cr_assert_eq(fired[0], &b);
    cr_assert_geq(lws_now_usecs(), b.due, "expired before its time");
    deadline_queue_release(&q);
    lws_context_destroy(cx);
}

Test(deadline_queue, removing_twice_or_a_never_added_entry_is_harmless)
{
    struct lws_context *cx = context();
    struct deadline_queue q;
    struct deadline_entry a = {0}, never = {0};

    nfired = 0;
    deadline_queue_init(&q, cx, AFTER_US, on_expired);
    deadline_queue_add(&q, &a);
    deadline_queue_remove(&a);
    deadline_queue_remove(&a);
    deadline_queue_remove(&never);
    run_until(cx, 1, 3 * AFTER_US / 1000);
    cr_assert_eq(nfired, 0);
    cr_assert_eq(q.entries.count, 0);
    deadline_queue_release(&q);
    lws_context_destroy(cx);
}
