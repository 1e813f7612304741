#include "voice/tz.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"

/* The C library converts times through the process-wide TZ: one conversion at a time. */
static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

int tz_offset_minutes(const char *zone, time_t when, int *minutes)
{
    char path[256], saved[128];
    const char *old;
    int had_old, rc = 0;
    struct tm tm;

    *minutes = 0;
    if (!zone || !*zone || strcmp(zone, "UTC") == 0)
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
    pthread_mutex_unlock(&tz_lock);
    return rc;
}
