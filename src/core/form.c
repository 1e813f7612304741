#include "core/form.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/* Returns the value of one hex digit, or -1 when `c` is not one. */
static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decodes `n` bytes of `src` into `dst` and NUL-terminates it; `dst` needs
 * room for n + 1 bytes because decoding never makes text longer. Returns the
 * number of bytes written before the NUL, or SB_EPARSE. A decoded NUL byte
 * (from %00 or a raw NUL in the input) is refused because keys and values are
 * handed out as C strings and a NUL would silently cut them short, which
 * would let two different requests look the same to the signature check.
 */
static int form_decode(const char *src, size_t n, char *dst, size_t *out_len)
{
    size_t i = 0, o = 0;

    while (i < n) {
        unsigned char c = (unsigned char)src[i];

        if (c == '+') {
            dst[o++] = ' ';
            i++;
        } else if (c == '%') {
            int hi, lo;

            if (n - i < 3)
                return SB_EPARSE;
            hi = hex_value((unsigned char)src[i + 1]);
            lo = hex_value((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return SB_EPARSE;
            dst[o++] = (char)(hi * 16 + lo);
            i += 3;
        } else if (c == '\0') {
            return SB_EPARSE;
        } else {
            dst[o++] = (char)c;
            i++;
        }
    }
    dst[o] = '\0';
    *out_len = o;
    return 0;
}

/*
 * Counts the non-empty '&'-separated pairs, stopping as soon as the count
 * passes FORM_MAX_FIELDS so that a hostile body costs no more than one scan.
 */
static size_t form_count(const char *text, size_t len)
{
    size_t count = 0, i = 0;

    while (i < len && count <= FORM_MAX_FIELDS) {
        const char *amp = memchr(text + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - text) : len;

        if (end > i)
            count++;
        i = end + 1;
    }
    return count;
}

int form_parse(struct form *f, const char *text, size_t len)
{
    struct form_field *fields = NULL;
    char *storage = NULL;
    size_t count, n = 0, i = 0, used = 0;
    int rc = 0;

    if (!f)
        return SB_EINVAL;
    f->fields = NULL;
    f->count = 0;
    f->storage = NULL;
    if (!text && len)
        return SB_EINVAL;

    count = form_count(text, len);
    if (count > FORM_MAX_FIELDS)
        return SB_ETOOBIG;
    if (count == 0)
        return 0;

    /*
     * Each pair decodes to at most its own length, plus one NUL for the key
     * and one for the value, so len + 2 * count bytes always suffice.
     */
    if (len > SIZE_MAX - 2 * count) {
        rc = SB_ETOOBIG;
        goto out;
    }
    storage = malloc(len + 2 * count);
    fields = calloc(count, sizeof(*fields));
    if (!storage || !fields) {
        rc = SB_ENOMEM;
        goto out;
    }

    while (i < len) {
        const char *amp = memchr(text + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - text) : len;
        const char *eq;
        size_t key_end, klen, vlen;

        if (end == i) {
            i = end + 1;
            continue;
        }
        eq = memchr(text + i, '=', end - i);
        key_end = eq ? (size_t)(eq - text) : end;

        rc = form_decode(text + i, key_end - i, storage + used, &klen);
        if (rc)
            goto out;
        fields[n].key = storage + used;
        used += klen + 1;

        if (eq) {
            rc = form_decode(eq + 1, end - key_end - 1, storage + used, &vlen);
            if (rc)
                goto out;
        } else {
            storage[used] = '\0';
            vlen = 0;
        }
        fields[n].value = storage + used;
        used += vlen + 1;
        n++;
        i = end + 1;
    }

    f->fields = fields;
    f->count = n;
    f->storage = storage;
    fields = NULL;
    storage = NULL;
out:
    free(fields);
    free(storage);
    return rc;
}

const char *form_get(const struct form *f, const char *key)
{
    size_t i;

    if (!f || !key)
        return NULL;
    for (i = 0; i < f->count; i++) {
        if (strcmp(f->fields[i].key, key) == 0)
            return f->fields[i].value;
    }
    return NULL;
}

void form_release(struct form *f)
{
    if (!f)
        return;
    free(f->fields);
    free(f->storage);
    f->fields = NULL;
    f->count = 0;
    f->storage = NULL;
}
