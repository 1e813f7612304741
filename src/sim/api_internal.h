/* State of switchboard sim api, shared by api.c, api_calls.c, api_records.c and api_requests.c. */
#ifndef SB_SIM_API_INTERNAL_H
#define SB_SIM_API_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <time.h>

#include "core/clock.h"
#include "core/form.h"
#include "core/phone.h"
#include "core/sid.h"
#include "sim/api.h"

#define API_URL_SIZE 2048
#define API_VERSION "2010-04-01"

struct api_participant;
struct api_record;

/* A call or message thread, joined by the loop thread once it has finished. */
struct api_thread {
    struct api_thread *next;
    pthread_t id;
    int finished; /* guarded by api->lock */
};

/* One call placed through POST Calls.json. Fields below `lock` are guarded by api->lock. */
struct api_call {
    struct api_call *next;
    struct sim_api *api;
    struct api_thread *thread;
    char sid[SID_SIZE];
    /* Request settings, fixed once the thread starts (owned). */
    char *from, *to, *url, *fallback_url, *status_callback, *async_amd_url;
    char method[8], async_amd_method[8];
    unsigned status_events;
    struct form extra; /* AnsweredBy and MachineDetectionDuration (synchronous AMD) */
    long amd_ms;       /* detection time; 0 when AMD was not asked for */
    int async_amd;
    long time_limit_s;
    long timeout_s;
    const char *outcome; /* unanswered status for this number, or NULL */
    unsigned seed;
    /* lock */
    char *twiml; /* the inline TwiML served at /_sim/twiml/{sid}; may be NULL */
    char status[16];
    char answered_by[24];
    time_t created, updated, started, ended;
    double duration_s;
    int answered;         /* the hook saw the answer */
    double answered_mono; /* monotonic seconds at the answer */
    int amd_sent;
    int done;
    int deleted;
    int cmd; /* SIM_CONTROL_* asked for by the REST API, not yet taken */
    char cmd_url[API_URL_SIZE];
    char cmd_method[8];
    char cmd_status[16];
    size_t events_seen;                  /* transcript events already looked at by the hook */
    struct api_participant *participant; /* the conference the call is in, or NULL */
};

struct api_conference {
    struct api_conference *next;
    char sid[SID_SIZE];
    char *name;
    time_t created, updated;
    int participants; /* connected now */
};

struct api_participant {
    struct api_participant *next;
    struct api_conference *conference;
    char call_sid[SID_SIZE];
    int muted, hold, left;
    time_t created, updated;
};

struct api_recording {
    struct api_recording *next;
    char sid[SID_SIZE];
    char call_sid[SID_SIZE];
    double seconds;
    time_t created;
    int deleted;
};

struct api_message {
    struct api_message *next;
    struct sim_api *api;
    struct api_thread *thread;
    char sid[SID_SIZE];
    json_t *resource; /* the Message resource as served (owned) */
    char *status_callback;
    int deleted;
};

struct sim_api {
    const struct sim_api_opts *o;
    char account_sid[SID_SIZE];
    char base_url[128]; /* http://host:port: internal TwiML URLs and media URLs */
    double speed;
    struct lws_context *lws;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC; broadcast on every change a call waits for */
    /* lock */
    int stopping;
    int threads; /* call and message threads still running */
    struct api_thread *thread_list;
    struct api_call *calls, **calls_tail;
    struct api_conference *conferences;
    struct api_participant *participants;
    struct api_recording *recordings;
    struct api_message *messages, **messages_tail;
    /* Loop thread only: the last rate_limit request times (monotonic seconds). */
    double *rate_times;
    size_t rate_next;
    /* Loop thread only: what the faults count (requests to the REST API, fail faults given,
     * calls created) and the seed of random AMD answers. */
    unsigned long requests;
    unsigned long fails;
    unsigned long creates;
    unsigned long long seed;
    /* Loop thread only: the record of requests (api_requests.c). */
    struct api_record *record, **record_tail;
    size_t record_bytes;
    unsigned long record_dropped;
    int record_fd; /* -1: no --record file */
    int record_write_failed;
};

/* A request as the handlers see it. */
struct api_request {
    const char *method;
    const char *path;           /* the full path, for messages */
    char args[2][SID_SIZE + 8]; /* the path's '*' segments */
    const struct form *params;  /* form body (POST) or query string (GET) */
    int page_size_max;          /* --page-size-max; 0: none */
};

/* A reply being built. */
struct api_reply {
    int status;
    const char *content_type;
    char *body; /* owned */
    size_t len;
    const char *allow;          /* Allow header (405) */
    int authenticate;           /* add WWW-Authenticate (401) */
    int code;                   /* Twilio error code, for the log line */
    char call_sid[SID_SIZE];    /* for the log line */
    int created;                /* call_sid is a call this request created */
    char message_sid[SID_SIZE]; /* a message this request created */
    long delay_ms;              /* hold the answer this long before sending it */
    const char *fault;          /* "fail", "garbage", "timeout" or NULL (static) */
};

/* What the record keeps of one request (api_requests.c). */
struct api_record_info {
    unsigned long seq; /* the request's number among those to the REST API */
    const char *method;
    const char *path;
    const char *action;        /* "calls.create", ...; NULL off the routes */
    const struct form *params; /* form body or query string; may be NULL */
    const struct api_reply *reply;
};

/* --- api.c ------------------------------------------------------------------------------ */

/** RFC 2822 time as JSON ("Tue, 31 Aug 2010 20:36:28 +0000"), null for 0. */
json_t *api_time_json(time_t t);

/** Sets `key` to a string, or null when `value` is NULL. */
void api_set_str(json_t *obj, const char *key, const char *value);

/** Replies with `doc` as JSON (takes the reference). */
void api_reply_json(struct api_reply *r, int status, json_t *doc);

/** Replies with Twilio's error JSON: code, message, more_info, status. */
void api_reply_error(struct api_reply *r, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Replies 404 with code 20404 for the request's path. */
void api_reply_not_found(struct api_reply *r, const struct api_request *req);

/** Replies with a list page: {"<key>": items, "page": 0, ...} (takes `items`). */
void api_reply_page(struct api_reply *r, const struct api_request *req, const char *key,
                    json_t *items);

/** Wakes the loop thread (after a call or message thread changed something). */
void api_wake(struct sim_api *api);

/**
 * Runs fn(arg) in a new thread, counted in api->threads and joined by the
 * loop thread after it calls api_thread_finish. `*out` is set before the
 * thread starts. Returns 0 or SB_ENOMEM / SB_EIO (nothing started).
 */
int api_thread_start(struct sim_api *api, void *(*fn)(void *), void *arg, struct api_thread **out);

/** Called last by a thread of api_thread_start: it may be joined from now on. */
void api_thread_finish(struct sim_api *api, struct api_thread *t);

/* --- api_calls.c ------------------------------------------------------------------------ */

/*
 * Request handlers: each fills `r` (a resource as JSON, a list page, or
 * Twilio's error JSON). They take api->lock themselves and never block.
 */

/** POST Calls.json: checks the request, lists the call as queued, starts its thread (201). */
void api_calls_create(struct sim_api *api, const struct api_request *req, struct api_reply *r);
/** GET Calls.json: every call, newest first (To, From, Status filters). */
void api_calls_list(struct sim_api *api, const struct api_request *req, struct api_reply *r);
/** GET Calls/{Sid}.json: the call as it is now. */
void api_call_fetch(struct sim_api *api, const struct api_request *req, struct api_reply *r);
/** POST Calls/{Sid}.json: Status (hang up, cancel), Url/Method or Twiml (redirect). */
void api_call_update(struct sim_api *api, const struct api_request *req, struct api_reply *r);
/** DELETE Calls/{Sid}.json: forgets a finished call (204). */
void api_call_delete(struct sim_api *api, const struct api_request *req, struct api_reply *r);
/** GET Conferences.json: conferences started in calls (FriendlyName, Status filters). */
void api_conferences_list(struct sim_api *api, const struct api_request *req, struct api_reply *r);
/** GET Conferences/{Sid}.json. */
void api_conference_fetch(struct sim_api *api, const struct api_request *req, struct api_reply *r);
/** GET Conferences/{Sid}/Participants.json: the calls in it now. */
void api_participants_list(struct sim_api *api, const struct api_request *req, struct api_reply *r);
/** GET Conferences/{Sid}/Participants/{CallSid}.json. */
void api_participant_fetch(struct sim_api *api, const struct api_request *req, struct api_reply *r);
/** POST Conferences/{Sid}/Participants/{CallSid}.json: Muted, Hold. */
void api_participant_update(struct sim_api *api, const struct api_request *req,
                            struct api_reply *r);

/** Serves the inline TwiML of call `sid` (GET/POST /_sim/twiml/{sid}). */
void api_twiml_serve(struct sim_api *api, const char *sid, struct api_reply *r);

/** Asks every running call to hang up (shutdown). Takes the lock. */
void api_calls_stop(struct sim_api *api);

/** Frees calls, conferences and participants. Call threads must have ended. */
void api_calls_free(struct sim_api *api);

/* --- api_records.c ---------------------------------------------------------------------- */

/** POST Messages.json: checks the request, keeps the message, starts its status thread (201). */
void api_messages_create(struct sim_api *api, const struct api_request *req, struct api_reply *r);
/** GET Messages.json: every message, newest first (To, From filters). */
void api_messages_list(struct sim_api *api, const struct api_request *req, struct api_reply *r);
/** GET Messages/{Sid}.json. */
void api_message_fetch(struct sim_api *api, const struct api_request *req, struct api_reply *r);
/** DELETE Messages/{Sid}.json (204). */
void api_message_delete(struct sim_api *api, const struct api_request *req, struct api_reply *r);
/** GET Recordings.json: every recording, newest first (CallSid filter). */
void api_recordings_list(struct sim_api *api, const struct api_request *req, struct api_reply *r);
/** GET Calls/{Sid}/Recordings.json: the recordings of one call. */
void api_call_recordings_list(struct sim_api *api, const struct api_request *req,
                              struct api_reply *r);
/** GET Recordings/{Sid}.json: the metadata. */
void api_recording_fetch(struct sim_api *api, const struct api_request *req, struct api_reply *r);
/** DELETE Recordings/{Sid}.json (204). */
void api_recording_delete(struct sim_api *api, const struct api_request *req, struct api_reply *r);
/** GET Recordings/{Sid}[.wav]: the media as WAV; .mp3 is 404. */
void api_recording_media(struct sim_api *api, const struct api_request *req, struct api_reply *r);

/**
 * Adds a recording made during call `call_sid` unless one with `sid` exists.
 * The caller holds api->lock.
 */
void api_recording_add(struct sim_api *api, const char *sid, const char *call_sid, double seconds);

/** Frees messages and recordings. Message threads must have ended. */
void api_records_free(struct sim_api *api);

/* --- api_requests.c --------------------------------------------------------------------- */

/*
 * The record of requests: one JSON object per request to the REST API, kept
 * in memory (the oldest dropped past API_RECORD_MAX_BYTES) and appended as a
 * line to the --record file. Loop thread only.
 */

/** Opens opts->record_path (append, created 0600) when set. Returns 0 or SB_EIO. */
int api_requests_open(struct sim_api *api);

/** Adds one request to the record and to the file. Out of memory, it is only logged. */
void api_requests_add(struct sim_api *api, const struct api_record_info *info);

/** Replies with the record as a JSON list, oldest first (GET /_sim/requests). */
void api_requests_serve(struct sim_api *api, struct api_reply *r);

/** Frees the record and closes the file. */
void api_requests_free(struct sim_api *api);

#endif
