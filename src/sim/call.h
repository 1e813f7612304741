/*
 * One simulated call: switchboard sim plays Twilio's part. It requests the
 * webhook, executes the TwiML it gets back verb by verb the way Twilio does,
 * takes the caller's side from a script (or the keyboard), sends status
 * callbacks, and records everything that happened in a transcript.
 */
#ifndef SB_SIM_CALL_H
#define SB_SIM_CALL_H

#include <jansson.h>
#include <stdio.h>

#include "core/form.h"
#include "core/phone.h"
#include "core/status_events.h"
#include "sim/script.h"

/* StatusCallbackEvent bits (core/status_events parses the lists). */
enum {
    SIM_EVENT_INITIATED = STATUS_EVENT_INITIATED,
    SIM_EVENT_RINGING = STATUS_EVENT_RINGING,
    SIM_EVENT_ANSWERED = STATUS_EVENT_ANSWERED,
    SIM_EVENT_COMPLETED = STATUS_EVENT_COMPLETED,
};

/* What a control hook answers (see sim_call_opts.control). */
enum sim_control_action {
    SIM_CONTROL_CONTINUE = 0, /* carry on */
    SIM_CONTROL_REDIRECT = 1, /* fetch ctl->url with ctl->method now, as for <Redirect> */
    SIM_CONTROL_HANGUP = 2,   /* end the call now */
};

/* One poll of a control hook: what the call is at, and the hook's answer. */
struct sim_control {
    double clock_ms;      /* in: simulated time; out: may be lowered to when the call was cut */
    int answered;         /* in: 0 for the one poll before the first request (ringing) */
    const json_t *events; /* in: the transcript so far (borrowed; read it in the hook only) */
    char url[2048];       /* out: where SIM_CONTROL_REDIRECT goes (absolute) */
    char method[8];       /* out: "GET" or "POST" ("" means POST) */
    char status[16];      /* out: final status for SIM_CONTROL_HANGUP ("" means completed, or
                             canceled before the answer) */
};

struct sim_call_opts {
    const char *url;          /* the voice URL ("A call comes in") */
    const char *method;       /* "POST" (default) or "GET" */
    const char *fallback_url; /* requested when the voice URL fails; may be NULL */
    const char *from;
    const char *to;
    const char *token;           /* auth token to sign with; NULL sends unsigned requests */
    const char *account_sid;     /* NULL: a fixed test account */
    const char *call_sid;        /* NULL: a random one */
    const char *direction;       /* NULL: "inbound" */
    const struct form *extra;    /* added to every request (e.g. AnsweredBy); may be NULL */
    const char *status_callback; /* may be NULL */
    unsigned status_events;      /* SIM_EVENT_* bits; 0 means completed only */
    int chaos;                   /* deliver status callbacks duplicated and out of order */
    unsigned seed;               /* for --chaos and generated SIDs */
    struct sim_script *script;   /* the caller's side; may be NULL (silence) */
    int interactive;             /* ask on `in`/`out` instead of the script */
    FILE *in;
    FILE *out;
    int max_documents;        /* redirect-loop bound; 0 means 50 */
    int stream_plain;         /* open wss:// streams as ws:// (local servers) */
    const char *record_audio; /* WAV of what the caller heard in streams; may be NULL */
    int stream_max_ms;        /* bound on one stream; 0 means 60000 */
    /*
     * Real milliseconds between a speech Gather's last partial result and its
     * final one (Twilio's end-of-speech silence); 0: none.
     */
    long speech_end_ms;
    int no_partial_results; /* ignore partialResultCallback (as if no Gather asked) */
    /*
     * Lets a REST API (switchboard sim api) hang up or redirect the live
     * call. Polled in the call's thread once while ringing, before each verb,
     * after the last verb of a document, and where the caller's input starts
     * and ends (<Gather>, <Dial>, <Record>). It may block: that is how the
     * API paces a call in real time. Returns a SIM_CONTROL_* value. NULL:
     * never polled.
     */
    int (*control)(void *arg, struct sim_control *ctl);
    void *control_arg;
    const char *api_base; /* base of RecordingUrl; NULL means https://api.twilio.com */
};

struct sim_call_result {
    int ok;          /* 1: completed without protocol errors or failed expectations */
    int error_code;  /* the Twilio error code of the failure, 0 when none */
    char error[512]; /* lower-case description of the failure */
    char call_sid[SID_SIZE];
    char status[16];   /* the call's final status: completed, busy, no-answer, failed,
                          canceled (by a control hook before the answer) */
    double duration_s; /* CallDuration as Twilio would report it */
    int documents;     /* TwiML documents fetched */
    json_t *events;    /* the transcript: an array of event objects (owned) */
};

/**
 * Runs one call to completion. Always fills `res` (release with
 * sim_call_result_release). Returns 0 when res->ok, else SB_EIO.
 */
int sim_call_run(const struct sim_call_opts *opts, struct sim_call_result *res);

/** Frees the transcript. */
void sim_call_result_release(struct sim_call_result *res);

/** Prints the transcript for people: who said what, which keys, which requests. */
void sim_transcript_print(const struct sim_call_result *res, FILE *out);

/** Prints the result as one JSON document (call, status, events). */
void sim_transcript_print_json(const struct sim_call_result *res, FILE *out);

#endif
