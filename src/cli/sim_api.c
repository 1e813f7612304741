/* switchboard sim api: the command line of the fake Twilio REST API (src/sim/api.h). */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/e164.h"
#include "core/err.h"
#include "server/config.h"
#include "sim/api.h"
#include "sim/api_params.h"
#include "sim/script.h"
#include "core/banned.h"

/* Largest script file read for --script. */
#define MAX_SCRIPT 65536
/* At most this many --outcome numbers, and as many --answered-by ones. */
#define MAX_OUTCOMES 64

static const char api_usage[] =
    "usage: switchboard sim api --listen ADDR:PORT [options]\n"
    "\n"
    "A local stand-in for Twilio's REST API: point the official helper library (or\n"
    "any client) at http://ADDR:PORT to create calls, which are placed to your\n"
    "webhooks and executed as 'switchboard sim call' does, send messages, fetch\n"
    "recordings and update conference participants. Runs until SIGINT or SIGTERM.\n"
    "\n"
    "  --listen ADDR:PORT      where to listen, e.g. 127.0.0.1:8090 (required)\n"
    "  --token TOKEN           the auth token: Basic auth password and webhook signing key\n"
    "                          (default: env TWILIO_AUTH_TOKEN)\n"
    "  --account-sid SID       the account (default: AC followed by 32 zeros)\n"
    "  --answered-by VALUE     what answering machine detection reports: human (default),\n"
    "                          machine_start, machine_end_beep, machine_end_silence,\n"
    "                          machine_end_other, fax, unknown, or random (one per call,\n"
    "                          from --seed)\n"
    "  --answered-by NUMBER=VALUE  the same for the calls to NUMBER only (repeatable)\n"
    "  --seed N                the seed of random answers (default: a random one, logged)\n"
    "  --rate-limit N          answer 429 (code 20429) past N requests a second\n"
    "  --fail-every N          answer every Nth request 500 or 503 (code 20500) instead\n"
    "  --garbage-every N       answer every Nth request 200 with a body that is not JSON\n"
    "  --create-timeout-every N  place every Nth call created but hold its 201 back\n"
    "  --create-timeout-ms MS  how long it is held back (default 30000)\n"
    "  --slow-ms MS            hold every answer back MS milliseconds\n"
    "  --page-size-max N       serve lists N items a page at most, whatever PageSize asks\n"
    "  --record FILE           append every request to FILE as a JSON line (created 0600)\n"
    "  --speed X               run calls X times faster than real time (default 1)\n"
    "  --script FILE           the callee's side of every call (see docs/sim.md)\n"
    "  --outcome NUMBER=STATUS calls to NUMBER end unanswered: busy, no-answer or failed\n"
    "                          (repeatable)\n"
    "  --stream-plain          open wss:// media streams without TLS (local servers)\n"
    "\n"
    "Exit status: 0 after a clean stop, 1 when it cannot start, 2 on bad usage.\n";

/* Prints "error: ..." like cli_fail and returns 2, the exit status of bad usage. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

/* Reads a decimal number in [min, max] for option `name`. Returns 0, or 2 (bad usage) after
 * saying why. */
static int number_arg(const char *name, const char *text, long min, long max, long *out)
{
    char *end = NULL;
    long n;

    n = strtol(text, &end, 10);
    if (end == text || *end || n < min || n > max)
        return usage_error("--%s '%s' is not a number from %ld to %ld", name, text, min, max);
    *out = n;
    return 0;
}

/* Reads a whole script file and checks it parses. Returns the text (free()) or NULL. */
static char *read_script(const char *path)
{
    struct sim_script script = SIM_SCRIPT_INIT;
    char err[512];
    char *text = NULL;
    FILE *f = NULL;
    size_t n;

    if (sim_script_load(&script, path, err, sizeof(err)) != 0) {
        cli_fail("%s", err);
        goto out;
    }
    f = fopen(path, "rb");
    text = f ? malloc(MAX_SCRIPT + 1) : NULL;
    if (!text) {
        cli_fail("cannot read script '%s'", path);
        goto out;
    }
    n = fread(text, 1, MAX_SCRIPT + 1, f);
    if (n > MAX_SCRIPT) {
        cli_fail("script '%s' is larger than %d bytes", path, MAX_SCRIPT);
        free(text);
        text = NULL;
        goto out;
    }
    text[n] = '\0';
out:
    if (f)
        fclose(f);
    sim_script_release(&script);
    return text;
}

int cli_sim_api(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"token", required_argument, NULL, 'k'},
        {"account-sid", required_argument, NULL, 'a'},
        {"answered-by", required_argument, NULL, 'b'},
        {"rate-limit", required_argument, NULL, 'r'},
        {"speed", required_argument, NULL, 's'},
        {"script", required_argument, NULL, 'S'},
        {"outcome", required_argument, NULL, 'o'},
        {"seed", required_argument, NULL, 'e'},
        {"fail-every", required_argument, NULL, 'F'},
        {"garbage-every", required_argument, NULL, 'G'},
        {"create-timeout-every", required_argument, NULL, 'T'},
        {"create-timeout-ms", required_argument, NULL, 'M'},
        {"slow-ms", required_argument, NULL, 'W'},
        {"page-size-max", required_argument, NULL, 'Z'},
        {"record", required_argument, NULL, 'R'},
        {"stream-plain", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sim_api_outcome outcomes[MAX_OUTCOMES];
    struct sim_api_answer answers[MAX_OUTCOMES];
    struct sim_api_opts o;
    struct config cfg;
    const char *listen = NULL;
    char *script = NULL, *end = NULL;
    char err[600];
    long n = 0;
    int c, rc = 2;

    memset(&o, 0, sizeof(o));
    memset(&cfg, 0, sizeof(cfg));
    o.token = getenv("TWILIO_AUTH_TOKEN");
    o.outcomes = outcomes;
    o.answers = answers;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'k':
            o.token = optarg;
            break;
        case 'a':
            if (strncmp(optarg, "AC", 2) != 0 || strlen(optarg) != 34) {
                rc = usage_error("account sid '%s' is not AC followed by 32 characters", optarg);
                goto out;
            }
            o.account_sid = optarg;
            break;
        case 'b': {
            struct api_params_answer answer;

            if (api_params_answer_parse(optarg, &answer) != 0) {
                rc = usage_error("answered-by '%s' is not [NUMBER=]VALUE with VALUE human, "
                                 "machine_start, machine_end_beep, machine_end_silence, "
                                 "machine_end_other, fax, unknown or random",
                                 optarg);
                goto out;
            }
            if (!answer.number) {
                o.answered_by = answer.answered_by;
                break;
            }
            if (o.nanswers == MAX_OUTCOMES) {
                rc = usage_error("more than %d --answered-by numbers", MAX_OUTCOMES);
                goto out;
            }
            answers[o.nanswers].number = answer.number;
            answers[o.nanswers].answered_by = answer.answered_by;
            o.nanswers++;
            break;
        }
        case 'e':
            o.seed = strtoull(optarg, &end, 10);
            if (optarg[0] < '0' || optarg[0] > '9' || *end || strlen(optarg) > 19) {
                rc = usage_error("--seed '%s' is not a number of at most 19 digits", optarg);
                goto out;
            }
            o.seed_set = 1;
            break;
        case 'F':
            if (number_arg("fail-every", optarg, 1, 1000000, &n) != 0)
                goto out;
            o.fail_every = (int)n;
            break;
        case 'G':
            if (number_arg("garbage-every", optarg, 1, 1000000, &n) != 0)
                goto out;
            o.garbage_every = (int)n;
            break;
        case 'T':
            if (number_arg("create-timeout-every", optarg, 1, 1000000, &n) != 0)
                goto out;
            o.create_timeout_every = (int)n;
            break;
        case 'M':
            if (number_arg("create-timeout-ms", optarg, 1, 600000, &o.create_timeout_ms) != 0)
                goto out;
            break;
        case 'W':
            if (number_arg("slow-ms", optarg, 0, 600000, &o.slow_ms) != 0)
                goto out;
            break;
        case 'Z':
            if (number_arg("page-size-max", optarg, 1, 1000, &n) != 0)
                goto out;
            o.page_size_max = (int)n;
            break;
        case 'R':
            o.record_path = optarg;
            break;
        case 'r':
            o.rate_limit = (int)strtol(optarg, &end, 10);
            if (end == optarg || *end || o.rate_limit < 1 || o.rate_limit > 100000) {
                rc = usage_error("rate limit '%s' is not a number from 1 to 100000", optarg);
                goto out;
            }
            break;
        case 's':
            o.speed = strtod(optarg, &end);
            if (end == optarg || *end || !(o.speed >= 0.01 && o.speed <= 1000)) {
                rc = usage_error("speed '%s' is not a number from 0.01 to 1000", optarg);
                goto out;
            }
            break;
        case 'S':
            free(script);
            script = read_script(optarg);
            if (!script)
                goto out; /* rc is 2: a bad script is bad usage */
            break;
        case 'o': {
            char *eq = strchr(optarg, '=');

            if (!eq || !sim_api_outcome_valid(eq + 1)) {
                rc = usage_error("--outcome '%s' is not NUMBER=busy, NUMBER=no-answer or "
                                 "NUMBER=failed",
                                 optarg);
                goto out;
            }
            if (o.noutcomes == MAX_OUTCOMES) {
                rc = usage_error("more than %d --outcome numbers", MAX_OUTCOMES);
                goto out;
            }
            *eq = '\0';
            outcomes[o.noutcomes].number = optarg;
            outcomes[o.noutcomes].status = eq + 1;
            o.noutcomes++;
            break;
        }
        case 'P':
            o.stream_plain = 1;
            break;
        case 'h':
            fputs(api_usage, stdout);
            rc = 0;
            goto out;
        default:
            fputs(api_usage, stderr);
            goto out;
        }
    }
    if (optind < argc) {
        rc = usage_error("sim api takes no arguments, got '%s'", argv[optind]);
        goto out;
    }
    if (!listen) {
        rc = usage_error("--listen ADDR:PORT is required");
        goto out;
    }
    if (config_set_listen(&cfg, listen, "--listen", err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err); /* already "error: ..." */
        goto out;
    }
    if (!o.token || !*o.token) {
        rc = usage_error("no auth token: pass --token or set TWILIO_AUTH_TOKEN");
        goto out;
    }
    o.host = cfg.listen_host;
    o.port = cfg.listen_port;
    o.script_text = script;
    rc = sim_api_run(&o) == 0 ? 0 : 1;
    if (rc && o.record_path)
        fprintf(stderr, "error: cannot serve the api on %s or record to '%s'\n", listen,
                o.record_path);
    else if (rc)
        fprintf(stderr, "error: cannot serve the api on %s\n", listen);
out:
    free(script);
    return rc;
}
