/*
 * libFuzzer target for store/target: the input is a --db value. Besides the
 * sanitizers it checks that the display is terminated within its buffer and
 * that a password given as `user:PASSWORD@` never survives into it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/target.h"

#define SECRET "S3cr3tPW"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[1024];
    char url[1200];
    char shown[STORE_TARGET_DISPLAY_MAX];
    char tiny[8];

    if (size >= sizeof(in))
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    (void)store_target_engine(in);
    (void)store_target_sqlite_path(in);
    store_target_display(in, shown, sizeof(shown));
    if (memchr(shown, '\0', sizeof(shown)) == NULL)
        abort();
    store_target_display(in, tiny, sizeof(tiny));
    if (memchr(tiny, '\0', sizeof(tiny)) == NULL)
        abort();
    /* The same input as the host and path of a URL with a password before it. */
    if (strchr(in, '@') == NULL && strchr(in, '?') == NULL && strstr(in, SECRET) == NULL) {
        snprintf(url, sizeof(url), "postgresql://user:" SECRET "@%s", in);
        store_target_display(url, shown, sizeof(shown));
        if (strstr(shown, SECRET))
            abort();
    }
    return 0;
}
