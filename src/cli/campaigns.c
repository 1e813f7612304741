/*
 * switchboard campaigns: outbound calls imported from a CSV file as one
 * campaign (store/jobs.h), listed, shown with their counts, paused,
 * resumed and canceled together.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/csv.h"
#include "core/e164.h"
#include "core/err.h"
#include "core/utf8.h"
#include "store/jobs.h"
#include "voice/call_check.h"
#include "core/banned.h"

static const char campaigns_usage[] =
    "usage: switchboard campaigns import FILE.csv --tenant T (--flow F | --agent A | --say TEXT)\n"
    "                                [--from E164] [--amd] [--retries N] [--name NAME] [--strict]\n"
    "       switchboard campaigns list [--tenant T] [--json]\n"
    "       switchboard campaigns show ID [--json]\n"
    "       switchboard campaigns pause|resume|cancel ID\n"
    "\n"
    "import: queues a call for each row of a CSV file (UTF-8, a header row; columns\n"
    "`to` (E.164, required), `name` and `lang`; others are ignored) as one campaign.\n"
    "Every bad row is reported with its line; the good ones are queued, or none with\n"
    "--strict. Prints the campaign's id and counts.\n"
    "  --name NAME  the campaign's name (default: the file's name without .csv)\n"
    "  --db PATH    the store (env SWITCHBOARD_DB)\n"
    "The other flags are calls create's (switchboard calls create --help).\n"
    "show: the campaign and its calls per status. cancel: its queued calls are\n"
    "canceled; those placing or placed finish.\n";

/* The file, bounded like the reader. */
static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    *out = NULL;
    if (!f)
        return cli_fail("cannot read '%s'", path);
    buf = malloc(CSV_MAX_BYTES + 2);
    if (!buf) {
        fclose(f);
        return cli_fail("out of memory");
    }
    n = fread(buf, 1, CSV_MAX_BYTES + 1, f);
    fclose(f);
    if (n > CSV_MAX_BYTES) {
        free(buf);
        return cli_fail("'%s' is larger than %u bytes", path, CSV_MAX_BYTES);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* The default campaign name: the file's base name without ".csv". */
static void base_name(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    const char *b = slash ? slash + 1 : path;
    size_t len = strlen(b);

    if (len > 4 && strcmp(b + len - 4, ".csv") == 0)
        len -= 4;
    if (len >= size)
        len = size - 1;
    memcpy(out, b, len);
    out[len] = '\0';
    /* Do not cut a UTF-8 character in two. */
    while (len && !utf8_valid(out, len))
        out[--len] = '\0';
}

struct columns {
    int to, name, lang;
};

static int header(const struct csv_record *h, struct columns *c)
{
    c->to = c->name = c->lang = -1;
    for (size_t i = 0; i < h->nfields; i++) {
        const char *f = h->fields[i];
        int *col = strcmp(f, "to") == 0     ? &c->to
                   : strcmp(f, "name") == 0 ? &c->name
                   : strcmp(f, "lang") == 0 ? &c->lang
                                            : NULL;

        /* A byte order mark before the first name is a spreadsheet's. */
        if (i == 0 && strncmp(f, "\xef\xbb\xbf", 3) == 0)
            col = strcmp(f + 3, "to") == 0     ? &c->to
                  : strcmp(f + 3, "name") == 0 ? &c->name
                  : strcmp(f + 3, "lang") == 0 ? &c->lang
                                               : NULL;
        if (!col)
            continue;
        if (*col >= 0)
            return cli_fail("line %zu: the column '%s' is there twice", h->line, f);
        *col = (int)i;
    }
    if (c->to < 0)
        return cli_fail("line %zu: the header names no 'to' column (to, name, lang)", h->line);
    return 0;
}

static const char *field(const struct csv_record *r, int col)
{
    return col >= 0 && (size_t)col < r->nfields ? r->fields[col] : "";
}

static int campaigns_import(int argc, char **argv)
{
    enum { O_AMD = 256, O_RETRIES, O_STRICT, O_DB };
    static const struct option opts[] = {
        {"tenant", required_argument, NULL, 't'},
        {"from", required_argument, NULL, 'f'},
        {"flow", required_argument, NULL, 'F'},
        {"agent", required_argument, NULL, 'A'},
        {"say", required_argument, NULL, 'S'},
        {"amd", no_argument, NULL, O_AMD},
        {"retries", required_argument, NULL, O_RETRIES},
        {"name", required_argument, NULL, 'n'},
        {"strict", no_argument, NULL, O_STRICT},
        {"db", required_argument, NULL, O_DB},
        {NULL, 0, NULL, 0},
    };
    struct job_request tpl;
    struct call_check chk;
    struct columns cols;
    struct csv csv;
    struct job_request *reqs = NULL;
    struct store *s = NULL;
    const char *flow = NULL, *agent = NULL, *say = NULL, *name = NULL, *db = NULL, *path;
    char *text = NULL, err[256], defname[CAMPAIGN_NAME_SIZE];
    size_t len = 0, nreqs = 0, nbad = 0, bad = 0;
    long long now = (long long)time(NULL), id = 0;
    const char *allow = getenv("SWITCHBOARD_OUTBOUND_ALLOW");
    int c, rc, retries = 0, amd = 0, strict = 0;

    memset(&tpl, 0, sizeof(tpl));
    memset(&csv, 0, sizeof(csv));
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            tpl.tenant = optarg;
            break;
        case 'f':
            tpl.from = optarg;
            break;
        case 'F':
            flow = optarg;
            break;
        case 'A':
            agent = optarg;
            break;
        case 'S':
            say = optarg;
            break;
        case O_AMD:
            amd = 1;
            break;
        case O_RETRIES:
            if (cli_parse_num("--retries", optarg, 0, JOB_MAX_RETRIES, &retries))
                return 2;
            break;
        case 'n':
            name = optarg;
            break;
        case O_STRICT:
            strict = 1;
            break;
        case O_DB:
            db = optarg;
            break;
        default:
            return 2;
        }
    }
    if (optind != argc - 1)
        return cli_usage("campaigns import needs exactly one FILE.csv");
    path = argv[optind];
    if (!tpl.tenant)
        return cli_usage("campaigns import needs --tenant");
    if (tpl.from && !e164_valid(tpl.from))
        return cli_usage("--from '%s' is not an E.164 number ('+' and 7 to 15 digits)", tpl.from);
    if (cli_call_target(flow, agent, say, &tpl))
        return 2;
    tpl.max_retries = retries;
    tpl.amd = amd;
    if (!name) {
        base_name(path, defname, sizeof(defname));
        name = defname;
    }
    if (read_file(path, &text, &len))
        return 1;
    if (!utf8_valid(text, len)) {
        free(text);
        return cli_fail("'%s' is not UTF-8 text", path);
    }
    rc = csv_parse(text, len, &csv, err, sizeof(err));
    free(text);
    if (rc)
        return cli_fail("'%s': %s; nothing queued", path, err);
    if (csv.nrecords == 0) {
        csv_release(&csv);
        return cli_fail("'%s' has no header row", path);
    }
    if (header(&csv.records[0], &cols)) {
        csv_release(&csv);
        return 1;
    }
    if (csv.nrecords - 1 > CAMPAIGN_IMPORT_MAX) {
        csv_release(&csv);
        return cli_fail("'%s' has more than %d rows", path, CAMPAIGN_IMPORT_MAX);
    }
    if (cli_open_store(&s, db)) {
        csv_release(&csv);
        return 1;
    }
    /* What every row shares is checked once; each row's own fields below. */
    rc = call_check_tenant(s, &tpl, CALL_NAMES_FLAGS, NULL, &chk) ? cli_call_refused(&chk) : 0;
    if (rc == 0 && csv.nrecords > 1 && !(reqs = calloc(csv.nrecords - 1, sizeof(*reqs))))
        rc = cli_fail("out of memory");
    for (size_t i = 1; rc == 0 && i < csv.nrecords; i++) {
        const struct csv_record *row = &csv.records[i];
        struct job_request *r = &reqs[nreqs];

        *r = tpl;
        r->to = field(row, cols.to);
        r->contact_name = field(row, cols.name);
        r->lang = field(row, cols.lang);
        if (row->nfields > csv.records[0].nfields) {
            fprintf(stderr, "error: line %zu: %zu fields, the header has %zu\n", row->line,
                    row->nfields, csv.records[0].nfields);
        } else if (call_check_fields(r, NULL, CALL_NAMES_FIELDS, &chk) != 0 ||
                   call_check_allowed(allow, r->to, &chk) != 0 ||
                   call_check_optout(s, tpl.tenant, r->to, &chk) != 0) {
            fprintf(stderr, "error: line %zu: %s\n", row->line, chk.message);
        } else {
            nreqs++;
            continue;
        }
        nbad++;
    }
    if (rc == 0 && strict && nbad)
        rc = cli_fail("%zu bad row%s in '%s'; nothing queued (--strict)", nbad,
                      nbad == 1 ? "" : "s", path);
    else if (rc == 0 && nreqs == 0)
        rc = cli_fail("'%s' has no row to queue", path);
    if (rc == 0) {
        rc = campaign_add(s, tpl.tenant, name, now, &id);
        if (rc == SB_EEXISTS)
            rc = cli_fail("campaign '%s' of tenant '%s' already exists; give another --name", name,
                          tpl.tenant);
        else if (rc == SB_EINVAL)
            rc = cli_usage("campaign name '%s' is not 1 to %d bytes of text", name,
                           CAMPAIGN_NAME_SIZE - 1);
        else if (rc)
            rc = cli_fail("cannot add campaign '%s': %s", name, sb_strerror(rc));
    }
    if (rc == 0) {
        rc = campaign_import(s, id, reqs, nreqs, now, &bad, err, sizeof(err));
        if (rc) {
            rc = cli_fail("cannot queue the calls of campaign %lld: %s", id, err);
            if (campaign_set_status(s, id, CAMPAIGN_CANCELED, now) != 0)
                fprintf(stderr, "error: campaign %lld is left empty\n", id);
        }
    }
    if (rc == 0)
        printf("campaign %lld '%s': %zu call%s queued, %zu bad row%s\n", id, name, nreqs,
               nreqs == 1 ? "" : "s", nbad, nbad == 1 ? "" : "s");
    store_close(s);
    free(reqs);
    csv_release(&csv);
    return rc;
}

static json_t *campaign_json(const struct campaign *c)
{
    json_t *o = json_object(), *counts = json_object();
    char iso[32];

    for (int st = 0; st < JOB_STATUS_COUNT; st++)
        json_object_set_new(counts, job_status_name((enum job_status)st),
                            json_integer(c->counts[st]));
    json_object_set_new(o, "id", json_integer(c->id));
    json_object_set_new(o, "tenant", json_string(c->tenant));
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "status", json_string(campaign_status_name(c->status)));
    json_object_set_new(o, "total", json_integer(c->total));
    json_object_set_new(o, "counts", counts);
    json_object_set_new(o, "created_at",
                        json_string(call_iso_time(c->created_at, iso, sizeof(iso))));
    return o;
}

static int campaigns_list(int argc, char **argv)
{
    static const struct option opts[] = {
        {"tenant", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    struct campaign *list = NULL;
    struct store *s = NULL;
    const char *tenant = NULL, *db = NULL;
    size_t n = 0;
    int c, rc, as_json = 0;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 't')
            tenant = optarg;
        else if (c == 'j')
            as_json = 1;
        else if (c == 'd')
            db = optarg;
        else
            return 2;
    }
    if (optind != argc)
        return cli_usage("campaigns list takes no arguments");
    if (cli_open_store(&s, db))
        return 1;
    rc = campaign_list(s, tenant, &list, &n);
    store_close(s);
    if (rc)
        return cli_fail("cannot list campaigns: %s", sb_strerror(rc));
    if (as_json) {
        json_t *arr = json_array();

        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, campaign_json(&list[i]));
        cli_print_json(arr);
    } else {
        printf("%-6s %-12s %-24s %-9s %6s %6s %6s %9s %6s\n", "ID", "TENANT", "NAME", "STATUS",
               "CALLS", "QUEUED", "PLACED", "COMPLETED", "OTHER");
        for (size_t i = 0; i < n; i++) {
            const struct campaign *k = &list[i];
            long long queued = k->counts[JOB_QUEUED];
            long long placed = k->counts[JOB_PLACING] + k->counts[JOB_PLACED];
            long long done = k->counts[JOB_COMPLETED];

            printf("%-6lld %-12s %-24s %-9s %6lld %6lld %6lld %9lld %6lld\n", k->id, k->tenant,
                   k->name, campaign_status_name(k->status), k->total, queued, placed, done,
                   k->total - queued - placed - done);
        }
    }
    job_list_free(list);
    return 0;
}

static int campaigns_one(int argc, char **argv)
{
    static const struct {
        const char *verb;
        enum campaign_status st;
        const char *done;
    } verbs[] = {
        {"pause", CAMPAIGN_PAUSED, "paused"},
        {"resume", CAMPAIGN_ACTIVE, "resumed"},
        {"cancel", CAMPAIGN_CANCELED, "canceled"},
    };
    struct campaign k;
    struct store *s = NULL;
    const char *db = NULL, *verb = argv[0];
    long long id;
    int as_json = 0, rc;

    if (cli_json_db_options(argc, argv, &as_json, &db) < 0)
        return 2;
    if (optind != argc - 1)
        return cli_usage("campaigns %s needs exactly one campaign ID", verb);
    if (cli_parse_id("campaign", argv[optind], &id))
        return 2;
    if (cli_open_store(&s, db))
        return 1;
    rc = SB_EINVAL;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(verb, verbs[i].verb) != 0)
            continue;
        rc = campaign_set_status(s, id, verbs[i].st, (long long)time(NULL));
        if (rc == 0)
            printf("campaign %lld %s\n", id, verbs[i].done);
        break;
    }
    if (rc == SB_EINVAL) { /* show */
        rc = campaign_get(s, id, &k);
        if (rc == 0 && as_json) {
            cli_print_json(campaign_json(&k));
        } else if (rc == 0) {
            char iso[32];

            printf("campaign  %lld\n", k.id);
            printf("tenant    %s\n", k.tenant);
            printf("name      %s\n", k.name);
            printf("status    %s\n", campaign_status_name(k.status));
            printf("created   %s\n", call_iso_time(k.created_at, iso, sizeof(iso)));
            printf("calls     %lld\n", k.total);
            for (int st = 0; st < JOB_STATUS_COUNT; st++)
                printf("  %-10s %lld\n", job_status_name((enum job_status)st), k.counts[st]);
        }
    }
    store_close(s);
    if (rc == SB_ENOTFOUND)
        return cli_fail("campaign %lld does not exist", id);
    if (rc == SB_ECLOSED)
        return cli_fail("campaign %lld is canceled already", id);
    if (rc)
        return cli_fail("cannot %s campaign %lld: %s", verb, id, sb_strerror(rc));
    return 0;
}

int cli_campaigns(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(campaigns_usage, stdout);
        return 0;
    }
    if (argc < 2) {
        fputs(campaigns_usage, stderr);
        return 2;
    }
    if (strcmp(argv[1], "import") == 0)
        return campaigns_import(argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return campaigns_list(argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0 || strcmp(argv[1], "pause") == 0 ||
        strcmp(argv[1], "resume") == 0 || strcmp(argv[1], "cancel") == 0)
        return campaigns_one(argc - 1, argv + 1);
    return cli_usage("unknown campaigns command '%s'", argv[1]);
}
