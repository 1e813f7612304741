/*
 * HTTP/1.1 server replies on libwebsockets, shared by the server and the
 * sim's fake REST API: the request's declared body size, checked before a
 * byte of it is read, and the reply head (status line and headers).
 */
#ifndef SB_NET_HTTP_REPLY_H
#define SB_NET_HTTP_REPLY_H

#include <libwebsockets.h>
#include <stddef.h>

/* What the Content-Length of a request announces. */
enum net_http_body {
    NET_HTTP_BODY_NONE,    /* none or 0: lws will not call BODY_COMPLETION, answer now */
    NET_HTTP_BODY_COMING,  /* a body within the limit: wait for BODY_COMPLETION */
    NET_HTTP_BODY_TOO_BIG, /* past the limit: refuse before reading (413) */
};

/**
 * Reads the request's Content-Length (lws has checked it is a number) and
 * compares it with `max` bytes. A value too long to copy is too big.
 */
enum net_http_body net_http_body_check(struct lws *wsi, unsigned long long max);

/** The reason phrase of an HTTP status ("OK", "Not Found"), never NULL. */
const char *net_http_reason(int status);

/* The head of one reply. Strings are borrowed for the call. */
struct net_http_head {
    int status;
    const char *content_type; /* NULL: no Content-Type */
    size_t content_length;    /* not sent with a 204 (RFC 9110 8.6) */
    const char *allow;        /* Allow (405), or NULL */
    const char *authenticate; /* WWW-Authenticate (401), or NULL */
    const char *set_cookie;   /* Set-Cookie, or NULL */
    int close;                /* Connection: close */
};

/**
 * Writes "HTTP/1.1 <status> <reason>", the headers and the blank line at
 * *p, which must have LWS_PRE bytes of room before it, without passing
 * `end`; *p is advanced. Returns 0, or -1 when they do not fit.
 */
int net_http_write_head(struct lws *wsi, const struct net_http_head *h, unsigned char **p,
                        unsigned char *end);

#endif
