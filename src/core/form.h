/* application/x-www-form-urlencoded parsing (request bodies and query strings). */
#ifndef SB_CORE_FORM_H
#define SB_CORE_FORM_H

#include <stddef.h>

/* Twilio sends a few dozen parameters; anything far beyond is hostile. */
#define FORM_MAX_FIELDS 1000

struct form_field {
    const char *key;   /* decoded, NUL-terminated, points into form storage */
    const char *value; /* decoded, NUL-terminated, points into form storage */
};

/* Fields keep the order in which they appeared. Repeated keys are kept. */
struct form {
    struct form_field *fields;
    size_t count;
    char *storage; /* one allocation holding every decoded key and value */
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
int form_parse(struct form *f, const char *text, size_t len);

/** Returns the first value for `key`, or NULL. The pointer lives as long as the form. */
const char *form_get(const struct form *f, const char *key);

/** Frees everything the form owns and empties it. */
void form_release(struct form *f);

#endif
