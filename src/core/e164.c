#include "core/e164.h"

#include <stddef.h>

bool e164_valid(const char *s)
{
    size_t n = 0;

    if (!s || s[0] != '+' || s[1] == '0')
        return false;
    for (s++; *s; s++) {
        if (*s < '0' || *s > '9' || ++n > 15)
            return false;
    }
    return n >= 2;
}
