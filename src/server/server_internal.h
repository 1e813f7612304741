/*
 * State shared by the server's modules (server.c, http.c, dispatch.c). A
 * struct server is one event loop (--threads runs several), owned by its
 * thread; what the loops share is in struct server_group, each part with
 * its lock or thread-safe on its own (the writer, the workers, the placer).
 */
#ifndef SB_SERVER_INTERNAL_H
#define SB_SERVER_INTERNAL_H

#include <libwebsockets.h>
#include <pthread.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/conn_count.h"
#include "core/sig.h"
#include "media/event.h"
#include "net/deadline_queue.h"
#include "speech/stt.h"
#include "speech/tts.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/routing.h"
#include "store/routes.h"
#include "store/writer.h"
#include "voice/flow_cache.h"
#include "voice/flow_states.h"
#include "voice/voice.h"

/* Twilio's webhooks are small; 64 KiB also caps what a hostile client can make us hold. */
#define HTTP_MAX_BODY 65536
/* What lws may hold of one request's headers; past it lws drops the connection. */
#define HTTP_MAX_HEADERS 8192
/* Room for a reply's status line and headers in front of its body. */
#define HTTP_REPLY_HEAD_ROOM 3072

/*
 * A request waiting for the writer (a status callback). The writer thread
 * fills the result and queues it; the loop picks it up. If the connection
 * closed meanwhile, the loop marks it orphaned and frees it on arrival.
 */
struct pending {
    struct pending *next;
    struct lws *wsi;
    int orphaned;
    /*
     * A client that shut down its sending side makes lws close the
     * connection under a deferred answer; the socket is then kept as a
     * duplicate descriptor and the answer written to it directly.
     */
    int detached;
    int detached_fd;
    int status;
    int outcome;
    char call_status[16];
    /* A status callback of an outbound job (?job=ID): applied to the job once recorded. */
    long long job_id;
    char call_sid[40];
    char answered_by[32];
    struct reply reply; /* a whole answer (flows), when has_reply */
    int has_reply;
    struct server *srv;
};

struct tts_job;
struct handoff;
struct live_stream;
struct stream_replace;
struct conversations;
struct outcome_slot;
struct tts_cache_slot;
struct stream_conn;
struct relay_conn;
struct workers;
struct ws_client;
struct cloud_queue;
struct conn_info;
struct outbound;

/*
 * The event loops of one process and what they share. Loop 0 creates the
 * shared threads (writer, workers, placer, routing watch); every loop
 * points at them, and reads the routing snapshot they share (routing.h). A call's LLM conversation
 * on the Gather loop lives on one loop, its home (server_home_of): a webhook of the call that
 * reaches another loop is handed to it (struct handoff, dispatch.c).
 */
struct server_group {
    int nloops;
    struct server **loops;
    pthread_mutex_t lock;             /* guards conns, outcomes, live_streams and tts_cache */
    struct routing_shared routing;    /* numbers, flows and agents: one copy, its own lock */
    struct conn_count conns;          /* every loop's sockets (conn_limits.c) */
    struct outcome_slot *outcomes;    /* how media streams ended (stream.c) */
    struct live_stream *live_streams; /* started media streams by call, every loop's (stream.c) */
    struct tts_cache_slot *tts_cache; /* phrases synthesized lately, for every loop (stream.c) */
    unsigned long long tts_cache_clock;
};

struct server {
    const struct config *cfg;
    struct server_group *group;
    int index; /* in group->loops */
    struct lws_context *lws;
    struct store *store;     /* the loop's read connection */
    struct sig_key *sig_key; /* TWILIO_AUTH_TOKEN, keyed once */
    struct writer *writer;
    struct routing *routing; /* the routing snapshot the loop reads (routing.h): a reference */
    struct flow_states *flow_states;
    struct metrics metrics;
    struct voice_ctx voice;
    lws_sorted_usec_list_t tick;
    struct deadline_queue body_deadlines; /* --body-timeout of each request reading its body */
    struct conversations *convs;          /* LLM agents on the Gather loop (conversations.c) */
    struct outbound *outbound;            /* the placer of queued outbound calls (outbound.c) */
    struct routes_watch *routes_watch;    /* routing changes pushed by the store, or NULL */
    int routes_poll_ticks;                /* ticks since the routing version was last read */
    int clock_fd;                         /* the loop clock's timerfd (loop_clock.c) */
    long long clock_armed_us;             /* when it fires next; 0: not armed */
    int inflight;                         /* requests not yet answered (atomic: drain reads all) */
    unsigned routes_seen;                 /* the routing watch's count of changes, last seen */
    const char *routes_owed;              /* a failed refresh's source, retried each tick */
    unsigned long long accepted;          /* connections this loop took (atomic: /metrics) */
    long long clock_offset;               /* seconds the voice layer's clock runs ahead (--clock) */

    /* Replies are written from this buffer in one send, with room for lws's prefix. */
    unsigned char out_buf[LWS_PRE + HTTP_REPLY_HEAD_ROOM + HTTP_MAX_BODY];

    /* Connection limits (conn_limits.c; the counts are the group's) */
    struct conn_info *pending_peer; /* admitted by the filter, not yet tied to its wsi */
    long long refused_logged_us;
    unsigned long refused_since_log;
    int draining;
    long long drain_deadline_us;

    pthread_mutex_t done_lock; /* guards done_head and tts_done: threads push, the loop pops */
    struct pending *done_head;
    struct handoff *handoffs;        /* webhooks other loops passed to this one, same lock */
    struct stream_replace *replaced; /* streams another loop's newer ones replace, same lock */
    struct tts_job *tts_done;
    struct stt_job *stt_done; /* recognitions done (stream_listen.c), same lock */

    /* Media Streams */
    struct workers *workers; /* text-to-speech off the loop */
    struct tts tts;
    struct stt stt;                  /* speech recognition; ops NULL when its model is missing */
    struct ws_client *ws;            /* cloud speech sockets, from the first call that needs one */
    struct cloud_queue *cloud_queue; /* what they produced, for the loop (stream_cloud.c) */
    struct stream_conn *streams;
    size_t nstreams;           /* changed by the loop only, atomically: /metrics reads it */
    struct relay_conn *relays; /* ConversationRelay sessions (relay.c) */
    size_t nrelays;            /* as nstreams */
    unsigned long long next_stream_id;
    /* Where this loop's sessions parse their messages, one at a time (session_config). */
    struct media_event stream_scratch;
};

/* Per-connection state (lws per_session_data), reset for each request on the connection. */
struct http_session {
    struct server *srv;
    const struct endpoint *endpoint;
    struct buf body;
    long long started_us;
    struct pending *pending;
    struct pending *handed; /* a request another loop handed over: its origin's (dispatch.c) */
    struct reply reply;     /* a reply waiting for the socket to become writable */
    int reply_ready;
    int active;     /* a request is in progress (counted in srv->inflight) */
    int body_error; /* the body overflowed: answer 413 once it has been read */
    int body_late;  /* the body missed --body-timeout: answered 408, closing */
    int close_after;
    char path[256];
    char api_tenant[TENANT_NAME_SIZE]; /* the tenant of the request's API key (server/api.c) */
    struct stream_conn *stream;        /* set once the connection is a media stream */
    struct relay_conn *relay;          /* set once the connection is a ConversationRelay session */
    int is_relay;                      /* the WebSocket was opened on /voice/relay */

    /* The whole body must arrive within --body-timeout of the headers. */
    struct deadline_entry body_deadline;
    struct lws *wsi;
};

/* What a path answers to. */
enum endpoint_kind {
    EP_INCOMING,
    EP_GATHER,
    EP_GATHER_CONTINUE,
    EP_GATHER_PARTIAL,
    EP_STATUS,
    EP_OUTBOUND,
    EP_AMD,
    EP_SMS_INCOMING,
    EP_STREAM_ENDED,
    EP_RELAY_ENDED,
    EP_TRANSFER_ENDED,
    EP_FLOW,
    EP_FLOW_RECORDING,
    EP_STREAM,
    EP_RELAY,
    EP_HEALTHZ,
    EP_METRICS,
    EP_API_CALLS, /* POST /api/v1/calls (server/api.c) */
    EP_API_CALL,  /* GET /api/v1/calls/{id} */
};

struct endpoint {
    const char *path;
    const char *name; /* metrics label */
    enum endpoint_kind kind;
    int post;   /* 1: POST (a Twilio form body and signature, but for the API); 0: GET */
    int prefix; /* 1: the path and anything after it (/api/v1/calls/{id}) */
};

/** Finds the endpoint of a path, or NULL. */
const struct endpoint *endpoint_find(const char *path);

/** The lws protocol callback for HTTP. */
int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len);

/** A deferred answer is ready: queues it for the loop (any thread) and wakes the loop. */
void server_complete(struct pending *p, struct reply *reply);

/** A request's body missed --body-timeout (srv->body_deadlines): answers 408 and closes. */
void http_body_deadline_expired(struct deadline_entry *e);

/* lws hands connections whose first bytes are not an HTTP method to this protocol. */
#define HTTP_FALLBACK_PROTOCOL "sb-not-http"

/** The lws protocol callback for those connections: a plain 501 or 400, then close. */
int http_fallback_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len);

/**
 * Handles a complete request whose body is in sess->body: parses, checks the
 * signature, calls the handler. Either fills sess->reply (reply_ready) or
 * leaves a pending write behind.
 */
void dispatch_request(struct http_session *sess, struct lws *wsi);

/**
 * Writes `r` to `fd` (a connection lws has let go of; see struct pending)
 * with Connection: close, then closes `fd`.
 */
void http_answer_detached(int fd, const struct reply *r);

/** Delivers writer completions to their connections (called on the loop). */
void server_drain_completions(struct server *srv);

/** The loop that holds a call's conversation: its home among the group's loops. */
struct server *server_home_of(struct server *srv, const char *call_sid);

/*
 * What a protocol listed only for a descriptor of the loop's own (the loop
 * clock's timer, a listening socket) does with an lws callback: 1 the
 * descriptor is readable, -1 refuse (a WebSocket asked for the protocol by
 * name), 0 nothing to do.
 */
int server_raw_reason(enum lws_callback_reasons reason);

/** Runs the webhooks other loops handed to this one (dispatch.c; on the loop). */
void server_take_handoffs(struct server *srv);

/** At shutdown, once no loop runs: answers what was handed to `srv` with the apology. */
void server_drop_handoffs(struct server *srv);

/**
 * The deferred answer of the request in `sess`: for a request handed over
 * by another loop, the origin's (once); else a new one for sess's socket.
 * NULL when out of memory.
 */
struct pending *server_pending_new(struct http_session *sess);

/*
 * Takes the newest routing snapshot (numbers, flows, agents), loading it if
 * the store's routing version moved and no other loop is loading it
 * (server.c, routing.h).
 */
void server_refresh_routes(struct server *srv, const char *source);

/* Takes the snapshot another loop loaded, without reading the store (the loop was woken). */
void server_adopt_routes(struct server *srv);

#endif
