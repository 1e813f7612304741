/* Includes another header by its path from src/. */
#ifndef FIXTURE_STORE_USES_OK_H
#define FIXTURE_STORE_USES_OK_H

#include "core/ok.h"

static inline size_t uses_ok_len(const struct ok *o)
{
    return o->len;
}

#endif
