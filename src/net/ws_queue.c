#include "net/ws_queue.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/banned.h"

struct ws_msg {
    struct ws_msg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of room, then the message */
};

int ws_queue_push(struct ws_queue *q, const char *text, size_t len)
{
    struct ws_msg *m;

    if (q->count >= q->max)
        return SB_EBUSY;
    if (len > (size_t)-1 - sizeof(*m) - LWS_PRE)
        return SB_ENOMEM;
    m = malloc(sizeof(*m) + LWS_PRE + len);
    if (!m)
        return SB_ENOMEM;
    m->next = NULL;
    m->len = len;
    memcpy(m->data + LWS_PRE, text, len);
    if (q->tail)
        q->tail->next = m;
    else
        q->head = m;
    q->tail = m;
    q->count++;
    return 0;
}

int ws_queue_write_one(struct ws_queue *q, struct lws *wsi)
{
    struct ws_msg *m = q->head;
    int n;

    if (!m)
        return 0;
    q->head = m->next;
    if (!q->head)
        q->tail = NULL;
    q->count--;
    n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
    n = n < (int)m->len ? -1 : 1;
    free(m);
    return n;
}

int ws_queue_send_now(struct ws_queue *q, struct lws *wsi, const char *text, size_t len)
{
    unsigned char frame[LWS_PRE + WS_SEND_NOW_MAX];

    if (q->head || len > WS_SEND_NOW_MAX || lws_partial_buffered(wsi))
        return 0;
    memcpy(frame + LWS_PRE, text, len);
    /* lws keeps what the kernel did not take and sends it before anything else. */
    return lws_write(wsi, frame + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len ? -1 : 1;
}

void ws_queue_release(struct ws_queue *q)
{
    while (q->head) {
        struct ws_msg *m = q->head;

        q->head = m->next;
        free(m);
    }
    q->tail = NULL;
    q->count = 0;
}

int ws_queue_on_writable(struct ws_queue *q, struct lws *wsi, int close_code,
                         const char *close_reason)
{
    int rc = ws_queue_write_one(q, wsi);

    if (rc < 0)
        return -1;
    if (rc > 0) {
        if (q->count || close_code)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (close_code) {
        lws_close_reason(wsi, (enum lws_close_status)close_code, (unsigned char *)close_reason,
                         strlen(close_reason));
        return -1;
    }
    return 0;
}
