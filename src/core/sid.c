#include "core/sid.h"

#include <openssl/rand.h>
#include <string.h>

#include "core/err.h"
#include "core/banned.h"

int sid_format(const char *prefix, const unsigned char raw[SID_RAW_BYTES], char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t n;

    if (!out || !size)
        return SB_EINVAL;
    out[0] = '\0';
    if (!prefix || !raw)
        return SB_EINVAL;
    n = strlen(prefix);
    if (size < n + 2 * SID_RAW_BYTES + 1)
        return SB_EINVAL;
    memcpy(out, prefix, n);
    for (size_t i = 0; i < SID_RAW_BYTES; i++) {
        out[n + 2 * i] = hex[raw[i] >> 4];
        out[n + 2 * i + 1] = hex[raw[i] & 15];
    }
    out[n + 2 * SID_RAW_BYTES] = '\0';
    return 0;
}

int sid_new(const char *prefix, char *out, size_t size)
{
    unsigned char raw[SID_RAW_BYTES];

    if (!out || !size)
        return SB_EINVAL;
    out[0] = '\0';
    if (!prefix || size < strlen(prefix) + 2 * SID_RAW_BYTES + 1)
        return SB_EINVAL;
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return SB_EIO;
    return sid_format(prefix, raw, out, size);
}
