/*
 * libFuzzer target for core/sig. The input is split at its first three
 * newlines into token, url and header; the rest is both a urlencoded
 * parameter body (when it parses) and a raw JSON body. Besides the
 * sanitizers it checks that a signature sig_compute made for a well-formed
 * URL with a lower-case scheme is accepted by sig_validate: such a URL is
 * always one of its own port variants.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/form.h"
#include "core/sig.h"

/* Copies the next line of data[*pos..size) into a new C string (NULs end it early). */
static char *next_line(const uint8_t *data, size_t size, size_t *pos)
{
    const uint8_t *nl = *pos < size ? memchr(data + *pos, '\n', size - *pos) : NULL;
    size_t end = nl ? (size_t)(nl - data) : size;
    size_t n = end - *pos;
    char *s = malloc(n + 1);

    if (!s)
        abort();
    if (n)
        memcpy(s, data + *pos, n);
    s[n] = '\0';
    *pos = nl ? end + 1 : size;
    return s;
}

static bool scheme_is_lower(const char *url)
{
    const char *sep = strstr(url, "://");
    const char *p;

    if (!sep)
        return false;
    for (p = url; p < sep; p++) {
        if (*p >= 'A' && *p <= 'Z')
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct form params = FORM_INIT;
    const struct form *pp = NULL;
    char sig[SIG_B64_SIZE];
    size_t pos = 0, rest_len;
    const uint8_t *rest;
    char *token, *url, *header;
    int rc;

    token = next_line(data, size, &pos);
    url = next_line(data, size, &pos);
    header = next_line(data, size, &pos);
    rest = data + pos;
    rest_len = size - pos;

    if (form_parse(&params, (const char *)rest, rest_len) == 0)
        pp = &params;

    rc = sig_compute(token, url, pp, sig);
    if (rc)
        abort();
    if (strlen(sig) != SIG_B64_SIZE - 1)
        abort();

    rc = sig_validate(token, url, pp, header);
    if (rc != 0 && rc != SB_EBADSIG && rc != SB_EINVAL)
        abort();
    if (rc != SB_EINVAL) {
        rc = sig_validate(token, url, pp, sig);
        if (scheme_is_lower(url) && rc != 0)
            abort();
    }

    rc = sig_validate_body(token, url, rest, rest_len, header);
    if (rc != 0 && rc != SB_EBADSIG && rc != SB_EINVAL)
        abort();

    form_release(&params);
    free(token);
    free(url);
    free(header);
    return 0;
}
