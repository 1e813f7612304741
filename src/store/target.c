/* Parsing and masking of --db targets (store/target.h). */
#include "store/target.h"

#include <string.h>
#include <strings.h>

#include "core/banned.h"

#define SQLITE_PREFIX "sqlite:"

static int has_prefix(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

enum store_engine store_target_engine(const char *target)
{
    if (target && (has_prefix(target, "postgres://") || has_prefix(target, "postgresql://")))
        return STORE_POSTGRES;
    return STORE_SQLITE;
}

const char *store_target_sqlite_path(const char *target)
{
    if (target && strncmp(target, SQLITE_PREFIX, strlen(SQLITE_PREFIX)) == 0)
        return target + strlen(SQLITE_PREFIX);
    return target;
}

/* Appends n bytes of s to buf at *len, keeping room for the terminator. */
static void put(char *buf, size_t size, size_t *len, const char *s, size_t n)
{
    if (*len + 1 >= size)
        return;
    if (n > size - 1 - *len)
        n = size - 1 - *len;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

const char *store_target_display(const char *target, char *buf, size_t size)
{
    size_t len = 0;
    const char *p;
    const char *auth_end;
    const char *colon;
    const char *scheme_end;
    const char *q;

    if (!buf || size == 0)
        return buf;
    buf[0] = '\0';
    if (!target)
        return buf;
    if (store_target_engine(target) != STORE_POSTGRES) {
        put(buf, size, &len, target, strlen(target));
        return buf;
    }
    /* The userinfo ends at the last '@' before the path: a password may hold '@' or '/'. */
    scheme_end = strstr(target, "://") + 3;
    p = target;
    auth_end = NULL;
    for (const char *c = scheme_end; *c && *c != '?'; c++) {
        if (*c == '@')
            auth_end = c;
    }
    if (auth_end) {
        colon = memchr(scheme_end, ':', (size_t)(auth_end - scheme_end));
        if (colon) {
            put(buf, size, &len, target, (size_t)(colon + 1 - target));
            put(buf, size, &len, "***", 3);
            p = auth_end;
        }
    }
    /* Query parameters: the value of password= is masked up to the next '&'. */
    q = strchr(p, '?');
    if (!q) {
        put(buf, size, &len, p, strlen(p));
        return buf;
    }
    put(buf, size, &len, p, (size_t)(q - p));
    while (q && *q) {
        const char *amp = strchr(q + 1, '&');
        const char *end = amp ? amp : q + strlen(q);

        put(buf, size, &len, q, 1);
        if (has_prefix(q + 1, "password="))
            put(buf, size, &len, "password=***", 12);
        else
            put(buf, size, &len, q + 1, (size_t)(end - q - 1));
        q = amp;
    }
    return buf;
}
