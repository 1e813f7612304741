/*
 * Deepgram's streaming recognition (`/v1/listen`, v1 "Nova") on the wire:
 * the socket's URL, the control messages the client sends, and a parser of
 * what the server sends. Audio itself goes in binary frames of 8 kHz µ-law
 * as Twilio gives it (never an empty frame), the key in the header
 * `Authorization: Token <key>`; neither is this module's business.
 *
 * Messages, as deepgram-js-sdk (listen/v1 types ListenV1Results,
 * ListenV1UtteranceEnd, ListenV1SpeechStarted, ListenV1Metadata) and
 * Deepgram's docs define them:
 *   Results       {"type":"Results","start":s,"duration":s,"is_final":b,
 *                  "speech_final":b,"from_finalize":b,
 *                  "channel":{"alternatives":[{"transcript":t,"confidence":c,...}]}}
 *   UtteranceEnd  {"type":"UtteranceEnd","last_word_end":s}
 *   SpeechStarted {"type":"SpeechStarted","timestamp":s}
 *   Metadata      {"type":"Metadata","request_id":id,"duration":s,...}
 * Errors end the socket with a close frame (reason "NET-0001", "DATA-0000").
 * An error message may come first: deepgram-python-sdk 3.x read
 * {"type":"Error","description":...,"message":...,"variant":...} on this
 * socket (the current deepgram-js-sdk types none for v1), Flux and the
 * agent API send {"type":"Error","code":...,"description":...}, and the
 * HTTP error bodies are {"err_code":...,"err_msg":...} and
 * {"category":...,"message":...}: each is read as DEEPGRAM_ERROR. Other
 * types are DEEPGRAM_OTHER, not an error: new kinds of message must not
 * break a call.
 *
 * Pure: no I/O, no threads, no global mutable state. Builders append to the
 * caller's struct buf and leave it as it was on failure; the parser fills
 * the caller's struct deepgram_msg (fixed-size fields, nothing to free).
 */
#ifndef SB_SPEECH_DEEPGRAM_WIRE_H
#define SB_SPEECH_DEEPGRAM_WIRE_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "speech/stt.h"

#define DEEPGRAM_DEFAULT_URL "wss://api.deepgram.com"
/* nova-3 hears English and, since 2025-09, Spanish ("es", "es-419") among others. */
#define DEEPGRAM_DEFAULT_MODEL "nova-3"

/* Control messages (text frames). KeepAlive while no audio flows: Deepgram closes after 10 s. */
#define DEEPGRAM_KEEPALIVE "{\"type\":\"KeepAlive\"}"
/* Flush what was heard: its results come back with from_finalize true. */
#define DEEPGRAM_FINALIZE "{\"type\":\"Finalize\"}"
/* Finish: the last results and a Metadata message come, then the socket closes. */
#define DEEPGRAM_CLOSE_STREAM "{\"type\":\"CloseStream\"}"

/* The largest message parsed (a Results message with every word is a few KiB). */
#define DEEPGRAM_MESSAGE_MAX (64 * 1024)
/* A transcript fits a recognition result's text (NUL included); a longer one is cut. */
#define DEEPGRAM_TRANSCRIPT_SIZE STT_TEXT_MAX
#define DEEPGRAM_ID_SIZE 64
#define DEEPGRAM_ERROR_SIZE 256
#define DEEPGRAM_CODE_SIZE 64
#define DEEPGRAM_TYPE_SIZE 32

enum deepgram_kind {
    DEEPGRAM_RESULTS,
    DEEPGRAM_UTTERANCE_END,
    DEEPGRAM_SPEECH_STARTED,
    DEEPGRAM_METADATA,
    DEEPGRAM_ERROR, /* the server reported an error (see above) */
    DEEPGRAM_OTHER, /* a type this parser does not know: ignore it */
};

/* One message; fields its kind does not carry are 0 or "". Times: seconds from the start. */
struct deepgram_msg {
    enum deepgram_kind kind;
    char type[DEEPGRAM_TYPE_SIZE]; /* the type as sent (cut to fit), "" when none */
    /* DEEPGRAM_RESULTS: channel.alternatives[0] ("" and 0 when there is none) */
    char transcript[DEEPGRAM_TRANSCRIPT_SIZE]; /* UTF-8, "" for silence */
    int truncated;                             /* the transcript was cut at a character */
    double confidence;                         /* 0 to 1 */
    int is_final;      /* this time range is settled (else an interim result) */
    int speech_final;  /* endpointing heard the end of speech */
    int from_finalize; /* the answer to a Finalize */
    double start;
    double duration; /* also DEEPGRAM_METADATA: seconds of audio processed */
    /* DEEPGRAM_UTTERANCE_END */
    double last_word_end;
    /* DEEPGRAM_SPEECH_STARTED */
    double timestamp;
    /* DEEPGRAM_METADATA and DEEPGRAM_ERROR, "" when not sent */
    char request_id[DEEPGRAM_ID_SIZE];
    /* DEEPGRAM_ERROR: the description (cut to fit), and the code when one came */
    char error[DEEPGRAM_ERROR_SIZE];
    char error_code[DEEPGRAM_CODE_SIZE];
};

/**
 * Appends the socket's URL:
 * {base}/v1/listen?model=M&language=L&encoding=mulaw&sample_rate=8000&channels=1
 * &interim_results=true&endpointing=300&utterance_end_ms=1000&vad_events=true
 * &smart_format=true&punctuate=true
 * with `base_url` DEEPGRAM_DEFAULT_URL when NULL or "" (see
 * provider_wire_base_url), `model` DEEPGRAM_DEFAULT_MODEL when NULL or "",
 * both percent-encoded. The language is `lang` as given when it is a tag
 * Deepgram lists ("en-US", "en-GB", "en-AU", "en-NZ", "en-IN", "es-419",
 * "multi"), else its base language ("es" for "es-MX"); "en" (Deepgram's
 * default) when NULL or "". Returns 0, or SB_EINVAL (a bad base URL, an
 * empty or overlong model, a tag of no known language), SB_ETOOBIG or
 * SB_ENOMEM with the reason in `err`; `out` is unchanged on failure.
 */
SB_MUST_CHECK int deepgram_listen_url(struct buf *out, const char *base_url, const char *model,
                                      const char *lang, char *err, size_t errsize);

/**
 * Reads one text frame of `len` bytes. Returns 0 with *out filled (any
 * kind, DEEPGRAM_ERROR included), or with *out zeroed and the reason in
 * `err`: SB_ETOOBIG (over DEEPGRAM_MESSAGE_MAX), SB_EPARSE (not a JSON
 * object, no type, a field of the wrong type or out of range, a transcript
 * that is not UTF-8, Results without channel.alternatives) or SB_ENOMEM.
 */
SB_MUST_CHECK int deepgram_parse(const char *json, size_t len, struct deepgram_msg *out, char *err,
                                 size_t errsize);

#endif
