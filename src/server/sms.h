/*
 * /sms/incoming: Twilio's inbound SMS webhook, signed like the voice
 * webhooks (dispatch.c checks the signature before this runs). A body that
 * is a STOP keyword opts the sender out of the tenant that owns `To` (the
 * routing cache finds it), START opts it back in (voice/sms.h's
 * sms_keyword). The write goes to the placer's store connection
 * (outbound_submit_optout), and the answer, empty TwiML, waits for it: once
 * a STOP is answered, no job to that number is placed or texted.
 *
 * Runs on the event loop thread. The deferred answer's struct pending is
 * the session's, freed by the loop as every deferred answer is.
 */
#ifndef SB_SERVER_SMS_H
#define SB_SERVER_SMS_H

#include "core/form.h"

struct http_session;
struct lws;

/** Answers the webhook: now (sess->reply_ready) or later (sess->pending). */
void sms_incoming(struct http_session *sess, const struct form *form);

#endif
