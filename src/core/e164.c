#include "core/e164.h"

#include <stddef.h>
#include "core/banned.h"

bool e164_valid(const char *s)
{
    size_t n;

    if (!s || s[0] != '+' || s[1] == '0')
        return false;
    for (n = 0; s[n + 1] != '\0'; n++) {
        if (n == 15 || s[n + 1] < '0' || s[n + 1] > '9')
            return false;
    }
    /* The shortest numbers in service (e.g. +290 and four digits) have seven digits. */
    return n >= 7;
}
