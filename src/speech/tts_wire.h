/*
 * Streaming synthesis on the wire, for two providers that answer with 8 kHz
 * µ-law in base64 over a WebSocket: the sockets' URLs, the JSON messages
 * the client sends, and parsers of what the servers send.
 *
 * ElevenLabs, `/v1/text-to-speech/{voice_id}/stream-input` (key in the
 * header `xi-api-key`, never in a message). Client: the initialize message
 * {"text":" ","voice_settings":{...}[,"generation_config":{...}]}, text
 * messages {"text":"... "[,"flush":true]}, the end of input {"text":""}.
 * Server: {"audio":<base64>,"isFinal":..,"alignment":..,"normalizedAlignment":..}
 * then {"isFinal":true}; both `isFinal` (elevenlabs-js FinalOutput) and
 * `is_final` (the docs' multi-context example) are read. Errors come as
 * {"message":...,"error":"input_timeout_exceeded","code":1008} before the
 * socket closes (seen from the server; elevenlabs-js types the same shape
 * for its dialogue socket as TextToDialogueWebsocketError), so a message
 * with `error` is an error whatever its other fields.
 *
 * Cartesia, `/tts/websocket` (headers `Authorization: Bearer <key>` and
 * `Cartesia-Version: CARTESIA_VERSION`). Client: a generation request per
 * input of a context, {"context_id","model_id","transcript","voice",
 * "language","output_format","continue"[,"flush"][,"max_buffer_delay_ms"]},
 * and {"context_id":..,"cancel":true}. Server: messages with a `type` of
 * "chunk" (base64 `data`), "done", "flush_done", "timestamps",
 * "phoneme_timestamps" (ignored) and "error" (message, title, status_code,
 * error_code), as cartesia-js WebsocketResponse types them.
 *
 * Pure: no I/O, no threads, no global mutable state. Builders append to the
 * caller's struct buf and leave it as it was on failure. Parsers append the
 * decoded audio to the caller's struct buf (whose maximum bounds it; one
 * buffer per call, emptied by the caller between messages) and fill a
 * fixed-size struct; on failure both are as they were before, the struct
 * zeroed. Strings are borrowed for the call.
 */
#ifndef SB_SPEECH_TTS_WIRE_H
#define SB_SPEECH_TTS_WIRE_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* The longest text one message may carry, in bytes. */
#define TTS_WIRE_TEXT_MAX 4096
/* The largest server message parsed: base64 of 768 KiB, 96 s of 8 kHz µ-law. */
#define TTS_WIRE_MESSAGE_MAX (1024 * 1024)
#define TTS_WIRE_ERROR_SIZE 256
#define TTS_WIRE_CODE_SIZE 64

/* ---- ElevenLabs --------------------------------------------------------- */

#define ELEVENLABS_DEFAULT_URL "wss://api.elevenlabs.io"
/* The fastest model (~75 ms), 32 languages, and one of the two that take language_code. */
#define ELEVENLABS_DEFAULT_MODEL "eleven_flash_v2_5"
/* The end of input: what is buffered is spoken, then the server closes the socket. */
#define ELEVENLABS_END_MESSAGE "{\"text\":\"\"}"
/* Keeps an idle socket open (it closes after 20 s without text); "" would end it. */
#define ELEVENLABS_KEEPALIVE_MESSAGE "{\"text\":\" \"}"
#define ELEVENLABS_SCHEDULE_MAX 8

struct elevenlabs_settings {
    double stability;        /* 0 to 1, default 0.5 */
    double similarity_boost; /* 0 to 1, default 0.75 */
    double style;            /* 0 to 1, default 0 */
    int use_speaker_boost;   /* default 1 */
    double speed;            /* 0.7 to 1.2, default 1 */
    /*
     * generation_config.chunk_length_schedule, each 50 to 500 characters;
     * none (the default) leaves generation_config out: the URL asks for
     * auto_mode, which disables the schedule.
     */
    unsigned schedule[ELEVENLABS_SCHEDULE_MAX];
    size_t nschedule;
};

#define ELEVENLABS_SETTINGS_DEFAULT                                                                \
    {                                                                                              \
        0.5, 0.75, 0.0, 1, 1.0, {0}, 0                                                             \
    }

enum elevenlabs_kind {
    ELEVENLABS_AUDIO, /* audio_len > 0 bytes were appended (is_final may be set too) */
    ELEVENLABS_FINAL, /* the last message: no more audio for this input */
    ELEVENLABS_ERROR, /* the server reported an error: error, error_code */
    ELEVENLABS_OTHER, /* nothing of use (no audio, not final): ignore it */
};

struct elevenlabs_msg {
    enum elevenlabs_kind kind;
    size_t audio_len; /* bytes of µ-law appended to the caller's buf */
    int is_final;
    char error[TTS_WIRE_ERROR_SIZE];     /* the message (cut to fit) */
    char error_code[TTS_WIRE_CODE_SIZE]; /* "input_timeout_exceeded", or the code's number */
};

/**
 * Appends the socket's URL:
 * {base}/v1/text-to-speech/{voice_id}/stream-input?model_id=M[&language_code=L]
 * &output_format=ulaw_8000&auto_mode=true
 * with `base` ELEVENLABS_DEFAULT_URL when NULL or "" (see
 * provider_wire_base_url), `model_id` ELEVENLABS_DEFAULT_MODEL when NULL or
 * "", the voice and model percent-encoded. language_code is the ISO 639-1
 * code of `lang` ("es" for "es-MX"), sent only to the models that take it
 * (Flash and Turbo v2.5; the others refuse it) and when `lang` is given.
 * auto_mode=true: the agent hands over whole sentences, and auto_mode
 * starts generating at once instead of waiting for the chunk schedule's
 * 120 characters (ElevenLabs: "reduces latency by disabling chunk schedule
 * and buffers; recommended for full sentences/phrases").
 * Returns 0, or SB_EINVAL (a bad base URL, no voice, an overlong name, a
 * tag of no ISO 639-1 language for a model that takes one), SB_ETOOBIG or
 * SB_ENOMEM with the reason in `err`; `out` is unchanged on failure.
 */
SB_MUST_CHECK int elevenlabs_url(struct buf *out, const char *base, const char *voice_id,
                                 const char *model_id, const char *lang, char *err, size_t errsize);

/**
 * Appends the initialize message, {"text":" ","voice_settings":{...}} and
 * generation_config when `s` has a schedule; NULL `s`: the defaults.
 * Returns 0, SB_EINVAL (a setting out of range), SB_ETOOBIG or SB_ENOMEM.
 */
SB_MUST_CHECK int elevenlabs_init_message(struct buf *out, const struct elevenlabs_settings *s,
                                          char *err, size_t errsize);

/**
 * Appends a text message: {"text":"<text> "} with a space added when `text`
 * does not end with one (ElevenLabs: text should end with a space), and
 * "flush":true when `flush` (at the end of a reply: speak what is buffered
 * now). Returns 0, SB_EINVAL (empty text, which would end the stream, text
 * over TTS_WIRE_TEXT_MAX or not UTF-8), SB_ETOOBIG or SB_ENOMEM.
 */
SB_MUST_CHECK int elevenlabs_text_message(struct buf *out, const char *text, int flush, char *err,
                                          size_t errsize);

/**
 * Reads one server message of `len` bytes, appending its audio to `audio`.
 * Returns 0 with *out filled (any kind), or with *out zeroed, `audio` as it
 * was and the reason in `err`: SB_ETOOBIG (over TTS_WIRE_MESSAGE_MAX, or
 * audio past audio's maximum), SB_EPARSE (not a JSON object, audio not a
 * string or not base64, isFinal not a boolean) or SB_ENOMEM.
 */
SB_MUST_CHECK int elevenlabs_parse(const char *json, size_t len, struct buf *audio,
                                   struct elevenlabs_msg *out, char *err, size_t errsize);

/* ---- Cartesia ----------------------------------------------------------- */

#define CARTESIA_DEFAULT_URL "wss://api.cartesia.ai"
/* The Cartesia-Version header (cartesia-js sends this one with every request). */
#define CARTESIA_VERSION "2025-11-04"
/* The model Cartesia recommends (cartesia-js lists it first among its TTS models). */
#define CARTESIA_DEFAULT_MODEL "sonic-3.5"
#define CARTESIA_CONTEXT_ID_MAX 64
#define CARTESIA_VOICE_ID_MAX 128
/* max_buffer_delay_ms left out of the request. */
#define CARTESIA_BUFFER_UNSET (-1)

struct cartesia_request {
    const char *context_id; /* required, at most CARTESIA_CONTEXT_ID_MAX bytes */
    const char *model_id;   /* NULL or "": CARTESIA_DEFAULT_MODEL */
    const char *transcript; /* UTF-8, may be "" (the end of a context, or a flush) */
    const char *voice_id;   /* required, at most CARTESIA_VOICE_ID_MAX bytes */
    const char *lang;       /* BCP-47, sent as its ISO 639-1 code; NULL or "": left out */
    int cont;               /* "continue": more input follows for this context */
    int flush;              /* "flush": speak what the context holds now */
    /*
     * 0 to 5000, or CARTESIA_BUFFER_UNSET. How long the server may wait for
     * more text before generating; cartesia-js says both "defaults to 3000"
     * and "unset: generation starts at once", so whole sentences are best
     * sent with 0 (a zeroed request does so).
     */
    int max_buffer_delay_ms;
};

enum cartesia_kind {
    CARTESIA_CHUNK,      /* audio_len bytes appended (done may be set too) */
    CARTESIA_DONE,       /* the context is finished */
    CARTESIA_FLUSH_DONE, /* flush flush_id is through */
    CARTESIA_TIMESTAMPS, /* word or phoneme timestamps: ignore */
    CARTESIA_ERROR,      /* the server reported an error: error, error_code, status_code */
    CARTESIA_OTHER,      /* a type this parser does not know: ignore it */
};

struct cartesia_msg {
    enum cartesia_kind kind;
    char context_id[CARTESIA_CONTEXT_ID_MAX + 1]; /* "" when not sent */
    size_t audio_len;                             /* bytes of µ-law appended to the caller's buf */
    int done;                                     /* the context is finished */
    long flush_id;                                /* 0 when not sent */
    int status_code;                              /* 0 when not sent */
    char error[TTS_WIRE_ERROR_SIZE];              /* "title: message" (cut to fit) */
    char error_code[TTS_WIRE_CODE_SIZE];
};

/**
 * Appends the socket's URL, {base}/tts/websocket, with `base`
 * CARTESIA_DEFAULT_URL when NULL or "" (see provider_wire_base_url).
 * Returns 0, SB_EINVAL (a bad base URL), SB_ETOOBIG or SB_ENOMEM.
 */
SB_MUST_CHECK int cartesia_url(struct buf *out, const char *base, char *err, size_t errsize);

/**
 * Appends a generation request with output_format raw pcm_mulaw at 8000 Hz.
 * Returns 0, SB_EINVAL (a field missing, overlong, not UTF-8 or out of
 * range, a tag of no ISO 639-1 language), SB_ETOOBIG or SB_ENOMEM.
 */
SB_MUST_CHECK int cartesia_request_message(struct buf *out, const struct cartesia_request *r,
                                           char *err, size_t errsize);

/** Appends {"context_id":"...","cancel":true}. Same returns as cartesia_request_message. */
SB_MUST_CHECK int cartesia_cancel_message(struct buf *out, const char *context_id, char *err,
                                          size_t errsize);

/**
 * Reads one server message of `len` bytes, appending a chunk's audio to
 * `audio`. Returns 0 with *out filled (any kind), or with *out zeroed,
 * `audio` as it was and the reason in `err`: SB_ETOOBIG, SB_EPARSE (not a
 * JSON object, no type, data not base64, a field of the wrong type or out
 * of range, a context_id over CARTESIA_CONTEXT_ID_MAX) or SB_ENOMEM.
 */
SB_MUST_CHECK int cartesia_parse(const char *json, size_t len, struct buf *audio,
                                 struct cartesia_msg *out, char *err, size_t errsize);

#endif
