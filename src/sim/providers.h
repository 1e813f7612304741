/*
 * switchboard sim providers: local stand-ins for the streaming speech
 * providers the gateway talks to, on one listening libwebsockets context:
 *
 *   GET /v1/listen?...                                 Deepgram streaming recognition
 *   GET /v1/text-to-speech/{voice_id}/stream-input?... ElevenLabs streaming synthesis
 *   GET /tts/websocket                                 Cartesia streaming synthesis
 *
 * each a WebSocket upgrade checked as the provider checks it (key, query,
 * headers), answering in the provider's wire format: recognition from a
 * list of transcripts or pocketsphinx behind an energy detector,
 * synthesis with espeak-ng (or one replayed clip) as 8 kHz µ-law.
 * Delays and faults are injected by options. Documented in docs/sim.md, "sim providers".
 *
 * The pure parts (routes, query checks, client message parsers, message
 * builders, sentence cuts, the recogniser's utterance segmenter) are
 * separate functions, tested without sockets; providers.c and its
 * providers_*.c neighbours are the server.
 *
 * Ownership: every builder returns compact JSON text the caller frees with
 * free(), or NULL when memory ran out. A struct with a _release owns its
 * strings; _release empties it and may be called on a zeroed struct.
 * Nothing here keeps global state: any thread may use its own structs;
 * sim_providers_run serves on the calling thread (plus its own worker
 * threads, which recognise and synthesise).
 */
#ifndef SB_SIM_PROVIDERS_H
#define SB_SIM_PROVIDERS_H

#include <stddef.h>
#include <stdio.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/phone.h"

/* Largest text message a client may send (1009 beyond). */
#define SIM_PROVIDERS_MAX_TEXT (64 * 1024)
/* Largest binary (audio) message Deepgram's stand-in takes (1009 beyond). */
#define SIM_PROVIDERS_MAX_AUDIO (256 * 1024)
/* Deepgram closes a stream with no audio and no KeepAlive for this long (NET-0001). */
#define SIM_PROVIDERS_IDLE_MS 10000
/* Synthesized audio goes out in messages of this many µ-law bytes: 100 ms. */
#define SIM_PROVIDERS_PIECE 800
/* Text waiting to be synthesized on one socket, at most (1009 beyond). */
#define SIM_PROVIDERS_MAX_PENDING_TEXT (64 * 1024)

/* --- routes and handshakes ------------------------------------------------------------------ */

enum sim_providers_route {
    SIM_PROVIDERS_NONE = 0,   /* no endpoint: 404 */
    SIM_PROVIDERS_DEEPGRAM,   /* /v1/listen */
    SIM_PROVIDERS_ELEVENLABS, /* /v1/text-to-speech/{voice_id}/stream-input */
    SIM_PROVIDERS_CARTESIA,   /* /tts/websocket */
    SIM_PROVIDERS_HEALTH,     /* /healthz (plain HTTP) */
};

/**
 * Which endpoint `path` (without the query) names. For ElevenLabs the
 * voice id (1 to 64 letters, digits, '-' or '_') is copied to `voice`
 * (may be NULL); any other voice id is no route.
 */
enum sim_providers_route sim_providers_route(const char *path, char *voice, size_t voicesize);

/**
 * The value of the last argument named `name` among `n` "name=value"
 * strings (query arguments as libwebsockets hands them over, decoded), or
 * NULL. An argument without '=' has the value "". Borrowed from `args`.
 */
const char *sim_providers_arg(const char *const *args, size_t n, const char *name);

/**
 * True when `header` is "<scheme> KEY" for one of the space-separated
 * `schemes` ("Token Bearer"; compared without case), or with `schemes`
 * NULL is KEY alone, and KEY equals `key` (compared in constant time for a
 * given length).
 */
int sim_providers_key_matches(const char *header, const char *schemes, const char *key);

/* What a Deepgram stream asked for in its query. */
struct sim_providers_dg_query {
    char language[36];    /* BCP-47, default "en" */
    char model[64];       /* default "nova-3" (named in the results' metadata only) */
    int interim_results;  /* interim_results=true */
    int vad_events;       /* vad_events=true: SpeechStarted */
    int endpointing_ms;   /* default 10; -1: endpointing=false */
    int utterance_end_ms; /* 0: none (needs interim_results) */
};

/**
 * Reads and checks a /v1/listen query: encoding=mulaw and sample_rate=8000
 * are required, channels must be 1, booleans are true or false, numbers in
 * range. Returns 0, or SB_EPARSE with the reason in `err` (answered 400).
 * Unknown arguments are ignored, as Deepgram ignores them.
 */
SB_MUST_CHECK int sim_providers_dg_query_parse(struct sim_providers_dg_query *q,
                                               const char *const *args, size_t n, char *err,
                                               size_t errsize);

/* What an ElevenLabs stream-input socket asked for in its query. */
struct sim_providers_el_query {
    char model[64];    /* model_id, or "" */
    char language[36]; /* language_code, or "" (English) */
    int inactivity_s;  /* inactivity_timeout, default 20, 1..180 */
};

/**
 * Reads and checks a stream-input query: output_format must be ulaw_8000
 * (the one format the stand-in makes; ElevenLabs' default is MP3),
 * inactivity_timeout 1..180. Returns 0 or SB_EPARSE (reason in `err`).
 */
SB_MUST_CHECK int sim_providers_el_query_parse(struct sim_providers_el_query *q,
                                               const char *const *args, size_t n, char *err,
                                               size_t errsize);

/* --- client messages ------------------------------------------------------------------------ */

enum sim_providers_dg_control {
    SIM_PROVIDERS_DG_KEEPALIVE,
    SIM_PROVIDERS_DG_FINALIZE,
    SIM_PROVIDERS_DG_CLOSESTREAM,
};

/**
 * Parses a Deepgram control message ({"type":"KeepAlive"|"Finalize"|
 * "CloseStream"}, other keys ignored). Returns 0, or SB_EPARSE with the
 * reason in `err` (answered with an Error message, variant SchemaError).
 */
SB_MUST_CHECK int sim_providers_dg_control_parse(const char *text, size_t len,
                                                 enum sim_providers_dg_control *out, char *err,
                                                 size_t errsize);

/* One ElevenLabs stream-input message. Strings owned. */
struct sim_providers_el_message {
    char *text; /* "" ends the input; " " is the first message, or a keep-alive */
    int flush;  /* flush: true */
    char *key;  /* xi-api-key or xi_api_key of the message, or NULL */
};

/**
 * Parses a stream-input message: a JSON object with a string `text`
 * (required; the first message's must be " "), optional booleans `flush`
 * and `try_trigger_generation`, objects `voice_settings` and
 * `generation_config`/`generator_config`, and the key fields. Returns 0,
 * SB_EPARSE (reason in `err`) or SB_ENOMEM; on failure `m` is empty.
 */
SB_MUST_CHECK int sim_providers_el_message_parse(struct sim_providers_el_message *m,
                                                 const char *text, size_t len, int first, char *err,
                                                 size_t errsize);

void sim_providers_el_message_release(struct sim_providers_el_message *m);

/* Longest Cartesia context id the stand-in keeps. */
#define SIM_PROVIDERS_CONTEXT_MAX 128

/* One Cartesia message: a generation request or a cancel. Strings owned. */
struct sim_providers_ca_request {
    char *context_id;
    int cancel;       /* {"context_id":..,"cancel":true}: nothing else is set */
    char *transcript; /* may be "" */
    int cont;         /* continue: more input follows */
    int flush;
    char language[36]; /* "" when not given */
};

/**
 * Parses a Cartesia message: a cancel, or a generation request with
 * context_id, model_id, transcript, voice {"mode":"id","id":...} and
 * output_format {"container":"raw","encoding":"pcm_mulaw","sample_rate":
 * 8000} (the one format the stand-in makes), optional continue, flush,
 * language. Returns 0, SB_EPARSE (reason in `err`; r->context_id is kept
 * when the message had a usable one, for the error's context_id) or
 * SB_ENOMEM.
 */
SB_MUST_CHECK int sim_providers_ca_request_parse(struct sim_providers_ca_request *r,
                                                 const char *text, size_t len, char *err,
                                                 size_t errsize);

void sim_providers_ca_request_release(struct sim_providers_ca_request *r);

/**
 * Where the complete sentences of `text` end: the length up to and
 * including the last '.', '!', '?' or ';' (with any closing quotes or
 * brackets after it) that whitespace follows, or 0 when no sentence is
 * complete yet. "1.5" does not end one.
 */
size_t sim_providers_sentence_end(const char *text, size_t len);

/** How many whitespace-separated words `text` holds. */
size_t sim_providers_count_words(const char *text);

/** The length of the first `words` whitespace-separated words of `text`, without the space after.
 */
size_t sim_providers_words_len(const char *text, size_t words);

/* --- messages the stand-ins send ------------------------------------------------------------ */

/* One Deepgram Results message. Strings borrowed. */
struct sim_providers_dg_result {
    double start, duration; /* the audio range it covers, seconds from the stream's start */
    int is_final, speech_final, from_finalize;
    const char *transcript; /* "" when nothing was heard */
    double confidence;
    double words_start, words_end; /* where the words are spread evenly */
    const char *request_id;
    const char *model;
};

/**
 * {"type":"Results","channel_index":[0,1],"duration","start","is_final",
 * "speech_final","from_finalize","channel":{"alternatives":[{"transcript",
 * "confidence","words":[{"word","start","end","confidence",
 * "punctuated_word"}]}]},"metadata":{"request_id","model_info":{"name",
 * "version","arch"},"model_uuid"}}. A word is a whitespace-separated
 * token: `punctuated_word` as written, `word` its letters folded to lower
 * case. Times are rounded to milliseconds.
 */
SB_MUST_CHECK char *sim_providers_dg_results_json(const struct sim_providers_dg_result *r);

/** {"type":"SpeechStarted","channel":[0],"timestamp":t} */
SB_MUST_CHECK char *sim_providers_dg_speech_started_json(double t);

/** {"type":"UtteranceEnd","channel":[0,1],"last_word_end":t} */
SB_MUST_CHECK char *sim_providers_dg_utterance_end_json(double last_word_end);

/** {"type":"Metadata","transaction_key":"deprecated","request_id","sha256","created","duration","channels"} */
SB_MUST_CHECK char *sim_providers_dg_metadata_json(const char *request_id, const char *sha256,
                                                   const char *created, double duration,
                                                   int channels);

/**
 * {"type":"Error","variant":"SchemaError","description":...,"message":...}:
 * `message` is the client's message (at most its first 256 bytes, cut at
 * a character) or NULL.
 */
SB_MUST_CHECK char *sim_providers_dg_error_json(const char *description, const char *message,
                                                size_t message_len);

/**
 * {"audio":"<base64>","isFinal":false,"normalizedAlignment":null,
 * "alignment":null}; with `garbage` the audio is not base64 at all.
 */
SB_MUST_CHECK char *sim_providers_el_audio_json(const unsigned char *audio, size_t len,
                                                int garbage);

/** {"isFinal":true} */
SB_MUST_CHECK char *sim_providers_el_final_json(void);

/**
 * {"type":"chunk","context_id","data":"<base64>","done":false,
 * "status_code":206,"step_time":ms,"flush_id":n}; `garbage` as above.
 */
SB_MUST_CHECK char *sim_providers_ca_chunk_json(const char *context_id, const unsigned char *audio,
                                                size_t len, double step_ms, int flush_id,
                                                int garbage);

/** {"type":"flush_done","context_id","flush_id","flush_done":true,"done":false,"status_code":206}
 */
SB_MUST_CHECK char *sim_providers_ca_flush_done_json(const char *context_id, int flush_id);

/** {"type":"done","context_id","done":true,"status_code":200} */
SB_MUST_CHECK char *sim_providers_ca_done_json(const char *context_id);

/**
 * {"type":"error","context_id"(when not NULL),"status_code","title",
 * "message","done":true}
 */
SB_MUST_CHECK char *sim_providers_ca_error_json(const char *context_id, int status,
                                                const char *title, const char *message);

/* --- the recogniser's utterances ------------------------------------------------------------ */

/* A 20 ms frame whose RMS reaches this (about -38 dBFS) is speech. */
#define SIM_PROVIDERS_VAD_LEVEL 400
/* Speech starts after this many speech frames in a row. */
#define SIM_PROVIDERS_VAD_START_FRAMES 2
/* The shortest pause that ends an utterance (Deepgram's default endpointing is 10 ms). */
#define SIM_PROVIDERS_MIN_PAUSE_MS 100
/* With endpointing=false, the pause after which results are final anyway (speech_final false). */
#define SIM_PROVIDERS_NO_ENDPOINT_PAUSE_MS 500
/* Audio before the speech frames kept with an utterance. */
#define SIM_PROVIDERS_PREROLL_MS 200
/* Interim results come this often (audio time) while an utterance grows. */
#define SIM_PROVIDERS_INTERIM_MS 500
/* An utterance this long is made final and a new one begins (speech_final false). */
#define SIM_PROVIDERS_MAX_UTTERANCE_MS 15000

enum sim_providers_listen_kind {
    SIM_PROVIDERS_SPEECH_STARTED, /* vad_events */
    SIM_PROVIDERS_INTERIM,        /* interim_results */
    SIM_PROVIDERS_FINAL,
    SIM_PROVIDERS_UTTERANCE_END, /* utterance_end_ms */
};

/* What the segmenter found. Times in seconds from the stream's start. */
struct sim_providers_listen_event {
    enum sim_providers_listen_kind kind;
    double start, duration;          /* INTERIM, FINAL: the range the Results covers */
    int has_speech;                  /* INTERIM, FINAL: the range holds an utterance */
    double speech_start, speech_end; /* its speech */
    int speech_final;                /* FINAL: ended by a pause (endpointing) */
    int from_finalize;               /* FINAL: asked for by Finalize */
    double timestamp;           /* SPEECH_STARTED: speech start; UTTERANCE_END: last word end */
    const unsigned char *audio; /* INTERIM, FINAL with speech: the utterance so far, */
    size_t len;                 /* borrowed for the call (µ-law, 8 kHz) */
};

typedef int (*sim_providers_listen_emit)(void *arg, const struct sim_providers_listen_event *ev);

/* One stream's segmenter: an energy detector over the audio, in audio time. */
struct sim_providers_listen {
    /* settings */
    int pause_ms;      /* quiet that ends an utterance */
    int speech_final;  /* that pause is endpointing (speech_final true) */
    int interim;       /* emit INTERIM */
    int vad_events;    /* emit SPEECH_STARTED */
    int utterance_end; /* ms; 0: no UTTERANCE_END */
    /* state, in samples */
    unsigned long long pos;    /* samples received */
    unsigned long long cursor; /* where the next Results starts */
    unsigned char frame[PHONE_FRAME_BYTES];
    size_t frame_len;
    int in_speech;
    int voiced_run;                /* speech frames in a row */
    unsigned long long seg_start;  /* the utterance's first speech sample */
    unsigned long long last_voice; /* end of its last speech frame */
    unsigned long long next_interim;
    unsigned long long utt_end_due; /* 0: no UtteranceEnd waiting */
    unsigned long long last_word_end;
    struct buf preroll; /* the last SIM_PROVIDERS_PREROLL_MS while quiet */
    struct buf audio;   /* the utterance: pre-roll, speech, the pause so far */
};

/** Sets up a segmenter for a stream with query `q`. Allocates nothing. */
void sim_providers_listen_init(struct sim_providers_listen *l,
                               const struct sim_providers_dg_query *q);

/**
 * Feeds `n` bytes of µ-law audio; calls `emit` for each event, in order.
 * Returns 0, the first nonzero value `emit` returned, or SB_ENOMEM.
 */
SB_MUST_CHECK int sim_providers_listen_feed(struct sim_providers_listen *l,
                                            const unsigned char *data, size_t n,
                                            sim_providers_listen_emit emit, void *arg);

/**
 * Ends what is pending now (Finalize: `from_finalize` 1; CloseStream: 0):
 * emits one FINAL for the utterance in progress, or for the quiet since the
 * last result (no speech, possibly 0 s long), then an UTTERANCE_END when
 * one is due by then. Returns as sim_providers_listen_feed.
 */
SB_MUST_CHECK int sim_providers_listen_finish(struct sim_providers_listen *l, int from_finalize,
                                              sim_providers_listen_emit emit, void *arg);

/** Frees the segmenter's buffers. */
void sim_providers_listen_release(struct sim_providers_listen *l);

/* --- the server ----------------------------------------------------------------------------- */

/* Settings of a server. Strings and arrays are borrowed for sim_providers_run. */
struct sim_providers_opts {
    const char *host;    /* address to listen on, e.g. "127.0.0.1" */
    int port;            /* 0: any free port */
    const char *api_key; /* required by every endpoint, each its provider's way; NULL: none */
    /*
     * What Deepgram's stand-in hears: these lines in turn, one per
     * utterance, per stream; none: pocketsphinx (English) listening for
     * `phrases` (none: a small built-in list).
     */
    const char *const *transcripts;
    size_t ntranscripts;
    const char *const *phrases;
    size_t nphrases;
    int idle_ms;       /* Deepgram's NET-0001 timeout; 0: SIM_PROVIDERS_IDLE_MS */
    int first_byte_ms; /* added before each first answer (docs/sim.md) */
    int slow_ms;       /* at least this long between two messages of a socket */
    int cut_after;     /* close 1011 after N audio messages; 0: never */
    int fail_every;    /* every Nth upgrade is refused 503; 0: none */
    int garbage_audio; /* synthesis answers carry audio that is not base64 */
    /*
     * Every synthesis answers with this audio (8 kHz µ-law) instead of
     * espeak-ng's, whatever the text and language: a voice that costs next
     * to nothing. NULL: espeak-ng speaks.
     */
    const unsigned char *replay_audio;
    size_t replay_len;
    FILE *ready; /* gets "listening on http://HOST:PORT\n" once bound; may be NULL */
};

/* Largest --replay-audio file read (about 35 minutes of 8 kHz µ-law). */
#define SIM_PROVIDERS_MAX_REPLAY (16u * 1024u * 1024u)

/**
 * Reads the audio for --replay-audio from `path` into `*out` (the caller
 * frees it) and its length into `*len`: a WAV file (RIFF/WAVE, 8 kHz,
 * 16-bit PCM or µ-law; channels averaged to mono) is decoded and encoded
 * as µ-law; any other file is raw 8 kHz µ-law, taken byte for byte.
 * Returns 0, or SB_EIO (cannot read), SB_ETOOBIG (over
 * SIM_PROVIDERS_MAX_REPLAY), SB_EPARSE (empty, or a WAV not at 8 kHz or
 * not readable) or SB_ENOMEM, with a reason naming the file in `err`.
 */
SB_MUST_CHECK int sim_providers_replay_load(const char *path, unsigned char **out, size_t *len,
                                            char *err, size_t errsize);

/**
 * Serves on opts->host:opts->port until SIGINT or SIGTERM, in the calling
 * thread, with two worker threads for recognition and synthesis. Logs to
 * stderr (events providers.*), never a key or a transcript. Returns 0
 * after a clean stop, SB_EINVAL (bad options), SB_EIO (cannot listen, or
 * no speech engine) or SB_ENOMEM.
 */
int sim_providers_run(const struct sim_providers_opts *opts);

#endif
