#include "net/listen.h"

#include <signal.h>
#include <string.h>
#include "core/banned.h"

/* Loop thread and signal handler only. */
static volatile sig_atomic_t stop_requested;
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

static void on_signal(int sig)
{
    struct lws_context *ctx = signal_context;

    (void)sig;
    stop_requested = 1;
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
    return stop_requested;
}

void net_stop_forget(void)
{
    signal_context = NULL;
}
