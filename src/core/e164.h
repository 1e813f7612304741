/* E.164 phone numbers: '+' then 7 to 15 digits, the first not 0. */
#ifndef SB_CORE_E164_H
#define SB_CORE_E164_H

#include <stdbool.h>

/* Longest E.164 text: '+' + 15 digits + NUL. */
#define E164_SIZE 17

/** Returns true when `s` is a valid E.164 number ("+15005550006"). */
bool e164_valid(const char *s);

#endif
