/* X-Twilio-Signature: HMAC-SHA1 over the public URL and sorted parameters. */
#ifndef SB_CORE_SIG_H
#define SB_CORE_SIG_H

#include <stddef.h>

#include "core/err.h"
#include "core/form.h"

/* 20-byte digest in standard base64 with padding, plus NUL. */
#define SIG_B64_SIZE 29

/**
 * Computes the signature Twilio sends for `url` and `params` (may be NULL for
 * none): url, then for each distinct key in byte order, key+value for each
 * distinct value of that key in byte order. Writes the base64 text to `out`.
 * Returns 0, SB_EINVAL on NULL token/url, or SB_ENOMEM.
 */
SB_MUST_CHECK int sig_compute(const char *token, const char *url, const struct form *params,
                              char out[SIG_B64_SIZE]);

/**
 * Checks `header` against the signature of `url` with its explicit port
 * removed and with the scheme's default port added (443 for https and wss,
 * 80 for http and ws), comparing in constant time. `params` may be NULL (GET
 * requests and WebSocket upgrades: the query is already part of the URL).
 * Returns 0 when valid, SB_EBADSIG when not (also when header is NULL or
 * empty), SB_EINVAL on a malformed url, SB_ENOMEM.
 */
SB_MUST_CHECK int sig_validate(const char *token, const char *url, const struct form *params,
                               const char *header);

/**
 * Validates a JSON-bodied request: the url must carry a bodySHA256 query
 * parameter equal to the lower-case hex SHA-256 of `body`, and the signature
 * is checked over the url alone (both port variants). Returns 0 when valid,
 * SB_EBADSIG otherwise (missing or wrong hash, wrong signature), SB_EINVAL,
 * SB_ENOMEM.
 */
SB_MUST_CHECK int sig_validate_body(const char *token, const char *url, const void *body,
                                    size_t len, const char *header);

/*
 * An auth token keyed once. Setting up an HMAC in OpenSSL costs more than
 * hashing a webhook, so a server keys its token at start-up and reuses it.
 * A key is used by one thread at a time.
 */
struct sig_key;

/** Keys `token`. Returns 0 with *out set (free with sig_key_free), SB_EINVAL or SB_ENOMEM. */
SB_MUST_CHECK int sig_key_new(struct sig_key **out, const char *token);

/** Frees a key. NULL is allowed. */
void sig_key_free(struct sig_key *k);

/** sig_validate with a keyed token: same checks, same returns. */
SB_MUST_CHECK int sig_key_validate(struct sig_key *k, const char *url, const struct form *params,
                                   const char *header);

#endif
