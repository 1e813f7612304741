/* Twilio-style SIDs: a two-letter prefix and 32 lower-case hex digits (CA..., MZ...). */
#ifndef SB_CORE_SID_H
#define SB_CORE_SID_H

#include <stddef.h>

#include "core/err.h"

/* The random part: 16 bytes, written as 32 hex digits. */
#define SID_RAW_BYTES 16

/**
 * Writes `prefix` and 32 hex digits of OpenSSL's RAND_bytes to `out`
 * (NUL-terminated). Returns 0; SB_EINVAL when `out` has no room for them
 * (SID_SIZE has room for a two-letter prefix); SB_EIO when no random bytes
 * could be had (then `out` is the empty string).
 */
SB_MUST_CHECK int sid_new(const char *prefix, char *out, size_t size);

/**
 * Writes `prefix` and `raw` as 32 hex digits: the deterministic form, for
 * runs that must repeat (a seeded generator fills `raw`). Returns 0 or
 * SB_EINVAL (no room; `out` is then the empty string when size > 0).
 */
int sid_format(const char *prefix, const unsigned char raw[SID_RAW_BYTES], char *out, size_t size);

#endif
