#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/e164.h"
#include "core/err.h"
#include "core/banned.h"

static const char tenants_usage[] =
    "usage: switchboard tenants add NAME [--lang TAG] [--transfer E164] [--timezone TZ]\n"
    "                               [--voice TAG=VOICE]... [--greeting TAG=TEXT]...\n"
    "       switchboard tenants list [--json]\n"
    "       switchboard tenants remove NAME\n"
    "\n"
    "  --lang TAG          language for callers whose country has none (default es)\n"
    "  --transfer E164     the number a caller who asks for a person is connected to\n"
    "  --timezone TZ       IANA time zone (default UTC)\n"
    "  --voice TAG=VOICE   TTS voice for a language, e.g. en-US=Polly.Joanna\n"
    "  --greeting TAG=TEXT greeting for a language\n"
    "  --db PATH           the store (env SWITCHBOARD_DB, default ./switchboard.db)\n";

/* Finds or adds the tenant's entry for a language tag. */
static struct tenant_lang *lang_slot(struct tenant *t, const char *tag, size_t taglen)
{
    for (int i = 0; i < t->nlangs; i++) {
        if (strlen(t->langs[i].lang) == taglen && strncmp(t->langs[i].lang, tag, taglen) == 0)
            return &t->langs[i];
    }
    if (t->nlangs == TENANT_MAX_LANGS || taglen == 0 || taglen >= LANG_SIZE)
        return NULL;
    memcpy(t->langs[t->nlangs].lang, tag, taglen);
    return &t->langs[t->nlangs++];
}

/* Applies "TAG=VALUE" to the voice (is_voice) or greeting of that language. */
static int set_lang_value(struct tenant *t, const char *arg, int is_voice)
{
    const char *eq = strchr(arg, '=');
    struct tenant_lang *tl;
    size_t n;

    if (!eq)
        return cli_fail("%s '%s' is not TAG=VALUE", is_voice ? "--voice" : "--greeting", arg);
    tl = lang_slot(t, arg, (size_t)(eq - arg));
    if (!tl)
        return cli_fail("language tag in '%s' is empty, too long, or one too many (max %d)", arg,
                        TENANT_MAX_LANGS);
    n = strlen(eq + 1);
    if (n >= (is_voice ? VOICE_SIZE : GREETING_SIZE))
        return cli_fail("%s for '%s' is longer than %d bytes", is_voice ? "voice" : "greeting",
                        tl->lang, (is_voice ? VOICE_SIZE : GREETING_SIZE) - 1);
    memcpy(is_voice ? tl->voice : tl->greeting, eq + 1, n + 1);
    return 0;
}

static int tenants_add(int argc, char **argv, const char *db)
{
    static const struct option opts[] = {
        {"lang", required_argument, NULL, 'l'},
        {"transfer", required_argument, NULL, 't'},
        {"timezone", required_argument, NULL, 'z'},
        {"voice", required_argument, NULL, 'v'},
        {"greeting", required_argument, NULL, 'g'},
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    struct tenant t;
    struct store *s = NULL;
    int c, rc;

    memset(&t, 0, sizeof(t));
    snprintf(t.default_lang, sizeof(t.default_lang), "es");
    snprintf(t.timezone, sizeof(t.timezone), "UTC");
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (strlen(optarg) == 0 || strlen(optarg) >= LANG_SIZE)
                return cli_fail("language '%s' is not a language tag", optarg);
            snprintf(t.default_lang, sizeof(t.default_lang), "%s", optarg);
            break;
        case 't':
            if (!e164_valid(optarg))
                return cli_fail("transfer number '%s' is not E.164 (e.g. +15551234567)", optarg);
            snprintf(t.transfer_number, sizeof(t.transfer_number), "%s", optarg);
            break;
        case 'z':
            if (strlen(optarg) == 0 || strlen(optarg) >= TIMEZONE_SIZE)
                return cli_fail("time zone '%s' is not valid", optarg);
            snprintf(t.timezone, sizeof(t.timezone), "%s", optarg);
            break;
        case 'v':
        case 'g':
            if (set_lang_value(&t, optarg, c == 'v'))
                return 1;
            break;
        case 'd':
            db = optarg;
            break;
        default:
            fputs(tenants_usage, stderr);
            return 2;
        }
    }
    if (optind != argc - 1)
        return cli_fail("tenants add needs exactly one NAME");
    if (strlen(argv[optind]) == 0 || strlen(argv[optind]) >= TENANT_NAME_SIZE ||
        strspn(argv[optind], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
            strlen(argv[optind]))
        return cli_fail("tenant name '%s' must be 1-63 letters, digits, '-', '_' or '.'",
                        argv[optind]);
    snprintf(t.name, sizeof(t.name), "%s", argv[optind]);
    if (cli_open_store(&s, db))
        return 1;
    rc = store_tenant_add(s, &t);
    store_close(s);
    if (rc == SB_EEXISTS)
        return cli_fail("tenant '%s' already exists", t.name);
    if (rc)
        return cli_fail("cannot add tenant '%s': %s", t.name, sb_strerror(rc));
    printf("added tenant %s\n", t.name);
    return 0;
}

static json_t *tenant_json(const struct tenant *t)
{
    json_t *langs = json_object();

    for (int i = 0; i < t->nlangs; i++)
        json_object_set_new(
            langs, t->langs[i].lang,
            json_pack("{s:s, s:s}", "voice", t->langs[i].voice, "greeting", t->langs[i].greeting));
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", t->name, "default_lang", t->default_lang,
                     "transfer_number", t->transfer_number, "timezone", t->timezone, "languages",
                     langs);
}

static int tenants_list(struct store *s, int as_json)
{
    struct tenant *list = NULL;
    size_t n = 0;
    int rc = store_tenant_list(s, &list, &n);

    if (rc)
        return cli_fail("cannot list tenants: %s", sb_strerror(rc));
    if (as_json) {
        json_t *arr = json_array();

        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, tenant_json(&list[i]));
        json_dumpf(arr, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(arr);
    } else {
        printf("%-24s %-8s %-16s %-20s %s\n", "NAME", "LANG", "TRANSFER", "TIMEZONE", "LANGUAGES");
        for (size_t i = 0; i < n; i++) {
            printf("%-24s %-8s %-16s %-20s", list[i].name, list[i].default_lang,
                   list[i].transfer_number[0] ? list[i].transfer_number : "-", list[i].timezone);
            for (int j = 0; j < list[i].nlangs; j++)
                printf("%s%s", j ? "," : " ", list[i].langs[j].lang);
            fputc('\n', stdout);
        }
    }
    free(list);
    return 0;
}

int cli_tenants(int argc, char **argv)
{
    static const struct cli_collection col = {"tenant", "NAME", "numbers", tenants_list,
                                              store_tenant_remove};

    if (cli_wants_help(argc, argv)) {
        fputs(tenants_usage, stdout);
        return 0;
    }
    if (argc < 2) {
        fputs(tenants_usage, stderr);
        return 2;
    }
    if (strcmp(argv[1], "add") == 0)
        return tenants_add(argc - 1, argv + 1, NULL);
    if (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "remove") != 0)
        return cli_fail("unknown tenants command '%s' (add, list, remove)", argv[1]);
    return cli_collection(&col, argc - 1, argv + 1);
}
