#include "core/csv.h"

#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

void csv_release(struct csv *c)
{
    free(c->records);
    free(c->text);
    free(c->fields);
    memset(c, 0, sizeof(*c));
}

/* Fields are offsets into the copy while the arrays grow, pointers at the end. */
struct builder {
    struct csv_record *records;
    size_t nrecords, caprecords;
    size_t *starts; /* offset of each field in the copy */
    size_t nstarts, capstarts;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t ncap;
    void *q;

    if (need <= *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    q = realloc(*p, ncap * elem);
    if (!q)
        return SB_ENOMEM;
    *p = q;
    *cap = ncap;
    return 0;
}

static int fail(int rc, char *err, size_t errsize, size_t line, const char *what)
{
    sb_set_error(err, errsize, "line %zu: %s", line, what);
    return rc;
}

int csv_parse(const char *data, size_t len, struct csv *out, char *err, size_t errsize)
{
    struct builder b = {0};
    size_t i = 0, o = 0, line = 1;
    char *text = NULL;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (len > CSV_MAX_BYTES) {
        sb_set_error(err, errsize, "the text is larger than %u bytes", CSV_MAX_BYTES);
        return SB_ETOOBIG;
    }
    if (memchr(data, '\0', len)) {
        size_t at = (size_t)((const char *)memchr(data, '\0', len) - data);

        for (size_t k = 0; k < at; k++)
            line += data[k] == '\n';
        return fail(SB_EPARSE, err, errsize, line, "a NUL byte");
    }
    /* Unquoting only shrinks a field, and each field ends with one NUL that replaces its separator.
     */
    text = malloc(len + 1);
    if (!text)
        return SB_ENOMEM;
    while (i < len) {
        size_t rec_line = line, nfields = 0;
        int ended = 0;

        /* A line with nothing on it is no record. */
        if (data[i] == '\n' || (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')) {
            i += data[i] == '\r' ? 2 : 1;
            line++;
            continue;
        }
        while (!ended) {
            size_t start = o;

            if (nfields == CSV_MAX_FIELDS) {
                rc = fail(SB_ETOOBIG, err, errsize, rec_line, "a record has too many fields");
                goto out;
            }
            rc = grow((void **)&b.starts, &b.capstarts, b.nstarts + 1, sizeof(*b.starts));
            if (rc)
                goto out;
            b.starts[b.nstarts++] = start;
            nfields++;
            if (i < len && data[i] == '"') {
                size_t open_line = line;

                i++;
                for (;;) {
                    if (i >= len) {
                        rc = fail(SB_EPARSE, err, errsize, open_line,
                                  "a quoted field is not closed");
                        goto out;
                    }
                    if (data[i] == '"') {
                        if (i + 1 < len && data[i + 1] == '"') {
                            text[o++] = '"';
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    if (data[i] == '\n')
                        line++;
                    text[o++] = data[i++];
                }
                if (i < len && data[i] != ',' && data[i] != '\n' &&
                    !(data[i] == '\r' && i + 1 < len && data[i + 1] == '\n') &&
                    !(data[i] == '\r' && i + 1 == len)) {
                    rc = fail(SB_EPARSE, err, errsize, line, "text after a closing quote");
                    goto out;
                }
            } else {
                while (i < len && data[i] != ',' && data[i] != '\n' &&
                       !(data[i] == '\r' && (i + 1 == len || data[i + 1] == '\n'))) {
                    if (data[i] == '"') {
                        rc = fail(SB_EPARSE, err, errsize, line, "'\"' inside an unquoted field");
                        goto out;
                    }
                    text[o++] = data[i++];
                }
            }
            if (o - start > CSV_MAX_FIELD) {
                rc = fail(SB_ETOOBIG, err, errsize, rec_line, "a field is too long");
                goto out;
            }
            text[o++] = '\0';
            if (i < len && data[i] == ',') {
                i++;
                continue;
            }
            ended = 1;
            if (i < len && data[i] == '\r')
                i++;
            if (i < len && data[i] == '\n') {
                i++;
                line++;
            }
        }
        rc = grow((void **)&b.records, &b.caprecords, b.nrecords + 1, sizeof(*b.records));
        if (rc)
            goto out;
        b.records[b.nrecords].line = rec_line;
        b.records[b.nrecords].fields = NULL;
        /* The fields become pointers once the arrays stop moving. */
        b.records[b.nrecords].nfields = nfields;
        b.nrecords++;
    }
    if (b.nstarts) {
        size_t f = 0;

        out->fields = malloc(b.nstarts * sizeof(*out->fields));
        if (!out->fields) {
            rc = SB_ENOMEM;
            goto out;
        }
        for (size_t k = 0; k < b.nstarts; k++)
            out->fields[k] = text + b.starts[k];
        for (size_t r = 0; r < b.nrecords; r++) {
            b.records[r].fields = out->fields + f;
            f += b.records[r].nfields;
        }
    }
    out->records = b.records;
    out->nrecords = b.nrecords;
    out->text = text;
    b.records = NULL;
    text = NULL;
out:
    free(b.starts);
    free(b.records);
    free(text);
    if (rc) {
        free(out->fields);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}
