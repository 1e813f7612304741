/* The server's settings, from flags and the environment, validated at start-up. */
#ifndef SB_SERVER_CONFIG_H
#define SB_SERVER_CONFIG_H

#include <stddef.h>

#include "core/err.h"

#define CONFIG_URL_SIZE 512

/* The longest SWITCHBOARD_INSTANCE: letters, digits, '.', '_' and '-'. */
#define CONFIG_INSTANCE_MAX 64

struct config {
    char listen_host[64]; /* "127.0.0.1", "::1", "0.0.0.0" */
    int listen_port;
    char db_path[512];
    char public_base_url[CONFIG_URL_SIZE]; /* no trailing slash */
    char stream_url[CONFIG_URL_SIZE];      /* wss://host[/prefix]/voice/stream */
    char auth_token[256];
    int dev;                /* signature checks off */
    int trust_proxy;        /* sign over X-Forwarded-Proto/Host */
    long long clock_offset; /* seconds added to the system clock (--clock); 0 normally */

    /* Resource limits (see the README's "Limits"): what one client may hold. */
    int max_connections;        /* open sockets in total */
    int max_connections_per_ip; /* open sockets from one peer address */
    int header_timeout_s;       /* connect (or the previous answer) to the end of the headers */
    int body_timeout_s;         /* end of the headers to the end of the body */
    int stream_start_timeout_s; /* WebSocket upgrade to the `start` message */
    int stream_idle_timeout_s;  /* between two messages from the caller's side */
    int threads;                /* event loops (--threads), default the machine's cores */
    /* Key of the stream tokens that bind a media stream to its call (see stream_token.h). */
    char stream_secret[256];
    /*
     * SWITCHBOARD_INSTANCE: this process's name among several behind one
     * load balancer; set, every TwiML answer carries the cookie
     * "sb_instance=NAME", which Twilio sends back with the call's next
     * webhooks, so that the balancer can keep a call on one process.
     */
    char instance[CONFIG_INSTANCE_MAX + 1];
    char instance_cookie[CONFIG_INSTANCE_MAX + 64];

    /* The placer of outbound calls (server/outbound.h). */
    int outbound_dry_run;      /* --outbound-dry-run: log what would be placed, place nothing */
    int calls_per_second;      /* SWITCHBOARD_CALLS_PER_SECOND, default 1 */
    int outbound_cap;          /* SWITCHBOARD_OUTBOUND_CAP: calls at once per tenant, default 10 */
    char outbound_allow[2048]; /* SWITCHBOARD_OUTBOUND_ALLOW: E.164 numbers, comma-separated */
};

#define CONFIG_MAX_CONNECTIONS 4096
#define CONFIG_MAX_CONNECTIONS_PER_IP 2048
#define CONFIG_HEADER_TIMEOUT_S 10
#define CONFIG_BODY_TIMEOUT_S 10
#define CONFIG_STREAM_START_TIMEOUT_S 10
#define CONFIG_STREAM_IDLE_TIMEOUT_S 30
/* More loops than this is a mistake, not a machine: each holds a store connection. */
#define CONFIG_THREADS_MAX 256

/** The cores this process may run on (its CPU affinity), 1 to CONFIG_THREADS_MAX. */
int config_cores(void);

/** Fills the limits with their defaults (the CONFIG_* values above; threads: config_cores). */
void config_set_default_limits(struct config *c);

/**
 * Parses a whole number from `lo` to `hi` for the flag `setting` into *out.
 * Returns 0 or SB_EINVAL with a message naming the flag in `err`.
 */
SB_MUST_CHECK int config_parse_int(const char *value, int lo, int hi, const char *setting, int *out,
                                   char *err, size_t errlen);

/**
 * Parses "ADDR:PORT" ("127.0.0.1:8080", "[::1]:8080") into the config.
 * Returns 0 or SB_EINVAL with a message naming the setting in `err`.
 */
SB_MUST_CHECK int config_set_listen(struct config *c, const char *value, const char *setting,
                                    char *err, size_t errlen);

/**
 * Sets the instance name (SWITCHBOARD_INSTANCE) and its cookie; NULL or ""
 * leaves none. Returns 0, or SB_EINVAL with an "error: ..." in `err` when
 * the name is longer than CONFIG_INSTANCE_MAX or holds anything but
 * letters, digits, '.', '_' and '-' (it goes into a header).
 */
SB_MUST_CHECK int config_set_instance(struct config *c, const char *value, char *err,
                                      size_t errlen);

/**
 * Sets PUBLIC_BASE_URL (http or https, a host, an optional path prefix) and
 * derives the stream URL. Returns 0 or SB_EINVAL with a message in `err`.
 */
SB_MUST_CHECK int config_set_base_url(struct config *c, const char *value, char *err,
                                      size_t errlen);

/**
 * Sets the clock to start at `value` ("2026-11-23T21:30:00Z", UTC), given the
 * system clock's `now` in unix seconds: clock_offset becomes the difference.
 * Returns 0 or SB_EINVAL with a message naming the setting in `err`.
 */
SB_MUST_CHECK int config_set_clock(struct config *c, const char *value, long long now, char *err,
                                   size_t errlen);

/**
 * Builds the stream URL for a public scheme and host (used for each request
 * when the proxy headers are trusted). Writes "" when it does not fit.
 */
void config_stream_url(const char *host_and_prefix, char *out, size_t size);

#endif
