#include "net/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/banned.h"

/* Set by the signal handler, read by every loop thread: atomic (lock-free, so signal-safe). */
static int stop_requested;
static struct lws_context *volatile signal_context;

void net_listen_info(struct lws_context_creation_info *info, const char *host, int port,
                     const struct lws_protocols *protocols, void *user)
{
    memset(info, 0, sizeof(*info));
    info->port = port;
    info->iface = host;
    info->protocols = protocols;
    info->user = user;
    info->timeout_secs = 30;
    if (!strchr(host, ':'))
        info->options |= LWS_SERVER_OPTION_DISABLE_IPV6;
}

/* host:port as a socket address: an IPv4 or IPv6 literal (the config checked it). */
static int address_of(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof(*in4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*in6);
        return 0;
    }
    return -1;
}

static int open_bound(const struct sockaddr_storage *ss, socklen_t len, int share)
{
    int one = 1;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (share && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
        bind(fd, (const struct sockaddr *)ss, len) != 0) {
        int saved = errno;

        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int net_listen_shared(const char *host, int port, int *fds, int n, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char why[128];
    int probe, i;

    if (address_of(host, port, &ss, &len) != 0) {
        snprintf(err, errlen, "%s is not an IP address", host);
        return -1;
    }
    probe = open_bound(&ss, len, 0);
    if (probe < 0) {
        snprintf(err, errlen, "cannot bind %s:%d: %s", host, port,
                 strerror_r(errno, why, sizeof(why)));
        return -1;
    }
    if (port == 0) {
        struct sockaddr_storage got;
        socklen_t glen = sizeof(got);

        /* sin_port and sin6_port lie at the same offset. */
        if (getsockname(probe, (struct sockaddr *)&got, &glen) == 0)
            ((struct sockaddr_in *)&ss)->sin_port = ((struct sockaddr_in *)&got)->sin_port;
    }
    close(probe);
    for (i = 0; i < n; i++) {
        fds[i] = open_bound(&ss, len, 1);
        if (fds[i] < 0 || listen(fds[i], SOMAXCONN) != 0) {
            snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port,
                     strerror_r(errno, why, sizeof(why)));
            if (fds[i] >= 0)
                close(fds[i]);
            while (i-- > 0)
                close(fds[i]);
            return -1;
        }
    }
    return 0;
}

static void on_signal(int sig)
{
    struct lws_context *ctx = signal_context;

    (void)sig;
    __atomic_store_n(&stop_requested, 1, __ATOMIC_RELEASE);
    if (ctx)
        lws_cancel_service(ctx);
}

void net_stop_on_signals(struct lws_context *ctx)
{
    struct sigaction sa;

    signal_context = ctx;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int net_stop_requested(void)
{
    return __atomic_load_n(&stop_requested, __ATOMIC_ACQUIRE);
}

void net_stop_forget(void)
{
    signal_context = NULL;
}
