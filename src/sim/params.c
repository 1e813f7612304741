#include "sim/params.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"

/*
 * Twilio sends a few dozen parameters of modest size; the encoded form is
 * capped well above that so that a runaway caller fails instead of eating
 * memory.
 */
#define SIM_PARAMS_MAX_ENCODED (1024 * 1024)

static int grow(struct sim_params *p)
{
    struct sim_param *items;
    size_t cap;

    if (p->count < p->cap)
        return 0;
    cap = p->cap ? 2 * p->cap : 16;
    items = realloc(p->items, cap * sizeof(*items));
    if (!items)
        return SB_ENOMEM;
    p->items = items;
    p->cap = cap;
    return 0;
}

int sim_params_add(struct sim_params *p, const char *name, const char *value)
{
    char *n = NULL, *v = NULL;
    int rc;

    if (!p || !name || !value)
        return SB_EINVAL;
    rc = grow(p);
    if (rc)
        goto out;
    n = strdup(name);
    v = strdup(value);
    if (!n || !v) {
        rc = SB_ENOMEM;
        goto out;
    }
    p->items[p->count].name = n;
    p->items[p->count].value = v;
    p->count++;
    n = NULL;
    v = NULL;
out:
    free(n);
    free(v);
    return rc;
}

int sim_params_set(struct sim_params *p, const char *name, const char *value)
{
    char *v = NULL;
    size_t i, kept = 0;
    int found = 0;
    int rc = 0;

    if (!p || !name || !value)
        return SB_EINVAL;
    for (i = 0; i < p->count && !found; i++)
        found = strcmp(p->items[i].name, name) == 0;
    if (!found)
        return sim_params_add(p, name, value);
    /* Copy first, so that a failed allocation leaves the list untouched. */
    v = strdup(value);
    if (!v) {
        rc = SB_ENOMEM;
        goto out;
    }
    /* The first occurrence keeps its place; later ones go. */
    found = 0;
    for (i = 0; i < p->count; i++) {
        struct sim_param *it = &p->items[i];

        if (strcmp(it->name, name) != 0) {
            p->items[kept++] = *it;
            continue;
        }
        if (found) {
            free(it->name);
            free(it->value);
            continue;
        }
        found = 1;
        free(it->value);
        it->value = v;
        v = NULL;
        p->items[kept++] = *it;
    }
    p->count = kept;
out:
    free(v);
    return rc;
}

int sim_params_extend(struct sim_params *p, const struct sim_params *from)
{
    size_t i, n;
    int rc = 0;

    if (!p || !from)
        return SB_EINVAL;
    /*
     * The count is taken once so that extending a list with itself copies
     * it once instead of chasing its own growth. The strings passed on stay
     * valid when the array moves, since they are separate allocations.
     */
    n = from->count;
    for (i = 0; i < n && !rc; i++)
        rc = sim_params_add(p, from->items[i].name, from->items[i].value);
    return rc;
}

const char *sim_params_get(const struct sim_params *p, const char *name)
{
    size_t i;

    if (!p || !name)
        return NULL;
    for (i = 0; i < p->count; i++) {
        if (strcmp(p->items[i].name, name) == 0)
            return p->items[i].value;
    }
    return NULL;
}

/*
 * application/x-www-form-urlencoded as browsers and Python's urlencode write
 * it: the RFC 3986 unreserved set passes, space becomes '+', every other byte
 * becomes %XX with upper-case hex.
 */
static int encode(struct buf *b, const char *s)
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

char *sim_params_encode(const struct sim_params *p)
{
    struct buf b = BUF_INIT(SIM_PARAMS_MAX_ENCODED);
    char *out = NULL;
    size_t i;
    int rc = 0;

    if (!p)
        goto out;
    for (i = 0; i < p->count && !rc; i++) {
        if (i > 0)
            rc = buf_putc(&b, '&');
        if (!rc)
            rc = encode(&b, p->items[i].name);
        if (!rc)
            rc = buf_putc(&b, '=');
        if (!rc)
            rc = encode(&b, p->items[i].value);
    }
    if (!rc)
        out = buf_detach(&b, NULL);
out:
    buf_release(&b);
    return out;
}

void sim_params_release(struct sim_params *p)
{
    size_t i;

    if (!p)
        return;
    for (i = 0; i < p->count; i++) {
        free(p->items[i].name);
        free(p->items[i].value);
    }
    free(p->items);
    p->items = NULL;
    p->count = 0;
    p->cap = 0;
}
