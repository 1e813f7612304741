/*
 * Structured logging: one line per event, `ts=... level=... event=... k=v`.
 * The one part of core/ that does I/O: it writes whole lines to a sink
 * (stderr by default) so that lines from different threads never interleave.
 * Callers pass phone numbers through redact_number and never pass secrets.
 *
 * The logger escapes every string it formats, so that no value (a CallSid
 * sent by anyone, an error message) can start a line of its own or forge a
 * key. The rules, applied to each `%s` (and `%c`) by where it stands in `fmt`:
 *
 * - inside quotes written in the format (`error="store: %s"`): `\` and `"`
 *   are written `\\` and `\"`; newline, carriage return and tab `\n` `\r`
 *   `\t`; other control bytes, DEL and bytes that are not valid UTF-8 `\xNN`;
 * - right after `=` and not quoted (`call_sid=%s`): written as is when it is
 *   a plain token; a value that is empty or holds a space, `=`, `"`, a control
 *   byte, DEL or invalid UTF-8 is quoted and escaped as above;
 * - anywhere else (text that is not a value): control bytes, DEL, invalid
 *   UTF-8 and `"` are written `\xNN` (`\n` `\r` `\t` for those three).
 *
 * Numbers (`%d %ld %lld %zu %x %g %.1f ...`, any length modifier) are
 * formatted as printf does. A precision (`%.32s`) bounds the bytes read from
 * the argument, before escaping; a width on `%s` is ignored; `%%` is a `%`;
 * `%n` writes nothing. A line longer than the buffer is cut at a whole escape
 * and an open quote is closed.
 */
#ifndef SB_CORE_LOG_H
#define SB_CORE_LOG_H

#include "core/err.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/** Sets the lowest level written (LOG_INFO by default). Call before threads start. */
void log_set_level(enum log_level level);

/**
 * Sets the file descriptor lines are written to (2, stderr, by default).
 * The logger does not own it. Call before threads start.
 */
void log_set_fd(int fd);

/** Parses "debug", "info", "warn" or "error". Returns 0 or SB_EINVAL. */
SB_MUST_CHECK int log_level_parse(const char *s, enum log_level *out);

/**
 * Writes one event line. `fmt` formats the key=value tail, e.g.
 * log_event(LOG_INFO, "call.incoming", "call_sid=%s to=%s", sid, redacted).
 * String values are escaped by the rules above; callers never escape.
 */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Returns true when events at `level` are written (to skip costly formatting). */
int log_enabled(enum log_level level);

#endif
