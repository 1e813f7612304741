/* A tenant's offset from UTC, from its IANA time zone name. */
#ifndef SB_VOICE_TZ_H
#define SB_VOICE_TZ_H

#include <time.h>

/**
 * Writes the offset of `zone` ("America/New_York") from UTC at `when`, in
 * minutes, daylight saving included. Returns 0, or SB_EINVAL for a zone the
 * system's time zone database does not know (then *minutes is 0).
 */
int tz_offset_minutes(const char *zone, time_t when, int *minutes);

#endif
