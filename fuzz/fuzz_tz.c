/*
 * libFuzzer target for voice/tz: the input is both a TZif file and a POSIX
 * TZ rule. Besides the sanitizers it checks that offsets stay within a day
 * and a bit, and that a parsed rule's offsets are one of its two offsets.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/err.h"
#include "voice/tz.h"

static const int64_t instants[] = {
    INT64_MIN,
    -((int64_t)1 << 40),
    -2208988800,
    -1,
    0,
    1,
    951782400,
    1772953200,
    1784116800,
    4102444800,
    (int64_t)1 << 40,
    ((int64_t)1 << 50) + 1,
    INT64_MAX,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tz_zone *z = NULL;
    struct tz_rule r;

    if (tz_zone_parse(data, size, &z) == 0) {
        for (size_t i = 0; i < sizeof(instants) / sizeof(instants[0]); i++) {
            int32_t off = tz_zone_offset(z, instants[i]);

            if (off > 26 * 3600 || off < -26 * 3600)
                abort();
        }
        tz_zone_free(z);
    } else if (z) {
        abort();
    }
    if (tz_rule_parse((const char *)data, size, &r) == 0) {
        for (size_t i = 0; i < sizeof(instants) / sizeof(instants[0]); i++) {
            int32_t off = tz_rule_offset(&r, instants[i]);

            if (off != r.std_utoff && (!r.has_dst || off != r.dst_utoff))
                abort();
        }
    }
    return 0;
}
