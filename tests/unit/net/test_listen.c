/* Tests for net/listen: the listen settings, shared listening sockets, the stop on SIGTERM/SIGINT.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

static int port_of(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);

    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

Test(listen, shared_sockets_are_on_one_port_and_each_accepts)
{
    int fds[3], port;
    char err[256];

    cr_assert_eq(net_listen_shared("127.0.0.1", 0, fds, 3, err, sizeof(err)), 0, "%s", err);
    port = port_of(fds[0]);
    cr_assert_gt(port, 0);
    cr_assert_eq(port_of(fds[1]), port);
    cr_assert_eq(port_of(fds[2]), port);
    /* Connections reach the sockets: the kernel spreads them, every one is taken by one. */
    for (int i = 0; i < 12; i++) {
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        int c = socket(AF_INET, SOCK_STREAM, 0), taken = 0;

        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        cr_assert_eq(connect(c, (struct sockaddr *)&to, sizeof(to)), 0);
        for (int tries = 0; tries < 100 && !taken; tries++) {
            for (int k = 0; k < 3 && !taken; k++) {
                int a = accept(fds[k], NULL, NULL);

                if (a >= 0) {
                    close(a);
                    taken = 1;
                }
            }
            if (!taken)
                usleep(1000);
        }
        cr_assert(taken, "connection %d was not accepted", i);
        close(c);
    }
    for (int i = 0; i < 3; i++)
        close(fds[i]);
}

Test(listen, a_port_another_socket_holds_is_refused_not_joined)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int held = socket(AF_INET, SOCK_STREAM, 0), fds[2], one = 1;
    char err[256], want[64];

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Even one that shares (SO_REUSEPORT), as another server's loops would. */
    cr_assert_eq(setsockopt(held, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
    cr_assert_eq(bind(held, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(held, 4), 0);
    cr_assert_eq(getsockname(held, (struct sockaddr *)&a, &len), 0);
    cr_assert_eq(net_listen_shared("127.0.0.1", ntohs(a.sin_port), fds, 2, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "cannot bind 127.0.0.1:%d", ntohs(a.sin_port));
    cr_assert(strstr(err, want), "%s", err);
    close(held);
    cr_assert_eq(net_listen_shared("localhost", 8080, fds, 2, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "localhost is not an IP address");
}
