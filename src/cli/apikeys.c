/*
 * switchboard apikeys create | list | revoke: the tenants' keys to the HTTP
 * API (POST /api/v1/calls). A key's secret is printed once, at creation;
 * the store keeps its SHA-256 and its first characters (store/jobs.h).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/err.h"
#include "store/jobs.h"
#include "voice/call_check.h"
#include "core/banned.h"

static const char apikeys_usage[] =
    "usage: switchboard apikeys create --tenant T [--name NAME] [--json]\n"
    "       switchboard apikeys list [--tenant T] [--json]\n"
    "       switchboard apikeys revoke ID --tenant T\n"
    "\n"
    "Keys to the HTTP API (Authorization: Bearer sb_...), one tenant each.\n"
    "create: makes a key and prints its secret, this once; only its hash is kept.\n"
    "list: each key's id, prefix, name and creation time, never the secret.\n"
    "revoke: the key stops working at once.\n"
    "  --tenant T   the tenant the key acts for\n"
    "  --name NAME  a name to tell keys apart (\"billing system\")\n"
    "  --db PATH    the store (env SWITCHBOARD_DB)\n"
    "Exit status: 0 done, 1 refused (unknown tenant or key), 2 bad usage.\n";

/* The options of the three commands; each takes the ones it uses. */
struct apikeys_opts {
    const char *tenant, *name, *db;
    int as_json;
};

static int read_opts(int argc, char **argv, struct apikeys_opts *o)
{
    static const struct option opts[] = {
        {"tenant", required_argument, NULL, 't'},
        {"name", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(o, 0, sizeof(*o));
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            o->tenant = optarg;
            break;
        case 'n':
            o->name = optarg;
            break;
        case 'j':
            o->as_json = 1;
            break;
        case 'd':
            o->db = optarg;
            break;
        default:
            return -1;
        }
    }
    return 0;
}

static int apikeys_create(const struct apikeys_opts *o)
{
    char secret[API_KEY_SECRET_SIZE], iso[32];
    struct store *s = NULL;
    long long id = 0, now = (long long)time(NULL);
    int rc;

    if (!o->tenant)
        return cli_usage("apikeys create needs --tenant");
    if (cli_open_store(&s, o->db))
        return 1;
    rc = api_key_create(s, o->tenant, o->name, now, secret, &id);
    store_close(s);
    if (rc == SB_ENOTFOUND)
        return cli_fail("tenant '%s' does not exist", o->tenant);
    if (rc == SB_EINVAL)
        return cli_usage("--name must be 1 to %d bytes of text on one line", API_KEY_NAME_SIZE - 1);
    if (rc)
        return cli_fail("cannot create a key: %s", sb_strerror(rc));
    if (o->as_json) {
        json_t *j = json_object();

        json_object_set_new(j, "id", json_integer(id));
        json_object_set_new(j, "tenant", json_string(o->tenant));
        json_object_set_new(j, "name", o->name && *o->name ? json_string(o->name) : json_null());
        json_object_set_new(j, "key", json_string(secret));
        json_object_set_new(j, "created_at", json_string(call_iso_time(now, iso, sizeof(iso))));
        cli_print_json(j);
    } else {
        printf("key %lld for tenant %s: %s\n", id, o->tenant, secret);
        printf("it is shown this once; keep it secret (only its hash is stored)\n");
    }
    return 0;
}

static int apikeys_list(const struct apikeys_opts *o)
{
    struct api_key *keys = NULL;
    struct store *s = NULL;
    size_t n = 0;
    char iso[32];
    int rc;

    if (cli_open_store(&s, o->db))
        return 1;
    rc = api_key_list(s, o->tenant, &keys, &n);
    store_close(s);
    if (rc)
        return cli_fail("cannot list keys: %s", sb_strerror(rc));
    if (o->as_json) {
        json_t *arr = json_array();

        for (size_t i = 0; i < n; i++) {
            json_t *j = json_object();

            json_object_set_new(j, "id", json_integer(keys[i].id));
            json_object_set_new(j, "tenant", json_string(keys[i].tenant));
            json_object_set_new(j, "prefix", json_string(keys[i].prefix));
            json_object_set_new(j, "name",
                                keys[i].name[0] ? json_string(keys[i].name) : json_null());
            json_object_set_new(j, "created_at",
                                json_string(call_iso_time(keys[i].created_at, iso, sizeof(iso))));
            json_object_set_new(j, "revoked", json_boolean(keys[i].revoked));
            json_array_append_new(arr, j);
        }
        cli_print_json(arr);
    } else {
        printf("%-6s %-16s %-14s %-20s %-8s %s\n", "ID", "TENANT", "PREFIX", "CREATED", "STATE",
               "NAME");
        for (size_t i = 0; i < n; i++)
            printf("%-6lld %-16s %-14s %-20s %-8s %s\n", keys[i].id, keys[i].tenant, keys[i].prefix,
                   call_iso_time(keys[i].created_at, iso, sizeof(iso)),
                   keys[i].revoked ? "revoked" : "active", keys[i].name[0] ? keys[i].name : "-");
    }
    job_list_free(keys);
    return 0;
}

static int apikeys_revoke(int argc, char **argv, const struct apikeys_opts *o)
{
    struct store *s = NULL;
    long long id;
    int rc;

    if (optind != argc - 1)
        return cli_usage("apikeys revoke needs exactly one key ID");
    if (cli_parse_id("key", argv[optind], &id))
        return 2;
    if (!o->tenant)
        return cli_usage("apikeys revoke needs --tenant");
    if (cli_open_store(&s, o->db))
        return 1;
    rc = api_key_revoke(s, o->tenant, id);
    store_close(s);
    if (rc == SB_ENOTFOUND || rc == SB_EINVAL)
        return cli_fail("key %lld of tenant '%s' does not exist", id, o->tenant);
    if (rc)
        return cli_fail("cannot revoke key %lld: %s", id, sb_strerror(rc));
    printf("revoked key %lld of tenant %s\n", id, o->tenant);
    return 0;
}

int cli_apikeys(int argc, char **argv)
{
    struct apikeys_opts o;
    const char *cmd = argc > 1 ? argv[1] : "";

    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(apikeys_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(cmd, "create") != 0 && strcmp(cmd, "list") != 0 && strcmp(cmd, "revoke") != 0)
        return cli_usage("unknown apikeys command '%s' (create, list, revoke)", cmd);
    if (read_opts(argc - 1, argv + 1, &o))
        return 2;
    if (strcmp(cmd, "revoke") == 0)
        return apikeys_revoke(argc - 1, argv + 1, &o);
    if (optind != argc - 1)
        return cli_usage("apikeys %s takes no arguments ('%s')", cmd, argv[1 + optind]);
    if (strcmp(cmd, "create") == 0)
        return apikeys_create(&o);
    if (o.name)
        return cli_usage("apikeys list takes no --name");
    return apikeys_list(&o);
}
