#include "core/sig.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include "core/err.h"
#include "core/banned.h"

/* Length of the base64 text of a 20-byte digest, without the NUL. */
#define SIG_B64_LEN (SIG_B64_SIZE - 1)

/* Lower-case hex SHA-256, without the NUL. */
#define SHA256_HEX_LEN (2 * SHA256_DIGEST_LENGTH)

/* A byte range of the URL being signed. */
struct span {
    const char *p;
    size_t n;
};

/*
 * The parts of scheme://[userinfo@]host[:port]rest that the port variants
 * are built from. `pre` runs from after "://" to the end of the host
 * (userinfo included, since Twilio signs it), `rest` is path and query.
 */
struct url_parts {
    struct span scheme;
    struct span pre;
    struct span port; /* n == 0 when the URL names no port */
    struct span rest;
    bool has_port;
};

/* One HMAC-SHA1 computation in progress. */
struct mac {
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx;
    bool keyed; /* the context already holds the key: restart without setting it up again */
};

/* A token keyed once; see sig_key_new. */
struct sig_key {
    struct mac m;
};

/*
 * The URL Twilio signs never includes a fragment: connection overrides such
 * as "#rc=2" are instructions to Twilio and are not sent to the server.
 */
static size_t url_len_without_fragment(const char *url)
{
    const char *hash = strchr(url, '#');

    return hash ? (size_t)(hash - url) : strlen(url);
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char to_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Finds the last `c` in p[0..n), or NULL. */
static const char *span_rchr(const char *p, size_t n, char c)
{
    while (n > 0) {
        n--;
        if (p[n] == c)
            return p + n;
    }
    return NULL;
}

/*
 * Splits url[0..len) into its parts. The host is either a bracketed IPv6
 * literal or runs to the first ':'; userinfo runs to the last '@' of the
 * authority, as in Python's urllib. Returns 0 or SB_EINVAL.
 */
static int url_split(const char *url, size_t len, struct url_parts *u)
{
    size_t i = 0, auth, auth_end, host, host_end;
    const char *at;

    memset(u, 0, sizeof(*u));
    if (len == 0 || !is_alpha(url[0]))
        return SB_EINVAL;
    while (i < len && (is_alpha(url[i]) || is_digit(url[i]) || url[i] == '+' || url[i] == '-' ||
                       url[i] == '.'))
        i++;
    if (len - i < 3 || memcmp(url + i, "://", 3) != 0)
        return SB_EINVAL;
    u->scheme.p = url;
    u->scheme.n = i;

    auth = i + 3;
    auth_end = auth;
    while (auth_end < len && url[auth_end] != '/' && url[auth_end] != '?')
        auth_end++;

    at = span_rchr(url + auth, auth_end - auth, '@');
    host = at ? (size_t)(at - url) + 1 : auth;
    if (host < auth_end && url[host] == '[') {
        const char *close = memchr(url + host, ']', auth_end - host);

        if (!close)
            return SB_EINVAL;
        host_end = (size_t)(close - url) + 1;
        if (host_end < auth_end && url[host_end] != ':')
            return SB_EINVAL;
    } else {
        const char *colon = memchr(url + host, ':', auth_end - host);

        host_end = colon ? (size_t)(colon - url) : auth_end;
    }
    if (host_end == host)
        return SB_EINVAL;

    if (host_end < auth_end) {
        size_t p = host_end + 1;
        unsigned long port = 0;

        /* A port is one to five digits no larger than 65535; anything else is not a URL. */
        if (auth_end - p < 1 || auth_end - p > 5)
            return SB_EINVAL;
        for (; p < auth_end; p++) {
            if (!is_digit(url[p]))
                return SB_EINVAL;
            port = port * 10 + (unsigned long)(url[p] - '0');
        }
        if (port > 65535)
            return SB_EINVAL;
        u->has_port = true;
        u->port.p = url + host_end + 1;
        u->port.n = auth_end - host_end - 1;
    }

    u->pre.p = url + auth;
    u->pre.n = host_end - auth;
    u->rest.p = url + auth_end;
    u->rest.n = len - auth_end;
    return 0;
}

/* Returns true when the scheme, compared without case, is `name`. */
static bool scheme_is(const struct span *scheme, const char *name)
{
    size_t i, n = strlen(name);

    if (scheme->n != n)
        return false;
    for (i = 0; i < n; i++) {
        if (to_lower(scheme->p[i]) != name[i])
            return false;
    }
    return true;
}

static void mac_free(struct mac *m)
{
    EVP_MAC_CTX_free(m->ctx);
    EVP_MAC_free(m->mac);
    m->ctx = NULL;
    m->mac = NULL;
}

static int mac_new(struct mac *m)
{
    m->ctx = NULL;
    m->keyed = false;
    m->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (m->mac)
        m->ctx = EVP_MAC_CTX_new(m->mac);
    if (!m->ctx) {
        mac_free(m);
        ERR_clear_error();
        return SB_ENOMEM;
    }
    return 0;
}

/*
 * Starts a new HMAC-SHA1 with `token` as key. The key is passed as a
 * non-NULL pointer even when empty, because a NULL key would tell OpenSSL to
 * reuse the previous one.
 */
static int mac_begin(struct mac *m, const char *token)
{
    OSSL_PARAM params[2];

    if (m->keyed) {
        /* A NULL key restarts with the stored key and digest. */
        if (!EVP_MAC_init(m->ctx, NULL, 0, NULL)) {
            ERR_clear_error();
            return SB_ENOMEM;
        }
        return 0;
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA1", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_init(m->ctx, (const unsigned char *)token, strlen(token), params)) {
        ERR_clear_error();
        return SB_ENOMEM;
    }
    return 0;
}

static int mac_update(struct mac *m, const void *p, size_t n)
{
    if (n && !EVP_MAC_update(m->ctx, p, n)) {
        ERR_clear_error();
        return SB_ENOMEM;
    }
    return 0;
}

/* Finishes the HMAC and writes its base64 text (always SIG_B64_LEN chars) to `out`. */
static int mac_end(struct mac *m, char out[SIG_B64_SIZE])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    size_t dlen = 0;

    if (!EVP_MAC_final(m->ctx, digest, &dlen, sizeof(digest)) || dlen != 20) {
        ERR_clear_error();
        return SB_ENOMEM;
    }
    EVP_EncodeBlock((unsigned char *)out, digest, (int)dlen);
    out[SIG_B64_LEN] = '\0';
    return 0;
}

/* Orders fields by key, then by value, both as strcmp (byte order). */
static int field_cmp(const void *a, const void *b)
{
    const struct form_field *x = *(const struct form_field *const *)a;
    const struct form_field *y = *(const struct form_field *const *)b;
    int c = strcmp(x->key, y->key);

    return c ? c : strcmp(x->value, y->value);
}

/*
 * Returns in *out (caller frees) the fields of `params` sorted by key and
 * value, and in *n how many there are. Exact duplicates are left in; the
 * writer skips them, which is how the helper libraries de-duplicate values.
 */
static int params_sorted(const struct form *params, const struct form_field ***out, size_t *n)
{
    const struct form_field **v;
    size_t i;

    *out = NULL;
    *n = 0;
    if (!params || params->count == 0)
        return 0;
    v = calloc(params->count, sizeof(*v));
    if (!v)
        return SB_ENOMEM;
    for (i = 0; i < params->count; i++)
        v[i] = &params->fields[i];
    qsort(v, params->count, sizeof(*v), field_cmp);
    *out = v;
    *n = params->count;
    return 0;
}

/* Feeds key+value for every distinct (key, value) pair, in sorted order. */
static int mac_params(struct mac *m, const struct form_field *const *v, size_t n)
{
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        if (i > 0 && field_cmp(&v[i - 1], &v[i]) == 0)
            continue;
        rc = mac_update(m, v[i]->key, strlen(v[i]->key));
        if (!rc)
            rc = mac_update(m, v[i]->value, strlen(v[i]->value));
        if (rc)
            return rc;
    }
    return 0;
}

/*
 * Signs one port variant of the URL: the scheme in lower case (as Python's
 * urllib hands it back), "://", userinfo and host, then `port` (may be NULL),
 * then path and query, then the parameters.
 */
static int sign_variant(struct mac *m, const char *token, const struct url_parts *u,
                        const char *port, size_t port_len, const struct form_field *const *v,
                        size_t n, char out[SIG_B64_SIZE])
{
    size_t i;
    int rc = mac_begin(m, token);

    for (i = 0; !rc && i < u->scheme.n; i++) {
        char c = to_lower(u->scheme.p[i]);

        rc = mac_update(m, &c, 1);
    }
    if (!rc)
        rc = mac_update(m, "://", 3);
    if (!rc)
        rc = mac_update(m, u->pre.p, u->pre.n);
    if (!rc && port) {
        rc = mac_update(m, ":", 1);
        if (!rc)
            rc = mac_update(m, port, port_len);
    }
    if (!rc)
        rc = mac_update(m, u->rest.p, u->rest.n);
    if (!rc)
        rc = mac_params(m, v, n);
    if (!rc)
        rc = mac_end(m, out);
    return rc;
}

int sig_compute(const char *token, const char *url, const struct form *params,
                char out[SIG_B64_SIZE])
{
    struct mac m = {NULL, NULL, false};
    const struct form_field **v = NULL;
    size_t n = 0;
    int rc;

    if (!token || !url || !out)
        return SB_EINVAL;
    rc = params_sorted(params, &v, &n);
    if (rc)
        goto out;
    rc = mac_new(&m);
    if (rc)
        goto out;
    rc = mac_begin(&m, token);
    if (!rc)
        rc = mac_update(&m, url, url_len_without_fragment(url));
    if (!rc)
        rc = mac_params(&m, v, n);
    if (!rc)
        rc = mac_end(&m, out);
out:
    mac_free(&m);
    free(v);
    return rc;
}

/*
 * Checks `header` against both port variants of url[0..len). Both variants
 * are always computed and compared so that the time taken does not depend
 * on which one (if any) matched.
 */
static int check_with(struct mac *m, const char *token, const char *url, size_t len,
                      const struct form *params, const char *header)
{
    const struct form_field **v = NULL;
    struct url_parts u;
    char without[SIG_B64_SIZE], with[SIG_B64_SIZE];
    const char *port;
    size_t n = 0, port_len;
    int rc, ok;

    rc = url_split(url, len, &u);
    if (rc)
        goto out;
    if (!header || strnlen(header, SIG_B64_SIZE) != SIG_B64_LEN) {
        rc = SB_EBADSIG;
        goto out;
    }
    rc = params_sorted(params, &v, &n);
    if (rc)
        goto out;
    rc = sign_variant(m, token, &u, NULL, 0, v, n, without);
    if (rc)
        goto out;
    if (u.has_port) {
        port = u.port.p;
        port_len = u.port.n;
    } else if (scheme_is(&u.scheme, "https") || scheme_is(&u.scheme, "wss")) {
        port = "443";
        port_len = 3;
    } else {
        port = "80";
        port_len = 2;
    }
    rc = sign_variant(m, token, &u, port, port_len, v, n, with);
    if (rc)
        goto out;

    ok = CRYPTO_memcmp(without, header, SIG_B64_LEN) == 0;
    ok |= CRYPTO_memcmp(with, header, SIG_B64_LEN) == 0;
    rc = ok ? 0 : SB_EBADSIG;
out:
    free(v);
    return rc;
}

static int sig_check(const char *token, const char *url, size_t len, const struct form *params,
                     const char *header)
{
    struct mac m = {NULL, NULL, false};
    int rc = mac_new(&m);

    if (!rc)
        rc = check_with(&m, token, url, len, params, header);
    mac_free(&m);
    return rc;
}

int sig_validate(const char *token, const char *url, const struct form *params, const char *header)
{
    if (!token || !url)
        return SB_EINVAL;
    return sig_check(token, url, url_len_without_fragment(url), params, header);
}

/*
 * Writes the lower-case hex SHA-256 of body[0..len) and a NUL to `hex`.
 * Returns 0, or SB_ENOMEM when OpenSSL failed (it allocates a context).
 */
static int sha256_hex(const void *body, size_t len, char hex[SHA256_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    size_t i;

    if (!SHA256(body, len, md)) {
        ERR_clear_error();
        return SB_ENOMEM;
    }
    for (i = 0; i < sizeof(md); i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0x0f];
    }
    hex[SHA256_HEX_LEN] = '\0';
    return 0;
}

int sig_validate_body(const char *token, const char *url, const void *body, size_t len,
                      const char *header)
{
    struct form query = FORM_INIT;
    char hex[SHA256_HEX_LEN + 1];
    const char *q, *claimed;
    size_t ulen;
    int rc, hash_ok;

    if (!token || !url || (!body && len))
        return SB_EINVAL;
    ulen = url_len_without_fragment(url);

    /* The signature is over the URL alone; its query carries the body's hash. */
    rc = sig_check(token, url, ulen, NULL, header);
    if (rc && rc != SB_EBADSIG)
        goto out;

    q = memchr(url, '?', ulen);
    if (q) {
        int qrc = form_parse(&query, q + 1, ulen - (size_t)(q - url) - 1);

        /* A query we cannot decode cannot vouch for the body. */
        if (qrc == SB_ENOMEM) {
            rc = qrc;
            goto out;
        }
    }
    claimed = form_get(&query, "bodySHA256");
    /* Without the hash the body is unchecked: an error, not a mismatch. */
    if (sha256_hex(body ? body : "", len, hex)) {
        rc = SB_ENOMEM;
        goto out;
    }
    hash_ok = claimed && strlen(claimed) == SHA256_HEX_LEN &&
              CRYPTO_memcmp(claimed, hex, SHA256_HEX_LEN) == 0;
    if (!hash_ok)
        rc = SB_EBADSIG;
out:
    form_release(&query);
    return rc;
}

int sig_key_new(struct sig_key **out, const char *token)
{
    struct sig_key *k = NULL;
    int rc;

    *out = NULL;
    if (!token)
        return SB_EINVAL;
    k = calloc(1, sizeof(*k));
    if (!k)
        return SB_ENOMEM;
    rc = mac_new(&k->m);
    if (!rc)
        rc = mac_begin(&k->m, token);
    if (rc) {
        mac_free(&k->m);
        free(k);
        return rc;
    }
    k->m.keyed = true;
    *out = k;
    return 0;
}

void sig_key_free(struct sig_key *k)
{
    if (!k)
        return;
    mac_free(&k->m);
    free(k);
}

int sig_key_validate(struct sig_key *k, const char *url, const struct form *params,
                     const char *header)
{
    if (!k || !url)
        return SB_EINVAL;
    return check_with(&k->m, NULL, url, url_len_without_fragment(url), params, header);
}
