#include "core/redact.h"

#include <string.h>
#include "core/banned.h"

const char *redact_number(const char *number, char out[REDACT_SIZE])
{
    size_t len, i;

    if (!number) {
        out[0] = '-';
        out[1] = '\0';
        return out;
    }
    memcpy(out, "***", 4);
    len = strlen(number);
    if (len <= 4)
        return out;
    for (i = 0; i < 4; i++) {
        unsigned char c = (unsigned char)number[len - 4 + i];

        /*
         * Caller IDs are not always numbers ("client:bob", SIP URIs), and a
         * byte that is not visible ASCII could split a UTF-8 character or
         * break the key=value shape of a log line, so it is shown as '?'.
         */
        out[3 + i] = (c > 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[7] = '\0';
    return out;
}
