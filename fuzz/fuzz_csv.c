/*
 * libFuzzer target for core/csv. The input is a campaign file's bytes.
 * Besides the sanitizers it checks what the reader promises: on success
 * every record has 1 to CSV_MAX_FIELDS fields, each at most CSV_MAX_FIELD
 * bytes, lines that only grow, and writing the records back as CSV (every
 * field quoted) reads back to the same fields; on failure the reason names a
 * line and no record is left.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/csv.h"

/* Writes `c` back as CSV with every field quoted; returns the text (malloc'd). */
static char *write_back(const struct csv *c, size_t *len)
{
    size_t cap = 1, o = 0;
    char *out;

    for (size_t r = 0; r < c->nrecords; r++) {
        for (size_t f = 0; f < c->records[r].nfields; f++)
            cap += 2 * strlen(c->records[r].fields[f]) + 3;
        cap += 2;
    }
    out = malloc(cap);
    if (!out)
        abort();
    for (size_t r = 0; r < c->nrecords; r++) {
        for (size_t f = 0; f < c->records[r].nfields; f++) {
            const char *p = c->records[r].fields[f];

            if (f)
                out[o++] = ',';
            out[o++] = '"';
            for (; *p; p++) {
                if (*p == '"')
                    out[o++] = '"';
                out[o++] = *p;
            }
            out[o++] = '"';
        }
        out[o++] = '\n';
    }
    *len = o;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct csv c, again;
    char err[128] = "", *text;
    size_t len, last = 0;
    int rc = csv_parse((const char *)data, size, &c, err, sizeof(err));

    if (rc) {
        if (c.nrecords || c.records || strncmp(err, "line ", 5) != 0)
            abort();
        csv_release(&c);
        return 0;
    }
    for (size_t r = 0; r < c.nrecords; r++) {
        const struct csv_record *rec = &c.records[r];

        if (rec->nfields < 1 || rec->nfields > CSV_MAX_FIELDS || rec->line <= last)
            abort();
        last = rec->line;
        for (size_t f = 0; f < rec->nfields; f++) {
            if (strlen(rec->fields[f]) > CSV_MAX_FIELD)
                abort();
        }
    }
    text = write_back(&c, &len);
    if (csv_parse(text, len, &again, err, sizeof(err)) != 0)
        abort();
    for (size_t r = 0, k = 0; r < c.nrecords; r++) {
        const struct csv_record *rec = &c.records[r];

        if (k >= again.nrecords || again.records[k].nfields != rec->nfields)
            abort();
        for (size_t f = 0; f < rec->nfields; f++) {
            if (strcmp(again.records[k].fields[f], rec->fields[f]) != 0)
                abort();
        }
        k++;
    }
    csv_release(&again);
    csv_release(&c);
    free(text);
    return 0;
}
