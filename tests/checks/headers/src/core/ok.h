/* Compiles on its own: includes what it uses, has a guard. */
#ifndef FIXTURE_CORE_OK_H
#define FIXTURE_CORE_OK_H

#include <stddef.h>

struct ok {
    size_t len;
};

#endif
