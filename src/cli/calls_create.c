/*
 * switchboard calls create | jobs | job | hangup | redirect: outbound calls
 * queued as jobs (store/jobs.h) for the server's placer, and the two changes
 * to a live call that go straight to Twilio's REST API (twilio/rest.h).
 */
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/e164.h"
#include "core/err.h"
#include "core/redact.h"
#include "store/jobs.h"
#include "twilio/rest.h"
#include "twilio/rest_result.h"
#include "twilio/retry.h"
#include "voice/call_check.h"
#include "core/banned.h"

static const char create_usage[] =
    "usage: switchboard calls create --tenant T --to E164 (--flow F | --agent A | --say TEXT)\n"
    "                                [--from E164] [--at TIME] [--amd] [--retries N]\n"
    "                                [--sms-fallback] [--name NAME] [--lang TAG] [--json]\n"
    "\n"
    "Queues an outbound call; the running server places it. Prints the job's id\n"
    "(--json: the job).\n"
    "  --tenant T       the tenant calling\n"
    "  --to E164        the number to call (refused when it opted out of the tenant,\n"
    "                   or is not in SWITCHBOARD_OUTBOUND_ALLOW when that is set)\n"
    "  --flow F         what the called person gets: an IVR flow of the tenant,\n"
    "  --agent A        an agent of the tenant,\n"
    "  --say TEXT       or a message ({{name}} is the contact's name); exactly one\n"
    "  --from E164      one of the tenant's numbers (default: its first active one)\n"
    "  --at TIME        ISO 8601, 2026-03-01T09:30 in the tenant's time zone, or with\n"
    "                   an offset (Z, +02:00); default: now\n"
    "  --amd            answering machine detection\n"
    "  --retries N      calls again after busy or no answer, 0 to 10 (default 0)\n"
    "  --sms-fallback   text the tenant's message when the call does not reach anyone\n"
    "  --name NAME      the contact's name\n"
    "  --lang TAG       the call's language (default: the tenant's)\n"
    "  --db PATH        the store (env SWITCHBOARD_DB)\n"
    "Exit status: 0 queued, 1 refused (unknown tenant, flow or agent, a number\n"
    "not allowed, a time past), 2 bad usage.\n";

static const char jobs_usage[] =
    "usage: switchboard calls jobs [--tenant T] [--status S] [--campaign ID] [--json]\n"
    "       switchboard calls job ID [--json]\n"
    "\n"
    "The outbound call jobs, newest first, or one of them. Tables show phone\n"
    "numbers shortened (***4567); --json shows them whole.\n"
    "  --status S   queued, placing, placed, completed, busy, no-answer, failed,\n"
    "               canceled or skipped\n"
    "  --db PATH    the store (env SWITCHBOARD_DB)\n";

static const char live_usage[] =
    "usage: switchboard calls hangup CALLSID\n"
    "       switchboard calls redirect CALLSID URL\n"
    "\n"
    "Changes a live call through Twilio's REST API: hangup ends it (Status=completed),\n"
    "redirect makes it fetch its TwiML from URL. Prints the call's new status.\n"
    "Credentials: TWILIO_ACCOUNT_SID with TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and\n"
    "TWILIO_API_SECRET); TWILIO_API_BASE sends the request elsewhere.\n";

/* ---- shared with campaigns ---- */

int cli_call_target(const char *flow, const char *agent, const char *say, struct job_request *r)
{
    int given = (flow != NULL) + (agent != NULL) + (say != NULL);

    if (given != 1)
        return cli_usage("give exactly one of --flow, --agent and --say");
    r->kind = flow ? JOB_KIND_FLOW : agent ? JOB_KIND_AGENT : JOB_KIND_SAY;
    r->target = flow ? flow : agent;
    r->say_text = say;
    return 0;
}

int cli_call_refused(const struct call_check *chk)
{
    if (chk->verdict == CALL_INVALID)
        return cli_usage("%s", chk->message);
    return cli_fail("%s", chk->message);
}

void cli_print_json(json_t *o)
{
    json_dumpf(o, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(o);
}

/* ---- calls create ---- */

static int calls_create(int argc, char **argv)
{
    enum { O_AT = 256, O_AMD, O_RETRIES, O_SMS, O_LANG, O_JSON, O_DB };
    static const struct option opts[] = {
        {"tenant", required_argument, NULL, 't'},
        {"to", required_argument, NULL, 'o'},
        {"from", required_argument, NULL, 'f'},
        {"flow", required_argument, NULL, 'F'},
        {"agent", required_argument, NULL, 'A'},
        {"say", required_argument, NULL, 'S'},
        {"at", required_argument, NULL, O_AT},
        {"amd", no_argument, NULL, O_AMD},
        {"retries", required_argument, NULL, O_RETRIES},
        {"sms-fallback", no_argument, NULL, O_SMS},
        {"name", required_argument, NULL, 'n'},
        {"lang", required_argument, NULL, O_LANG},
        {"json", no_argument, NULL, O_JSON},
        {"db", required_argument, NULL, O_DB},
        {NULL, 0, NULL, 0},
    };
    struct job_request r;
    struct call_check chk;
    struct job job;
    struct store *s = NULL;
    const char *flow = NULL, *agent = NULL, *say = NULL, *at = NULL, *db = NULL;
    char err[256];
    long long now = (long long)time(NULL), id = 0;
    int c, rc, as_json = 0;

    memset(&r, 0, sizeof(r));
    if (cli_wants_help(argc, argv)) {
        fputs(create_usage, stdout);
        return 0;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            r.tenant = optarg;
            break;
        case 'o':
            r.to = optarg;
            break;
        case 'f':
            r.from = optarg;
            break;
        case 'F':
            flow = optarg;
            break;
        case 'A':
            agent = optarg;
            break;
        case 'S':
            say = optarg;
            break;
        case O_AT:
            at = optarg;
            break;
        case O_AMD:
            r.amd = 1;
            break;
        case O_RETRIES:
            if (cli_parse_num("--retries", optarg, 0, JOB_MAX_RETRIES, &r.max_retries))
                return 2;
            break;
        case O_SMS:
            r.sms_fallback = 1;
            break;
        case 'n':
            r.contact_name = optarg;
            break;
        case O_LANG:
            r.lang = optarg;
            break;
        case O_JSON:
            as_json = 1;
            break;
        case O_DB:
            db = optarg;
            break;
        default:
            return 2;
        }
    }
    if (optind != argc)
        return cli_usage("calls create takes no arguments ('%s')", argv[optind]);
    if (!r.tenant)
        return cli_usage("calls create needs --tenant");
    if (!r.to)
        return cli_usage("calls create needs --to");
    if (cli_call_target(flow, agent, say, &r))
        return 2;
    /* The fields first: a number that is not E.164 is refused before the store is opened. */
    if (call_check_fields(&r, at, CALL_NAMES_FLAGS, &chk) != 0)
        return cli_call_refused(&chk);
    if (cli_open_store(&s, db))
        return 1;
    rc = call_check_all(s, &r, at, getenv("SWITCHBOARD_OUTBOUND_ALLOW"), now, CALL_NAMES_FLAGS,
                        &chk);
    if (rc)
        rc = cli_call_refused(&chk);
    if (rc == 0) {
        rc = job_add(s, &r, now, &id, err, sizeof(err));
        if (rc)
            rc = cli_fail("cannot queue the call: %s", err);
    }
    if (rc == 0 && as_json) {
        rc = job_get(s, id, &job);
        if (rc)
            rc = cli_fail("cannot read job %lld: %s", id, sb_strerror(rc));
        else
            cli_print_json(call_job_json(&job));
    } else if (rc == 0) {
        printf("queued job %lld\n", id);
    }
    store_close(s);
    return rc;
}

/* ---- calls jobs, calls job ---- */

static const char *masked(const char *number, char out[REDACT_SIZE])
{
    return number && *number ? redact_number(number, out) : "-";
}

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

static void print_jobs(const struct job *jobs, size_t n)
{
    printf("%-6s %-12s %-10s %-8s %-6s %-16s %3s %-34s %-14s %-20s %s\n", "ID", "TENANT", "STATUS",
           "TO", "KIND", "TARGET", "TRY", "CALL_SID", "ANSWERED_BY", "DUE", "ERROR");
    for (size_t i = 0; i < n; i++) {
        const struct job *j = &jobs[i];
        char to[REDACT_SIZE], due[32];
        long long when = j->next_attempt_at > j->not_before ? j->next_attempt_at : j->not_before;

        printf("%-6lld %-12s %-10s %-8s %-6s %-16s %3d %-34s %-14s %-20s %s\n", j->id, j->tenant,
               job_status_name(j->status), masked(j->to, to), job_kind_name(j->kind),
               j->kind == JOB_KIND_SAY ? "-" : j->target, j->attempts, or_dash(j->call_sid),
               or_dash(j->answered_by), when ? call_iso_time(when, due, sizeof(due)) : "now",
               or_dash(j->error));
    }
}

static int calls_jobs(int argc, char **argv)
{
    static const struct option opts[] = {
        {"tenant", required_argument, NULL, 't'},   {"status", required_argument, NULL, 's'},
        {"campaign", required_argument, NULL, 'c'}, {"json", no_argument, NULL, 'j'},
        {"db", required_argument, NULL, 'd'},       {NULL, 0, NULL, 0},
    };
    struct job_filter f = {NULL, 0, -1, 0};
    struct job *jobs = NULL;
    struct store *s = NULL;
    const char *db = NULL;
    size_t n = 0;
    int c, rc, as_json = 0, campaign = 0;
    enum job_status st;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            f.tenant = optarg;
            break;
        case 's':
            if (job_status_parse(optarg, &st) != 0)
                return cli_usage("status '%s' is not one of queued, placing, placed, completed, "
                                 "busy, no-answer, failed, canceled, skipped",
                                 optarg);
            f.status = (int)st;
            break;
        case 'c':
            if (cli_parse_num("--campaign", optarg, 1, 2147483647L, &campaign))
                return 2;
            f.campaign_id = campaign;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'd':
            db = optarg;
            break;
        default:
            return 2;
        }
    }
    if (optind != argc)
        return cli_usage("calls jobs takes no arguments");
    if (cli_open_store(&s, db))
        return 1;
    rc = job_list(s, &f, &jobs, &n);
    store_close(s);
    if (rc)
        return cli_fail("cannot list jobs: %s", sb_strerror(rc));
    if (as_json) {
        json_t *arr = json_array();

        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, call_job_json(&jobs[i]));
        cli_print_json(arr);
    } else {
        print_jobs(jobs, n);
    }
    job_list_free(jobs);
    return 0;
}

int cli_parse_id(const char *what, const char *value, long long *out)
{
    char *end = NULL;
    long long v = strtoll(value, &end, 10);

    if (end == value || *end || v < 1)
        return cli_usage("%s '%s' is not an id (a whole number from 1)", what, value);
    *out = v;
    return 0;
}

static int calls_job(int argc, char **argv)
{
    struct store *s = NULL;
    struct job j;
    const char *db = NULL;
    long long id;
    int as_json = 0, rc;
    char iso[32], num[REDACT_SIZE];

    if (cli_json_db_options(argc, argv, &as_json, &db) < 0)
        return 2;
    if (optind != argc - 1)
        return cli_usage("calls job needs exactly one job ID");
    if (cli_parse_id("job", argv[optind], &id))
        return 2;
    if (cli_open_store(&s, db))
        return 1;
    rc = job_get(s, id, &j);
    store_close(s);
    if (rc == SB_ENOTFOUND)
        return cli_fail("job %lld does not exist", id);
    if (rc)
        return cli_fail("cannot read job %lld: %s", id, sb_strerror(rc));
    if (as_json) {
        cli_print_json(call_job_json(&j));
        return 0;
    }
    printf("job          %lld\n", j.id);
    printf("tenant       %s\n", j.tenant);
    if (j.campaign_id)
        printf("campaign     %lld\n", j.campaign_id);
    printf("status       %s\n", job_status_name(j.status));
    printf("to           %s\n", masked(j.to, num));
    printf("from         %s\n", j.from[0] ? masked(j.from, num) : "(the tenant's first number)");
    printf("name         %s\n", or_dash(j.contact_name));
    printf("language     %s\n", j.lang[0] ? j.lang : "(the tenant's)");
    printf("kind         %s\n", job_kind_name(j.kind));
    if (j.kind == JOB_KIND_SAY)
        printf("say          %s\n", j.say_text);
    else
        printf("target       %s\n", j.target);
    printf("not before   %s\n", j.not_before ? call_iso_time(j.not_before, iso, sizeof(iso)) : "-");
    printf("attempts     %d (retries %d)\n", j.attempts, j.max_retries);
    printf("call         %s\n", or_dash(j.call_sid));
    printf("answered by  %s\n", or_dash(j.answered_by));
    printf("amd          %s\n", j.amd ? "yes" : "no");
    printf("sms fallback %s\n", j.sms_fallback ? (j.sms_sent ? "yes (sent)" : "yes") : "no");
    printf("error        %s\n", or_dash(j.error));
    printf("created      %s\n", call_iso_time(j.created_at, iso, sizeof(iso)));
    return 0;
}

/* ---- calls hangup, calls redirect ---- */

/* One answer awaited from the HTTP client's thread. */
struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t done;
    struct http_response *res;
};

static void on_done(void *arg, struct http_response *res)
{
    struct waiter *w = arg;

    pthread_mutex_lock(&w->lock);
    w->res = res;
    pthread_cond_signal(&w->done);
    pthread_mutex_unlock(&w->lock);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Sends an update, retrying as twilio/retry.h says; prints the call's new status. */
static int call_update(const char *sid, const struct twilio_call_update *u, const char *done_what)
{
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL};
    struct twilio_rest_config cfg;
    struct twilio_rest *rest = NULL;
    struct twilio_rest_request req;
    struct http_client *http = NULL;
    char err[256];
    int rc, status = 1;

    memset(&req, 0, sizeof(req));
    if (twilio_rest_config_from_env(&cfg, err, sizeof(err)) != 0)
        return cli_fail("%s", err);
    if (twilio_rest_new(&rest, &cfg, err, sizeof(err)) != 0)
        return cli_fail("%s", err);
    rc = twilio_rest_call_update(rest, sid, u, &req, err, sizeof(err));
    if (rc) {
        twilio_rest_free(rest);
        return rc == SB_EINVAL ? cli_usage("%s", err) : cli_fail("%s", err);
    }
    rc = http_client_new(&http, NULL);
    if (rc) {
        status = cli_fail("cannot start the HTTP client: %s", sb_strerror(rc));
        goto out;
    }
    for (int attempt = 0;; attempt++) {
        struct twilio_rest_send send = {twilio_rest_http_submit, http, on_done, &w, NULL};
        struct twilio_rest_result result;
        long delay;

        w.res = NULL;
        rc = twilio_rest_submit(rest, &req, &send, NULL);
        if (rc) {
            status = cli_fail("cannot send the request: %s", sb_strerror(rc));
            break;
        }
        pthread_mutex_lock(&w.lock);
        while (!w.res)
            pthread_cond_wait(&w.done, &w.lock);
        pthread_mutex_unlock(&w.lock);
        rc = twilio_rest_result_parse(&result, req.op, w.res);
        http_response_free(w.res);
        w.res = NULL;
        if (rc == 0 && result.outcome == TWILIO_OUTCOME_OK) {
            printf("call %s %s: %s\n", result.call.sid, done_what, or_dash(result.call.status));
            status = 0;
            twilio_rest_result_release(&result);
            break;
        }
        delay = result.outcome == TWILIO_OUTCOME_RETRY
                    ? twilio_retry_delay_ms(NULL, attempt, result.retry_after_s,
                                            twilio_retry_random, NULL)
                    : -1;
        if (delay < 0) {
            status = cli_fail("%s", result.error[0] ? result.error : sb_strerror(rc));
            twilio_rest_result_release(&result);
            break;
        }
        twilio_rest_result_release(&result);
        sleep_ms(delay);
    }
out:
    http_client_free(http);
    twilio_rest_request_release(&req);
    twilio_rest_free(rest);
    return status;
}

static int calls_live(int argc, char **argv)
{
    struct twilio_call_update u;
    int redirect = strcmp(argv[0], "redirect") == 0;

    if (cli_wants_help(argc, argv)) {
        fputs(live_usage, stdout);
        return 0;
    }
    if (argc != (redirect ? 3 : 2))
        return cli_usage(redirect ? "calls redirect needs a CALLSID and a URL"
                                  : "calls hangup needs exactly one CALLSID");
    memset(&u, 0, sizeof(u));
    if (redirect) {
        if (strncmp(argv[2], "https://", 8) != 0 && strncmp(argv[2], "http://", 7) != 0)
            return cli_usage("URL '%s' is not an http:// or https:// URL", argv[2]);
        u.url = argv[2];
        u.method = "POST";
        return call_update(argv[1], &u, "redirected");
    }
    u.status = "completed";
    return call_update(argv[1], &u, "hung up");
}

int cli_calls_outbound(int argc, char **argv)
{
    if (strcmp(argv[0], "create") == 0)
        return calls_create(argc, argv);
    if (strcmp(argv[0], "jobs") == 0 || strcmp(argv[0], "job") == 0) {
        if (cli_wants_help(argc, argv)) {
            fputs(jobs_usage, stdout);
            return 0;
        }
        return strcmp(argv[0], "jobs") == 0 ? calls_jobs(argc, argv) : calls_job(argc, argv);
    }
    return calls_live(argc, argv);
}
