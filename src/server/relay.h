/*
 * The ConversationRelay endpoint: GET /voice/relay upgraded to a WebSocket
 * (signature-checked before the upgrade, as /voice/stream), one relay
 * session (media/relay.c) per socket, driving the call's agent: the
 * tenant's LLM agent when the number names one (conversations.h), else the
 * rule agent.
 *
 * Binding and limits, as for Media Streams: the setup message must carry
 * the token of its callSid (core/stream_token.h, as a <Parameter> of the
 * TwiML), and arrive within cfg->stream_start_timeout_s of the upgrade;
 * then the caller must be heard from at least every RELAY_IDLE_FACTOR x
 * cfg->stream_idle_timeout_s (ConversationRelay sends nothing while the
 * caller is silent, so its limit is longer than a media stream's). Loop
 * thread only; the connections belong to the server (srv->relays).
 */
#ifndef SB_SERVER_RELAY_H
#define SB_SERVER_RELAY_H

#include <libwebsockets.h>

#define RELAY_IDLE_FACTOR 10

struct server;
struct relay_conn;

/** The lws WebSocket callbacks of a relay connection. */
int relay_callback(struct server *srv, struct lws *wsi, enum lws_callback_reasons reason,
                   struct relay_conn **conn, void *in, size_t len);

/** Time passed: the agents' timeouts and the sessions' deadlines. */
void relay_tick(struct server *srv);

/** Closes every relay session (server shutdown). */
void relay_close_all(struct server *srv);

#endif
