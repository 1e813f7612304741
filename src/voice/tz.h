/*
 * A tenant's offset from UTC, from its IANA time zone name.
 *
 * The zone's TZif file (RFC 8536) is read from /usr/share/zoneinfo and
 * interpreted here: the process environment (TZ), tzset and localtime are
 * never touched, so any thread may ask at any time.
 */
#ifndef SB_VOICE_TZ_H
#define SB_VOICE_TZ_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/err.h"

/**
 * Writes the offset of `zone` ("America/New_York") from UTC at `when`, in
 * minutes, daylight saving included. NULL, "" and "UTC" are UTC. Returns 0,
 * or SB_EINVAL for a zone the system's time zone database does not know or
 * a name that is not a zone name (then *minutes is 0). Thread-safe.
 */
int tz_offset_minutes(const char *zone, time_t when, int *minutes);

/** One transition date of a POSIX TZ rule ("M3.2.0/2", "J60", "59/25"). */
struct tz_date {
    char kind;    /* 'J': Julian day 1..365 without Feb 29; 'D': day 0..365; 'M': month rule */
    int day;      /* J/D: the day; M: the weekday 0 (Sunday)..6 */
    int week;     /* M: 1..5, 5 being the last */
    int month;    /* M: 1..12 */
    int32_t secs; /* local time of the change, -167..167 hours */
};

/** A POSIX TZ rule, the footer of a TZif file ("EST5EDT,M3.2.0,M11.1.0", "<-03>3"). */
struct tz_rule {
    int32_t std_utoff; /* seconds east of UTC in standard time */
    int32_t dst_utoff; /* seconds east of UTC in daylight time */
    int has_dst;
    struct tz_date start, end; /* when daylight time starts and ends (has_dst) */
};

/** A parsed TZif file. Owned by the caller: free with tz_zone_free. */
struct tz_zone;

/**
 * Parses a POSIX TZ rule of `len` bytes (not NUL-terminated). Returns 0 or
 * SB_EINVAL. A rule with a daylight name and no dates uses M3.2.0,M11.1.0.
 */
SB_MUST_CHECK int tz_rule_parse(const char *s, size_t len, struct tz_rule *out);

/** The offset in seconds east of UTC that `rule` gives at `when`. */
int32_t tz_rule_offset(const struct tz_rule *rule, int64_t when);

/**
 * Parses a TZif file's bytes (versions 1 to 4; the 64-bit data and the
 * footer rule when present). Returns 0 and a zone in *out, or SB_EINVAL for
 * malformed data, or SB_ENOMEM.
 */
SB_MUST_CHECK int tz_zone_parse(const unsigned char *data, size_t len, struct tz_zone **out);

/** The offset in seconds east of UTC that `zone` gives at `when`. */
int32_t tz_zone_offset(const struct tz_zone *zone, int64_t when);

/** Frees a zone; NULL is fine. */
void tz_zone_free(struct tz_zone *zone);

/**
 * True when `zone` may name a file of the time zone database: not empty, no
 * leading '/', no "..", only [A-Za-z0-9_+-/].
 */
int tz_name_valid(const char *zone);

/** Days from 1970-01-01 to year-month-day (proleptic Gregorian; month 1..12). */
int64_t tz_days_from_civil(int64_t y, int m, int d);

#endif
