#include "server/sms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/e164.h"
#include "core/err.h"
#include "core/log.h"
#include "core/redact.h"
#include "server/outbound.h"
#include "store/routes.h"
#include "voice/sms.h"
#include "server/server_internal.h"
#include "core/banned.h"

static void reply_now(struct http_session *sess, int status, const char *text)
{
    if (text)
        (void)reply_text(&sess->reply, status, text);
    else if (sms_reply(&sess->reply) != 0)
        (void)reply_text(&sess->reply, 503, "error: out of memory\n");
    sess->reply_ready = 1;
}

/* The placer wrote the opt-out (or could not): the answer goes back to the loop. */
static void optout_done(void *arg, int rc)
{
    struct pending *p = arg;
    struct reply r = REPLY_INIT;

    if (rc || sms_reply(&r) != 0) {
        reply_release(&r);
        if (reply_text(&r, 503, "error: the opt-out could not be recorded; retry\n") != 0)
            r.status = 503;
    }
    server_complete(p, &r);
}

void sms_incoming(struct http_session *sess, const struct form *form)
{
    const char *from = form_get(form, "From");
    const char *to = form_get(form, "To");
    const struct route *route;
    enum sms_keyword kw;
    char fromlog[REDACT_SIZE], tolog[REDACT_SIZE];
    struct pending *p;

    if (!from || !*from || !to || !*to) {
        reply_now(sess, 400, "error: missing From or To\n");
        return;
    }
    if (!e164_valid(from) || !e164_valid(to)) {
        reply_now(sess, 400, "error: From and To must be E.164 numbers\n");
        return;
    }
    route = routes_find(&sess->srv->routing->routes, to);
    kw = sms_keyword(form_get(form, "Body"));
    if (!route || !route->tenant) {
        log_event(LOG_WARN, "sms.unknown_number",
                  "to=%s from=%s reason=\"no tenant has this number\"", redact_number(to, tolog),
                  redact_number(from, fromlog));
        reply_now(sess, 200, NULL);
        return;
    }
    if (kw == SMS_KEYWORD_NONE) {
        log_event(LOG_INFO, "sms.received", "tenant=%s from=%s keyword=none", route->tenant->name,
                  redact_number(from, fromlog));
        reply_now(sess, 200, NULL);
        return;
    }
    p = server_pending_new(sess);
    if (!p) {
        reply_now(sess, 503, "error: out of memory\n");
        return;
    }
    if (outbound_submit_optout(sess->srv->outbound, route->tenant->name, from,
                               kw == SMS_KEYWORD_STOP, optout_done, p) != 0) {
        free(p);
        reply_now(sess, 503, "error: the opt-out cannot be recorded now; retry\n");
        return;
    }
    sess->pending = p;
}
