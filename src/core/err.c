#include "core/err.h"

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
