#include <string.h>

int missing(void)
{
    return 0;
}
