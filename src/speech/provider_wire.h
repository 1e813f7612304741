/*
 * What the wire code of the cloud speech providers shares (Deepgram in
 * speech/deepgram_wire, ElevenLabs and Cartesia in speech/tts_wire): the
 * base URL a setting gives, query values and path segments percent-encoded,
 * strict base64 of audio, and JSON messages read and written with jansson
 * into bounded fields, with lower-case reasons that name the provider and
 * the field ("deepgram results is_final is not a boolean").
 *
 * Pure: no I/O, no threads, no global mutable state.
 *
 * Ownership: writers append to the caller's struct buf, whose maximum bounds
 * them, and leave it as it was on failure. A JSON value read by
 * provider_wire_load is the caller's (json_decref); strings handed out by
 * provider_wire_string are borrowed from that value. `err` may be NULL.
 */
#ifndef SB_SPEECH_PROVIDER_WIRE_H
#define SB_SPEECH_PROVIDER_WIRE_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* jansson's value type (<jansson.h>), named here so that this header needs none. */
struct json_t;

/* The longest base URL, model, voice or context id accepted from settings. */
#define PROVIDER_WIRE_NAME_MAX 512

/**
 * Appends the base URL of a provider's socket: `base`, or `fallback` when
 * `base` is NULL or "", without its trailing '/'. It must start with ws://
 * or wss:// (http:// and https:// are written as ws:// and wss://), name a
 * host, and hold no white space, control or non-ASCII byte, '?' or '#'.
 * `provider` ("deepgram") names it in the reason. Returns 0, SB_EINVAL with
 * the reason, SB_ETOOBIG or SB_ENOMEM; `out` is unchanged on failure.
 */
SB_MUST_CHECK int provider_wire_base_url(struct buf *out, const char *base, const char *fallback,
                                         const char *provider, char *err, size_t errsize);

/**
 * Appends `s` percent-encoded for a query value or a path segment: the
 * unreserved characters of RFC 3986 (letters, digits, '-', '.', '_', '~')
 * as they are, every other byte as %XX. Returns 0, SB_ETOOBIG or SB_ENOMEM;
 * `out` is unchanged on failure.
 */
SB_MUST_CHECK int provider_wire_escape(struct buf *out, const char *s);

/**
 * The ISO 639-1 code of a BCP-47 tag's language, lower case ("es" for
 * "es-MX", "zh" for "cmn-CN", "ar" for "arb"), static storage; "" when the
 * tag is NULL, "" or names no language with a two-letter code.
 */
const char *provider_wire_iso639_1(const char *tag);

/**
 * Decodes `n` bytes of standard base64 (RFC 4648 alphabet, '=' padding to a
 * multiple of 4, nothing else: no white space, no URL-safe alphabet) and
 * appends the bytes to `out`. Returns 0, SB_EPARSE (not base64),
 * SB_ETOOBIG (past out's maximum) or SB_ENOMEM; `out` is unchanged on
 * failure.
 */
SB_MUST_CHECK int provider_wire_base64(struct buf *out, const char *s, size_t n);

/**
 * Reads one message of `len` bytes (at most `max`) that must be a JSON
 * object. Returns 0 with *out the object (the caller's, json_decref), or
 * SB_ETOOBIG (over `max`), SB_EPARSE (not JSON, not an object) or SB_ENOMEM,
 * with *out NULL and the reason: "<provider> message is not json: ...".
 */
SB_MUST_CHECK int provider_wire_load(const char *text, size_t len, size_t max, const char *provider,
                                     struct json_t **out, char *err, size_t errsize);

/**
 * Appends `value` as compact JSON (UTF-8 as is, reals with 6 significant
 * digits). Returns 0, SB_ETOOBIG or SB_ENOMEM; `out` is unchanged on
 * failure.
 */
SB_MUST_CHECK int provider_wire_dump(struct buf *out, const struct json_t *value);

/**
 * Sets `key` of object `obj` to `value`, taking the reference (also on
 * failure). A NULL value or a failure sets *rc to SB_ENOMEM unless it holds
 * an earlier failure, so a message is built with one check at the end.
 */
void provider_wire_put(int *rc, struct json_t *obj, const char *key, struct json_t *value);

/*
 * Optional fields of a received object. Each returns 1 with *out set when
 * `key` is present, 0 when it is absent or null (*out untouched), or
 * SB_EPARSE when it has another type or is out of range, with the reason
 * "<what> <key> is not a boolean" (`what` names the message: "deepgram
 * results").
 */
SB_MUST_CHECK int provider_wire_bool(const struct json_t *obj, const char *key, int *out,
                                     const char *what, char *err, size_t errsize);
/* A number, integer or real, with min <= value <= max. */
SB_MUST_CHECK int provider_wire_number(const struct json_t *obj, const char *key, double min,
                                       double max, double *out, const char *what, char *err,
                                       size_t errsize);
/* An integer with min <= value <= max (a real is refused). */
SB_MUST_CHECK int provider_wire_integer(const struct json_t *obj, const char *key, long min,
                                        long max, long *out, const char *what, char *err,
                                        size_t errsize);
/* A string, borrowed from `obj`, with its length in *len (len may be NULL). */
SB_MUST_CHECK int provider_wire_string(const struct json_t *obj, const char *key, const char **out,
                                       size_t *len, const char *what, char *err, size_t errsize);

/**
 * Copies `len` bytes of UTF-8 text into `dst` of `size` bytes (size > 0),
 * NUL-terminated, cut at the last whole character that fits (and before
 * any byte that starts no character). `s` may be `dst`. Returns 1 when it
 * was cut, else 0.
 */
int provider_wire_copy(char *dst, size_t size, const char *s, size_t len);

#endif
