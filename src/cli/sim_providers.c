/*
 * switchboard sim providers: the command line of the local stand-ins for
 * Deepgram, ElevenLabs and Cartesia (src/sim/providers.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/utf8.h"
#include "sim/providers.h"
#include "core/banned.h"

static const char providers_usage[] =
    "usage: switchboard sim providers [--listen [HOST:]PORT] [options]\n"
    "\n"
    "Local stand-ins for the streaming speech providers, on one port, for trying\n"
    "and testing their clients offline (WebSocket upgrades, by path):\n"
    "  /v1/listen                                  Deepgram streaming recognition\n"
    "  /v1/text-to-speech/{voice_id}/stream-input  ElevenLabs streaming synthesis\n"
    "  /tts/websocket                              Cartesia streaming synthesis\n"
    "Recognition hears --transcripts, or English through pocketsphinx; synthesis\n"
    "speaks with espeak-ng as 8 kHz mu-law (or replays --replay-audio). Prints\n"
    "'listening on http://HOST:PORT' first; runs until SIGINT or SIGTERM.\n"
    "\n"
    "  --listen [HOST:]PORT    where to listen (default 127.0.0.1:8098; port 0: any free\n"
    "                          port, shown on the first line)\n"
    "  --api-key KEY           require KEY, each provider's way (401 otherwise)\n"
    "  --transcripts FILE      what Deepgram's stand-in hears: a line per utterance, in\n"
    "                          turn, per stream (UTF-8); without it: pocketsphinx\n"
    "  --phrases FILE          what pocketsphinx listens for, a phrase a line (default:\n"
    "                          a short list of what callers say to voice agents)\n"
    "  --idle-ms N             close a Deepgram stream without audio or KeepAlive for\n"
    "                          N ms with 1011 NET-0001 (default 10000)\n"
    "  --first-byte-ms N       hold each Results, and the first audio of each synthesis,\n"
    "                          N ms (default 0)\n"
    "  --slow-ms N             at least N ms between two messages of a socket\n"
    "  --cut-after N           close with 1011 after N audio messages (received by\n"
    "                          Deepgram's stand-in, sent by the synthesis stand-ins)\n"
    "  --fail-every N          refuse every Nth WebSocket upgrade with 503\n"
    "  --garbage-audio         synthesis answers carry audio that is not base64\n"
    "  --replay-audio FILE     every synthesis answers with FILE's audio instead of\n"
    "                          espeak-ng's: raw 8 kHz mu-law, or an 8 kHz WAV (16-bit\n"
    "                          PCM or mu-law)\n"
    "\n"
    "Exit status: 0 after a clean stop, 1 when it cannot start, 2 on bad usage.\n";

int cli_sim_providers(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"api-key", required_argument, NULL, 'k'},
        {"transcripts", required_argument, NULL, 'T'},
        {"phrases", required_argument, NULL, 'P'},
        {"idle-ms", required_argument, NULL, 'i'},
        {"first-byte-ms", required_argument, NULL, 'f'},
        {"slow-ms", required_argument, NULL, 's'},
        {"cut-after", required_argument, NULL, 'c'},
        {"fail-every", required_argument, NULL, 'e'},
        {"garbage-audio", no_argument, NULL, 'g'},
        {"replay-audio", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sim_providers_opts o;
    struct cli_lines transcripts, phrases;
    char host[64] = "127.0.0.1";
    char err[700];
    const char *transcripts_path = NULL, *phrases_path = NULL, *replay_path = NULL;
    unsigned char *replay = NULL;
    size_t replay_len = 0;
    int c, rc = 2;

    memset(&o, 0, sizeof(o));
    memset(&transcripts, 0, sizeof(transcripts));
    memset(&phrases, 0, sizeof(phrases));
    o.port = 8098;
    o.idle_ms = SIM_PROVIDERS_IDLE_MS;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (cli_parse_listen(optarg, host, sizeof(host), &o.port))
                goto out;
            break;
        case 'k':
            if (!*optarg) {
                rc = cli_usage("--api-key must not be empty");
                goto out;
            }
            o.api_key = optarg;
            break;
        case 'T':
            transcripts_path = optarg;
            break;
        case 'P':
            phrases_path = optarg;
            break;
        case 'i':
            if (cli_parse_num("--idle-ms", optarg, 1, 3600000, &o.idle_ms))
                goto out;
            break;
        case 'f':
            if (cli_parse_num("--first-byte-ms", optarg, 0, 600000, &o.first_byte_ms))
                goto out;
            break;
        case 's':
            if (cli_parse_num("--slow-ms", optarg, 0, 600000, &o.slow_ms))
                goto out;
            break;
        case 'c':
            if (cli_parse_num("--cut-after", optarg, 1, 1000000, &o.cut_after))
                goto out;
            break;
        case 'e':
            if (cli_parse_num("--fail-every", optarg, 1, 1000000, &o.fail_every))
                goto out;
            break;
        case 'g':
            o.garbage_audio = 1;
            break;
        case 'r':
            replay_path = optarg;
            break;
        case 'h':
            fputs(providers_usage, stdout);
            rc = 0;
            goto out;
        default:
            fputs(providers_usage, stderr);
            goto out;
        }
    }
    if (optind < argc) {
        rc = cli_usage("sim providers takes no arguments, got '%s'", argv[optind]);
        goto out;
    }
    if (transcripts_path &&
        cli_lines_load("--transcripts", transcripts_path, &transcripts, err, sizeof(err)) != 0) {
        rc = cli_usage("%s", err);
        goto out;
    }
    if (phrases_path &&
        cli_lines_load("--phrases", phrases_path, &phrases, err, sizeof(err)) != 0) {
        rc = cli_usage("%s", err);
        goto out;
    }
    if (replay_path &&
        sim_providers_replay_load(replay_path, &replay, &replay_len, err, sizeof(err)) != 0) {
        rc = cli_usage("--replay-audio: %s", err);
        goto out;
    }
    o.host = host;
    o.replay_audio = replay;
    o.replay_len = replay_len;
    o.transcripts = transcripts.line;
    o.ntranscripts = transcripts.n;
    o.phrases = phrases.line;
    o.nphrases = phrases.n;
    o.ready = stdout;
    rc = sim_providers_run(&o) == 0 ? 0 : 1;
    if (rc)
        fprintf(stderr, "error: cannot serve on %s:%d\n", host, o.port);
out:
    cli_lines_release(&transcripts);
    cli_lines_release(&phrases);
    free(replay);
    return rc;
}
