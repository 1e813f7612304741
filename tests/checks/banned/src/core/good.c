#include <string.h>

#include "core/banned.h"

int ok(void)
{
    return 0;
}
