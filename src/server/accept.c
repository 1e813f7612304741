#include "server/accept.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "server/conn_limits.h"
#include "server/server_internal.h"
#include "core/banned.h"

/* Connections taken per wake-up, so that one busy listener cannot hold the loop. */
#define ACCEPT_BATCH 64

int accept_start(struct server *srv, int fd)
{
    lws_sock_file_fd_type d;
    struct lws_vhost *vh = lws_get_vhost_by_name(srv->lws, "default");

    d.filefd = fd;
    if (!vh || !lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, d, ACCEPT_PROTOCOL, NULL)) {
        log_event(LOG_ERROR, "server.start_failed",
                  "error=\"cannot add the listening socket to loop %d\"", srv->index);
        close(fd);
        return SB_EIO;
    }
    return 0;
}

/* One accepted socket: the limits admit it (or answer 503), then lws serves it. */
static void adopt(struct server *srv, struct lws_vhost *vh, int fd,
                  const struct lws_filter_network_conn_args *filt)
{
    lws_sock_file_fd_type d;
    int one = 1;

    if (conn_limits_filter(srv, filt, fd) != 0) {
        close(fd);
        return;
    }
    /* Replies go out in one write: no reason to wait for more (as lws's listener sets it). */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    d.sockfd = fd;
    /* On failure lws closes the socket; the admitted peer is released at the next accept. */
    if (!lws_adopt_descriptor_vhost(vh, LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP, d, NULL, NULL))
        log_event(LOG_WARN, "http.adopt_failed", "loop=%d", srv->index);
}

int accept_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct server *srv = lws_context_user(lws_get_context(wsi));
    struct lws_vhost *vh = lws_get_vhost(wsi);
    int listen_fd = lws_get_socket_fd(wsi);
    int raw = server_raw_reason(reason);

    (void)user;
    (void)in;
    (void)len;
    if (raw <= 0)
        return raw;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct lws_filter_network_conn_args filt;
        int fd;

        memset(&filt, 0, sizeof(filt));
        filt.clilen = sizeof(filt.cli_addr);
        fd = accept4(listen_fd, (struct sockaddr *)&filt.cli_addr, &filt.clilen,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break; /* EAGAIN: all taken; EMFILE and the like: the next wake-up tries again */
        }
        filt.accept_fd = fd;
        adopt(srv, vh, fd, &filt);
    }
    return 0;
}
