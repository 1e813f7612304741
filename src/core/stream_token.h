/*
 * Stream tokens bind a media stream to the call it was issued for. The TwiML
 * of each <Stream> carries <Parameter name="token"> for its CallSid, Twilio
 * echoes it in the start message's customParameters, and the server checks it
 * there: only whoever holds that call's TwiML can open its stream. Stateless,
 * so any instance sharing the key accepts any instance's streams.
 *
 *   key   = HMAC-SHA256(SWITCHBOARD_STREAM_SECRET or TWILIO_AUTH_TOKEN,
 *                       "switchboard stream-token key v1")
 *   token = base64(HMAC-SHA256(key, "switchboard stream-token v1:" CallSid))
 *
 * Pure: no I/O, no state besides the key the caller owns.
 */
#ifndef SB_CORE_STREAM_TOKEN_H
#define SB_CORE_STREAM_TOKEN_H

#include <stddef.h>

#include "core/err.h"

#define STREAM_TOKEN_KEY_BYTES 32
/* Standard base64 of a SHA-256 digest (44 characters) plus NUL. */
#define STREAM_TOKEN_SIZE 45

/* The name of the <Parameter> (and of the start message's customParameter). */
#define STREAM_TOKEN_PARAM "token"

struct evp_mac_ctx_st;

/*
 * A derived key, owned by whoever called stream_token_key_init and released
 * with stream_token_key_clear; `ready` is 0 until init. `keyed` is an HMAC
 * already keyed with `bytes` (OpenSSL's key setup costs more than the token),
 * copied for each token, so one key serves one thread at a time.
 */
struct stream_token_key {
    unsigned char bytes[STREAM_TOKEN_KEY_BYTES];
    struct evp_mac_ctx_st *keyed;
    int ready;
};

/**
 * Derives the key from `secret` when it is non-empty, else from
 * `auth_token` (which may be empty, as in --dev). `key` must be zeroed or
 * cleared. Returns 0, or SB_EINVAL (NULL arguments) or SB_EIO (OpenSSL
 * failed or out of memory); the key is then not ready.
 */
SB_MUST_CHECK int stream_token_key_init(struct stream_token_key *key, const char *secret,
                                        const char *auth_token);

/** Wipes the key and frees what it holds. A zeroed or cleared key is allowed. */
void stream_token_key_clear(struct stream_token_key *key);

/**
 * Writes the token for `call_sid` to `out`. Returns 0, or SB_EINVAL when the
 * key is not ready or call_sid is NULL or empty (out is then ""), or SB_EIO.
 */
SB_MUST_CHECK int stream_token_for(const struct stream_token_key *key, const char *call_sid,
                                   char out[STREAM_TOKEN_SIZE]);

/**
 * Checks `token` against the token of `call_sid`, in constant time. Returns
 * 0 when it matches, SB_EBADSIG when it does not (also for a NULL or empty
 * token or call_sid), SB_EINVAL when the key is not ready.
 */
int stream_token_check(const struct stream_token_key *key, const char *call_sid, const char *token);

#endif
