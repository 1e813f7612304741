#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/log.h"
#include "server/server.h"
#include "core/banned.h"

static const char serve_usage[] =
    "usage: switchboard serve [--listen ADDR:PORT] [--db PATH] [--dev] [--trust-proxy]\n"
    "                         [--log-level debug|info|warn|error] [--clock TIME]\n"
    "                         [--max-connections N] [--max-connections-per-ip N]\n"
    "                         [--header-timeout S] [--body-timeout S]\n"
    "                         [--stream-start-timeout S] [--stream-idle-timeout S]\n"
    "                         [--threads N] [--outbound-dry-run]\n"
    "\n"
    "Answers Twilio's voice webhooks until SIGTERM or SIGINT.\n"
    "\n"
    "  --listen ADDR:PORT  where to listen (env SWITCHBOARD_LISTEN, default 127.0.0.1:8080)\n"
    "  --db PATH           the store: a SQLite file or a postgresql:// URL\n"
    "                      (env SWITCHBOARD_DB, default ./switchboard.db)\n"
    "  --dev               do not check X-Twilio-Signature (warns on every request);\n"
    "                      PUBLIC_BASE_URL then defaults to http://ADDR:PORT\n"
    "  --trust-proxy       sign over X-Forwarded-Proto/X-Forwarded-Host, not PUBLIC_BASE_URL\n"
    "  --log-level LEVEL   lowest level logged (env SWITCHBOARD_LOG_LEVEL, default info)\n"
    "  --threads N         event loops, each on its own listening socket on the same port\n"
    "                      (env SWITCHBOARD_THREADS, default the number of cores; 1 to 256)\n"
    "  --clock TIME        start the server's clock at TIME (UTC, 2026-11-23T21:30:00Z) and\n"
    "                      let it run on: for trying business hours and holidays in\n"
    "                      flows (env SWITCHBOARD_CLOCK; see the README)\n"
    "  --outbound-dry-run  log the queued calls that would be placed (numbers masked) and\n"
    "                      place none: they stay queued (see docs/outbound.md)\n"
    "\n"
    "limits (a client past one is answered with an error or disconnected; see the README):\n"
    "  --max-connections N         open connections in total (default 4096)\n"
    "  --max-connections-per-ip N  open connections from one address (default 2048)\n"
    "  --header-timeout S          seconds for a request's headers to arrive (default 10)\n"
    "  --body-timeout S            seconds for the whole body after the headers (default 10)\n"
    "  --stream-start-timeout S    seconds from a media stream's upgrade to its `start`\n"
    "                              (default 10)\n"
    "  --stream-idle-timeout S     seconds a media stream may go without a message from\n"
    "                              Twilio, which sends one every 20 ms (default 30)\n"
    "\n"
    "environment:\n"
    "  PUBLIC_BASE_URL     the URL Twilio calls, e.g. https://voice.example.com (required\n"
    "                      unless --dev)\n"
    "  TWILIO_AUTH_TOKEN   the account's auth token, used to check signatures (required)\n"
    "  SWITCHBOARD_STREAM_SECRET  key of the tokens that bind a media stream to its call\n"
    "                      (default: derived from TWILIO_AUTH_TOKEN; set the same value on\n"
    "                      every instance)\n"
    "  SWITCHBOARD_INSTANCE  this instance's name behind a load balancer: TwiML answers\n"
    "                      set the cookie sb_instance=NAME, which keeps a call on it\n"
    "  TWILIO_ACCOUNT_SID  with TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and TWILIO_API_SECRET):\n"
    "                      place the queued outbound calls; without it none is placed\n"
    "  SWITCHBOARD_CALLS_PER_SECOND  outbound calls created per second (default 1), by\n"
    "                      all the servers sharing the store together\n"
    "  SWITCHBOARD_OUTBOUND_CAP      outbound calls at once per tenant (default 10)\n"
    "  SWITCHBOARD_OUTBOUND_ALLOW    comma-separated E.164 numbers: calls to any other\n"
    "                      number fail and are never placed\n"
    "  SWITCHBOARD_TWILIO_TIMEOUT_MS  how long one Twilio request may take (default 30000)\n";

/* The limit flags: each a whole number within bounds, stored in struct config. */
static const struct limit_flag {
    int key; /* getopt's value */
    const char *name;
    int lo, hi;
    size_t offset; /* of the int in struct config */
} limit_flags[] = {
    {'M', "--max-connections", 1, 1000000, offsetof(struct config, max_connections)},
    {'P', "--max-connections-per-ip", 1, 1000000, offsetof(struct config, max_connections_per_ip)},
    {'H', "--header-timeout", 1, 3600, offsetof(struct config, header_timeout_s)},
    {'B', "--body-timeout", 1, 3600, offsetof(struct config, body_timeout_s)},
    {'S', "--stream-start-timeout", 1, 3600, offsetof(struct config, stream_start_timeout_s)},
    {'I', "--stream-idle-timeout", 1, 86400, offsetof(struct config, stream_idle_timeout_s)},
    {'T', "--threads", 1, CONFIG_THREADS_MAX, offsetof(struct config, threads)},
};

/*
 * Sets the limit flag `key` from `value`. Returns 0; or -1 with `err` set
 * when the value is bad, or with `err` empty when `key` is no limit flag.
 */
static int set_limit(struct config *cfg, int key, const char *value, char *err, size_t errsize)
{
    err[0] = '\0';
    for (size_t i = 0; i < sizeof(limit_flags) / sizeof(limit_flags[0]); i++) {
        const struct limit_flag *f = &limit_flags[i];

        if (f->key == key)
            return config_parse_int(value, f->lo, f->hi, f->name, (int *)((char *)cfg + f->offset),
                                    err, errsize)
                       ? -1
                       : 0;
    }
    return -1;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);

    return v && *v ? v : fallback;
}

int cli_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"db", required_argument, NULL, 'd'},
        {"dev", no_argument, NULL, 'D'},
        {"trust-proxy", no_argument, NULL, 'p'},
        {"log-level", required_argument, NULL, 'L'},
        {"clock", required_argument, NULL, 'c'},
        {"max-connections", required_argument, NULL, 'M'},
        {"max-connections-per-ip", required_argument, NULL, 'P'},
        {"header-timeout", required_argument, NULL, 'H'},
        {"body-timeout", required_argument, NULL, 'B'},
        {"stream-start-timeout", required_argument, NULL, 'S'},
        {"stream-idle-timeout", required_argument, NULL, 'I'},
        {"outbound-dry-run", no_argument, NULL, 'O'},
        {"threads", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct config cfg;
    const char *listen = env_or("SWITCHBOARD_LISTEN", "127.0.0.1:8080");
    const char *db = NULL;
    const char *level_name = env_or("SWITCHBOARD_LOG_LEVEL", "info");
    const char *clock = env_or("SWITCHBOARD_CLOCK", NULL);
    const char *base, *token;
    enum log_level level;
    char err[600];
    int c;

    memset(&cfg, 0, sizeof(cfg));
    config_set_default_limits(&cfg);
    if (getenv("SWITCHBOARD_THREADS") &&
        config_parse_int(getenv("SWITCHBOARD_THREADS"), 1, CONFIG_THREADS_MAX,
                         "SWITCHBOARD_THREADS", &cfg.threads, err, sizeof(err)))
        goto bad_flag;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'd':
            db = optarg;
            break;
        case 'D':
            cfg.dev = 1;
            break;
        case 'p':
            cfg.trust_proxy = 1;
            break;
        case 'L':
            level_name = optarg;
            break;
        case 'c':
            clock = optarg;
            break;
        case 'O':
            cfg.outbound_dry_run = 1;
            break;
        case 'h':
            fputs(serve_usage, stdout);
            return 0;
        default:
            if (set_limit(&cfg, c, optarg, err, sizeof(err)) == 0)
                break;
            if (err[0])
                goto bad_flag;
            fputs(serve_usage, stderr);
            return 2;
        }
    }
    if (optind < argc)
        return cli_fail("serve takes no arguments, got '%s'", argv[optind]);
    if (log_level_parse(level_name, &level))
        return cli_fail("log level '%s' is not one of debug, info, warn, error", level_name);
    log_set_level(level);
    if (config_set_listen(&cfg, listen, "listen address", err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (strlen(cli_db_path(db)) >= sizeof(cfg.db_path))
        return cli_fail("--db is longer than %zu bytes", sizeof(cfg.db_path) - 1);
    snprintf(cfg.db_path, sizeof(cfg.db_path), "%s", cli_db_path(db));
    if (clock && config_set_clock(&cfg, clock, (long long)time(NULL), err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }

    token = getenv("TWILIO_AUTH_TOKEN");
    if (!token || !*token)
        return cli_fail("TWILIO_AUTH_TOKEN is not set; it is needed to check "
                        "X-Twilio-Signature");
    if (strlen(token) >= sizeof(cfg.auth_token))
        return cli_fail("TWILIO_AUTH_TOKEN is too long");
    snprintf(cfg.auth_token, sizeof(cfg.auth_token), "%s", token);
    {
        const char *secret = getenv("SWITCHBOARD_STREAM_SECRET");

        if (secret && *secret && strlen(secret) >= sizeof(cfg.stream_secret))
            return cli_fail("SWITCHBOARD_STREAM_SECRET is too long (at most %zu bytes)",
                            sizeof(cfg.stream_secret) - 1);
        /* Empty: the stream tokens' key is derived from the auth token. */
        snprintf(cfg.stream_secret, sizeof(cfg.stream_secret), "%s",
                 secret && *secret ? secret : "");
    }
    if (config_set_instance(&cfg, getenv("SWITCHBOARD_INSTANCE"), err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }

    base = getenv("PUBLIC_BASE_URL");
    if (!base || !*base) {
        char fallback[128];

        if (!cfg.dev && !cfg.trust_proxy)
            return cli_fail("PUBLIC_BASE_URL is not set; set it to the URL Twilio calls "
                            "(e.g. https://voice.example.com) or pass --dev");
        snprintf(fallback, sizeof(fallback),
                 strchr(cfg.listen_host, ':') ? "http://[%s]:%d" : "http://%s:%d", cfg.listen_host,
                 cfg.listen_port);
        if (config_set_base_url(&cfg, fallback, err, sizeof(err))) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    } else if (config_set_base_url(&cfg, base, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    {
        const char *cps = env_or("SWITCHBOARD_CALLS_PER_SECOND", "1");
        const char *cap = env_or("SWITCHBOARD_OUTBOUND_CAP", "10");
        const char *allow = env_or("SWITCHBOARD_OUTBOUND_ALLOW", "");

        if (config_parse_int(cps, 1, 1000, "SWITCHBOARD_CALLS_PER_SECOND", &cfg.calls_per_second,
                             err, sizeof(err)) ||
            config_parse_int(cap, 1, 100000, "SWITCHBOARD_OUTBOUND_CAP", &cfg.outbound_cap, err,
                             sizeof(err))) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        if (strlen(allow) >= sizeof(cfg.outbound_allow))
            return cli_fail("SWITCHBOARD_OUTBOUND_ALLOW is too long (at most %zu bytes)",
                            sizeof(cfg.outbound_allow) - 1);
        snprintf(cfg.outbound_allow, sizeof(cfg.outbound_allow), "%s", allow);
    }
    return server_run(&cfg) == 0 ? 0 : 1;
bad_flag:
    fprintf(stderr, "%s\n", err);
    return 2;
}
