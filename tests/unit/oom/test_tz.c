/* voice/tz.c's TZif reader through every failing allocation, on the system's zone files. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "oom.h"
#include "voice/tz.h"

/* Instants on both sides of daylight saving changes, from 1970 to past 2037. */
static const int64_t instants[] = {0,          1141466400, 1711846800, 1730000000,
                                   1772445600, 1798192800, 2200000000, 4102444800};
#define NINSTANTS (sizeof(instants) / sizeof(instants[0]))

struct tz_case {
    unsigned char *data;
    size_t len;
    int32_t want[NINSTANTS];
};

static int run_tz(void *ctx)
{
    struct tz_case *c = ctx;
    struct tz_zone *z = NULL;
    int rc = tz_zone_parse(c->data, c->len, &z);

    if (rc < 0 && z)
        rc = OOM_WRONG;
    for (size_t i = 0; rc == 0 && i < NINSTANTS; i++) {
        if (tz_zone_offset(z, instants[i]) != c->want[i])
            rc = OOM_WRONG;
    }
    tz_zone_free(z);
    return rc;
}

static void drive_zone(const char *name)
{
    char path[256], label[96];
    struct tz_case c;
    struct tz_zone *z = NULL;

    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
    c.data = (unsigned char *)oom_read_file(path, &c.len);
    cr_assert_eq(tz_zone_parse(c.data, c.len, &z), 0, "%s", name);
    for (size_t i = 0; i < NINSTANTS; i++)
        c.want[i] = tz_zone_offset(z, instants[i]);
    tz_zone_free(z);
    snprintf(label, sizeof(label), "tz_zone_parse %s", name);
    oom_drive(label, run_tz, &c, NULL);
    free(c.data);
}

Test(oom_tz, zone_files)
{
    drive_zone("America/Mexico_City");
    drive_zone("Europe/Madrid");
    drive_zone("America/New_York");
    drive_zone("Australia/Lord_Howe");
}
