/* libwebsockets helpers shared by the server and the sim's fake REST API. */
#ifndef SB_NET_HTTP_METHOD_H
#define SB_NET_HTTP_METHOD_H

#include <libwebsockets.h>

/** The request's method ("GET", "POST", ...) from the URI token lws recorded, or "?". */
const char *net_http_method(struct lws *wsi);

#endif
