/* Option and query parameter parsing of switchboard sim api (see sim/api_params.h). */
#include "sim/api_params.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/banned.h"

static const char *const answered_by_values[] = {
    "human", "machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other",
    "fax",   "unknown",
};

/* What detection may report in each mode (Twilio's AMD documentation). */
static const char *const enable_values[] = {"human", "machine_start", "fax", "unknown"};
static const char *const message_end_values[] = {
    "human", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax", "unknown",
};

int api_params_answered_by_valid(const char *value)
{
    for (size_t i = 0; i < sizeof(answered_by_values) / sizeof(answered_by_values[0]); i++) {
        if (strcmp(value, answered_by_values[i]) == 0)
            return 1;
    }
    return 0;
}

int api_params_answer_parse(char *arg, struct api_params_answer *out)
{
    char *eq;
    const char *value;

    memset(out, 0, sizeof(*out));
    if (!arg)
        return SB_EINVAL;
    eq = strchr(arg, '=');
    value = eq ? eq + 1 : arg;
    if (!api_params_answered_by_valid(value) && strcmp(value, "random") != 0)
        return SB_EINVAL;
    if (eq) {
        if (eq == arg)
            return SB_EINVAL;
        for (const char *p = arg; p < eq; p++) {
            if ((unsigned char)*p <= ' ' || *p == 0x7f)
                return SB_EINVAL;
        }
        *eq = '\0';
        out->number = arg;
    }
    out->answered_by = value;
    return 0;
}

/* splitmix64's finalizer: spreads every input bit over the result. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

const char *api_params_amd_pick(unsigned long long seed, const char *to, unsigned long nth,
                                int message_end)
{
    /* FNV-1a over the number, then mixed with the seed and the call's rank. */
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t n = message_end ? sizeof(message_end_values) / sizeof(message_end_values[0])
                           : sizeof(enable_values) / sizeof(enable_values[0]);

    for (const unsigned char *p = (const unsigned char *)(to ? to : ""); *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    h = mix64(h ^ mix64((uint64_t)seed + 0x9e3779b97f4a7c15ULL));
    h = mix64(h ^ mix64((uint64_t)nth + 0x632be59bd9b4e019ULL));
    return message_end ? message_end_values[h % n] : enable_values[h % n];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's method). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    long long era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static int leap(long long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Reads exactly `n` digits at *p into *out and advances. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];

        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 1;
}

int api_params_day(const char *text, long long *day)
{
    static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = text;
    int y, m, d, hh = 0, mm = 0, ss = 0, oh = 0, om = 0, sign = 0;
    long long seconds;

    if (!p || !digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &m) || *p++ != '-' ||
        !digits(&p, 2, &d))
        return SB_EINVAL;
    if (m < 1 || m > 12 || d < 1 || d > month_days[m - 1] + (m == 2 && leap(y)))
        return SB_EINVAL;
    if (*p == 'T') {
        p++;
        if (!digits(&p, 2, &hh) || *p++ != ':' || !digits(&p, 2, &mm) || *p++ != ':' ||
            !digits(&p, 2, &ss) || hh > 23 || mm > 59 || ss > 60)
            return SB_EINVAL;
        if (*p == '.') {
            p++;
            if (*p < '0' || *p > '9')
                return SB_EINVAL;
            while (*p >= '0' && *p <= '9')
                p++;
        }
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            sign = *p++ == '+' ? 1 : -1;
            if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
                return SB_EINVAL;
        }
    }
    if (*p != '\0')
        return SB_EINVAL;
    /* The UTC instant, then its day: an offset can move the date. */
    seconds = days_from_civil(y, (unsigned)m, (unsigned)d) * 86400LL + hh * 3600LL + mm * 60LL +
              ss - sign * (oh * 3600LL + om * 60LL);
    *day = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
    return 0;
}

long long api_params_day_of(time_t t)
{
    long long s = (long long)t;

    return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

/* Copies `key` into `bad` and returns SB_EINVAL. */
static int bad_key(char *bad, size_t badsize, const char *key)
{
    if (bad && badsize)
        snprintf(bad, badsize, "%s", key);
    return SB_EINVAL;
}

int api_params_days_parse(const struct form *q, const char *name, struct api_params_days *out,
                          char *bad, size_t badsize)
{
    size_t n = strlen(name);

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; q && i < q->count; i++) {
        const char *key = q->fields[i].key, *value = q->fields[i].value;
        const char *op;
        long long day;

        if (strncmp(key, name, n) != 0)
            continue;
        op = key + n;
        if (strcmp(op, "") != 0 && strcmp(op, ">") != 0 && strcmp(op, "<") != 0 &&
            strcmp(op, ">=") != 0 && strcmp(op, "<=") != 0)
            continue; /* another parameter that starts alike */
        if (!*value)
            continue;
        if (api_params_day(value, &day) != 0)
            return bad_key(bad, badsize, key);
        if (*op == '\0') {
            out->has_on = 1;
            out->on = day;
        } else if (*op == '>') {
            /* Repeated bounds narrow the range, as they would in a query. */
            out->from = out->has_from && out->from > day ? out->from : day;
            out->has_from = 1;
        } else {
            out->to = out->has_to && out->to < day ? out->to : day;
            out->has_to = 1;
        }
    }
    return 0;
}

int api_params_days_active(const struct api_params_days *f)
{
    return f->has_on || f->has_from || f->has_to;
}

int api_params_days_match(const struct api_params_days *f, long long day)
{
    return (!f->has_on || day == f->on) && (!f->has_from || day >= f->from) &&
           (!f->has_to || day <= f->to);
}

/* Reads a decimal number in [min, max]; an absent or empty value leaves *out. */
static int number_param(const struct form *q, const char *key, long min, long max, long *out)
{
    const char *v = form_get(q, key);
    long n = 0;

    if (!v || !*v)
        return 1;
    if (strlen(v) > 9)
        return 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        n = n * 10 + (*p - '0');
    }
    if (n < min || n > max)
        return 0;
    *out = n;
    return 1;
}

int api_params_page_parse(const struct form *q, struct api_params_page *out, char *bad,
                          size_t badsize)
{
    const char *token = q ? form_get(q, "PageToken") : NULL;

    out->size = API_PAGE_SIZE_DEFAULT;
    out->number = 0;
    out->after_sid = NULL;
    if (!q)
        return 0;
    if (!number_param(q, "PageSize", 1, API_PAGE_SIZE_MAX, &out->size))
        return bad_key(bad, badsize, "PageSize");
    if (!number_param(q, "Page", 0, API_PAGE_MAX, &out->number))
        return bad_key(bad, badsize, "Page");
    if (token && *token) {
        if (strncmp(token, "PA", 2) != 0 || token[2] == '\0')
            return bad_key(bad, badsize, "PageToken");
        out->after_sid = token + 2;
    }
    return 0;
}
