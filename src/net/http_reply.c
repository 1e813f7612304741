#include "net/http_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/banned.h"

/* Room for any Content-Length lws lets through; a longer one is far past every limit. */
#define CLEN_SIZE 32

enum net_http_body net_http_body_check(struct lws *wsi, unsigned long long max)
{
    char clen[CLEN_SIZE];
    unsigned long long n;

    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return NET_HTTP_BODY_NONE;
    if (lws_hdr_copy(wsi, clen, (int)sizeof(clen), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return NET_HTTP_BODY_TOO_BIG;
    n = strtoull(clen, NULL, 10);
    if (n == 0)
        return NET_HTTP_BODY_NONE;
    return n > max ? NET_HTTP_BODY_TOO_BIG : NET_HTTP_BODY_COMING;
}

const char *net_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        if (status >= 200 && status < 300)
            return "OK";
        return status < 500 ? "Client Error" : "Server Error";
    }
}

static int add_name(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                    unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

int net_http_write_head(struct lws *wsi, const struct net_http_head *h, unsigned char **p,
                        unsigned char *end)
{
    int n;

    if (*p >= end)
        return -1;
    n = snprintf((char *)*p, (size_t)(end - *p), "HTTP/1.1 %d %s\r\n", h->status,
                 net_http_reason(h->status));
    if (n < 0 || n >= end - *p)
        return -1;
    *p += n;
    if (h->content_type && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                                        (const unsigned char *)h->content_type,
                                                        (int)strlen(h->content_type), p, end))
        return -1;
    if (h->status != 204 && lws_add_http_header_content_length(wsi, h->content_length, p, end))
        return -1;
    if (h->allow && add_name(wsi, "allow:", h->allow, p, end))
        return -1;
    if (h->authenticate && add_name(wsi, "www-authenticate:", h->authenticate, p, end))
        return -1;
    if (h->set_cookie && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_SET_COOKIE,
                                                      (const unsigned char *)h->set_cookie,
                                                      (int)strlen(h->set_cookie), p, end))
        return -1;
    if (h->close && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                                 (const unsigned char *)"close", 5, p, end))
        return -1;
    return lws_finalize_http_header(wsi, p, end) ? -1 : 0;
}
