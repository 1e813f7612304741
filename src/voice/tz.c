#include "voice/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/banned.h"

#define TZ_DIR "/usr/share/zoneinfo/"
#define TZ_NAME_MAX 128
/* Real TZif files are a few KiB; anything far larger is not one. */
#define TZ_FILE_MAX (1 << 20)
/* Offsets beyond a day and a bit are not local times. */
#define TZ_UTOFF_MAX (26 * 3600)
/* The rule's arithmetic stays in range for instants within ~35 million years. */
#define TZ_WHEN_MAX ((int64_t)1 << 50)
#define DAY_SECS 86400

struct tz_zone {
    size_t ntrans;
    int64_t *trans;     /* ascending transition instants */
    unsigned char *idx; /* the type in effect from each transition on */
    size_t ntypes;
    int32_t *utoff; /* each type's offset, seconds east of UTC */
    int has_rule;
    struct tz_rule rule; /* for instants after the last transition */
};

/* ---- POSIX TZ rules ---- */

/* A reader over `len` bytes that are not NUL-terminated. */
struct cursor {
    const char *p, *end;
};

static int peek(const struct cursor *c)
{
    return c->p < c->end ? (unsigned char)*c->p : -1;
}

static int is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static int is_alpha(int ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

/* A decimal number of at most `digits` digits in [0, max]. */
static int read_num(struct cursor *c, int digits, int max, int *out)
{
    int v = 0, n = 0;

    while (n < digits && is_digit(peek(c))) {
        v = v * 10 + (*c->p++ - '0');
        n++;
    }
    if (n == 0 || v > max)
        return SB_EINVAL;
    *out = v;
    return 0;
}

/* A zone abbreviation: three or more letters, or <...> of letters, digits, '+' and '-'. */
static int read_name(struct cursor *c)
{
    size_t n = 0;

    if (peek(c) == '<') {
        c->p++;
        while (peek(c) >= 0 && peek(c) != '>') {
            int ch = peek(c);

            if (!is_alpha(ch) && !is_digit(ch) && ch != '+' && ch != '-')
                return SB_EINVAL;
            c->p++;
            n++;
        }
        if (peek(c) != '>' || n < 3)
            return SB_EINVAL;
        c->p++;
        return 0;
    }
    while (is_alpha(peek(c))) {
        c->p++;
        n++;
    }
    return n >= 3 ? 0 : SB_EINVAL;
}

/* [+-]h[h[h]][:mm[:ss]] with hours up to `max_hours`, as signed seconds. */
static int read_hms(struct cursor *c, int max_hours, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;

    if (peek(c) == '+' || peek(c) == '-')
        sign = *c->p++ == '-' ? -1 : 1;
    if (read_num(c, 3, max_hours, &h))
        return SB_EINVAL;
    if (peek(c) == ':') {
        c->p++;
        if (read_num(c, 2, 59, &m))
            return SB_EINVAL;
        if (peek(c) == ':') {
            c->p++;
            if (read_num(c, 2, 59, &s))
                return SB_EINVAL;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return 0;
}

/* One date of the rule, with its optional /time (02:00 when absent). */
static int read_date(struct cursor *c, struct tz_date *d)
{
    memset(d, 0, sizeof(*d));
    if (peek(c) == 'J') {
        c->p++;
        d->kind = 'J';
        if (read_num(c, 3, 365, &d->day) || d->day < 1)
            return SB_EINVAL;
    } else if (peek(c) == 'M') {
        c->p++;
        d->kind = 'M';
        if (read_num(c, 2, 12, &d->month) || d->month < 1 || peek(c) != '.')
            return SB_EINVAL;
        c->p++;
        if (read_num(c, 1, 5, &d->week) || d->week < 1 || peek(c) != '.')
            return SB_EINVAL;
        c->p++;
        if (read_num(c, 1, 6, &d->day))
            return SB_EINVAL;
    } else {
        d->kind = 'D';
        if (read_num(c, 3, 365, &d->day))
            return SB_EINVAL;
    }
    d->secs = 2 * 3600;
    if (peek(c) == '/') {
        c->p++;
        /* RFC 8536 (version 3) lets the time run from -167 to 167 hours. */
        if (read_hms(c, 167, &d->secs))
            return SB_EINVAL;
    }
    return 0;
}

int tz_rule_parse(const char *s, size_t len, struct tz_rule *out)
{
    struct cursor c = {s, s + len};
    int32_t off;

    memset(out, 0, sizeof(*out));
    if (!s || read_name(&c) || read_hms(&c, 24, &off))
        return SB_EINVAL;
    /* POSIX offsets count hours west of Greenwich; ours count seconds east. */
    out->std_utoff = -off;
    if (c.p == c.end)
        return 0;
    if (read_name(&c))
        return SB_EINVAL;
    out->has_dst = 1;
    out->dst_utoff = out->std_utoff + 3600;
    if (peek(&c) >= 0 && peek(&c) != ',') {
        if (read_hms(&c, 24, &off))
            return SB_EINVAL;
        out->dst_utoff = -off;
    }
    if (c.p == c.end) {
        /* The default POSIX leaves to the implementation: the US rule, as glibc does. */
        out->start = (struct tz_date){'M', 0, 2, 3, 2 * 3600};
        out->end = (struct tz_date){'M', 0, 1, 11, 2 * 3600};
        return 0;
    }
    if (peek(&c) != ',')
        return SB_EINVAL;
    c.p++;
    if (read_date(&c, &out->start) || peek(&c) != ',')
        return SB_EINVAL;
    c.p++;
    if (read_date(&c, &out->end) || c.p != c.end)
        return SB_EINVAL;
    return 0;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int64_t tz_days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The year of a day counted from 1970-01-01. */
static int64_t year_of_days(int64_t z)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The local wall-clock instant (seconds from 1970, as if UTC) that `d` names in `year`. */
static int64_t date_local(int64_t year, const struct tz_date *d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t day;

    if (d->kind == 'J') {
        day = tz_days_from_civil(year, 1, 1) + d->day - 1;
        if (is_leap(year) && d->day >= 60)
            day++;
    } else if (d->kind == 'D') {
        day = tz_days_from_civil(year, 1, 1) + d->day;
    } else {
        int64_t first = tz_days_from_civil(year, d->month, 1);
        /* 1970-01-01 was a Thursday (4). */
        int wday = (int)(((first % 7) + 11) % 7);
        int n = mdays[d->month - 1] + (d->month == 2 && is_leap(year));
        int mday = 1 + (d->day - wday + 7) % 7 + (d->week - 1) * 7;

        while (mday > n)
            mday -= 7;
        day = first + mday - 1;
    }
    return day * DAY_SECS + d->secs;
}

int32_t tz_rule_offset(const struct tz_rule *rule, int64_t when)
{
    int64_t days, year, start, end;
    int dst;

    if (!rule->has_dst || when > TZ_WHEN_MAX || when < -TZ_WHEN_MAX)
        return rule->std_utoff;
    days = floor_div(when, DAY_SECS);
    /* The changes of the UTC year of `when`, as glibc computes them. */
    year = year_of_days(days);
    start = date_local(year, &rule->start) - rule->std_utoff;
    end = date_local(year, &rule->end) - rule->dst_utoff;
    if (start <= end)
        dst = when >= start && when < end;
    else
        dst = when < end || when >= start;
    return dst ? rule->dst_utoff : rule->std_utoff;
}

/* ---- TZif files (RFC 8536) ---- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* A TZif header's counts, and the size of the data block that follows it. */
struct tzif_header {
    int version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
    size_t block;
};

static int read_header(const unsigned char *p, size_t len, size_t timesize, struct tzif_header *h)
{
    uint64_t block;

    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return SB_EINVAL;
    h->version = p[4];
    if (h->version != 0 && (h->version < '2' || h->version > '9'))
        return SB_EINVAL;
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    /* RFC 8536 3.1: at least one type, at most 256; the flag arrays are empty or one per type. */
    if (h->typecnt == 0 || h->typecnt > 256 || (h->isutcnt && h->isutcnt != h->typecnt) ||
        (h->isstdcnt && h->isstdcnt != h->typecnt) || h->timecnt > TZ_FILE_MAX ||
        h->leapcnt > TZ_FILE_MAX || h->charcnt > TZ_FILE_MAX)
        return SB_EINVAL;
    block = (uint64_t)h->timecnt * (timesize + 1) + (uint64_t)h->typecnt * 6 + h->charcnt +
            (uint64_t)h->leapcnt * (timesize + 4) + h->isstdcnt + h->isutcnt;
    if (block > len - 44)
        return SB_EINVAL;
    h->block = (size_t)block;
    return 0;
}

void tz_zone_free(struct tz_zone *zone)
{
    if (!zone)
        return;
    free(zone->trans);
    free(zone->idx);
    free(zone->utoff);
    free(zone);
}

/* Fills `z` from the data block `p` described by `h` (times of `timesize` bytes). */
static int read_block(const unsigned char *p, const struct tzif_header *h, size_t timesize,
                      struct tz_zone *z)
{
    const unsigned char *idx = p + (size_t)h->timecnt * timesize;
    const unsigned char *types = idx + h->timecnt;

    z->ntrans = h->timecnt;
    z->ntypes = h->typecnt;
    z->trans = malloc((h->timecnt ? h->timecnt : 1) * sizeof(*z->trans));
    z->idx = malloc(h->timecnt ? h->timecnt : 1);
    z->utoff = malloc(h->typecnt * sizeof(*z->utoff));
    if (!z->trans || !z->idx || !z->utoff)
        return SB_ENOMEM;
    for (size_t i = 0; i < h->timecnt; i++) {
        z->trans[i] = timesize == 8 ? be64(p + i * 8) : (int32_t)be32(p + i * 4);
        /* Transitions ascend (RFC 8536 3.2): the lookup relies on it. */
        if ((i > 0 && z->trans[i] <= z->trans[i - 1]) || idx[i] >= h->typecnt)
            return SB_EINVAL;
        z->idx[i] = idx[i];
    }
    for (size_t i = 0; i < h->typecnt; i++) {
        int32_t off = (int32_t)be32(types + i * 6);

        if (off > TZ_UTOFF_MAX || off < -TZ_UTOFF_MAX || types[i * 6 + 4] > 1 ||
            types[i * 6 + 5] >= (h->charcnt ? h->charcnt : 1))
            return SB_EINVAL;
        z->utoff[i] = off;
    }
    return 0;
}

int tz_zone_parse(const unsigned char *data, size_t len, struct tz_zone **out)
{
    struct tzif_header h1, h2;
    struct tz_zone *z;
    const unsigned char *p = data;
    int rc;

    *out = NULL;
    if (!data || read_header(data, len, 4, &h1))
        return SB_EINVAL;
    z = calloc(1, sizeof(*z));
    if (!z)
        return SB_ENOMEM;
    if (h1.version == 0) {
        rc = read_block(p + 44, &h1, 4, z);
        goto out;
    }
    /* Version 2 and later: skip the 32-bit data; the 64-bit data and the footer follow. */
    p += 44 + h1.block;
    len -= 44 + h1.block;
    rc = read_header(p, len, 8, &h2);
    if (rc == 0 && h2.version != h1.version)
        rc = SB_EINVAL;
    if (rc == 0)
        rc = read_block(p + 44, &h2, 8, z);
    if (rc)
        goto out;
    p += 44 + h2.block;
    len -= 44 + h2.block;
    /* The footer: "\n" rule "\n"; an empty rule means none. */
    if (len < 2 || p[0] != '\n') {
        rc = SB_EINVAL;
        goto out;
    }
    {
        const unsigned char *nl = memchr(p + 1, '\n', len - 1);

        if (!nl) {
            rc = SB_EINVAL;
            goto out;
        }
        if (nl > p + 1) {
            rc = tz_rule_parse((const char *)p + 1, (size_t)(nl - p - 1), &z->rule);
            z->has_rule = rc == 0;
        }
    }
out:
    if (rc) {
        tz_zone_free(z);
        return rc;
    }
    *out = z;
    return 0;
}

int32_t tz_zone_offset(const struct tz_zone *z, int64_t when)
{
    size_t lo = 0, hi = z->ntrans;

    /* After the last transition the rule, when there is one, knows the future. */
    if (z->has_rule && (z->ntrans == 0 || when >= z->trans[z->ntrans - 1]))
        return tz_rule_offset(&z->rule, when);
    /* Before the first transition: time type 0 (RFC 8536 3.2). */
    if (z->ntrans == 0 || when < z->trans[0])
        return z->utoff[0];
    /* The last transition at or before `when`. */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;

        if (z->trans[mid] <= when)
            lo = mid;
        else
            hi = mid;
    }
    return z->utoff[z->idx[lo]];
}

/* ---- The database, with a cache of parsed zones ---- */

int tz_name_valid(const char *zone)
{
    size_t n;

    if (!zone || !*zone || zone[0] == '/' || strstr(zone, ".."))
        return 0;
    n = strspn(zone, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/");
    return zone[n] == '\0' && n < TZ_NAME_MAX;
}

/* Reads and parses the database's file for a valid name. */
static int zone_load(const char *name, struct tz_zone **out)
{
    char path[sizeof(TZ_DIR) + TZ_NAME_MAX];
    unsigned char *data = NULL;
    struct stat st;
    size_t got = 0;
    int fd, rc = SB_EINVAL;

    snprintf(path, sizeof(path), TZ_DIR "%s", name);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return SB_EINVAL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > TZ_FILE_MAX)
        goto out;
    data = malloc((size_t)st.st_size);
    if (!data) {
        rc = SB_ENOMEM;
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, data + got, (size_t)st.st_size - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto out;
        got += (size_t)r;
    }
    rc = tz_zone_parse(data, got, out);
out:
    free(data);
    close(fd);
    return rc;
}

/*
 * Parsed zones, kept so that a flow step does not read the disk. Tenants use
 * few zones; an entry is read again after an hour so that an updated
 * database is seen. Lookups run under the lock: they are short.
 */
#define TZ_CACHE_SLOTS 32
#define TZ_CACHE_TTL_S 3600

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char name[TZ_NAME_MAX];
    struct tz_zone *zone;
    time_t loaded;
} tz_cache[TZ_CACHE_SLOTS];
static unsigned tz_cache_next;

static time_t monotonic_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

int tz_offset_minutes(const char *zone, time_t when, int *minutes)
{
    struct tz_zone *z = NULL;
    time_t now = monotonic_s();
    int slot = -1, rc = 0;

    *minutes = 0;
    if (!zone || !*zone || strcmp(zone, "UTC") == 0)
        return 0;
    if (!tz_name_valid(zone))
        return SB_EINVAL;
    pthread_mutex_lock(&tz_lock);
    for (int i = 0; i < TZ_CACHE_SLOTS; i++) {
        if (tz_cache[i].zone && strcmp(tz_cache[i].name, zone) == 0) {
            slot = i;
            break;
        }
    }
    if (slot >= 0 && now - tz_cache[slot].loaded < TZ_CACHE_TTL_S) {
        z = tz_cache[slot].zone;
    } else {
        rc = zone_load(zone, &z);
        if (rc == 0) {
            if (slot < 0)
                slot = (int)(tz_cache_next++ % TZ_CACHE_SLOTS);
            tz_zone_free(tz_cache[slot].zone);
            snprintf(tz_cache[slot].name, sizeof(tz_cache[slot].name), "%s", zone);
            tz_cache[slot].zone = z;
            tz_cache[slot].loaded = now;
        }
    }
    if (rc == 0)
        *minutes = (int)(tz_zone_offset(z, (int64_t)when) / 60);
    pthread_mutex_unlock(&tz_lock);
    return rc ? SB_EINVAL : 0;
}
