/* switchboard sim llm: the command line of the local OpenAI-compatible server (src/sim/llm.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/utf8.h"
#include "sim/llm.h"
#include "core/banned.h"

static const char llm_usage[] =
    "usage: switchboard sim llm [--listen [HOST:]PORT] [options]\n"
    "\n"
    "A local OpenAI-compatible Chat Completions server for trying and testing LLM\n"
    "agents offline: POST /v1/chat/completions (streamed or not, with tool calls),\n"
    "POST /v1/audio/transcriptions (a recogniser's stand-in), GET /v1/models,\n"
    "GET /healthz. Replies come from a script, or echo the last user\n"
    "message. Prints 'listening on http://HOST:PORT' first; runs until SIGINT or\n"
    "SIGTERM.\n"
    "\n"
    "  --listen [HOST:]PORT    where to listen (default 127.0.0.1:8099; port 0: any free\n"
    "                          port, shown on the first line)\n"
    "  --script FILE           rules from the last user message to replies or tool calls\n"
    "                          (JSON, docs/sim.md); without it: \"You said: ...\"\n"
    "  --model NAME            the model /v1/models lists (default sim-llm; requests may\n"
    "                          name any model)\n"
    "  --api-key KEY           require 'Authorization: Bearer KEY' (401 otherwise)\n"
    "  --first-token-ms N      wait N ms before the first token (default 0)\n"
    "  --tokens-per-second N   pace tokens (words) at N a second (default 0: at once)\n"
    "  --fail-every N          every Nth chat request fails with --fail-status\n"
    "  --fail-status 429|500   the injected error (default 429, with Retry-After)\n"
    "  --retry-after S         the Retry-After of a 429, in seconds (default 1)\n"
    "  --stall-ms N            stop sending for N ms after the first token of a stream\n"
    "  --cut-after N           close streams after N tokens, without [DONE]\n"
    "  --transcripts FILE      what /v1/audio/transcriptions hears, a line a request,\n"
    "                          in turn (UTF-8); without it: \"\" (nothing heard)\n"
    "\n"
    "Exit status: 0 after a clean stop, 1 when it cannot start, 2 on bad usage.\n";

int cli_sim_llm(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"script", required_argument, NULL, 's'},
        {"model", required_argument, NULL, 'm'},
        {"api-key", required_argument, NULL, 'k'},
        {"first-token-ms", required_argument, NULL, 'f'},
        {"tokens-per-second", required_argument, NULL, 't'},
        {"fail-every", required_argument, NULL, 'e'},
        {"fail-status", required_argument, NULL, 'S'},
        {"retry-after", required_argument, NULL, 'r'},
        {"stall-ms", required_argument, NULL, 'w'},
        {"cut-after", required_argument, NULL, 'c'},
        {"transcripts", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sim_llm_script script = SIM_LLM_SCRIPT_INIT;
    struct sim_llm_opts o;
    char host[64] = "127.0.0.1";
    char err[700];
    const char *script_path = NULL, *transcripts_path = NULL;
    struct cli_lines transcripts = {NULL, NULL, 0};
    int c, rc = 2;

    memset(&o, 0, sizeof(o));
    o.port = 8099;
    o.fail_status = 429;
    o.cut_after = -1;
    o.retry_after_s = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (cli_parse_listen(optarg, host, sizeof(host), &o.port))
                goto out;
            break;
        case 's':
            script_path = optarg;
            break;
        case 'm':
            if (!*optarg) {
                rc = cli_usage("--model must not be empty");
                goto out;
            }
            o.model = optarg;
            break;
        case 'k':
            o.api_key = optarg;
            break;
        case 'f':
            if (cli_parse_num("--first-token-ms", optarg, 0, 600000, &o.first_token_ms))
                goto out;
            break;
        case 't':
            if (cli_parse_num("--tokens-per-second", optarg, 0, 1000000, &o.tokens_per_second))
                goto out;
            break;
        case 'e':
            if (cli_parse_num("--fail-every", optarg, 1, 1000000, &o.fail_every))
                goto out;
            break;
        case 'S':
            if (strcmp(optarg, "429") != 0 && strcmp(optarg, "500") != 0) {
                rc = cli_usage("--fail-status '%s' is not 429 or 500", optarg);
                goto out;
            }
            o.fail_status = (int)strtol(optarg, NULL, 10);
            break;
        case 'r':
            if (cli_parse_num("--retry-after", optarg, 1, 3600, &o.retry_after_s))
                goto out;
            break;
        case 'w':
            if (cli_parse_num("--stall-ms", optarg, 0, 600000, &o.stall_ms))
                goto out;
            break;
        case 'c':
            if (cli_parse_num("--cut-after", optarg, 0, 1000000, &o.cut_after))
                goto out;
            break;
        case 'T':
            transcripts_path = optarg;
            break;
        case 'h':
            fputs(llm_usage, stdout);
            rc = 0;
            goto out;
        default:
            fputs(llm_usage, stderr);
            goto out;
        }
    }
    if (optind < argc) {
        rc = cli_usage("sim llm takes no arguments, got '%s'", argv[optind]);
        goto out;
    }
    if (script_path && sim_llm_script_load(&script, script_path, err, sizeof(err)) != 0) {
        rc = cli_usage("%s", err);
        goto out;
    }
    if (transcripts_path &&
        cli_lines_load("--transcripts", transcripts_path, &transcripts, err, sizeof(err)) != 0) {
        rc = cli_usage("%s", err);
        goto out;
    }
    o.transcripts = transcripts.line;
    o.ntranscripts = transcripts.n;
    o.host = host;
    o.script = script_path ? &script : NULL;
    o.ready = stdout;
    rc = sim_llm_run(&o) == 0 ? 0 : 1;
    if (rc)
        fprintf(stderr, "error: cannot serve on %s:%d\n", host, o.port);
out:
    sim_llm_script_release(&script);
    cli_lines_release(&transcripts);
    return rc;
}
