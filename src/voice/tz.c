#include "voice/tz.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

/* The C library converts times through the process-wide TZ: one conversion at a time. */
static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Switching TZ makes the C library read the zone's file again, so each flow
 * step would touch the disk. Offsets only change at daylight-saving
 * transitions: an answer is reused for the same zone within the same minute.
 */
#define TZ_CACHE_SLOTS 16

static struct {
    char zone[64];
    time_t minute;
    int minutes;
} tz_cache[TZ_CACHE_SLOTS];
static unsigned tz_cache_next;

/* A cached answer for `zone` at `when`'s minute (lock held). */
static int tz_cached(const char *zone, time_t when, int *minutes)
{
    for (int i = 0; i < TZ_CACHE_SLOTS; i++) {
        if (tz_cache[i].minute == when / 60 && strcmp(tz_cache[i].zone, zone) == 0) {
            *minutes = tz_cache[i].minutes;
            return 1;
        }
    }
    return 0;
}

int tz_offset_minutes(const char *zone, time_t when, int *minutes)
{
    char path[256], saved[128];
    const char *old;
    int had_old, hit, rc = 0;
    struct tm tm;

    *minutes = 0;
    if (!zone || !*zone || strcmp(zone, "UTC") == 0)
        return 0;
    pthread_mutex_lock(&tz_lock);
    hit = tz_cached(zone, when, minutes);
    pthread_mutex_unlock(&tz_lock);
    if (hit)
        return 0;
    /* Only names the database has: TZ would otherwise silently mean UTC. */
    if (strstr(zone, "..") || zone[0] == '/' ||
        snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", zone) >= (int)sizeof(path) ||
        access(path, R_OK) != 0)
        return SB_EINVAL;
    pthread_mutex_lock(&tz_lock);
    old = getenv("TZ");
    had_old = old != NULL;
    if (had_old)
        snprintf(saved, sizeof(saved), "%s", old);
    setenv("TZ", zone, 1);
    tzset();
    if (localtime_r(&when, &tm))
        *minutes = (int)(tm.tm_gmtoff / 60);
    else
        rc = SB_EINVAL;
    if (had_old)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    if (rc == 0 && strlen(zone) < sizeof(tz_cache[0].zone)) {
        unsigned slot = tz_cache_next++ % TZ_CACHE_SLOTS;

        snprintf(tz_cache[slot].zone, sizeof(tz_cache[slot].zone), "%s", zone);
        tz_cache[slot].minute = when / 60;
        tz_cache[slot].minutes = *minutes;
    }
    pthread_mutex_unlock(&tz_lock);
    return rc;
}
