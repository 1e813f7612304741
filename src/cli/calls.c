#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/err.h"
#include "store/agents.h"
#include "voice/call_check.h"
#include "core/banned.h"

static const char calls_usage[] =
    "usage: switchboard calls list [--json] [--limit N]\n"
    "       switchboard calls show CALLSID [--json]\n"
    "       switchboard calls create --tenant T --to E164 (--flow F | --agent A | --say TEXT) ...\n"
    "       switchboard calls jobs [--tenant T] [--status S] [--json]\n"
    "       switchboard calls job ID [--json]\n"
    "       switchboard calls hangup CALLSID\n"
    "       switchboard calls redirect CALLSID URL\n"
    "\n"
    "list: the call log, newest first. show: one call, its conversation turn by\n"
    "turn (what the caller said, what the agent said and what of it was heard,\n"
    "the tools it used, the delay before each answer) and the messages taken.\n"
    "create: queue an outbound call; jobs, job: the queued calls; hangup, redirect:\n"
    "change a live call through Twilio (each takes --help).\n"
    "  --limit N   at most N calls (default 50)\n"
    "  --db PATH   the store (env SWITCHBOARD_DB)\n";

static json_t *call_json(const struct call_record *c)
{
    char started[32], ended[32];
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "call_sid", c->call_sid, "tenant",
                          c->tenant, "direction", c->direction, "from", c->from, "to", c->to,
                          "status", c->status, "language", c->lang);

    json_object_set_new(o, "duration", c->duration >= 0 ? json_integer(c->duration) : json_null());
    json_object_set_new(o, "started_at",
                        c->started_at
                            ? json_string(call_iso_time(c->started_at, started, sizeof(started)))
                            : json_null());
    json_object_set_new(o, "ended_at",
                        c->ended_at ? json_string(call_iso_time(c->ended_at, ended, sizeof(ended)))
                                    : json_null());
    return o;
}

static void print_calls(const struct call_record *calls, size_t n, int as_json)
{
    char started[32], ended[32];

    if (as_json) {
        json_t *arr = json_array();

        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, call_json(&calls[i]));
        json_dumpf(arr, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(arr);
        return;
    }
    printf("%-34s %-12s %-9s %-16s %-16s %-11s %5s %-6s %-20s %s\n", "CALL_SID", "TENANT",
           "DIRECTION", "FROM", "TO", "STATUS", "SECS", "LANG", "STARTED", "ENDED");
    for (size_t i = 0; i < n; i++) {
        const struct call_record *c = &calls[i];
        char secs[16];

        snprintf(secs, sizeof(secs), c->duration >= 0 ? "%ld" : "-", c->duration);
        printf("%-34s %-12s %-9s %-16s %-16s %-11s %5s %-6s %-20s %s\n", c->call_sid,
               c->tenant[0] ? c->tenant : "-", c->direction, c->from, c->to, c->status, secs,
               c->lang[0] ? c->lang : "-", call_iso_time(c->started_at, started, sizeof(started)),
               c->ended_at ? call_iso_time(c->ended_at, ended, sizeof(ended)) : "-");
    }
}

/* ISO 8601 UTC with milliseconds, from unix milliseconds. */
static const char *iso_time_ms(long long ms, char *out, size_t size)
{
    char secs[32];

    out[0] = '\0';
    if (ms > 0 && call_iso_time(ms / 1000, secs, sizeof(secs))[0])
        snprintf(out, size, "%.19s.%03lldZ", secs, ms % 1000);
    return out;
}

/*
 * Prints transcript text on one line: line breaks become spaces and other
 * control bytes '?', so that what a caller or a model said cannot move the
 * terminal's cursor or forge another line of the transcript.
 */
static void put_text(const char *t)
{
    for (; t && *t; t++) {
        unsigned char c = (unsigned char)*t;

        if (c == '\n' || c == '\r' || c == '\t')
            fputc(' ', stdout);
        else if (c < 0x20 || c == 0x7f)
            fputc('?', stdout);
        else
            fputc(c, stdout);
    }
}

static void print_turn(const struct call_turn *t)
{
    char when[40];

    /* The time of day: the date is the call's. */
    iso_time_ms(t->at, when, sizeof(when));
    printf("  %3d  %-13s  %-6s  ", t->seq, when[0] ? when + 11 : "-", turn_role_name(t->role));
    if (t->role == TURN_TOOL) {
        put_text(t->tool);
        fputc('(', stdout);
        put_text(t->tool_args);
        fputs(")", stdout);
        if (t->tool_result && *t->tool_result) {
            fputs(" -> ", stdout);
            put_text(t->tool_result);
        }
    } else {
        put_text(t->text);
    }
    if (t->interrupted) {
        fputs("  [interrupted; heard: \"", stdout);
        put_text(t->heard);
        fputs("\"]", stdout);
    }
    if (t->latency_ms >= 0)
        printf("  (latency %ld ms)", t->latency_ms);
    fputc('\n', stdout);
}

static json_t *turn_json(const struct call_turn *t)
{
    char when[40];
    json_t *o = json_pack("{s:i, s:s, s:s, s:s}", "seq", t->seq, "role", turn_role_name(t->role),
                          "at", iso_time_ms(t->at, when, sizeof(when)), "text", t->text);

    if (t->role == TURN_TOOL) {
        json_object_set_new(o, "tool", json_string(t->tool));
        json_object_set_new(o, "arguments", json_string(t->tool_args));
        json_object_set_new(o, "result", json_string(t->tool_result));
    }
    json_object_set_new(o, "interrupted", json_boolean(t->interrupted));
    json_object_set_new(o, "heard", t->interrupted ? json_string(t->heard) : json_null());
    json_object_set_new(o, "latency_ms",
                        t->latency_ms >= 0 ? json_integer(t->latency_ms) : json_null());
    return o;
}

static json_t *message_json(const struct call_message *m)
{
    char when[40];

    return json_pack("{s:s, s:s, s:s, s:s}", "at", iso_time_ms(m->at, when, sizeof(when)),
                     "caller_name", m->caller_name, "callback_number", m->callback_number,
                     "message", m->message);
}

static void print_call_show(const struct call_record *c, int have_call,
                            const struct call_turn *turns, size_t nturns,
                            const struct call_message *msgs, size_t nmsgs)
{
    char started[32], ended[32], when[40];

    if (have_call) {
        printf("call        %s\n", c->call_sid);
        printf("tenant      %s\n", c->tenant[0] ? c->tenant : "-");
        printf("direction   %s\n", c->direction);
        printf("from        %s\n", c->from);
        printf("to          %s\n", c->to);
        printf("status      %s\n", c->status);
        if (c->duration >= 0)
            printf("duration    %ld s\n", c->duration);
        printf("language    %s\n", c->lang[0] ? c->lang : "-");
        printf("started     %s\n", call_iso_time(c->started_at, started, sizeof(started)));
        printf("ended       %s\n",
               c->ended_at ? call_iso_time(c->ended_at, ended, sizeof(ended)) : "-");
    } else {
        printf("call        %s (not in the call log)\n", c->call_sid);
    }
    printf("\nconversation (%zu turn%s):\n", nturns, nturns == 1 ? "" : "s");
    for (size_t i = 0; i < nturns; i++)
        print_turn(&turns[i]);
    printf("\nmessages taken (%zu):\n", nmsgs);
    for (size_t i = 0; i < nmsgs; i++) {
        const struct call_message *m = &msgs[i];

        printf("  %s  from ", iso_time_ms(m->at, when, sizeof(when)));
        put_text(m->caller_name[0] ? m->caller_name : "(no name)");
        fputs(", call back ", stdout);
        put_text(m->callback_number[0] ? m->callback_number : "(no number)");
        fputs(": ", stdout);
        put_text(m->message);
        fputc('\n', stdout);
    }
}

static int calls_show(int argc, char **argv)
{
    struct call_record call;
    struct call_turn *turns = NULL;
    struct call_message *msgs = NULL;
    struct store *s = NULL;
    const char *db = NULL, *sid;
    size_t nturns = 0, nmsgs = 0;
    int as_json = 0, have_call = 0, rc;

    if (cli_json_db_options(argc, argv, &as_json, &db) < 0)
        return 2;
    if (optind != argc - 1)
        return cli_usage("calls show needs exactly one CALLSID");
    sid = argv[optind];
    if (!*sid || strlen(sid) >= CALL_SID_SIZE)
        return cli_fail("call '%s' does not exist", sid);
    if (cli_open_store(&s, db))
        return 1;
    memset(&call, 0, sizeof(call));
    rc = store_call_get(s, sid, &call);
    have_call = rc == 0;
    if (rc == SB_ENOTFOUND) {
        snprintf(call.call_sid, sizeof(call.call_sid), "%s", sid);
        rc = 0;
    }
    if (rc == 0)
        rc = call_turns_list(s, sid, &turns, &nturns);
    if (rc == 0)
        rc = call_messages_list(s, sid, &msgs, &nmsgs);
    store_close(s);
    if (rc)
        rc = cli_fail("cannot show call '%s': %s", sid, sb_strerror(rc));
    else if (!have_call && nturns == 0 && nmsgs == 0)
        rc = cli_fail("call '%s' does not exist", sid);
    if (rc == 0 && as_json) {
        json_t *o = json_object();
        json_t *ts = json_array(), *ms = json_array();

        for (size_t i = 0; i < nturns; i++)
            json_array_append_new(ts, turn_json(&turns[i]));
        for (size_t i = 0; i < nmsgs; i++)
            json_array_append_new(ms, message_json(&msgs[i]));
        json_object_set_new(o, "call", have_call ? call_json(&call) : json_null());
        json_object_set_new(o, "call_sid", json_string(sid));
        json_object_set_new(o, "turns", ts);
        json_object_set_new(o, "messages", ms);
        json_dumpf(o, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(o);
    } else if (rc == 0) {
        print_call_show(&call, have_call, turns, nturns, msgs, nmsgs);
    }
    call_turns_free(turns, nturns);
    call_messages_free(msgs, nmsgs);
    return rc;
}

int cli_calls(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"limit", required_argument, NULL, 'n'},
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    struct call_record *calls = NULL;
    struct store *s = NULL;
    const char *db = NULL;
    size_t n = 0;
    long limit = 50;
    int as_json = 0, c, rc;
    char *end;

    if (argc >= 2 && (strcmp(argv[1], "create") == 0 || strcmp(argv[1], "jobs") == 0 ||
                      strcmp(argv[1], "job") == 0 || strcmp(argv[1], "hangup") == 0 ||
                      strcmp(argv[1], "redirect") == 0))
        return cli_calls_outbound(argc - 1, argv + 1);
    if (cli_wants_help(argc, argv)) {
        fputs(calls_usage, stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "show") == 0)
        return calls_show(argc - 1, argv + 1);
    if (argc < 2 || strcmp(argv[1], "list") != 0) {
        fputs(calls_usage, stderr);
        return 2;
    }
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            as_json = 1;
            break;
        case 'n':
            limit = strtol(optarg, &end, 10);
            if (*end || limit < 1 || limit > 100000)
                return cli_fail("limit '%s' is not a number from 1 to 100000", optarg);
            break;
        case 'd':
            db = optarg;
            break;
        default:
            return 2;
        }
    }
    if (optind != argc - 1)
        return cli_fail("calls list takes no arguments");
    if (cli_open_store(&s, db))
        return 1;
    rc = store_call_list(s, (size_t)limit, &calls, &n);
    store_close(s);
    if (rc)
        return cli_fail("cannot list calls: %s", sb_strerror(rc));
    print_calls(calls, n, as_json);
    free(calls);
    return 0;
}
