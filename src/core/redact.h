/* Redaction of phone numbers and secrets before they reach a log line. */
#ifndef SB_CORE_REDACT_H
#define SB_CORE_REDACT_H

#include <stddef.h>

/* "***" + last 4 characters + NUL. */
#define REDACT_SIZE 8

/**
 * Writes a redacted form of a phone number to `out`: "***" followed by its
 * last four characters ("***0006"), or "***" when it has four or fewer.
 * NULL becomes "-". Returns `out`.
 */
const char *redact_number(const char *number, char out[REDACT_SIZE]);

#endif
