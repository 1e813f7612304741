#include "speech/provider_wire.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/lang.h"
#include "core/utf8.h"
#include "core/banned.h"

/* Base64 is decoded through a stack buffer, this many characters (a multiple of 4) at a time. */
#define B64_CHUNK 4096

/* Takes `out` back to `len` bytes after a failed append. */
static void truncate_buf(struct buf *out, size_t len)
{
    out->len = len;
    if (out->data)
        out->data[len] = '\0';
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int provider_wire_base_url(struct buf *out, const char *base, const char *fallback,
                           const char *provider, char *err, size_t errsize)
{
    static const struct {
        const char *given, *written;
    } schemes[] = {
        {"wss://", "wss://"}, {"ws://", "ws://"}, {"https://", "wss://"}, {"http://", "ws://"}};
    size_t start = out->len, n, i;
    const char *rest = NULL, *scheme = NULL;
    int rc;

    if (!base || !base[0])
        base = fallback;
    n = strlen(base);
    if (n > PROVIDER_WIRE_NAME_MAX) {
        sb_set_error(err, errsize, "%s url is over %d bytes", provider, PROVIDER_WIRE_NAME_MAX);
        return SB_EINVAL;
    }
    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]) && !rest; i++) {
        if (starts_with(base, schemes[i].given)) {
            rest = base + strlen(schemes[i].given);
            scheme = schemes[i].written;
        }
    }
    if (!rest) {
        sb_set_error(err, errsize,
                     "%s url '%s' does not start with ws://, wss://, http:// or https://", provider,
                     base);
        return SB_EINVAL;
    }
    n = strlen(rest);
    while (n > 0 && rest[n - 1] == '/')
        n--;
    if (n == 0 || rest[0] == '/') {
        sb_set_error(err, errsize, "%s url '%s' names no host", provider, base);
        return SB_EINVAL;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)rest[i];

        if (c <= ' ' || c >= 0x7f || c == '?' || c == '#') {
            sb_set_error(err, errsize,
                         "%s url may not hold a query, a fragment, spaces or non-ascii bytes",
                         provider);
            return SB_EINVAL;
        }
    }
    rc = buf_puts(out, scheme);
    if (!rc)
        rc = buf_append(out, rest, n);
    if (rc) {
        truncate_buf(out, start);
        sb_set_error(err, errsize, "%s url: %s", provider, sb_strerror(rc));
    }
    return rc;
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int provider_wire_escape(struct buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t start = out->len;
    int rc = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
        if (unreserved(*p)) {
            rc = buf_putc(out, (char)*p);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 0xf]};

            rc = buf_append(out, esc, sizeof(esc));
        }
    }
    if (rc)
        truncate_buf(out, start);
    return rc;
}

const char *provider_wire_iso639_1(const char *tag)
{
    /* The three-letter codes lang_base knows whose language has a two-letter one. */
    static const struct {
        const char *three, *two;
    } map[] = {{"arb", "ar"}, {"cmn", "zh"}};
    const char *base = lang_base(tag);

    if (strlen(base) == 2)
        return base;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(base, map[i].three) == 0)
            return map[i].two;
    return "";
}

static int b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/*
 * EVP_DecodeBlock skips surrounding white space, takes '=' anywhere and
 * always writes whole groups, so the alphabet, the padding and the length
 * are checked here first and the padding's bytes are dropped after.
 */
int provider_wire_base64(struct buf *out, const char *s, size_t n)
{
    unsigned char bytes[B64_CHUNK / 4 * 3];
    size_t start = out->len, pad = 0, i;
    int rc = 0;

    if (n % 4 != 0 || n > INT_MAX)
        return SB_EPARSE;
    if (n == 0)
        return 0;
    while (pad < 2 && s[n - 1 - pad] == '=')
        pad++;
    for (i = 0; i < n - pad; i++)
        if (!b64_char((unsigned char)s[i]))
            return SB_EPARSE;
    for (i = 0; i < n && !rc; i += B64_CHUNK) {
        size_t m = n - i < B64_CHUNK ? n - i : B64_CHUNK;
        size_t whole = m / 4 * 3;

        if (EVP_DecodeBlock(bytes, (const unsigned char *)s + i, (int)m) != (int)whole)
            rc = SB_EPARSE;
        else
            rc = buf_append(out, bytes, i + m == n ? whole - pad : whole);
    }
    if (rc)
        truncate_buf(out, start);
    return rc;
}

int provider_wire_load(const char *text, size_t len, size_t max, const char *provider,
                       struct json_t **out, char *err, size_t errsize)
{
    json_error_t je;
    json_t *root;

    *out = NULL;
    if (!text || len == 0) {
        sb_set_error(err, errsize, "%s message is empty", provider);
        return SB_EPARSE;
    }
    if (len > max) {
        sb_set_error(err, errsize, "%s message is over %zu bytes", provider, max);
        return SB_ETOOBIG;
    }
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (json_error_code(&je) == json_error_out_of_memory) {
            sb_set_error(err, errsize, "out of memory reading a %s message", provider);
            return SB_ENOMEM;
        }
        sb_set_error(err, errsize, "%s message is not json: %s", provider, je.text);
        return SB_EPARSE;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        sb_set_error(err, errsize, "%s message is not a json object", provider);
        return SB_EPARSE;
    }
    *out = root;
    return 0;
}

struct dump_state {
    struct buf *out;
    int rc;
};

static int dump_to_buf(const char *bytes, size_t size, void *data)
{
    struct dump_state *d = data;

    d->rc = buf_append(d->out, bytes, size);
    return d->rc ? -1 : 0;
}

int provider_wire_dump(struct buf *out, const struct json_t *value)
{
    struct dump_state d = {out, 0};
    size_t start = out->len;

    if (!value)
        return SB_ENOMEM;
    if (json_dump_callback(value, dump_to_buf, &d, JSON_COMPACT | JSON_REAL_PRECISION(6)) != 0) {
        truncate_buf(out, start);
        return d.rc ? d.rc : SB_ENOMEM;
    }
    return 0;
}

void provider_wire_put(int *rc, struct json_t *obj, const char *key, struct json_t *value)
{
    /* json_object_set_new takes the reference even when it fails (a NULL obj included). */
    if (json_object_set_new(obj, key, value) != 0 && !*rc)
        *rc = SB_ENOMEM;
}

/* The member `key` of `obj`, NULL when absent or null. */
static json_t *member(const struct json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_null(v) ? NULL : v;
}

int provider_wire_bool(const struct json_t *obj, const char *key, int *out, const char *what,
                       char *err, size_t errsize)
{
    json_t *v = member(obj, key);

    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        sb_set_error(err, errsize, "%s %s is not a boolean", what, key);
        return SB_EPARSE;
    }
    *out = json_is_true(v);
    return 1;
}

int provider_wire_number(const struct json_t *obj, const char *key, double min, double max,
                         double *out, const char *what, char *err, size_t errsize)
{
    json_t *v = member(obj, key);
    double d;

    if (!v)
        return 0;
    if (!json_is_number(v)) {
        sb_set_error(err, errsize, "%s %s is not a number", what, key);
        return SB_EPARSE;
    }
    d = json_number_value(v);
    if (!(d >= min && d <= max)) {
        sb_set_error(err, errsize, "%s %s is out of range", what, key);
        return SB_EPARSE;
    }
    *out = d;
    return 1;
}

int provider_wire_integer(const struct json_t *obj, const char *key, long min, long max, long *out,
                          const char *what, char *err, size_t errsize)
{
    json_t *v = member(obj, key);
    json_int_t i;

    if (!v)
        return 0;
    if (!json_is_integer(v)) {
        sb_set_error(err, errsize, "%s %s is not an integer", what, key);
        return SB_EPARSE;
    }
    i = json_integer_value(v);
    if (i < min || i > max) {
        sb_set_error(err, errsize, "%s %s is out of range", what, key);
        return SB_EPARSE;
    }
    *out = (long)i;
    return 1;
}

int provider_wire_string(const struct json_t *obj, const char *key, const char **out, size_t *len,
                         const char *what, char *err, size_t errsize)
{
    json_t *v = member(obj, key);

    if (!v)
        return 0;
    if (!json_is_string(v)) {
        sb_set_error(err, errsize, "%s %s is not a string", what, key);
        return SB_EPARSE;
    }
    *out = json_string_value(v);
    if (len)
        *len = json_string_length(v);
    return 1;
}

int provider_wire_copy(char *dst, size_t size, const char *s, size_t len)
{
    size_t n = 0;

    while (n < len) {
        size_t step = utf8_decode((const unsigned char *)s + n, len - n, NULL);

        if (step == 0 || n + step > size - 1)
            break;
        n += step;
    }
    memmove(dst, s, n);
    dst[n] = '\0';
    return n < len;
}
