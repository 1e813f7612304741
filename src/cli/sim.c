#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/e164.h"
#include "core/err.h"
#include "core/status_events.h"
#include "sim/call.h"
#include "core/banned.h"

static const char sim_usage[] =
    "usage: switchboard sim call --url URL --from NUMBER --to NUMBER [options]\n"
    "\n"
    "Plays Twilio's part: places a call to a voice webhook, executes the TwiML it\n"
    "answers the way Twilio does, and shows what the caller would hear.\n"
    "\n"
    "  --url URL              the voice webhook (\"A call comes in\")\n"
    "  --from, --to NUMBER    caller and called number\n"
    "  --token TOKEN          auth token to sign with (default: env TWILIO_AUTH_TOKEN)\n"
    "  --script FILE          the caller's side, one action per line (docs/sim.md)\n"
    "  --interactive          ask at the keyboard instead of a script\n"
    "  --json                 print the transcript as JSON\n"
    "  --method GET|POST      how to request the voice URL (default POST)\n"
    "  --fallback-url URL     requested when the voice URL fails, as Twilio does\n"
    "  --status-callback URL  where to send call status callbacks\n"
    "  --status-events LIST   initiated,ringing,answered,completed (default completed)\n"
    "  --chaos                deliver status callbacks duplicated and out of order\n"
    "  --seed N               repeat a run's SIDs and --chaos order\n"
    "  --call-sid SID         use this CallSid (default: random)\n"
    "  --direction DIR        inbound (default), outbound-api, outbound-dial\n"
    "  --param NAME=VALUE     add a parameter to every request (repeatable)\n"
    "  --stream-plain         open wss:// media streams without TLS (local servers)\n"
    "  --record-audio FILE    write what the caller heard in media streams (WAV)\n"
    "  --max-documents N      bound on TwiML documents per call (default 50)\n"
    "  --speech-end-ms MS     real wait between a Gather's last partial result and its\n"
    "                         final one (default 0)\n"
    "  --no-partial-results   never post to a Gather's partialResultCallback\n"
    "\n"
    "Exit status: 0 when the call completed without protocol errors or failed\n"
    "expectations, 1 otherwise, 2 on bad usage.\n"
    "\n"
    "'switchboard sim api --help': a fake Twilio REST API that places such calls.\n"
    "'switchboard sim llm --help': a local OpenAI-compatible chat server for agents.\n"
    "'switchboard sim providers --help': stand-ins for Deepgram, ElevenLabs and Cartesia.\n";

static int sim_call(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"token", required_argument, NULL, 'k'},
        {"script", required_argument, NULL, 's'},
        {"interactive", no_argument, NULL, 'i'},
        {"json", no_argument, NULL, 'j'},
        {"method", required_argument, NULL, 'm'},
        {"fallback-url", required_argument, NULL, 'F'},
        {"status-callback", required_argument, NULL, 'c'},
        {"status-events", required_argument, NULL, 'e'},
        {"chaos", no_argument, NULL, 'C'},
        {"seed", required_argument, NULL, 'S'},
        {"call-sid", required_argument, NULL, 'I'},
        {"direction", required_argument, NULL, 'd'},
        {"param", required_argument, NULL, 'p'},
        {"stream-plain", no_argument, NULL, 'P'},
        {"record-audio", required_argument, NULL, 'r'},
        {"max-documents", required_argument, NULL, 'x'},
        {"speech-end-ms", required_argument, NULL, 'E'},
        {"no-partial-results", no_argument, NULL, 'N'},
        {NULL, 0, NULL, 0},
    };
    struct sim_call_opts o;
    struct sim_call_result res;
    struct sim_script script = SIM_SCRIPT_INIT;
    struct form extra = FORM_INIT;
    const char *script_path = NULL;
    int as_json = 0, c, rc = 2;
    /* Usage errors exit 2, like getopt's; a failed call exits 1. */
    char err[512];

    memset(&o, 0, sizeof(o));
    o.token = getenv("TWILIO_AUTH_TOKEN");
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            o.url = optarg;
            break;
        case 'f':
            o.from = optarg;
            break;
        case 't':
            o.to = optarg;
            break;
        case 'k':
            o.token = optarg;
            break;
        case 's':
            script_path = optarg;
            break;
        case 'i':
            o.interactive = 1;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'm':
            if (strcmp(optarg, "GET") != 0 && strcmp(optarg, "POST") != 0) {
                rc = cli_usage("method '%s' is not GET or POST", optarg);
                goto out;
            }
            o.method = optarg;
            break;
        case 'F':
            o.fallback_url = optarg;
            break;
        case 'c':
            o.status_callback = optarg;
            break;
        case 'e':
            o.status_events = 0;
            if (status_events_parse(optarg, strlen(optarg), &o.status_events, NULL, 0) != 0 ||
                !o.status_events) {
                rc = cli_usage("status events '%s' are not from initiated, ringing, answered, "
                               "completed",
                               optarg);
                goto out;
            }
            break;
        case 'C':
            o.chaos = 1;
            break;
        case 'S':
            o.seed = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'I':
            o.call_sid = optarg;
            break;
        case 'd':
            o.direction = optarg;
            break;
        case 'p': {
            char *eq = strchr(optarg, '=');

            if (!eq || eq == optarg) {
                rc = cli_usage("--param '%s' is not NAME=VALUE", optarg);
                goto out;
            }
            *eq = '\0';
            rc = form_add(&extra, optarg, eq + 1);
            *eq = '=';
            if (rc) {
                rc = cli_fail("cannot keep --param '%s': %s", optarg, sb_strerror(rc));
                goto out;
            }
            break;
        }
        case 'P':
            o.stream_plain = 1;
            break;
        case 'r':
            o.record_audio = optarg;
            break;
        case 'x':
            o.max_documents = (int)strtol(optarg, NULL, 10);
            if (o.max_documents < 1 || o.max_documents > 10000) {
                rc = cli_usage("max documents '%s' is not a number from 1 to 10000", optarg);
                goto out;
            }
            break;
        case 'N':
            o.no_partial_results = 1;
            break;
        case 'E': {
            char *end = NULL;

            o.speech_end_ms = strtol(optarg, &end, 10);
            if (!*optarg || *end || o.speech_end_ms < 0 || o.speech_end_ms > 10000) {
                rc = cli_usage("speech end '%s' is not a number of ms from 0 to 10000", optarg);
                goto out;
            }
            break;
        }
        default:
            fputs(sim_usage, stderr);
            goto out;
        }
    }
    if (optind < argc) {
        rc = cli_usage("sim call takes no arguments, got '%s'", argv[optind]);
        goto out;
    }
    if (!o.url || (strncmp(o.url, "http://", 7) != 0 && strncmp(o.url, "https://", 8) != 0)) {
        rc = cli_usage("--url must be an http:// or https:// webhook URL");
        goto out;
    }
    if (!o.from || !*o.from || !o.to || !*o.to) {
        rc = cli_usage("--from and --to are required");
        goto out;
    }
    if (script_path && o.interactive) {
        rc = cli_usage("--script and --interactive cannot be used together");
        goto out;
    }
    if (script_path && sim_script_load(&script, script_path, err, sizeof(err))) {
        rc = cli_usage("%s", err);
        goto out;
    }
    o.script = script_path ? &script : NULL;
    o.extra = extra.count ? &extra : NULL;
    o.in = stdin;
    o.out = stdout;
    if (!o.token || !*o.token)
        fprintf(stderr, "warning: no --token or TWILIO_AUTH_TOKEN: requests are not signed\n");
    rc = sim_call_run(&o, &res) == 0 ? 0 : 1;
    if (as_json)
        sim_transcript_print_json(&res, stdout);
    else
        sim_transcript_print(&res, stdout);
    sim_call_result_release(&res);
out:
    sim_script_release(&script);
    form_release(&extra);
    return rc;
}

/* switchboard sim providers: stand-ins for Deepgram, ElevenLabs, Cartesia (cli/sim_providers.c). */

int cli_sim(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "api") == 0)
        return cli_sim_api(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "llm") == 0)
        return cli_sim_llm(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "providers") == 0)
        return cli_sim_providers(argc - 1, argv + 1);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(sim_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (cli_wants_help(argc, argv)) {
        fputs(sim_usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "call") == 0)
        return sim_call(argc - 1, argv + 1);
    return cli_fail("unknown sim command '%s' (call, api, llm, providers)", argv[1]);
}
