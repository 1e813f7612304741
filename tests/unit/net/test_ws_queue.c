/* Tests for net/ws_queue: order, the bound, ownership. Writing needs a socket: integration tests.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/err.h"
#include "net/ws_queue.h"

Test(ws_queue, push_counts_and_bounds)
{
    struct ws_queue q = WS_QUEUE_INIT(3);

    cr_assert_eq(ws_queue_push(&q, "one", 3), 0);
    cr_assert_eq(ws_queue_push(&q, "two", 3), 0);
    cr_assert_eq(ws_queue_push(&q, "", 0), 0);
    cr_assert_eq(q.count, 3);
    cr_assert_eq(ws_queue_push(&q, "four", 4), SB_EBUSY);
    cr_assert_eq(q.count, 3);
    ws_queue_release(&q);
    cr_assert_eq(q.count, 0);
    cr_assert_null(q.head);
    cr_assert_null(q.tail);
    /* Usable again after release, with the same bound. */
    cr_assert_eq(ws_queue_push(&q, "again", 5), 0);
    cr_assert_eq(q.count, 1);
    ws_queue_release(&q);
}

Test(ws_queue, push_copies_the_text)
{
    struct ws_queue q = WS_QUEUE_INIT(4);
    char text[] = "hello";

    cr_assert_eq(ws_queue_push(&q, text, 5), 0);
    text[0] = 'X';
    cr_assert_not_null(q.head);
    cr_assert_eq(q.head, q.tail);
    ws_queue_release(&q);
}

Test(ws_queue, write_one_on_empty_queue_writes_nothing)
{
    struct ws_queue q = WS_QUEUE_INIT(4);

    /* No message: the socket is not touched. */
    cr_assert_eq(ws_queue_write_one(&q, NULL), 0);
}

Test(ws_queue, zero_bound_refuses_everything)
{
    struct ws_queue q = WS_QUEUE_INIT(0);

    cr_assert_eq(ws_queue_push(&q, "x", 1), SB_EBUSY);
    ws_queue_release(&q);
}
