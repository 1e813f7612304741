/* Tests for net/listen: the listen settings and the stop on SIGTERM/SIGINT. */
#include <criterion/criterion.h>
#include <signal.h>

#include "net/listen.h"

static const struct lws_protocols protocols[] = {
    {"http", lws_callback_http_dummy, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

Test(listen, ipv4_host_turns_ipv6_off)
{
    struct lws_context_creation_info info;
    int user;

    net_listen_info(&info, "127.0.0.1", 8080, protocols, &user);
    cr_assert_eq(info.port, 8080);
    cr_assert_str_eq(info.iface, "127.0.0.1");
    cr_assert_eq(info.protocols, protocols);
    cr_assert_eq(info.user, &user);
    cr_assert_eq(info.timeout_secs, 30);
    cr_assert(info.options & LWS_SERVER_OPTION_DISABLE_IPV6);
}

Test(listen, ipv6_host_keeps_ipv6)
{
    struct lws_context_creation_info info;

    net_listen_info(&info, "::1", 8080, protocols, NULL);
    cr_assert_not(info.options & LWS_SERVER_OPTION_DISABLE_IPV6);
}

Test(listen, listens_and_answers_on_loopback)
{
    struct lws_context_creation_info info;
    struct lws_context *ctx;

    lws_set_log_level(LLL_ERR, NULL);
    /* Port 0: the kernel picks a free one. */
    net_listen_info(&info, "127.0.0.1", 0, protocols, NULL);
    ctx = lws_create_context(&info);
    cr_assert_not_null(ctx);
    lws_context_destroy(ctx);
}

Test(listen, sigterm_sets_the_flag)
{
    net_stop_on_signals(NULL);
    cr_assert_eq(net_stop_requested(), 0);
    raise(SIGTERM);
    cr_assert_eq(net_stop_requested(), 1);
    net_stop_forget();
    cr_assert_eq(net_stop_requested(), 1);
}

Test(listen, sigint_sets_the_flag_and_sigpipe_is_ignored)
{
    net_stop_on_signals(NULL);
    raise(SIGPIPE); /* would end the process if not ignored */
    cr_assert_eq(net_stop_requested(), 0);
    raise(SIGINT);
    cr_assert_eq(net_stop_requested(), 1);
}
