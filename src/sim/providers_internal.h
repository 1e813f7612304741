/*
 * switchboard sim providers, inside the server: what providers.c (the
 * listening context, handshakes, outbound queues, the worker threads) and
 * the stand-ins (providers_deepgram.c, providers_tts.c) share.
 *
 * Threads: the loop thread owns the server, its connections and their
 * state. The workers only run jobs: a job is the worker's from
 * prov_submit until it is pushed on the done list, then the loop's again,
 * which hands it to its connection (found by id, so a connection that
 * closed meanwhile is never touched) and frees it.
 */
#ifndef SB_SIM_PROVIDERS_INTERNAL_H
#define SB_SIM_PROVIDERS_INTERNAL_H

#include <libwebsockets.h>
#include <pthread.h>

#include "core/buf.h"
#include "sim/providers.h"
#include "speech/stt.h"
#include "speech/tts.h"

#define PROV_WORKERS 2
/* Messages waiting on one socket, at most (then it is closed 1011). */
#define PROV_MAX_QUEUED 20000

/* One outbound message, or (close_code set) the close after those before it. */
struct prov_msg {
    struct prov_msg *next;
    long long due_us; /* not sent before this (monotonic µs) */
    unsigned tag;     /* a Cartesia context's serial; 0: none */
    int close_code;
    char reason[124];
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of room, then the message */
};

enum prov_job_kind {
    PROV_JOB_RECOGNIZE,
    PROV_JOB_SYNTHESIZE,
};

/* A recognition or synthesis, run by a worker. Owned as said above. */
struct prov_job {
    struct prov_job *next;
    enum prov_job_kind kind;
    unsigned long long conn_id;
    unsigned long id; /* the connection's number for it */
    long long submitted_us;
    char lang[36];
    unsigned char *audio; /* RECOGNIZE: the utterance (owned) */
    size_t len;
    char *text; /* SYNTHESIZE: what to say (owned) */
    /* the answer */
    int rc;
    struct stt_result heard;
    unsigned char *mulaw; /* SYNTHESIZE (owned) */
    size_t mulaw_len;
    double ms; /* how long the engine took */
};

struct prov_dg;
struct prov_el;
struct prov_ca;

struct prov_server;

struct prov_conn {
    struct prov_conn *next;
    unsigned long long id;
    struct lws *wsi;
    struct prov_server *srv;
    enum sim_providers_route kind;
    long long opened_us;
    /* receiving: a text message in pieces, or the size of the binary one */
    struct buf rx;
    size_t rx_binary;
    /* sending */
    struct prov_msg *out, *out_tail;
    size_t nout;
    long long last_due_us;
    unsigned long audio_out; /* audio messages queued, for --cut-after */
    unsigned long sent;
    int closing; /* a close is queued: nothing more is queued or read */
    int close_code;
    lws_sorted_usec_list_t sul;
    /* the stand-in */
    struct prov_dg *dg;
    struct prov_el *el;
    struct prov_ca *ca;
};

struct prov_server {
    const struct sim_providers_opts *o;
    struct lws_context *lws;
    struct prov_conn *conns;
    unsigned long long next_conn_id;
    unsigned long upgrades; /* counted for --fail-every */
    lws_sorted_usec_list_t tick;
    /* the workers and their engines */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct prov_job *todo, *todo_tail, *done, *done_tail;
    int quit;
    pthread_t threads[PROV_WORKERS];
    int nthreads;
    struct stt stt;
    int have_stt;
    struct tts tts;
    const char *const *phrases;
    size_t nphrases;
};

/* --- providers.c ---------------------------------------------------------------------------- */

/**
 * Queues `json` (owned: freed here) to go out no sooner than `not_before`
 * (monotonic µs; 0: now), after every message queued before it and at least
 * --slow-ms after it; `tag` marks a Cartesia context's messages; `audio`
 * counts it for --cut-after (after the Nth the socket closes 1011). A NULL
 * `json` (memory ran out) closes the socket 1011. Returns 0, or -1 when
 * the socket is closing (nothing was queued).
 */
int prov_send(struct prov_conn *c, char *json, long long not_before, unsigned tag, int audio);

/**
 * Queues the close frame after what is queued; nothing is queued or read
 * afterwards. The reason is cut to what a close frame holds, at a character.
 */
void prov_close(struct prov_conn *c, int code, const char *reason);

/**
 * The part of a refusal's reason fit for the log: up to the first quote of
 * the client's own text (a value, or the parser's "near '...'"), which could
 * hold a key or words. Writes to `out` and returns it.
 */
const char *prov_loggable(const char *reason, char *out, size_t size);

/** Drops the queued messages tagged `tag` (a cancelled Cartesia context). */
void prov_drop_tag(struct prov_conn *c, unsigned tag);

/** A job for connection `c` (zeroed but for kind, connection and time). NULL: out of memory. */
struct prov_job *prov_job_new(struct prov_conn *c, enum prov_job_kind kind);

void prov_job_free(struct prov_job *j);

/** Hands `j` to the workers. Returns 0, or SB_EBUSY when the server is stopping (j is freed). */
int prov_submit(struct prov_server *s, struct prov_job *j);

/* --- the stand-ins: open (0 or -1 to refuse), a whole text message, audio, a job's ---------- */
/* --- answer, the 100 ms tick, and freeing at the socket's end ------------------------------ */

int prov_dg_open(struct prov_conn *c, const struct sim_providers_dg_query *q);
void prov_dg_text(struct prov_conn *c, const char *text, size_t len);
/* `last`: the message's final piece; `size`: the message's bytes so far, with this piece. */
void prov_dg_audio(struct prov_conn *c, const unsigned char *data, size_t len, int last,
                   size_t size);
void prov_dg_job_done(struct prov_conn *c, struct prov_job *j);
void prov_dg_tick(struct prov_conn *c, long long now);
void prov_dg_free(struct prov_conn *c);

int prov_el_open(struct prov_conn *c, const struct sim_providers_el_query *q, const char *voice,
                 int key_checked);
void prov_el_text(struct prov_conn *c, const char *text, size_t len);
void prov_el_job_done(struct prov_conn *c, struct prov_job *j);
void prov_el_tick(struct prov_conn *c, long long now);
void prov_el_free(struct prov_conn *c);

int prov_ca_open(struct prov_conn *c);
void prov_ca_text(struct prov_conn *c, const char *text, size_t len);
void prov_ca_job_done(struct prov_conn *c, struct prov_job *j);
void prov_ca_free(struct prov_conn *c);

/** Splits `len` bytes of µ-law into SIM_PROVIDERS_PIECE messages built by `piece`. */
typedef char *(*prov_piece_json)(void *arg, const unsigned char *audio, size_t len);

/**
 * Queues the pieces of a synthesis (the first no sooner than --first-byte-ms
 * after `j` was submitted), tagged `tag`. Returns 0 or -1 (closing).
 */
int prov_send_audio(struct prov_conn *c, const struct prov_job *j, unsigned tag,
                    prov_piece_json piece, void *arg);

#endif
