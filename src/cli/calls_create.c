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

#include "agent/agent.h"
#include "cli/cli.h"
#include "core/e164.h"
#include "core/err.h"
#include "core/redact.h"
#include "store/agents.h"
#include "store/jobs.h"
#include "twilio/rest.h"
#include "twilio/rest_result.h"
#include "twilio/retry.h"
#include "voice/tz.h"
#include "core/banned.h"

/* How far in the past --at may be: a time typed a moment ago still counts as now. */
#define AT_PAST_SLACK_S 60

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

int cli_outbound_allowed(const char *to, char *err, size_t errsize)
{
    const char *list = getenv("SWITCHBOARD_OUTBOUND_ALLOW");
    const char *p = list;

    if (!list || !*list)
        return 0;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char one[E164_SIZE + 8];

        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len >= sizeof(one)) {
            snprintf(err, errsize, "SWITCHBOARD_OUTBOUND_ALLOW holds an entry that is not E.164");
            return -1;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        if (len && !e164_valid(one)) {
            snprintf(err, errsize, "SWITCHBOARD_OUTBOUND_ALLOW holds '%s', not an E.164 number",
                     one);
            return -1;
        }
        if (len && strcmp(one, to) == 0)
            return 0;
        if (!comma)
            break;
        p = comma + 1;
    }
    snprintf(err, errsize, "'%s' is not in SWITCHBOARD_OUTBOUND_ALLOW; it is not called", to);
    return -1;
}

int cli_outbound_check(struct store *s, struct cli_outbound *o)
{
    struct number *nums = NULL;
    size_t n = 0;
    int rc, found = 0, active = 0;

    rc = store_tenant_get(s, o->tenant, &o->t);
    if (rc == SB_ENOTFOUND)
        return cli_fail("tenant '%s' does not exist", o->tenant);
    if (rc)
        return cli_fail("cannot read tenant '%s': %s", o->tenant, sb_strerror(rc));
    if (o->kind == JOB_KIND_FLOW) {
        char *json = NULL;

        rc = store_flow_get(s, o->tenant, o->target, &json);
        free(json);
        if (rc == SB_ENOTFOUND)
            return cli_fail("flow '%s' of tenant '%s' does not exist", o->target, o->tenant);
        if (rc)
            return cli_fail("cannot read flow '%s': %s", o->target, sb_strerror(rc));
    } else if (o->kind == JOB_KIND_AGENT) {
        struct agent_config a;

        memset(&a, 0, sizeof(a));
        rc = agent_config_get(s, o->tenant, o->target, &a);
        agent_config_release(&a);
        /* The built-in agents (a number's default "receptionist") are nobody's to store. */
        if ((rc == SB_ENOTFOUND || rc == SB_EINVAL) && !agent_is_builtin(o->target))
            return cli_fail("agent '%s' of tenant '%s' does not exist", o->target, o->tenant);
        if (rc && rc != SB_ENOTFOUND && rc != SB_EINVAL)
            return cli_fail("cannot read agent '%s': %s", o->target, sb_strerror(rc));
    }
    rc = store_number_list(s, &nums, &n);
    if (rc)
        return cli_fail("cannot list numbers: %s", sb_strerror(rc));
    for (size_t i = 0; i < n; i++) {
        if (strcmp(nums[i].tenant, o->tenant) != 0)
            continue;
        active |= nums[i].active;
        if (o->from && *o->from && strcmp(nums[i].e164, o->from) == 0)
            found = 1;
    }
    free(nums);
    if (o->from && *o->from && !found)
        return cli_fail("--from '%s' is not a number of tenant '%s'", o->from, o->tenant);
    if ((!o->from || !*o->from) && !active)
        return cli_fail("tenant '%s' has no active number to call from", o->tenant);
    return 0;
}

int cli_outbound_target(struct cli_outbound *o, const char *flow, const char *agent,
                        const char *say)
{
    int given = (flow != NULL) + (agent != NULL) + (say != NULL);

    if (given != 1)
        return cli_usage("give exactly one of --flow, --agent and --say");
    o->kind = flow ? JOB_KIND_FLOW : agent ? JOB_KIND_AGENT : JOB_KIND_SAY;
    o->target = flow ? flow : agent;
    o->say = say;
    return 0;
}

static json_t *time_or_null(long long t)
{
    char iso[32];

    return t ? json_string(cli_iso_time(t, iso, sizeof(iso))) : json_null();
}

static json_t *text_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

json_t *cli_job_json(const struct job *j)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_integer(j->id));
    json_object_set_new(o, "tenant", json_string(j->tenant));
    json_object_set_new(o, "campaign_id",
                        j->campaign_id ? json_integer(j->campaign_id) : json_null());
    json_object_set_new(o, "to", json_string(j->to));
    json_object_set_new(o, "from", text_or_null(j->from));
    json_object_set_new(o, "name", text_or_null(j->contact_name));
    json_object_set_new(o, "lang", text_or_null(j->lang));
    json_object_set_new(o, "kind", json_string(job_kind_name(j->kind)));
    json_object_set_new(o, "target", text_or_null(j->target));
    json_object_set_new(o, "say", text_or_null(j->say_text));
    json_object_set_new(o, "not_before", time_or_null(j->not_before));
    json_object_set_new(o, "status", json_string(job_status_name(j->status)));
    json_object_set_new(o, "attempts", json_integer(j->attempts));
    json_object_set_new(o, "max_retries", json_integer(j->max_retries));
    json_object_set_new(o, "retry_delay_s", json_integer(j->retry_delay_s));
    json_object_set_new(o, "next_attempt_at", time_or_null(j->next_attempt_at));
    json_object_set_new(o, "call_sid", text_or_null(j->call_sid));
    json_object_set_new(o, "answered_by", text_or_null(j->answered_by));
    json_object_set_new(o, "amd", json_boolean(j->amd));
    json_object_set_new(o, "sms_fallback", json_boolean(j->sms_fallback));
    json_object_set_new(o, "sms_sent", json_boolean(j->sms_sent));
    json_object_set_new(o, "error", text_or_null(j->error));
    json_object_set_new(o, "created_at", time_or_null(j->created_at));
    json_object_set_new(o, "updated_at", time_or_null(j->updated_at));
    return o;
}

void cli_print_json(json_t *o)
{
    json_dumpf(o, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(o);
}

/* ---- --at ---- */

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static long long days_from_civil(long long y, int m, int d)
{
    long long era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int cli_parse_at(const char *s, const char *zone, long long *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = s;
    int y, mo, d, h, mi, sec = 0, has_offset = 0, off_min = 0;
    long long local;

    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
        return -1;
    if (*p == ':') {
        p++;
        if (digits(&p, 2, &sec))
            return -1;
        if (*p == '.' || *p == ',') {
            p++;
            if (*p < '0' || *p > '9')
                return -1;
            while (*p >= '0' && *p <= '9')
                p++;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        has_offset = 1;
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om = 0;

        p++;
        if (digits(&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (*p && digits(&p, 2, &om))
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        has_offset = 1;
        off_min = sign * (oh * 60 + om);
    }
    if (*p || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        sec > 60)
        return -1;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return -1;
    if (sec == 60)
        sec = 59;
    local = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    if (has_offset) {
        *out = local - off_min * 60LL;
        return 0;
    }
    /* The zone's offset at the local time read as UTC, then again at the first guess. */
    if (tz_offset_minutes(zone, (time_t)local, &off_min) != 0)
        return -2;
    *out = local - off_min * 60LL;
    if (tz_offset_minutes(zone, (time_t)*out, &off_min) != 0)
        return -2;
    *out = local - off_min * 60LL;
    return 0;
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
    struct cli_outbound o;
    struct job_request r;
    struct job job;
    struct store *s = NULL;
    const char *to = NULL, *flow = NULL, *agent = NULL, *say = NULL, *at = NULL, *name = NULL;
    const char *lang = NULL, *db = NULL;
    char err[256];
    long long now = (long long)time(NULL), id = 0, not_before = 0;
    int c, rc, as_json = 0, retries = 0, amd = 0, sms = 0;

    memset(&o, 0, sizeof(o));
    if (cli_wants_help(argc, argv)) {
        fputs(create_usage, stdout);
        return 0;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            o.tenant = optarg;
            break;
        case 'o':
            to = optarg;
            break;
        case 'f':
            o.from = optarg;
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
            amd = 1;
            break;
        case O_RETRIES:
            if (cli_parse_num("--retries", optarg, 0, JOB_MAX_RETRIES, &retries))
                return 2;
            break;
        case O_SMS:
            sms = 1;
            break;
        case 'n':
            name = optarg;
            break;
        case O_LANG:
            lang = optarg;
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
    if (!o.tenant)
        return cli_usage("calls create needs --tenant");
    if (!to)
        return cli_usage("calls create needs --to");
    if (!e164_valid(to))
        return cli_usage("--to '%s' is not an E.164 number ('+' and 7 to 15 digits)", to);
    if (o.from && !e164_valid(o.from))
        return cli_usage("--from '%s' is not an E.164 number ('+' and 7 to 15 digits)", o.from);
    if (cli_outbound_target(&o, flow, agent, say))
        return 2;
    /* The shape of --at now; its zone once the tenant is read. */
    if (at && cli_parse_at(at, NULL, &not_before) == -1)
        return cli_usage("--at '%s' is not an ISO 8601 time like 2026-03-01T09:30 or "
                         "2026-03-01T09:30:00+02:00",
                         at);
    memset(&r, 0, sizeof(r));
    r.tenant = o.tenant;
    r.to = to;
    r.from = o.from;
    r.contact_name = name;
    r.lang = lang;
    r.kind = o.kind;
    r.target = o.target;
    r.say_text = o.say;
    r.max_retries = retries;
    r.amd = amd;
    r.sms_fallback = sms;
    if (job_request_check(&r, err, sizeof(err)) != 0)
        return cli_usage("%s", err);
    if (cli_outbound_allowed(to, err, sizeof(err)))
        return cli_fail("%s", err);
    if (cli_open_store(&s, db))
        return 1;
    rc = cli_outbound_check(s, &o);
    if (rc == 0 && at) {
        int prc = cli_parse_at(at, o.t.timezone, &not_before);

        if (prc)
            rc = cli_fail("tenant '%s' has time zone '%s', which this system does not know",
                          o.tenant, o.t.timezone);
        else if (not_before < now - AT_PAST_SLACK_S)
            rc = cli_fail("--at '%s' is in the past", at);
    }
    if (rc == 0) {
        int out = 0;

        rc = optout_check(s, o.tenant, to, &out);
        if (rc)
            rc = cli_fail("cannot read the do-not-call list: %s", sb_strerror(rc));
        else if (out)
            rc = cli_fail("'%s' opted out (STOP) of tenant '%s'; it is not called", to, o.tenant);
    }
    if (rc == 0) {
        r.not_before = not_before;
        rc = job_add(s, &r, now, &id, err, sizeof(err));
        if (rc)
            rc = cli_fail("cannot queue the call: %s", err);
    }
    if (rc == 0 && as_json) {
        rc = job_get(s, id, &job);
        if (rc)
            rc = cli_fail("cannot read job %lld: %s", id, sb_strerror(rc));
        else
            cli_print_json(cli_job_json(&job));
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
               or_dash(j->answered_by), when ? cli_iso_time(when, due, sizeof(due)) : "now",
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
            json_array_append_new(arr, cli_job_json(&jobs[i]));
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
        cli_print_json(cli_job_json(&j));
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
    printf("not before   %s\n", j.not_before ? cli_iso_time(j.not_before, iso, sizeof(iso)) : "-");
    printf("attempts     %d (retries %d)\n", j.attempts, j.max_retries);
    printf("call         %s\n", or_dash(j.call_sid));
    printf("answered by  %s\n", or_dash(j.answered_by));
    printf("amd          %s\n", j.amd ? "yes" : "no");
    printf("sms fallback %s\n", j.sms_fallback ? (j.sms_sent ? "yes (sent)" : "yes") : "no");
    printf("error        %s\n", or_dash(j.error));
    printf("created      %s\n", cli_iso_time(j.created_at, iso, sizeof(iso)));
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
