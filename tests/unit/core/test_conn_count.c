/* Tests for core/conn_count: open connections in total and per peer. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn_count.h"
#include "core/err.h"

static const unsigned char ip_a[4] = {127, 0, 0, 1};
static const unsigned char ip_b[4] = {10, 0, 0, 2};
static const unsigned char ip6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

Test(conn_count, refuses_bad_limits)
{
    struct conn_count c;

    cr_assert_eq(conn_count_init(&c, 0, 1), SB_EINVAL);
    cr_assert_eq(conn_count_init(&c, 1, 0), SB_EINVAL);
}

Test(conn_count, per_peer_limit_refuses_only_that_peer)
{
    struct conn_count c;

    cr_assert_eq(conn_count_init(&c, 100, 2), 0);
    cr_assert_eq(conn_count_admit(&c, ip_a, 4), CONN_OK);
    cr_assert_eq(conn_count_admit(&c, ip_a, 4), CONN_OK);
    cr_assert_eq(conn_count_admit(&c, ip_a, 4), CONN_TOO_MANY_FROM_PEER);
    cr_assert_eq(conn_count_admit(&c, ip_b, 4), CONN_OK);
    cr_assert_eq(conn_count_admit(&c, ip6, 16), CONN_OK);
    cr_assert_eq(conn_count_of(&c, ip_a, 4), 2);
    cr_assert_eq(c.total, 4);
    conn_count_release(&c, ip_a, 4);
    cr_assert_eq(conn_count_admit(&c, ip_a, 4), CONN_OK);
    conn_count_release_all(&c);
}

Test(conn_count, total_limit_refuses_everyone)
{
    struct conn_count c;

    cr_assert_eq(conn_count_init(&c, 2, 10), 0);
    cr_assert_eq(conn_count_admit(&c, ip_a, 4), CONN_OK);
    cr_assert_eq(conn_count_admit(&c, ip_b, 4), CONN_OK);
    cr_assert_eq(conn_count_admit(&c, ip6, 16), CONN_TOO_MANY_TOTAL);
    conn_count_release(&c, ip_b, 4);
    cr_assert_eq(conn_count_admit(&c, ip6, 16), CONN_OK);
    conn_count_release_all(&c);
}

Test(conn_count, unknown_peers_share_one_count)
{
    struct conn_count c;

    cr_assert_eq(conn_count_init(&c, 10, 1), 0);
    cr_assert_eq(conn_count_admit(&c, NULL, 0), CONN_OK);
    cr_assert_eq(conn_count_admit(&c, ip_a, 17), CONN_TOO_MANY_FROM_PEER);
    conn_count_release(&c, NULL, 0);
    cr_assert_eq(c.total, 0);
    conn_count_release_all(&c);
}

Test(conn_count, releasing_an_unknown_key_changes_nothing)
{
    struct conn_count c;

    cr_assert_eq(conn_count_init(&c, 10, 5), 0);
    cr_assert_eq(conn_count_admit(&c, ip_a, 4), CONN_OK);
    conn_count_release(&c, ip_b, 4);
    cr_assert_eq(c.total, 1);
    cr_assert_eq(conn_count_of(&c, ip_a, 4), 1);
    conn_count_release_all(&c);
}

/* Random admits and releases against a plain array model, with many colliding peers. */
Test(conn_count, matches_a_model_under_churn)
{
    enum { PEERS = 300, STEPS = 200000, MAX_TOTAL = 500, MAX_PER = 3 };
    static int model[PEERS];
    struct conn_count c;
    int total = 0;
    unsigned seed = 12345;

    cr_assert_eq(conn_count_init(&c, MAX_TOTAL, MAX_PER), 0);
    for (int step = 0; step < STEPS; step++) {
        unsigned char key[4];
        int peer;

        seed = seed * 1103515245u + 12345u;
        peer = (int)((seed >> 8) % PEERS);
        memcpy(key, &peer, sizeof(key));
        if ((seed >> 20) & 1) {
            enum conn_refusal want = total >= MAX_TOTAL       ? CONN_TOO_MANY_TOTAL
                                     : model[peer] >= MAX_PER ? CONN_TOO_MANY_FROM_PEER
                                                              : CONN_OK;

            cr_assert_eq(conn_count_admit(&c, key, 4), want, "step %d", step);
            if (want == CONN_OK) {
                model[peer]++;
                total++;
            }
        } else if (model[peer] > 0) {
            conn_count_release(&c, key, 4);
            model[peer]--;
            total--;
        }
        cr_assert_eq(conn_count_of(&c, key, 4), model[peer], "step %d", step);
    }
    cr_assert_eq(c.total, total);
    for (int peer = 0; peer < PEERS; peer++) {
        unsigned char key[4];

        memcpy(key, &peer, sizeof(key));
        cr_assert_eq(conn_count_of(&c, key, 4), model[peer]);
    }
    conn_count_release_all(&c);
}
