/*
 * The Media Streams WebSocket client of the simulator: plays Twilio's side of
 * <Connect><Stream> (bidirectional) and <Start><Stream> (unidirectional).
 *
 * It connects to the application's ws:// or wss:// URL with an
 * X-Twilio-Signature over that URL, sends connected and start, then a media
 * frame (20 ms, 160 µ-law bytes) every 20 ms from an absolute clock: the
 * caller's scripted audio, or silence between steps. Audio the server sends
 * on a bidirectional stream is played in real time into an optional
 * recording; marks are echoed once the audio queued before them has played,
 * and clear drops the queue and echoes every pending mark at once. Anything
 * malformed from the server ends the run with a precise error, and the run
 * never outlasts its time limit.
 */
#ifndef SB_SIM_STREAM_H
#define SB_SIM_STREAM_H

#include <stdatomic.h>
#include <stddef.h>

#include "core/form.h"
#include "core/phone.h"
#include "sim/audio.h"

/* A Media Streams frame: 20 ms of 8 kHz µ-law. */
#define SIM_STREAM_FRAME_MS PHONE_FRAME_MS
#define SIM_STREAM_FRAME_BYTES PHONE_FRAME_BYTES
/* Largest message accepted from the server. */
#define SIM_STREAM_MAX_MESSAGE (1024 * 1024)
/* Server audio waiting to play beyond this is an error (10 minutes). */
#define SIM_STREAM_MAX_QUEUED_BYTES (600 * PHONE_RATE)
/* Utterances whose reply gap is measured. */
#define SIM_STREAM_MAX_TURNS 64
/*
 * A frame of the server's audio is voiced (the agent is heard) when one of
 * its samples, decoded to 16 bits, is louder than this (about -36 dBFS):
 * µ-law silence (0xFF, 0x7F) and the quietest steps around zero are not.
 */
#define SIM_STREAM_VOICED_LEVEL 500
/* Defaults for zero fields. */
#define SIM_STREAM_DEFAULT_MAX_MS 60000
#define SIM_STREAM_DEFAULT_QUIET_MS 700
#define SIM_STREAM_DEFAULT_WAIT_MS 15000
/* NOISE steps: at most 2 minutes, at -90 to 0 dBFS. */
#define SIM_STREAM_MAX_NOISE_MS 120000
#define SIM_STREAM_NOISE_MIN_DBFS (-90.0)
#define SIM_STREAM_NOISE_MAX_DBFS 0.0

enum sim_stream_step_kind {
    SIM_STEP_SAY_TEXT,   /* speak `text` with espeak-ng in `lang` */
    SIM_STEP_SAY_WAV,    /* speak the WAV file at `text` */
    SIM_STEP_SAY_AUDIO,  /* speak `audio` (any rate) */
    SIM_STEP_SILENCE,    /* stay silent for `ms` */
    SIM_STEP_NOISE,      /* white noise for `ms` at `level_dbfs`, from `seed` (not speech) */
    SIM_STEP_DTMF,       /* press the keys in `text` (0-9, *, #, A-D), 100 ms each */
    SIM_STEP_WAIT_REPLY, /* wait for the server's reply to play out, see below */
    SIM_STEP_HANGUP,     /* send stop and close the WebSocket */
};

/*
 * One action of the caller. WAIT_REPLY waits until audio from the server
 * that arrived after the caller last spoke or made noise (or since the
 * start) has played and nothing more has come for `ms` (0:
 * SIM_STREAM_DEFAULT_QUIET_MS), or until `timeout_ms` (0:
 * SIM_STREAM_DEFAULT_WAIT_MS) have passed; a timeout is not an error (the
 * turn's gap stays -1). Silence is sent meanwhile. NOISE is sound but no
 * utterance: it starts no turn (no gap, no voice to voice).
 */
struct sim_stream_step {
    enum sim_stream_step_kind kind;
    const char *text;              /* SAY_TEXT words, SAY_WAV path, DTMF keys */
    const char *lang;              /* SAY_TEXT voice language; NULL means "en-us" */
    const struct sim_audio *audio; /* SAY_AUDIO clip (borrowed) */
    int ms;                        /* SILENCE and NOISE length, WAIT_REPLY quiet period */
    int timeout_ms;                /* WAIT_REPLY limit */
    double level_dbfs;             /* NOISE level: RMS in dBFS */
    unsigned seed;                 /* NOISE generator seed: the same seed, the same noise */
};

/*
 * What to run. Only `url` is required; the strings and arrays are borrowed
 * for the duration of sim_stream_run.
 */
struct sim_stream_opts {
    const char *url;           /* ws:// or wss:// URL of the application's stream endpoint */
    const char *sign_url;      /* URL the signature covers; NULL means `url` */
    const char *token;         /* auth token to sign with; NULL sends no X-Twilio-Signature */
    int plain;                 /* connect to a wss:// URL without TLS (loopback servers) */
    int insecure;              /* wss: accept self-signed and mismatched certificates */
    const char *account_sid;   /* NULL: a random AC... */
    const char *call_sid;      /* NULL: a random CA... */
    const char *stream_sid;    /* NULL: a random MZ... */
    const struct form *custom; /* <Parameter> pairs for start.customParameters; may be NULL */
    int bidirectional;         /* 1: <Connect><Stream>; 0: <Start><Stream> */
    const struct sim_stream_step *steps;
    size_t nsteps;
    const char *record_path; /* WAV (8 kHz mono) of what the caller heard on a bidirectional
                                stream, written at the end if it opened; NULL for none */
    int max_ms;              /* hard limit on the whole run; 0 means SIM_STREAM_DEFAULT_MAX_MS */
    int realtime;            /* 1: 20 ms per frame; 0: scripted audio and playback as fast as
                                the socket takes them (waits still run on the wall clock) */
    /*
     * Set to nonzero from any thread to make the caller hang up (stop, then
     * close) within one frame, as when the call ends. Already set at the
     * start (or while connecting), the stream is never opened and the run
     * fails. May be NULL.
     */
    atomic_int *hangup;
    /*
     * Called on the running thread for notable events ("connected",
     * "reply-start", "reply-end", "turn", "mark", "clear", "dtmf", "noise",
     * "stop", "close", "wait-timeout", "error") with the milliseconds since
     * sim_stream_run started and a short detail ("turn": "turn=N
     * voice_to_voice_ms=MS", when a turn's voice to voice is known; "noise":
     * "ms=MS dbfs=LEVEL", when a NOISE step starts). May be NULL.
     */
    void (*on_event)(void *arg, long ms, const char *event, const char *detail);
    void *event_arg;
};

struct sim_stream_result {
    int ok; /* 1: the stream ran and ended cleanly */
    /*
     * Twilio's stream error for a connection failure: 31901 (no connection
     * in time), 31902 (refused), 31910 (TLS), 31920 (upgrade not answered
     * with 101); 0 otherwise, including malformed messages.
     */
    int error_code;
    char error[256]; /* lower-case reason when !ok */
    char stream_sid[SID_SIZE];
    int close_code; /* code of the close frame received or sent; 0 when none */
    char close_reason[124];
    int closed_by_server; /* 1: the server closed the WebSocket */
    int hung_up;          /* 1: the caller sent stop (HANGUP step or `hangup` flag) */
    int timed_out;        /* 1: max_ms was reached */
    size_t steps_done;
    long messages_sent;   /* every message, connected and start included */
    long frames_sent;     /* media messages sent */
    long frames_received; /* media messages from the server */
    long bytes_received;  /* µ-law bytes from the server */
    long played_ms;       /* server audio played to the caller */
    long marks_received;
    long marks_echoed; /* including those returned by clear */
    long clears;
    long dtmf_sent;
    long first_audio_ms;                    /* start sent -> first server media; -1 when none */
    size_t nturns;                          /* caller utterances (SAY_* steps) finished */
    long turn_gap_ms[SIM_STREAM_MAX_TURNS]; /* end of utterance -> first reply media; -1 none */
    long duration_ms;                       /* WebSocket open -> closed */
    /*
     * Voice to voice, per utterance: from the end of its audio (its last
     * frame sent; the silence sent after it does not count) to when the
     * first voiced frame of the server's audio after it starts playing (its
     * arrival, later by the audio still queued ahead of it); -1 when no
     * voiced audio came before the next utterance ended or the stream did.
     */
    long voice_to_voice_ms[SIM_STREAM_MAX_TURNS];
};

/**
 * The offset in `mulaw` of the first whole or partial 160-byte frame (from
 * the start) holding a sample louder than SIM_STREAM_VOICED_LEVEL, or -1
 * when every sample is near zero.
 */
long sim_stream_first_voiced(const unsigned char *mulaw, size_t len);

/**
 * Fills `a` (empty or released) with `ms` of white Gaussian noise at
 * SIM_AUDIO_RATE whose RMS is `level_dbfs` relative to full scale (32768;
 * samples are clipped there), from a generator seeded with `seed`: the same
 * arguments always give the same samples. Returns 0, SB_EINVAL (ms outside
 * 1..SIM_STREAM_MAX_NOISE_MS, level outside SIM_STREAM_NOISE_MIN_DBFS..
 * SIM_STREAM_NOISE_MAX_DBFS) or SB_ENOMEM.
 */
SB_MUST_CHECK int sim_stream_noise(struct sim_audio *a, int ms, double level_dbfs, unsigned seed);

/**
 * Runs one stream on its own libwebsockets context in the calling thread and
 * blocks until it ends: the server closes the WebSocket, the caller hangs
 * up, an error, or max_ms. SAY_TEXT and SAY_WAV audio is prepared before
 * connecting. Always fills `res`. Returns 0 when res->ok, SB_EIO when the
 * stream failed (reason in res->error), SB_EINVAL for bad options (also
 * explained in res->error), SB_ENOMEM.
 */
int sim_stream_run(const struct sim_stream_opts *opts, struct sim_stream_result *res);

#endif
