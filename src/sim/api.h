/*
 * switchboard sim api: a local stand-in for Twilio's REST API (2010-04-01)
 * good enough for an application's outbound features and their tests.
 * Calls created through it are placed with sim_call_run in background
 * threads, paced in real time (or faster with `speed`), and can be hung up
 * or redirected while they run. Messages, recordings and conference
 * participants are kept in memory. Documented in docs/sim.md.
 */
#ifndef SB_SIM_API_H
#define SB_SIM_API_H

#include <stddef.h>

/* A number whose calls end unanswered (--outcome NUMBER=STATUS). */
struct sim_api_outcome {
    const char *number;
    const char *status; /* "busy", "no-answer" or "failed" */
};

/* What detection reports for the calls to one number (--answered-by NUMBER=VALUE). */
struct sim_api_answer {
    const char *number;
    const char *answered_by; /* an AnsweredBy value, or "random" */
};

struct sim_api_opts {
    const char *host; /* address to listen on, e.g. "127.0.0.1" or "::1" */
    int port;
    const char *token;       /* the account's auth token: Basic auth password, signing key */
    const char *account_sid; /* NULL: AC + 32 zeros */
    /* What answering machine detection reports; NULL: "human". "random": one of the mode's
     * values per call, picked from `seed`, the number and how often it was called before. */
    const char *answered_by;
    const struct sim_api_answer *answers; /* per number, before answered_by; may be NULL */
    size_t nanswers;
    unsigned long long seed; /* for "random" */
    int seed_set;            /* 0: a seed from getrandom, logged at start */
    int rate_limit;          /* requests per second before 429 (code 20429); 0: unlimited */
    /* Faults, counted over the requests to the REST API (0: off). */
    int fail_every;           /* every Nth request: 500, then 503, ... (code 20500), not handled */
    int garbage_every;        /* every Nth request: 200 with a body that is not JSON, not handled */
    int create_timeout_every; /* every Nth call created: its 201 waits create_timeout_ms */
    long create_timeout_ms;   /* 0 means 30000 */
    long slow_ms;             /* every REST answer waits this long */
    int page_size_max;        /* lists serve at most this many items a page; 0: PageSize */
    const char *record_path; /* JSON lines of every request, appended (created 0600); may be NULL */
    int stream_plain;        /* open wss:// media streams as ws:// */
    double speed;            /* simulated seconds per wall-clock second; 0 means 1 */
    const char *script_text; /* the callee's side of every call (sim script); may be NULL */
    const struct sim_api_outcome *outcomes; /* may be NULL */
    size_t noutcomes;
};

/**
 * Serves the fake REST API on opts->host:opts->port until SIGINT or SIGTERM,
 * in the calling thread, then hangs up the calls still running and waits for
 * their threads. Every request is logged to stderr, and each call's
 * transcript when it ends (event sim.call); every request is also kept in
 * memory for GET /_sim/requests and appended to opts->record_path. `opts`
 * and what it points to must outlive the call. Returns 0, SB_EINVAL (bad
 * options), SB_EIO (cannot listen, or cannot open the record file; the
 * reason is logged) or SB_ENOMEM.
 */
int sim_api_run(const struct sim_api_opts *opts);

/** True when `status` is a valid --outcome status (busy, no-answer, failed). */
int sim_api_outcome_valid(const char *status);

/** True when `value` is an AnsweredBy value Twilio reports (human, machine_start, ...). */
int sim_api_answered_by_valid(const char *value);

#endif
