#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/banned.h"

static const char calls_usage[] = "usage: switchboard calls list [--json] [--limit N]\n"
                                  "\n"
                                  "Lists the call log, newest first.\n"
                                  "  --limit N   at most N calls (default 50)\n"
                                  "  --db PATH   the store (env SWITCHBOARD_DB)\n";

/* ISO 8601 UTC, or "" for 0. */
static const char *iso_time(long long t, char *out, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;

    out[0] = '\0';
    if (t > 0 && gmtime_r(&tt, &tm))
        strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}

static void print_calls(const struct call_record *calls, size_t n, int as_json)
{
    char started[32], ended[32];

    if (as_json) {
        json_t *arr = json_array();

        for (size_t i = 0; i < n; i++) {
            const struct call_record *c = &calls[i];
            json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "call_sid", c->call_sid,
                                  "tenant", c->tenant, "direction", c->direction, "from", c->from,
                                  "to", c->to, "status", c->status, "language", c->lang);

            json_object_set_new(o, "duration",
                                c->duration >= 0 ? json_integer(c->duration) : json_null());
            json_object_set_new(o, "started_at",
                                c->started_at
                                    ? json_string(iso_time(c->started_at, started, sizeof(started)))
                                    : json_null());
            json_object_set_new(o, "ended_at",
                                c->ended_at
                                    ? json_string(iso_time(c->ended_at, ended, sizeof(ended)))
                                    : json_null());
            json_array_append_new(arr, o);
        }
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
               c->lang[0] ? c->lang : "-", iso_time(c->started_at, started, sizeof(started)),
               c->ended_at ? iso_time(c->ended_at, ended, sizeof(ended)) : "-");
    }
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

    if (cli_wants_help(argc, argv)) {
        fputs(calls_usage, stdout);
        return 0;
    }
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
