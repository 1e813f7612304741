/* A growable byte buffer with a hard maximum (curl's dynbuf `toobig`). */
#ifndef SB_CORE_BUF_H
#define SB_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/err.h"

/*
 * The contents are always NUL-terminated after a successful append, so
 * `data` can be used as a C string when no NUL was appended. `data` is NULL
 * until the first append.
 */
struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* appends that would make len exceed max fail with SB_ETOOBIG */
};

#define BUF_INIT(maxlen)                                                                           \
    {                                                                                              \
        NULL, 0, 0, (maxlen)                                                                       \
    }

/** Initialises an empty buffer that may hold at most `max` bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/** Appends `len` bytes. Returns 0, SB_ETOOBIG past the maximum, or SB_ENOMEM. */
SB_MUST_CHECK int buf_append(struct buf *b, const void *data, size_t len);

/** Appends a NUL-terminated string. Same returns as buf_append. */
SB_MUST_CHECK int buf_puts(struct buf *b, const char *s);

/** Appends one byte. Same returns as buf_append. */
SB_MUST_CHECK int buf_putc(struct buf *b, char c);

/** Appends printf-formatted text. Same returns as buf_append. */
SB_MUST_CHECK int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Appends vprintf-formatted text. Same returns as buf_append. */
SB_MUST_CHECK int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/** Returns the contents as a C string ("" when empty); never NULL. */
const char *buf_cstr(const struct buf *b);

/** Empties the buffer but keeps its memory for reuse. */
void buf_reset(struct buf *b);

/** Frees the memory; the buffer is empty and reusable afterwards. */
void buf_release(struct buf *b);

/**
 * Hands the memory to the caller (who frees it with free()) and empties the
 * buffer. Returns an allocated "" when empty, NULL only on allocation failure.
 * `len` may be NULL.
 */
SB_MUST_CHECK char *buf_detach(struct buf *b, size_t *len);

#endif
