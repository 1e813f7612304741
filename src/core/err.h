/* Error codes shared by every module: 0 is success, negatives are SB_E*. */
#ifndef SB_CORE_ERR_H
#define SB_CORE_ERR_H

/*
 * On the declaration of a function whose result must be looked at: an error
 * code, or an owned pointer. With -Werror a call that drops it fails the
 * build, and a (void) cast does not silence it (GCC): handle the result.
 */
#define SB_MUST_CHECK __attribute__((warn_unused_result))

/* X-macro map: name, message (lower-case, as shown to users). */
#define SB_ERRNO_MAP(X)                                                                            \
    X(NOMEM, -1, "out of memory")                                                                  \
    X(INVAL, -2, "invalid argument")                                                               \
    X(TOOBIG, -3, "too large")                                                                     \
    X(NOTFOUND, -4, "not found")                                                                   \
    X(EXISTS, -5, "already exists")                                                                \
    X(BADSIG, -6, "signature mismatch")                                                            \
    X(PARSE, -7, "malformed input")                                                                \
    X(IO, -8, "input/output error")                                                                \
    X(STORE, -9, "store failure")                                                                  \
    X(BUSY, -10, "resource busy")                                                                  \
    X(CLOSED, -11, "already closed")                                                               \
    X(CONFLICT, -12, "conflicting transaction; try again")

enum sb_err {
    SB_OK = 0,
#define SB_ERR_ENUM(name, code, msg) SB_E##name = code,
    SB_ERRNO_MAP(SB_ERR_ENUM)
#undef SB_ERR_ENUM
};

/** Returns the static lower-case message for an SB_E* code (or "unknown error"). */
const char *sb_strerror(int code);

#include <stddef.h>

/**
 * Writes a printf-formatted, lower-case reason into `err` (of `size` bytes),
 * truncating; does nothing when `err` is NULL or `size` is 0, so callers may
 * pass an optional error buffer straight through.
 */
void sb_set_error(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
