/*
 * State of one simulated call, shared by call.c, callbacks.c, ask.c, call_stream.c and
 * call_relay.c. The call owns everything here; one thread runs it.
 */
#ifndef SB_SIM_CALL_INTERNAL_H
#define SB_SIM_CALL_INTERNAL_H

#include <jansson.h>
#include <time.h>

#include "sim/call.h"
#include "sim/doc.h"
#include "sim/fetch.h"

struct call {
    const struct sim_call_opts *o;
    struct sim_call_result *res;
    struct sim_fetcher *fetcher;
    char call_sid[SID_SIZE];
    char account_sid[SID_SIZE];
    char *doc_url;   /* URL of the document being executed (relative URLs resolve here) */
    double clock_ms; /* simulated time since the call started */
    time_t started_wall;
    int max_documents;
    int answered;
    int failed;
    int soft_failed; /* failed, but the call went on as Twilio's does (a relay session) */
    int call_over;   /* requests say CallStatus=completed (the caller hung up in a session) */
    int hung_up;
    int in_fallback;
    unsigned rng;
    int sequence;            /* next status callback SequenceNumber */
    json_t *callbacks;       /* status callbacks held back for --chaos */
    struct sim_action asked; /* the last interactive answer */
    char asked_text[256];
    void *streams; /* unidirectional streams still running */
};

/** Appends an event {"t": seconds, "kind": kind} to the transcript and returns it (borrowed). */
json_t *call_event(struct call *c, const char *kind);

/** Records the first failure (code 0 when not a Twilio error) and marks the call failed. */
int call_fail(struct call *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/**
 * Records a failure that Twilio lets the call survive (a relay session that
 * failed): the call goes on, the run still fails (exit 1).
 */
void call_fail_later(struct call *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** The next number of the call's deterministic generator (--seed repeats a run). */
unsigned call_random(struct call *c);

/** Writes a new SID (prefix + 32 hex digits) from the call's seeded generator. */
void call_new_sid(struct call *c, const char *prefix, char *out, size_t size);

/** Satisfies a pending `expect say` when `text` contains it. */
void call_heard(struct call *c, const char *text);

/** Performs a signed request and logs it in the transcript. Same returns as sim_fetch. */
int call_post(struct call *c, const char *url, const char *method, const struct form *params,
              int twiml, struct sim_fetch_result *res);

/** Sends (or, with --chaos, holds back) a status callback for `event` with CallStatus `status`. */
void call_status_event(struct call *c, unsigned event, const char *status);

/** Delivers the held-back callbacks (duplicated and shuffled under --chaos). */
void call_status_flush(struct call *c);

/** Posts a <Record>'s recordingStatusCallback. */
void call_recording_callback(struct call *c, const struct sim_node *record, const char *sid,
                             const char *url, const char *duration);

/** Asks the person at the keyboard what the caller does at a gather, dial or record. */
const struct sim_action *call_ask(struct call *c, const char *what);

/** The script keyword of an action kind ("press", "dial", ...). */
const char *sim_action_name(enum sim_action_kind kind);

/**
 * Runs a <Stream> (bidirectional for <Connect>, blocking until the server
 * closes it or the caller hangs up; unidirectional for <Start>, in the
 * background until the call ends).
 */
void call_stream(struct call *c, const struct sim_node *stream, int bidirectional);

/** Stops the background streams at the end of the call. */
void call_streams_finish(struct call *c);

/* How a ConversationRelay session ended (Twilio's SessionStatus). */
enum call_relay_status {
    CALL_RELAY_ENDED,     /* the app sent `end` */
    CALL_RELAY_COMPLETED, /* the caller hung up (or the script ran out) */
    CALL_RELAY_FAILED,    /* the socket failed (39001), or the call failed (c->failed) */
};

/**
 * Runs a <ConversationRelay> session (call_relay.c), blocking until it ends,
 * and adds the session's <Connect action> parameters (SessionId,
 * SessionStatus, SessionDuration, HandoffData, ErrorCode, ErrorMessage) to
 * `params` (the caller's form; it owns it). Sets c->hung_up when the caller
 * hung up; records a failed session with call_fail_later.
 */
enum call_relay_status call_relay(struct call *c, const struct sim_node *relay,
                                  struct form *params);

#endif
