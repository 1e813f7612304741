#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/err.h"
#include "core/utf8.h"
#include "core/banned.h"

static void report(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static void report(const char *fmt, va_list ap)
{
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report(fmt, ap);
    va_end(ap);
    return 1;
}

int cli_usage(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report(fmt, ap);
    va_end(ap);
    return 2;
}

int cli_collection(const struct cli_collection *col, int argc, char **argv)
{
    struct store *s = NULL;
    const char *db = NULL;
    int as_json = 0, rc;

    if (cli_json_db_options(argc, argv, &as_json, &db) < 0)
        return 2;
    if (strcmp(argv[0], "list") == 0) {
        if (optind != argc)
            return cli_fail("%ss list takes no arguments", col->noun);
        if (cli_open_store(&s, db))
            return 1;
        rc = col->list(s, as_json);
        store_close(s);
        return rc;
    }
    if (optind != argc - 1)
        return cli_fail("%ss remove needs exactly one %s", col->noun, col->key);
    if (cli_open_store(&s, db))
        return 1;
    rc = col->remove(s, argv[optind]);
    store_close(s);
    if (rc == SB_ENOTFOUND)
        return cli_fail("%s '%s' does not exist", col->noun, argv[optind]);
    if (rc == SB_EBUSY)
        return cli_fail("%s '%s' still has %s; remove them first", col->noun, argv[optind],
                        col->dependents);
    if (rc)
        return cli_fail("cannot remove %s '%s': %s", col->noun, argv[optind], sb_strerror(rc));
    printf("removed %s %s\n", col->noun, argv[optind]);
    return 0;
}

const char *cli_db_path(const char *flag)
{
    const char *env = getenv("SWITCHBOARD_DB");

    if (flag && *flag)
        return flag;
    if (env && *env)
        return env;
    return "./switchboard.db";
}

int cli_open_store(struct store **out, const char *flag)
{
    const char *path = cli_db_path(flag);
    int rc = store_open(out, path);
    char shown[512];

    if (rc) {
        /* A PostgreSQL URL may hold a password. */
        store_target_redact(path, shown, sizeof(shown));
        return cli_fail("cannot open store '%s': %s", shown, sb_strerror(rc));
    }
    return 0;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

int cli_json_db_options(int argc, char **argv, int *as_json, const char **db)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'j')
            *as_json = 1;
        else if (c == 'd')
            *db = optarg;
        else
            return -1;
    }
    return 0;
}

/* ---- flags and files the sim's servers share ---- */

int cli_parse_num(const char *flag, const char *value, long lo, long hi, int *out)
{
    char *end = NULL;
    long v = strtol(value, &end, 10);

    if (end == value || *end || v < lo || v > hi) {
        cli_usage("%s '%s' is not a whole number from %ld to %ld", flag, value, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_parse_listen(const char *value, char *host, size_t hostsize, int *port)
{
    const char *colon, *h = value;
    size_t hlen;

    if (value[0] == '[') {
        const char *close = strchr(value, ']');

        if (!close || close[1] != ':')
            goto bad;
        h = value + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(value, ':');
        hlen = colon ? (size_t)(colon - value) : 0;
    }
    if (hlen >= hostsize)
        goto bad;
    if (hlen) {
        memcpy(host, h, hlen);
        host[hlen] = '\0';
    } else {
        snprintf(host, hostsize, "127.0.0.1");
    }
    return cli_parse_num("--listen port", colon ? colon + 1 : value, 0, 65535, port);
bad:
    cli_usage("--listen '%s' is not [HOST:]PORT (e.g. 127.0.0.1:8080)", value);
    return -1;
}

void cli_lines_release(struct cli_lines *l)
{
    free(l->text);
    free(l->line);
    memset(l, 0, sizeof(*l));
}

int cli_lines_load(const char *flag, const char *path, struct cli_lines *l, char *err,
                   size_t errsize)
{
    FILE *f = fopen(path, "rb");
    size_t len = 0, cap = 0;
    char *p;

    memset(l, 0, sizeof(*l));
    if (!f) {
        snprintf(err, errsize, "%s '%s' cannot be read", flag, path);
        return -1;
    }
    l->text = malloc(1024 * 1024 + 1);
    if (l->text)
        len = fread(l->text, 1, 1024 * 1024 + 1, f);
    fclose(f);
    if (!l->text || len > 1024 * 1024) {
        snprintf(err, errsize, "%s '%s' is larger than 1 MiB", flag, path);
        return -1;
    }
    l->text[len] = '\0';
    if (strlen(l->text) != len || !utf8_valid(l->text, len)) {
        snprintf(err, errsize, "%s '%s' is not UTF-8 text", flag, path);
        return -1;
    }
    for (p = l->text; *p && l->n < 10000;) {
        char *nl = strchr(p, '\n');

        if (nl)
            *nl = '\0';
        if (nl && nl > p && nl[-1] == '\r')
            nl[-1] = '\0';
        if (*p) {
            if (l->n == cap) {
                const char **grown = realloc(l->line, (cap = cap ? cap * 2 : 16) * sizeof(*grown));

                if (!grown) {
                    snprintf(err, errsize, "out of memory");
                    return -1;
                }
                l->line = grown;
            }
            l->line[l->n++] = p;
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    if (l->n == 0) {
        snprintf(err, errsize, "%s '%s' has no line", flag, path);
        return -1;
    }
    return 0;
}
