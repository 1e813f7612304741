/* switchboard: a Twilio voice gateway. Dispatches git-style subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "speech/tts.h"
#include "core/banned.h"

static const char usage[] =
    "usage: switchboard <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve      answer Twilio's voice webhooks (see 'switchboard serve --help')\n"
    "  tenants    add, list and remove tenants (businesses)\n"
    "  numbers    add, list and remove phone numbers and their routing\n"
    "  flows      validate, import and show IVR flows\n"
    "  calls      list the call log; queue, list, hang up and redirect outbound calls\n"
    "  campaigns  import outbound calls from a CSV file; list, pause, resume, cancel\n"
    "  agents     add, change, show and remove the tenants' LLM agents\n"
    "  apikeys    create, list and revoke the tenants' keys to the HTTP API\n"
    "  db         migrate the store's schema; copy a store between SQLite and PostgreSQL\n"
    "  urls       print the webhook URLs to paste into the Twilio console\n"
    "  sim        play Twilio's part: call a webhook without a phone\n"
    "  version    print the version\n"
    "\n"
    "Every command takes --help.\n";

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } commands[] = {
        {"serve", cli_serve},     {"tenants", cli_tenants}, {"numbers", cli_numbers},
        {"calls", cli_calls},     {"urls", cli_urls},       {"sim", cli_sim},
        {"flows", cli_flows},     {"agents", cli_agents},   {"campaigns", cli_campaigns},
        {"apikeys", cli_apikeys}, {"db", cli_db},
    };

    /* A speech synthesizer child of the server (speech/tts.h); not a command for people. */
    if (argc == 2 && strcmp(argv[1], TTS_WORKER_COMMAND) == 0)
        return tts_worker_main(NULL);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        puts("switchboard 0.1.0");
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "error: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
