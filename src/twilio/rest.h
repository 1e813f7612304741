/*
 * The Twilio REST client (API 2010-04-01): credentials, the requests for
 * Calls (create, fetch, update, list), Messages (create) and a call's
 * Recordings (list, fetch, delete), and their submission over the shared
 * HTTP client (net/http_client). The answers are read by twilio/rest_result
 * and the decision to send again is twilio/retry's.
 *
 * Three steps, each usable alone:
 * 1. Build: twilio_rest_call_create and the others turn typed parameters
 *    into a struct twilio_rest_request (method, URL, form-encoded body with
 *    Twilio's PascalCase names, repeated keys for list parameters). Pure:
 *    no I/O, no clock.
 * 2. Submit: twilio_rest_submit adds HTTP Basic auth, Accept and
 *    Content-Type, the timeouts, and hands the request to the transport
 *    given in struct twilio_rest_send (http_client_submit through
 *    twilio_rest_http_submit, or a test's fake). It returns at once; the
 *    answer comes the way net/http_client delivers it: `on_done` on the
 *    client thread, or a delivery in `inbox` for the loop to take, the same
 *    choice an agent has (agent/agent.h's agent_env). Cancel with the
 *    transport's own cancel (http_client_cancel) and the id returned.
 * 3. Read: twilio_rest_result_parse (twilio/rest_result.h) turns the
 *    http_response into a resource or a plain error, with the retry outcome.
 *
 * The client never retries by itself: it has no clock. A caller that gets
 * TWILIO_OUTCOME_RETRY waits twilio_retry_delay_ms and submits the same
 * request again; one that gets TWILIO_OUTCOME_UNKNOWN (a create whose fate
 * is unknown) looks the call up before anything else (docs/outbound.md).
 *
 * Ownership and threads: a struct twilio_rest owns copies of its settings
 * (the secret included, wiped when freed); it is read-only after
 * twilio_rest_new, so any thread may build and submit with it, and it must
 * outlive the calls that use it (not the requests: the transport copies
 * them). A struct twilio_rest_request owns its URL and body
 * (twilio_rest_request_release).
 *
 * Secrets and numbers: the token or key secret only ever goes into the
 * Authorization header handed to the transport (which logs no header). A
 * request's URL may hold phone numbers (list filters) and its body holds
 * them: log `what`, which names the operation with the numbers redacted.
 */
#ifndef SB_TWILIO_REST_H
#define SB_TWILIO_REST_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "net/http_client.h"
#include "twilio/retry.h"

#define TWILIO_API_BASE_DEFAULT "https://api.twilio.com"
#define TWILIO_API_VERSION "2010-04-01"
/* Defaults for a config's 0 timeouts (twilio-node's whole-request default is 30 s). */
#define TWILIO_CONNECT_TIMEOUT_MS 10000L
#define TWILIO_TIMEOUT_MS 30000L
/* Bytes of an answer accepted: a page of 1000 calls is about 1.5 MB. */
#define TWILIO_MAX_RESPONSE (4u << 20)
/* Twilio's limits that the builders check. */
#define TWILIO_TWIML_MAX 4000     /* characters of inline TwiML */
#define TWILIO_BODY_MAX 1600      /* characters of a message body */
#define TWILIO_TIMEOUT_MAX_S 600  /* Timeout: seconds of ringing */
#define TWILIO_PAGE_SIZE_MAX 1000 /* PageSize */
#define TWILIO_REPEAT_MAX 10      /* values of one repeated parameter (MediaUrl: 10) */
#define TWILIO_WHAT_SIZE 96

/*
 * Credentials and where to send. Strings are borrowed: twilio_rest_new
 * copies them. Fill it by hand (tests) or with twilio_rest_config_from_env.
 */
struct twilio_rest_config {
    const char *account_sid; /* AC...: in every path; required */
    const char *username;    /* Basic auth user: NULL for account_sid, or an API key SID (SK...) */
    const char *password;    /* the auth token, or the API key's secret; required */
    const char *base_url;    /* NULL: TWILIO_API_BASE_DEFAULT; http:// or https://, no query */
    long connect_timeout_ms; /* 0: TWILIO_CONNECT_TIMEOUT_MS */
    long timeout_ms;         /* the whole exchange; 0: TWILIO_TIMEOUT_MS */
};

/**
 * Fills `cfg` from variables read through `get(arg, name)` (returns the
 * value or NULL; an empty value counts as unset): TWILIO_ACCOUNT_SID
 * (required), then TWILIO_API_KEY with TWILIO_API_SECRET (username and
 * password; preferred when set) or TWILIO_AUTH_TOKEN, and TWILIO_API_BASE.
 * The strings stay the getter's. Returns 0, or SB_EINVAL with a reason in
 * `err` that names the variables and never a value; *cfg is zeroed first.
 */
SB_MUST_CHECK int twilio_rest_config_from(struct twilio_rest_config *cfg,
                                          const char *(*get)(void *arg, const char *name),
                                          void *arg, char *err, size_t errsize);

/**
 * twilio_rest_config_from over the process environment (getenv: call it
 * before threads start, or while nothing changes the environment; the
 * strings are the environment's).
 */
SB_MUST_CHECK int twilio_rest_config_from_env(struct twilio_rest_config *cfg, char *err,
                                              size_t errsize);

struct twilio_rest;

/**
 * Checks `cfg` (an account SID "AC" + 32 hex digits, a username that is it
 * or an "SK" key SID, a password, an http(s) base URL without query,
 * timeouts not negative) and makes a client owning copies of it. Returns 0
 * with *out set; SB_EINVAL with a reason in `err` (never the secret); or
 * SB_ENOMEM. *out is NULL on failure.
 */
SB_MUST_CHECK int twilio_rest_new(struct twilio_rest **out, const struct twilio_rest_config *cfg,
                                  char *err, size_t errsize);

/** Wipes the secret and frees the client. NULL is allowed. */
void twilio_rest_free(struct twilio_rest *r);

/** The account SID requests go to (borrowed from the client). */
const char *twilio_rest_account_sid(const struct twilio_rest *r);

/** The base URL without a trailing '/' (borrowed from the client). */
const char *twilio_rest_base_url(const struct twilio_rest *r);

/* ---- requests ---- */

enum twilio_rest_op {
    TWILIO_CALL_CREATE,      /* POST Calls.json -> 201, a call */
    TWILIO_CALL_FETCH,       /* GET Calls/{Sid}.json -> a call */
    TWILIO_CALL_UPDATE,      /* POST Calls/{Sid}.json -> a call */
    TWILIO_CALL_LIST,        /* GET Calls.json?... -> a page of calls */
    TWILIO_MESSAGE_CREATE,   /* POST Messages.json -> 201, a message */
    TWILIO_RECORDING_LIST,   /* GET Calls/{Sid}/Recordings.json -> a page of recordings */
    TWILIO_RECORDING_FETCH,  /* GET Calls/{Sid}/Recordings/{Sid}.json -> a recording */
    TWILIO_RECORDING_DELETE, /* DELETE Calls/{Sid}/Recordings/{Sid}.json -> 204 */
};

/** "calls.create", "calls.fetch", ... for log lines. */
const char *twilio_rest_op_name(enum twilio_rest_op op);

/** What the operation does, for twilio_retry_decide: read, idempotent write, or create. */
enum twilio_retry_kind twilio_rest_op_kind(enum twilio_rest_op op);

struct twilio_rest_request {
    enum twilio_rest_op op;
    const char *method; /* "GET", "POST" or "DELETE" (static) */
    char *url;          /* owned; may hold phone numbers: never log it */
    char *body;         /* owned form-encoded body; NULL for GET and DELETE */
    size_t body_len;
    char what[TWILIO_WHAT_SIZE]; /* for logs: "calls.create to=***0100", "calls.fetch CA..." */
};

/** Frees the URL and body and zeroes the request; a zeroed request is allowed. */
void twilio_rest_request_release(struct twilio_rest_request *req);

/*
 * Calls create. NULL strings and 0 numbers are left out (Twilio's defaults
 * apply). Exactly one of url, twiml and application_sid is required (Twilio
 * ignores Twiml when Url is also given; here that is refused instead).
 */
struct twilio_call_params {
    const char *to;              /* E.164, sip:..., client:...; required */
    const char *from;            /* a Twilio number or verified caller ID; required */
    const char *url;             /* the TwiML URL fetched when the call connects */
    const char *twiml;           /* inline TwiML, at most TWILIO_TWIML_MAX characters (UTF-16) */
    const char *application_sid; /* AP... */
    const char *method;          /* of url: "GET" or "POST" (Twilio's default) */
    const char *fallback_url;
    const char *fallback_method;
    const char *status_callback;
    const char *const *status_callback_events; /* initiated, ringing, answered, completed */
    size_t nstatus_callback_events;
    const char *status_callback_method;
    const char *send_digits;
    int timeout_s;                  /* seconds of ringing, 1..TWILIO_TIMEOUT_MAX_S */
    int record;                     /* 1: Record=true (Twilio's default is false) */
    const char *recording_channels; /* mono, dual */
    const char *recording_status_callback;
    const char *recording_status_callback_method;
    const char *machine_detection; /* "Enable" or "DetectMessageEnd" */
    int machine_detection_timeout_s;
    const char *const *recording_status_callback_events; /* in-progress, completed, absent */
    size_t nrecording_status_callback_events;
    const char *caller_id;
    int async_amd; /* 1: AsyncAmd=true (the result goes to async_amd_status_callback) */
    const char *async_amd_status_callback;
    const char *async_amd_status_callback_method;
    int time_limit_s; /* longest call */
};

/* Calls update: at least one field; url and twiml exclude each other. */
struct twilio_call_update {
    const char *url;    /* redirect the live call to this TwiML */
    const char *method; /* of url */
    const char *status; /* "completed" hangs up a call in progress, "canceled" one not answered */
    const char *fallback_url;
    const char *fallback_method;
    const char *status_callback;
    const char *status_callback_method;
    const char *twiml; /* replace what the call runs with this TwiML */
    int time_limit_s;
};

/*
 * Calls list filters, as twilio-python names them: StartTime, StartTime<
 * (before), StartTime> (on or after), and the same for EndTime. Dates are
 * YYYY-MM-DD (UTC), or YYYY-MM-DDTHH:MM:SSZ as twilio-python sends a
 * datetime. NULL and 0 fields are left out.
 */
struct twilio_call_filter {
    const char *to;
    const char *from;
    const char *parent_call_sid;
    const char
        *status; /* queued, ringing, in-progress, canceled, completed, failed, busy, no-answer */
    const char *start_time;
    const char *start_time_before;
    const char *start_time_after;
    const char *end_time;
    const char *end_time_before;
    const char *end_time_after;
    int page_size; /* 1..TWILIO_PAGE_SIZE_MAX; 0: Twilio's default (50) */
};

/* Messages create: to, and from or messaging_service_sid, and body or media. */
struct twilio_message_params {
    const char *to;
    const char *from;
    const char *messaging_service_sid; /* MG... */
    const char
        *body; /* UTF-8, at most TWILIO_BODY_MAX characters (UTF-16 units, as Twilio counts) */
    const char *const *media_urls;
    size_t nmedia_urls;
    const char *status_callback;
};

/*
 * The builders. Each fills *out (owned: twilio_rest_request_release) and
 * returns 0; SB_EINVAL with a reason in `err` for parameters Twilio would
 * refuse or a SID that is not one (two letters and 32 hex digits: a SID is
 * put in the path); SB_ETOOBIG when the body passes 1 MiB or the URL 8 KiB;
 * SB_ENOMEM. On failure *out is zeroed. A NULL `err` is allowed.
 */
SB_MUST_CHECK int twilio_rest_call_create(const struct twilio_rest *r,
                                          const struct twilio_call_params *p,
                                          struct twilio_rest_request *out, char *err,
                                          size_t errsize);
SB_MUST_CHECK int twilio_rest_call_fetch(const struct twilio_rest *r, const char *call_sid,
                                         struct twilio_rest_request *out, char *err,
                                         size_t errsize);
SB_MUST_CHECK int twilio_rest_call_update(const struct twilio_rest *r, const char *call_sid,
                                          const struct twilio_call_update *u,
                                          struct twilio_rest_request *out, char *err,
                                          size_t errsize);
/* `f` may be NULL: every call, newest first. */
SB_MUST_CHECK int twilio_rest_call_list(const struct twilio_rest *r,
                                        const struct twilio_call_filter *f,
                                        struct twilio_rest_request *out, char *err, size_t errsize);
SB_MUST_CHECK int twilio_rest_message_create(const struct twilio_rest *r,
                                             const struct twilio_message_params *p,
                                             struct twilio_rest_request *out, char *err,
                                             size_t errsize);
/* page_size 0: Twilio's default. */
SB_MUST_CHECK int twilio_rest_recording_list(const struct twilio_rest *r, const char *call_sid,
                                             int page_size, struct twilio_rest_request *out,
                                             char *err, size_t errsize);
SB_MUST_CHECK int twilio_rest_recording_fetch(const struct twilio_rest *r, const char *call_sid,
                                              const char *recording_sid,
                                              struct twilio_rest_request *out, char *err,
                                              size_t errsize);
SB_MUST_CHECK int twilio_rest_recording_delete(const struct twilio_rest *r, const char *call_sid,
                                               const char *recording_sid,
                                               struct twilio_rest_request *out, char *err,
                                               size_t errsize);

/**
 * The next page of a list (TWILIO_CALL_LIST or TWILIO_RECORDING_LIST):
 * `next_page_uri` as the previous page gave it, a path relative to the base
 * URL that must lie under this account ("/2010-04-01/Accounts/{sid}/..."),
 * so the credentials never go anywhere else. Same returns as the builders.
 */
SB_MUST_CHECK int twilio_rest_next_page(const struct twilio_rest *r, enum twilio_rest_op op,
                                        const char *next_page_uri, struct twilio_rest_request *out,
                                        char *err, size_t errsize);

/* ---- submission ---- */

/*
 * Where a request goes and how its answer comes back. `submit` and `net`
 * are the transport (twilio_rest_http_submit with a struct http_client, or
 * a fake); on_done/arg/inbox are net/http_client's: the answer arrives as
 * on_done(arg, res) on the client thread, or, when `inbox` is set, as a
 * delivery whose arg is `arg`.
 */
struct twilio_rest_send {
    int (*submit)(void *net, const struct http_request *req, uint64_t *id);
    void *net;
    void (*on_done)(void *arg, struct http_response *res);
    void *arg;
    struct http_inbox *inbox;
};

/**
 * Sends `req` (unchanged: it may be sent again for a retry) with the
 * client's credentials and timeouts. `*id` (may be NULL) receives the
 * transport's id. Returns what the transport's submit returns (0, or
 * SB_EINVAL, SB_ENOMEM, SB_EBUSY, SB_ECLOSED: then no answer will come),
 * or SB_EINVAL for a missing transport or a request not built.
 */
SB_MUST_CHECK int twilio_rest_submit(const struct twilio_rest *r,
                                     const struct twilio_rest_request *req,
                                     const struct twilio_rest_send *send, uint64_t *id);

/** http_client_submit with the client as `net`: the usual twilio_rest_send.submit. */
int twilio_rest_http_submit(void *net, const struct http_request *req, uint64_t *id);

#endif
