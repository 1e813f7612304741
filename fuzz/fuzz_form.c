/*
 * libFuzzer target for form_parse. The input is the raw body; besides the
 * sanitizers it checks the contract: on success every field decodes to a
 * string no longer than the input and form_get finds the first value of
 * each key; on failure the form is empty.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct form f = FORM_INIT;
    size_t i, j, total = 0;
    int rc;

    rc = form_parse(&f, (const char *)data, size);
    if (rc) {
        if (rc != SB_EPARSE && rc != SB_ETOOBIG && rc != SB_ENOMEM)
            abort();
        if (f.count || f.fields || f.storage)
            abort();
        return 0;
    }
    if (f.count > FORM_MAX_FIELDS)
        abort();
    for (i = 0; i < f.count; i++) {
        const char *first = form_get(&f, f.fields[i].key);

        total += strlen(f.fields[i].key) + strlen(f.fields[i].value);
        if (!first)
            abort();
        /* form_get returns the value of the first field with this key. */
        for (j = 0; strcmp(f.fields[j].key, f.fields[i].key) != 0; j++)
            continue;
        if (f.fields[j].value != first)
            abort();
    }
    if (total > size)
        abort();
    form_release(&f);
    return 0;
}
