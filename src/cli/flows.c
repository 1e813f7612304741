#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/err.h"
#include "flow/flow.h"
#include "core/banned.h"

static const char flows_usage[] =
    "usage: switchboard flows validate FILE\n"
    "       switchboard flows import FILE --tenant NAME\n"
    "       switchboard flows show --tenant NAME [--flow FLOW]\n"
    "       switchboard flows export --tenant NAME --flow FLOW\n"
    "       switchboard flows list [--tenant NAME]\n"
    "\n"
    "IVR flows (docs/flows.md). A number answers with a flow after\n"
    "'switchboard numbers set-flow E164 FLOW'; the next call uses it.\n"
    "  --db PATH   the store (env SWITCHBOARD_DB, default ./switchboard.db)\n";

#define FLOW_FILE_MAX (1024 * 1024)

/* Reads a whole file into `out` (at most 1 MiB). */
static int read_file(const char *path, struct buf *out)
{
    char chunk[8192];
    FILE *f = fopen(path, "r");
    size_t n;
    int rc = 0;

    if (!f) {
        char why[128];

        return cli_fail("cannot read flow file '%s': %s", path,
                        strerror_r(errno, why, sizeof(why)));
    }
    for (n = fread(chunk, 1, sizeof(chunk), f); n > 0 && rc == 0;
         n = fread(chunk, 1, sizeof(chunk), f))
        rc = buf_append(out, chunk, n);
    fclose(f);
    if (rc)
        return cli_fail("flow file '%s' is larger than 1 MiB", path);
    return 0;
}

/* Loads and validates a flow file; prints the problem with file and line. */
static int load_file(const char *path, struct buf *text, struct flow **f)
{
    char err[512];

    if (read_file(path, text))
        return 1;
    if (flow_load(f, buf_cstr(text), text->len, err, sizeof(err)))
        return cli_fail("%s: %s", path, err);
    return 0;
}

static int flows_validate(const char *path)
{
    struct buf text = BUF_INIT(FLOW_FILE_MAX);
    struct flow *f = NULL;
    int rc = load_file(path, &text, &f);

    if (rc == 0)
        printf("%s: flow '%s' is valid\n", path, flow_name(f));
    flow_free(f);
    buf_release(&text);
    return rc;
}

static int flows_import(const char *path, const char *tenant, const char *db)
{
    struct buf text = BUF_INIT(FLOW_FILE_MAX);
    struct flow *f = NULL;
    struct store *s = NULL;
    int rc = load_file(path, &text, &f);

    if (rc)
        goto out;
    if (cli_open_store(&s, db)) {
        rc = 1;
        goto out;
    }
    rc = store_flow_put(s, tenant, flow_name(f), buf_cstr(&text));
    if (rc == SB_ENOTFOUND)
        rc = cli_fail("tenant '%s' does not exist", tenant);
    else if (rc)
        rc = cli_fail("cannot import flow '%s': %s", flow_name(f), sb_strerror(rc));
    else
        printf("imported flow %s for tenant %s\n", flow_name(f), tenant);
out:
    store_close(s);
    flow_free(f);
    buf_release(&text);
    return rc;
}

/* Prints one stored flow: its outline, or (raw) its JSON as imported. */
static int flows_print(struct store *s, const char *tenant, const char *name, int raw)
{
    char *json = NULL, *outline = NULL, err[512];
    struct flow *f = NULL;
    int rc = store_flow_get(s, tenant, name, &json);

    if (rc == SB_ENOTFOUND)
        return cli_fail("tenant '%s' has no flow '%s'", tenant, name);
    if (rc)
        return cli_fail("cannot read flow '%s': %s", name, sb_strerror(rc));
    if (raw) {
        fputs(json, stdout);
        if (!*json || json[strlen(json) - 1] != '\n')
            fputc('\n', stdout);
    } else if (flow_load(&f, json, strlen(json), err, sizeof(err)) == 0) {
        outline = flow_outline(f);
        fputs(outline ? outline : "", stdout);
    } else {
        rc = cli_fail("stored flow '%s' no longer validates: %s", name, err);
    }
    free(outline);
    flow_free(f);
    free(json);
    return rc;
}

static int flows_show(struct store *s, const char *tenant, const char *name, int raw)
{
    struct flow_ref *refs = NULL;
    size_t n = 0;
    int rc;

    if (name)
        return flows_print(s, tenant, name, raw);
    rc = store_flow_list(s, tenant, &refs, &n);
    if (rc)
        return cli_fail("cannot list flows: %s", sb_strerror(rc));
    if (n == 0)
        printf("tenant %s has no flows\n", tenant);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = flows_print(s, tenant, refs[i].name, raw);
    free(refs);
    return rc;
}

int cli_flows(int argc, char **argv)
{
    static const struct option opts[] = {
        {"tenant", required_argument, NULL, 't'},
        {"flow", required_argument, NULL, 'f'},
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    const char *tenant = NULL, *name = NULL, *db = NULL, *cmd;
    struct store *s = NULL;
    int c, rc, nargs;

    if (cli_wants_help(argc, argv)) {
        fputs(flows_usage, stdout);
        return 0;
    }
    if (argc < 2) {
        fputs(flows_usage, stderr);
        return 2;
    }
    cmd = argv[1];
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        if (c == 't')
            tenant = optarg;
        else if (c == 'f')
            name = optarg;
        else if (c == 'd')
            db = optarg;
        else
            return 2;
    }
    nargs = argc - 1 - optind;
    if (strcmp(cmd, "validate") == 0) {
        if (nargs != 1)
            return cli_fail("flows validate needs exactly one FILE");
        return flows_validate(argv[1 + optind]);
    }
    if (strcmp(cmd, "import") == 0) {
        if (nargs != 1 || !tenant)
            return cli_fail("flows import needs one FILE and --tenant NAME");
        return flows_import(argv[1 + optind], tenant, db);
    }
    if (strcmp(cmd, "show") != 0 && strcmp(cmd, "export") != 0 && strcmp(cmd, "list") != 0)
        return cli_fail("unknown flows command '%s' (validate, import, show, export, list)", cmd);
    if (nargs != 0)
        return cli_fail("flows %s takes no arguments, got '%s'", cmd, argv[1 + optind]);
    if (strcmp(cmd, "list") != 0 && !tenant)
        return cli_fail("flows %s needs --tenant NAME", cmd);
    if (strcmp(cmd, "export") == 0 && !name)
        return cli_fail("flows export needs --flow FLOW");
    if (cli_open_store(&s, db))
        return 1;
    if (strcmp(cmd, "list") == 0) {
        struct flow_ref *refs = NULL;
        size_t n = 0;

        rc = store_flow_list(s, tenant, &refs, &n);
        if (rc)
            rc = cli_fail("cannot list flows: %s", sb_strerror(rc));
        for (size_t i = 0; i < n; i++)
            printf("%-24s %s\n", refs[i].tenant, refs[i].name);
        free(refs);
    } else {
        rc = flows_show(s, tenant, name, strcmp(cmd, "export") == 0);
    }
    store_close(s);
    return rc;
}
