/*
 * Structured logging: one line per event, `ts=... level=... event=... k=v`.
 * The one part of core/ that does I/O: it writes whole lines to a sink
 * (stderr by default) so that lines from different threads never interleave.
 * Callers pass phone numbers through redact_number and never pass secrets.
 */
#ifndef SB_CORE_LOG_H
#define SB_CORE_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/** Sets the lowest level written (LOG_INFO by default). Call before threads start. */
void log_set_level(enum log_level level);

/** Parses "debug", "info", "warn" or "error". Returns 0 or SB_EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

/**
 * Writes one event line. `fmt` formats the key=value tail, e.g.
 * log_event(LOG_INFO, "call.incoming", "call_sid=%s to=%s", sid, redacted).
 * Values that may hold spaces must be quoted by the caller (log_quote).
 */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Returns true when events at `level` are written (to skip costly formatting). */
int log_enabled(enum log_level level);

#endif
