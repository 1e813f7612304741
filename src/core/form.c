#include "core/form.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/banned.h"

/* The encoded form is capped so that a runaway caller fails instead of eating memory. */
#define FORM_MAX_ENCODED (1024 * 1024)

/* What form.storage points to. */
struct form_store {
    size_t cap;    /* room in fields and in copies */
    char **copies; /* per field: an added field's "key\0value\0", NULL for a parsed one;
                      NULL until the first form_add */
    char text[];   /* the decoded keys and values of parsed fields */
};

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
    struct form_store *store = NULL;
    char *storage;
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
    if (len > SIZE_MAX - 2 * count - sizeof(*store)) {
        rc = SB_ETOOBIG;
        goto out;
    }
    store = malloc(sizeof(*store) + len + 2 * count);
    fields = calloc(count, sizeof(*fields));
    if (!store || !fields) {
        rc = SB_ENOMEM;
        goto out;
    }
    store->cap = count;
    store->copies = NULL;
    storage = store->text;

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
    f->storage = store;
    fields = NULL;
    store = NULL;
out:
    free(fields);
    free(store);
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

/* Makes room for one more field and its copy. */
static int form_grow(struct form *f)
{
    struct form_store *store = f->storage;
    struct form_field *fields;
    char **copies;
    size_t cap;

    if (!store) {
        /* Fields the form does not own cannot be added to. */
        if (f->count)
            return SB_EINVAL;
        store = calloc(1, sizeof(*store));
        if (!store)
            return SB_ENOMEM;
        f->storage = store;
    }
    if (f->count < store->cap && store->copies)
        return 0;
    cap = store->cap;
    if (f->count >= cap) {
        if (cap > SIZE_MAX / 2 / sizeof(*fields))
            return SB_ENOMEM;
        cap = cap ? 2 * cap : 16;
        fields = realloc(f->fields, cap * sizeof(*fields));
        if (!fields)
            return SB_ENOMEM;
        f->fields = fields;
    }
    copies = realloc(store->copies, cap * sizeof(*copies));
    if (!copies)
        return SB_ENOMEM;
    /* Slots past the old capacity (all of them the first time) hold no copy. */
    memset(copies + (store->copies ? store->cap : 0), 0,
           (cap - (store->copies ? store->cap : 0)) * sizeof(*copies));
    store->copies = copies;
    store->cap = cap;
    return 0;
}

/* One allocation holding "key\0value\0"; NULL out of memory. */
static char *pair_copy(const char *key, const char *value)
{
    size_t klen = strlen(key), vlen = strlen(value);
    char *copy;

    if (klen > SIZE_MAX - vlen - 2)
        return NULL;
    copy = malloc(klen + vlen + 2);
    if (!copy)
        return NULL;
    memcpy(copy, key, klen + 1);
    memcpy(copy + klen + 1, value, vlen + 1);
    return copy;
}

/* Room for one more field and a copy of key=value, or an error with the form unchanged. */
static int form_prepare(struct form *f, const char *key, const char *value, char **copy)
{
    int rc = form_grow(f);

    if (rc)
        return rc;
    *copy = pair_copy(key, value);
    return *copy ? 0 : SB_ENOMEM;
}

int form_add(struct form *f, const char *key, const char *value)
{
    struct form_store *store;
    char *copy;
    int rc;

    if (!f || !key || !value)
        return SB_EINVAL;
    rc = form_prepare(f, key, value, &copy);
    if (rc)
        return rc;
    store = f->storage;
    store->copies[f->count] = copy;
    f->fields[f->count].key = copy;
    f->fields[f->count].value = copy + strlen(copy) + 1;
    f->count++;
    return 0;
}

int form_add_pairs(struct form *f, const char *const pairs[][2], size_t n)
{
    struct form_store *store;
    size_t before, i;
    int rc = 0;

    if (!f || (!pairs && n))
        return SB_EINVAL;
    before = f->count;
    for (i = 0; i < n && !rc; i++) {
        if (!pairs[i][0])
            rc = SB_EINVAL;
        else if (pairs[i][1])
            rc = form_add(f, pairs[i][0], pairs[i][1]);
    }
    if (rc) {
        /* All or nothing: a request with some parameters missing must not go out. */
        store = f->storage;
        while (f->count > before) {
            f->count--;
            free(store->copies[f->count]);
            store->copies[f->count] = NULL;
        }
    }
    return rc;
}

int form_set(struct form *f, const char *key, const char *value)
{
    struct form_store *store;
    char *copy;
    size_t i, kept = 0;
    int found = 0, rc;

    if (!f || !key || !value)
        return SB_EINVAL;
    if (!form_get(f, key))
        return form_add(f, key, value);
    /* Room and copy first, so that a failed allocation leaves the form untouched. */
    rc = form_prepare(f, key, value, &copy);
    if (rc)
        return rc;
    store = f->storage;
    for (i = 0; i < f->count; i++) {
        if (strcmp(f->fields[i].key, key) != 0) {
            f->fields[kept] = f->fields[i];
            store->copies[kept++] = store->copies[i];
            continue;
        }
        free(store->copies[i]);
        if (found)
            continue;
        found = 1;
        f->fields[kept].key = copy;
        f->fields[kept].value = copy + strlen(copy) + 1;
        store->copies[kept++] = copy;
    }
    for (i = kept; i < f->count; i++)
        store->copies[i] = NULL;
    f->count = kept;
    return 0;
}

int form_extend(struct form *f, const struct form *from)
{
    size_t i, n;
    int rc = 0;

    if (!f || !from)
        return SB_EINVAL;
    /*
     * The count is taken once so that extending a form with itself copies it
     * once; each key and value is read before the array may move, and the
     * strings themselves never move.
     */
    n = from->count;
    for (i = 0; i < n && !rc; i++) {
        const char *key = from->fields[i].key, *value = from->fields[i].value;

        rc = form_add(f, key, value);
    }
    return rc;
}

/* Appends `s` urlencoded. */
static int form_encode_text(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    char esc[3];
    int rc = 0;

    for (; *p && !rc; p++) {
        unsigned char c = *p;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            rc = buf_putc(b, (char)c);
        } else if (c == ' ') {
            rc = buf_putc(b, '+');
        } else {
            esc[0] = '%';
            esc[1] = hex[c >> 4];
            esc[2] = hex[c & 0x0f];
            rc = buf_append(b, esc, sizeof(esc));
        }
    }
    return rc;
}

char *form_encode(const struct form *f)
{
    struct buf b = BUF_INIT(FORM_MAX_ENCODED);
    char *out = NULL;
    size_t i;
    int rc = 0;

    if (!f)
        return NULL;
    for (i = 0; i < f->count && !rc; i++) {
        if (i > 0)
            rc = buf_putc(&b, '&');
        if (!rc)
            rc = form_encode_text(&b, f->fields[i].key);
        if (!rc)
            rc = buf_putc(&b, '=');
        if (!rc)
            rc = form_encode_text(&b, f->fields[i].value);
    }
    if (!rc)
        out = buf_detach(&b, NULL);
    buf_release(&b);
    return out;
}

void form_release(struct form *f)
{
    struct form_store *store;

    if (!f)
        return;
    store = f->storage;
    if (store && store->copies) {
        for (size_t i = 0; i < f->count; i++)
            free(store->copies[i]);
        free(store->copies);
    }
    free(store);
    free(f->fields);
    f->fields = NULL;
    f->count = 0;
    f->storage = NULL;
}
