#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/config.h"
#include "core/banned.h"

static const char urls_usage[] =
    "usage: switchboard urls [--base-url URL]\n"
    "\n"
    "Prints what to paste into the Twilio console for each phone number.\n"
    "  --base-url URL   the public URL (default: env PUBLIC_BASE_URL)\n";

int cli_urls(int argc, char **argv)
{
    static const struct option opts[] = {
        {"base-url", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct config cfg;
    const char *base = getenv("PUBLIC_BASE_URL");
    char err[600];
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'b') {
            base = optarg;
        } else if (c == 'h') {
            fputs(urls_usage, stdout);
            return 0;
        } else {
            fputs(urls_usage, stderr);
            return 2;
        }
    }
    if (optind < argc)
        return cli_fail("urls takes no arguments, got '%s'", argv[optind]);
    if (!base || !*base)
        return cli_fail("PUBLIC_BASE_URL is not set; pass --base-url https://voice.example.com");
    memset(&cfg, 0, sizeof(cfg));
    if (config_set_base_url(&cfg, base, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("Twilio console > Phone Numbers > (your number) > Voice Configuration\n"
           "\n"
           "  A call comes in        Webhook  %s/voice/incoming  HTTP POST\n"
           "  Call status changes    %s/voice/status  HTTP POST\n"
           "\n"
           "switchboard answers these itself (no console setting):\n"
           "  speech turns           %s/voice/gather\n"
           "  media streams          %s\n"
           "\n"
           "Signatures are checked against these exact URLs: PUBLIC_BASE_URL must be the\n"
           "URL Twilio calls, scheme and host included, and TWILIO_AUTH_TOKEN the\n"
           "account's auth token.\n",
           cfg.public_base_url, cfg.public_base_url, cfg.public_base_url, cfg.stream_url);
    return 0;
}
