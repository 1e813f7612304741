#include "server/config.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "core/err.h"
#include "core/banned.h"

int config_set_listen(struct config *c, const char *value, const char *setting, char *err,
                      size_t errlen)
{
    const char *colon;
    const char *host = value;
    size_t hostlen;
    char *end = NULL;
    long port;

    if (value[0] == '[') {
        const char *close = strchr(value, ']');

        if (!close || close[1] != ':')
            goto bad;
        host = value + 1;
        hostlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(value, ':');
        if (!colon)
            goto bad;
        hostlen = (size_t)(colon - value);
    }
    if (hostlen == 0 || hostlen >= sizeof(c->listen_host))
        goto bad;
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno || *end || colon[1] == '\0' || port < 1 || port > 65535)
        goto bad;
    memcpy(c->listen_host, host, hostlen);
    c->listen_host[hostlen] = '\0';
    c->listen_port = (int)port;
    return 0;
bad:
    snprintf(err, errlen, "error: %s '%s' is not ADDR:PORT (e.g. 127.0.0.1:8080)", setting, value);
    return SB_EINVAL;
}

void config_stream_url(const char *host_and_prefix, char *out, size_t size)
{
    int n = snprintf(out, size, "wss://%s/voice/stream", host_and_prefix);

    if (n < 0 || (size_t)n >= size)
        out[0] = '\0';
}

int config_set_base_url(struct config *c, const char *value, char *err, size_t errlen)
{
    const char *rest;
    size_t len = strlen(value);

    if (strncmp(value, "https://", 8) == 0)
        rest = value + 8;
    else if (strncmp(value, "http://", 7) == 0)
        rest = value + 7;
    else {
        snprintf(err, errlen, "error: PUBLIC_BASE_URL '%s' must start with https:// or http://",
                 value);
        return SB_EINVAL;
    }
    if (*rest == '\0' || *rest == '/' || strpbrk(value, "?# ") ||
        len >= sizeof(c->public_base_url)) {
        snprintf(err, errlen,
                 "error: PUBLIC_BASE_URL '%s' needs a host and no query, fragment or spaces",
                 value);
        return SB_EINVAL;
    }
    while (len > 0 && value[len - 1] == '/')
        len--;
    {
        char base[sizeof(c->public_base_url)], stream[sizeof(c->stream_url)];

        memcpy(base, value, len);
        base[len] = '\0';
        config_stream_url(base + (rest - value), stream, sizeof(stream));
        /* The stream URL is longer than the base: it must fit too, or streams would break. */
        if (!stream[0]) {
            snprintf(err, errlen,
                     "error: PUBLIC_BASE_URL is too long: its stream URL "
                     "(wss://HOST/voice/stream) must fit in %zu characters",
                     sizeof(c->stream_url) - 1);
            return SB_EINVAL;
        }
        memcpy(c->public_base_url, base, len + 1);
        memcpy(c->stream_url, stream, strlen(stream) + 1);
    }
    return 0;
}

int config_set_clock(struct config *c, const char *value, long long now, char *err, size_t errlen)
{
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    end = value ? strptime(value, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
    /* strptime accepts one-digit fields; a round trip keeps only the canonical form. */
    if (end && *end == '\0') {
        char again[32];
        time_t t = timegm(&tm);
        struct tm back;

        if (t != (time_t)-1 && gmtime_r(&t, &back) &&
            strftime(again, sizeof(again), "%Y-%m-%dT%H:%M:%SZ", &back) &&
            strcmp(again, value) == 0) {
            c->clock_offset = (long long)t - now;
            return 0;
        }
    }
    snprintf(err, errlen, "error: clock '%s' is not a UTC time like 2026-11-23T21:30:00Z",
             value ? value : "");
    return SB_EINVAL;
}

int config_cores(void)
{
    cpu_set_t set;
    long cores;

    /* The cores this process may run on (taskset, a container's cpuset), else all online. */
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        cores = CPU_COUNT(&set);
    else
        cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores > CONFIG_THREADS_MAX ? CONFIG_THREADS_MAX : (int)cores;
}

void config_set_default_limits(struct config *c)
{
    c->max_connections = CONFIG_MAX_CONNECTIONS;
    c->max_connections_per_ip = CONFIG_MAX_CONNECTIONS_PER_IP;
    c->header_timeout_s = CONFIG_HEADER_TIMEOUT_S;
    c->body_timeout_s = CONFIG_BODY_TIMEOUT_S;
    c->stream_start_timeout_s = CONFIG_STREAM_START_TIMEOUT_S;
    c->stream_idle_timeout_s = CONFIG_STREAM_IDLE_TIMEOUT_S;
    c->threads = config_cores();
}

int config_parse_int(const char *value, int lo, int hi, const char *setting, int *out, char *err,
                     size_t errlen)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = value && *value ? strtol(value, &end, 10) : 0;
    if (!value || !*value || errno || *end || v < lo || v > hi) {
        snprintf(err, errlen, "error: %s '%s' is not a whole number from %d to %d", setting,
                 value ? value : "", lo, hi);
        return SB_EINVAL;
    }
    *out = (int)v;
    return 0;
}

int config_set_instance(struct config *c, const char *value, char *err, size_t errlen)
{
    size_t n = value ? strlen(value) : 0;

    c->instance[0] = '\0';
    c->instance_cookie[0] = '\0';
    if (n == 0)
        return 0;
    if (n > CONFIG_INSTANCE_MAX ||
        strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789._-") != n) {
        snprintf(err, errlen,
                 "error: SWITCHBOARD_INSTANCE must be 1 to %d letters, digits, '.', '_' or '-'",
                 CONFIG_INSTANCE_MAX);
        return SB_EINVAL;
    }
    snprintf(c->instance, sizeof(c->instance), "%s", value);
    snprintf(c->instance_cookie, sizeof(c->instance_cookie), "sb_instance=%s; Path=/; HttpOnly",
             value);
    return 0;
}
