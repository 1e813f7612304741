/*
 * UTF-8, decoded by one piece of code for the whole project: well-formed
 * means no overlong forms, no surrogates, nothing past U+10FFFF (RFC 3629).
 * Pure: no state, no allocation.
 */
#ifndef SB_CORE_UTF8_H
#define SB_CORE_UTF8_H

#include <stddef.h>

/**
 * The length (1 to 4) of the well-formed character at `p`, of which at most
 * `n` bytes may be read, with its code point in *cp (cp may be NULL); 0
 * when `p` starts none (a stray continuation byte, a bad form, or a
 * character cut short by `n`). A NUL byte is a character of length 1. A NUL
 * is never a continuation byte, so on a NUL-terminated string `n` may be 4.
 */
size_t utf8_decode(const unsigned char *p, size_t n, unsigned *cp);

/** True when the `n` bytes at `s` are well-formed UTF-8 with no NUL byte. */
int utf8_valid(const char *s, size_t n);

#endif
