/*
 * The key/value list of HTTP parameters: application/x-www-form-urlencoded
 * parsing (request bodies, query strings), building (parameters the sim
 * sends) and encoding. A form owns every key and value it hands out.
 */
#ifndef SB_CORE_FORM_H
#define SB_CORE_FORM_H

#include <stddef.h>

#include "core/err.h"

/* Twilio sends a few dozen parameters; anything far beyond is hostile. */
#define FORM_MAX_FIELDS 1000

struct form_field {
    const char *key;   /* NUL-terminated, owned by the form */
    const char *value; /* NUL-terminated, owned by the form */
};

/*
 * Fields keep the order in which they appeared. Repeated keys are kept.
 * A form from FORM_INIT or form_parse owns its fields, keys and values
 * (form_release frees them). A form built by hand over someone else's
 * fields (storage NULL) is read-only: pass it to readers, never to
 * form_add, form_set, form_extend or form_release.
 */
struct form {
    struct form_field *fields;
    size_t count;
    void *storage; /* private to form.c: capacity, the decoded text, added copies */
};

#define FORM_INIT                                                                                  \
    {                                                                                              \
        NULL, 0, NULL                                                                              \
    }

/**
 * Parses `len` bytes of urlencoded text ('+' is a space, %XX is a byte).
 * Empty pairs ("a=1&&b=2") are skipped; a pair without '=' has value "".
 * Returns 0; SB_EPARSE for a malformed or NUL-producing escape (%zz, %0, %00);
 * SB_ETOOBIG past FORM_MAX_FIELDS; SB_ENOMEM. On error the form is empty.
 * The form owns its memory: release with form_release.
 */
SB_MUST_CHECK int form_parse(struct form *f, const char *text, size_t len);

/** Returns the first value for `key`, or NULL. The pointer lives as long as the form. */
const char *form_get(const struct form *f, const char *key);

/**
 * Appends a copy of key=value (repeated keys are kept); works on an empty
 * form and on a parsed one. Returns 0, SB_EINVAL (a NULL argument) or
 * SB_ENOMEM; on error the form is unchanged.
 */
SB_MUST_CHECK int form_add(struct form *f, const char *key, const char *value);

/**
 * Appends a copy of each of the `n` pairs {key, value} in order, skipping
 * pairs whose value is NULL (optional parameters). Returns 0, SB_EINVAL (a
 * NULL key) or SB_ENOMEM; on error the form is as it was before the call.
 */
SB_MUST_CHECK int form_add_pairs(struct form *f, const char *const pairs[][2], size_t n);

/**
 * Gives `key` the one value `value`: the first field of `key` keeps its
 * place with a copy of `value`, later ones go; appends when absent. Returns
 * 0, SB_EINVAL or SB_ENOMEM (the form unchanged). Pointers from form_get for
 * `key` are invalid afterwards.
 */
SB_MUST_CHECK int form_set(struct form *f, const char *key, const char *value);

/**
 * Appends a copy of every field of `from` (which may be `f` itself: it is
 * then copied once). Returns 0, SB_EINVAL or SB_ENOMEM (the fields copied
 * so far stay).
 */
SB_MUST_CHECK int form_extend(struct form *f, const struct form *from);

/**
 * Encodes the fields as browsers and Python's urlencode do (key=value&...,
 * the RFC 3986 unreserved set as is, space as '+', any other byte as %XX in
 * upper-case hex) into a new string the caller frees with free(). An empty
 * form gives "". Returns NULL out of memory or past 1 MiB.
 */
SB_MUST_CHECK char *form_encode(const struct form *f);

/** Frees everything the form owns and empties it; the form may be used again. */
void form_release(struct form *f);

#endif
