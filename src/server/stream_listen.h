/*
 * Speech recognition for Media Streams: each caller utterance a session
 * hands over (session_io.recognize) becomes a job on the worker pool, and
 * its words come back to the loop, where stream_listen_drain gives them to
 * the stream that is still there (stream_heard).
 *
 * Owns: the jobs in flight and done (their audio and words). The engine is
 * the server's (srv->stt), opened at start; without one (its model is
 * missing) streams keep hearing only that the caller spoke.
 */
#ifndef SB_SERVER_STREAM_LISTEN_H
#define SB_SERVER_STREAM_LISTEN_H

#include <stddef.h>

struct server;

/*
 * A call's recogniser when it is not the server's own (an agent's --stt
 * whisper-api): where and how to ask. The strings are copied per job.
 */
struct stream_stt {
    char url[512];   /* "" : the server's pocketsphinx */
    char model[128]; /* "" : the engine's default */
    char key[512];   /* the secret itself, "" for none; never logged */
};

/*
 * What a call's caller may say besides the common phrases: its tenant's
 * flow keywords, NUL-separated (`len` bytes, `n` phrases). Owned by the
 * stream (stream_phrases_release); each recognition copies it.
 */
struct stream_phrases {
    char *text;
    size_t len;
    size_t n;
};

/* Most phrases a call adds, and bytes of them. */
#define STREAM_PHRASES_MAX 256
#define STREAM_PHRASES_BYTES 8192

/**
 * Fills `out` with the keywords of every flow of `tenant` (at most
 * STREAM_PHRASES_MAX, duplicates once). Returns 0 or SB_ENOMEM (out empty).
 */
int stream_phrases_of_tenant(struct server *srv, const char *tenant, struct stream_phrases *out);

void stream_phrases_release(struct stream_phrases *p);

/**
 * Queues the recognition of utterance `id` of stream `conn_id` in `lang`,
 * by `stt` (NULL or an empty url: the server's engine), listening for the
 * common phrases and `extra` (may be NULL); takes `mulaw` (frees it
 * whatever happens). Returns 0, or an SB_E* code (no recogniser, no
 * memory, the pool is full).
 */
int stream_listen_submit(struct server *srv, unsigned long long conn_id, unsigned id,
                         unsigned char *mulaw, size_t len, const char *lang,
                         const struct stream_stt *stt, const struct stream_phrases *extra);

/** Hands finished recognitions to their streams (the loop woke up). */
void stream_listen_drain(struct server *srv);

/** The common phrases the grammar of a call in `lang` listens for (static). */
const char *const *stream_listen_phrases(const char *lang, size_t *n);

#endif
