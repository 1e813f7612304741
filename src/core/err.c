#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include "core/banned.h"

const char *sb_strerror(int code)
{
    switch (code) {
    case SB_OK:
        return "success";
#define SB_ERR_CASE(name, value, msg)                                                              \
    case SB_E##name:                                                                               \
        return msg;
        SB_ERRNO_MAP(SB_ERR_CASE)
#undef SB_ERR_CASE
    default:
        return "unknown error";
    }
}

void sb_set_error(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;

    if (!err || !size)
        return;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
}
