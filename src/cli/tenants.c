#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/e164.h"
#include "core/err.h"
#include "core/utf8.h"
#include "core/banned.h"

static const char tenants_usage[] =
    "usage: switchboard tenants add NAME [options]\n"
    "       switchboard tenants set NAME [options]   (changes only the options given)\n"
    "       switchboard tenants show NAME [--json]\n"
    "       switchboard tenants list [--json]\n"
    "       switchboard tenants remove NAME\n"
    "\n"
    "  --lang TAG          language for callers whose country has none (default es)\n"
    "  --transfer E164     the number a caller who asks for a person is connected to\n"
    "                      (set: '-' for none)\n"
    "  --timezone TZ       IANA time zone (default UTC)\n"
    "  --voice TAG=VOICE   TTS voice for a language, e.g. en-US=Polly.Joanna\n"
    "  --greeting TAG=TEXT greeting for a language\n"
    "  --relay-voice TAG=PROVIDER:VOICE\n"
    "                      ConversationRelay (plan relay) voice for a language; PROVIDER is\n"
    "                      ElevenLabs, Google or Amazon, e.g. es-MX=Google:es-US-Neural2-A\n"
    "  --relay-transcription TAG=PROVIDER\n"
    "                      ConversationRelay speech recognition for a language: Deepgram or "
    "Google\n"
    "  --sms-fallback TEXT the SMS texted when a job queued with --sms-fallback ends busy,\n"
    "                      no-answer or failed: at most 1600 characters; {{name}} is the\n"
    "                      contact's name, {{tenant}} the tenant's ('' for none)\n"
    "  --db PATH           the store (env SWITCHBOARD_DB, default ./switchboard.db)\n"
    "\n"
    "The per-language options may be repeated; with set, each changes only its own\n"
    "setting of its language and other languages stay.\n";

/* Which settings of one language the flags gave. */
enum lang_given {
    GIVEN_VOICE = 1u << 0,
    GIVEN_GREETING = 1u << 1,
    GIVEN_RELAY_VOICE = 1u << 2,
    GIVEN_RELAY_TRANSCRIPTION = 1u << 3,
};

/* What the flags said about one language. */
struct lang_edit {
    char lang[LANG_SIZE];
    unsigned given; /* enum lang_given bits */
    char voice[VOICE_SIZE];
    char greeting[GREETING_SIZE];
    char tts_provider[RELAY_PROVIDER_SIZE];
    char relay_voice[VOICE_SIZE];
    char transcription_provider[RELAY_PROVIDER_SIZE];
};

/* The edits of add or set, applied to a new tenant (add) or the stored one (set). */
struct tenant_edit {
    unsigned fields; /* enum tenant_field bits of the scalar settings given */
    char default_lang[LANG_SIZE];
    char transfer_number[E164_SIZE];
    char timezone[TIMEZONE_SIZE];
    char sms_fallback[TENANT_SMS_FALLBACK_SIZE];
    /* A language may appear for <Say> and for relay alike: room for both lists. */
    struct lang_edit langs[2 * TENANT_MAX_LANGS];
    int nlangs;
    const char *db;
};

/*
 * True for a language tag as switchboard uses them: a 2-3 letter language,
 * then subtags of 1-8 letters or digits after '-' ("es", "es-MX", "zh-Hant-TW").
 */
static int lang_tag_valid(const char *tag, size_t len)
{
    size_t i = 0;
    size_t run = 0;

    if (len == 0 || len >= LANG_SIZE)
        return 0;
    while (i < len && ((tag[i] >= 'a' && tag[i] <= 'z') || (tag[i] >= 'A' && tag[i] <= 'Z')))
        i++;
    if (i < 2 || i > 3)
        return 0;
    for (; i < len; i++) {
        char c = tag[i];

        if (c == '-') {
            if (i + 1 == len || (run == 0 && tag[i - 1] == '-'))
                return 0;
            run = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            if (++run > 8)
                return 0;
        } else {
            return 0;
        }
    }
    return 1;
}

/* A provider's voice name or ID: printable ASCII without spaces or quotes. */
static int relay_voice_name_valid(const char *v)
{
    if (!*v || strlen(v) >= VOICE_SIZE)
        return 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '\'' || *p == '`')
            return 0;
    }
    return 1;
}

/* The name of a per-language flag and the shape of its value. */
static const char *lang_flag_name(int c, const char **shape)
{
    switch (c) {
    case 'v':
        *shape = "TAG=VOICE";
        return "--voice";
    case 'g':
        *shape = "TAG=TEXT";
        return "--greeting";
    case 'r':
        *shape = "TAG=PROVIDER:VOICE";
        return "--relay-voice";
    default:
        *shape = "TAG=PROVIDER";
        return "--relay-transcription";
    }
}

/*
 * Finds or adds the edit of the language before the '=' of `arg` (`c` is the
 * option, for errors). Returns NULL after printing the error; *status is
 * then the exit status.
 */
static struct lang_edit *lang_edit_for(struct tenant_edit *e, int c, const char *arg,
                                       const char **value, int *status)
{
    const char *shape = NULL;
    const char *flag = lang_flag_name(c, &shape);
    const char *eq = strchr(arg, '=');
    size_t taglen;

    if (!eq) {
        *status = cli_usage("%s '%s' is not %s", flag, arg, shape);
        return NULL;
    }
    taglen = (size_t)(eq - arg);
    if (!lang_tag_valid(arg, taglen)) {
        *status = cli_usage("%s '%s': '%.*s' is not a language tag (e.g. es-MX)", flag, arg,
                            (int)taglen, arg);
        return NULL;
    }
    *value = eq + 1;
    for (int i = 0; i < e->nlangs; i++) {
        if (strlen(e->langs[i].lang) == taglen && strncmp(e->langs[i].lang, arg, taglen) == 0)
            return &e->langs[i];
    }
    if (e->nlangs == (int)(sizeof(e->langs) / sizeof(e->langs[0]))) {
        *status = cli_usage("%s '%s': too many languages (max %d)", flag, arg, TENANT_MAX_LANGS);
        return NULL;
    }
    memcpy(e->langs[e->nlangs].lang, arg, taglen);
    return &e->langs[e->nlangs++];
}

/* Applies one per-language flag. Returns 0 or the exit status after printing the error. */
static int lang_flag(struct tenant_edit *e, int c, const char *arg)
{
    const char *shape = NULL;
    const char *flag = lang_flag_name(c, &shape);
    const char *value = NULL;
    struct lang_edit *le;
    int status = 2;
    size_t n;

    le = lang_edit_for(e, c, arg, &value, &status);
    if (!le)
        return status;
    n = strlen(value);
    if (c == 'v' || c == 'g') {
        size_t size = c == 'v' ? VOICE_SIZE : GREETING_SIZE;

        if (n >= size)
            return cli_usage("%s for '%s' is longer than %zu bytes",
                             c == 'v' ? "voice" : "greeting", le->lang, size - 1);
        memcpy(c == 'v' ? le->voice : le->greeting, value, n + 1);
        le->given |= c == 'v' ? GIVEN_VOICE : GIVEN_GREETING;
        return 0;
    }
    if (c == 's') {
        const char *p = relay_transcription_provider_canonical(value);

        if (!p)
            return cli_usage("%s '%s': transcription provider '%s' is not one of Deepgram, Google",
                             flag, arg, value);
        snprintf(le->transcription_provider, sizeof(le->transcription_provider), "%s", p);
        le->given |= GIVEN_RELAY_TRANSCRIPTION;
        return 0;
    }
    {
        const char *colon = strchr(value, ':');
        char provider[RELAY_PROVIDER_SIZE];
        const char *p = NULL;
        size_t plen;

        if (!colon)
            return cli_usage("%s '%s' is not %s", flag, arg, shape);
        plen = (size_t)(colon - value);
        if (plen < sizeof(provider)) {
            memcpy(provider, value, plen);
            provider[plen] = '\0';
            p = relay_tts_provider_canonical(provider);
        }
        if (!p)
            return cli_usage(
                "%s '%s': text-to-speech provider '%.*s' is not one of ElevenLabs, Google, Amazon",
                flag, arg, (int)plen, value);
        if (!relay_voice_name_valid(colon + 1))
            return cli_usage("%s '%s': the voice must be 1-%d characters without spaces or quotes",
                             flag, arg, VOICE_SIZE - 1);
        snprintf(le->tts_provider, sizeof(le->tts_provider), "%s", p);
        snprintf(le->relay_voice, sizeof(le->relay_voice), "%s", colon + 1);
        le->given |= GIVEN_RELAY_VOICE;
        return 0;
    }
}

/* UTF-8 of at most TENANT_SMS_FALLBACK_CHARS characters ("" clears the template). */
static int sms_fallback_valid(const char *text)
{
    size_t n = strlen(text), chars = 0;

    if (n >= TENANT_SMS_FALLBACK_SIZE || !utf8_valid(text, n))
        return 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        chars += (*p & 0xc0) != 0x80;
    return chars <= TENANT_SMS_FALLBACK_CHARS;
}

/* Reads the flags of add or set; *name is argv's NAME. Returns 0 or the exit status. */
static int read_flags(int argc, char **argv, int is_set, struct tenant_edit *e, const char **name)
{
    static const struct option opts[] = {
        {"lang", required_argument, NULL, 'l'},
        {"transfer", required_argument, NULL, 't'},
        {"timezone", required_argument, NULL, 'z'},
        {"voice", required_argument, NULL, 'v'},
        {"greeting", required_argument, NULL, 'g'},
        {"relay-voice", required_argument, NULL, 'r'},
        {"relay-transcription", required_argument, NULL, 's'},
        {"sms-fallback", required_argument, NULL, 'f'},
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = is_set ? "set" : "add";
    int c, rc;

    memset(e, 0, sizeof(*e));
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (!lang_tag_valid(optarg, strlen(optarg)))
                return cli_usage("--lang '%s' is not a language tag (e.g. es-MX)", optarg);
            snprintf(e->default_lang, sizeof(e->default_lang), "%s", optarg);
            e->fields |= TENANT_FIELD_DEFAULT_LANG;
            break;
        case 't':
            if (is_set && strcmp(optarg, "-") == 0)
                optarg = "";
            else if (!e164_valid(optarg))
                return cli_usage("transfer number '%s' is not E.164 (e.g. +15551234567)", optarg);
            snprintf(e->transfer_number, sizeof(e->transfer_number), "%s", optarg);
            e->fields |= TENANT_FIELD_TRANSFER;
            break;
        case 'z':
            if (strlen(optarg) == 0 || strlen(optarg) >= TIMEZONE_SIZE)
                return cli_usage("time zone '%s' is not valid", optarg);
            snprintf(e->timezone, sizeof(e->timezone), "%s", optarg);
            e->fields |= TENANT_FIELD_TIMEZONE;
            break;
        case 'f':
            if (!sms_fallback_valid(optarg))
                return cli_usage("--sms-fallback must be UTF-8 text of at most %d characters",
                                 TENANT_SMS_FALLBACK_CHARS);
            snprintf(e->sms_fallback, sizeof(e->sms_fallback), "%s", optarg);
            e->fields |= TENANT_FIELD_SMS_FALLBACK;
            break;
        case 'v':
        case 'g':
        case 'r':
        case 's':
            rc = lang_flag(e, c, optarg);
            if (rc)
                return rc;
            break;
        case 'd':
            e->db = optarg;
            break;
        default:
            return cli_usage("tenants %s: unknown option or missing value in '%s' (see --help)",
                             cmd, argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage("tenants %s needs exactly one NAME", cmd);
    *name = argv[optind];
    return 0;
}

/* Finds or adds a language of the tenant. NULL when it already has TENANT_MAX_LANGS. */
static struct tenant_lang *lang_slot(struct tenant *t, const char *lang)
{
    for (int i = 0; i < t->nlangs; i++) {
        if (strcmp(t->langs[i].lang, lang) == 0)
            return &t->langs[i];
    }
    if (t->nlangs == TENANT_MAX_LANGS)
        return NULL;
    snprintf(t->langs[t->nlangs].lang, sizeof(t->langs[t->nlangs].lang), "%s", lang);
    return &t->langs[t->nlangs++];
}

static struct tenant_relay_voice *relay_slot(struct tenant *t, const char *lang)
{
    for (int i = 0; i < t->nrelay; i++) {
        if (strcmp(t->relay[i].lang, lang) == 0)
            return &t->relay[i];
    }
    if (t->nrelay == TENANT_MAX_LANGS)
        return NULL;
    snprintf(t->relay[t->nrelay].lang, sizeof(t->relay[t->nrelay].lang), "%s", lang);
    return &t->relay[t->nrelay++];
}

/*
 * Applies the edits to `t`. *fields gets the enum tenant_field bits written.
 * Returns 0 or the exit status after printing the error.
 */
static int apply_edit(const struct tenant_edit *e, struct tenant *t, unsigned *fields)
{
    *fields = e->fields;
    if (e->fields & TENANT_FIELD_DEFAULT_LANG)
        memcpy(t->default_lang, e->default_lang, sizeof(t->default_lang));
    if (e->fields & TENANT_FIELD_TRANSFER)
        memcpy(t->transfer_number, e->transfer_number, sizeof(t->transfer_number));
    if (e->fields & TENANT_FIELD_TIMEZONE)
        memcpy(t->timezone, e->timezone, sizeof(t->timezone));
    if (e->fields & TENANT_FIELD_SMS_FALLBACK)
        memcpy(t->sms_fallback, e->sms_fallback, sizeof(t->sms_fallback));
    for (int i = 0; i < e->nlangs; i++) {
        const struct lang_edit *le = &e->langs[i];

        if (le->given & (GIVEN_VOICE | GIVEN_GREETING)) {
            struct tenant_lang *l = lang_slot(t, le->lang);

            if (!l)
                return cli_usage("tenant '%s' would have more than %d languages (adding %s)",
                                 t->name, TENANT_MAX_LANGS, le->lang);
            if (le->given & GIVEN_VOICE)
                memcpy(l->voice, le->voice, sizeof(l->voice));
            if (le->given & GIVEN_GREETING)
                memcpy(l->greeting, le->greeting, sizeof(l->greeting));
            *fields |= TENANT_FIELD_LANGS;
        }
        if (le->given & (GIVEN_RELAY_VOICE | GIVEN_RELAY_TRANSCRIPTION)) {
            struct tenant_relay_voice *r = relay_slot(t, le->lang);

            if (!r)
                return cli_usage("tenant '%s' would have more than %d relay voices (adding %s)",
                                 t->name, TENANT_MAX_LANGS, le->lang);
            if (le->given & GIVEN_RELAY_VOICE) {
                memcpy(r->tts_provider, le->tts_provider, sizeof(r->tts_provider));
                memcpy(r->voice, le->relay_voice, sizeof(r->voice));
            }
            if (le->given & GIVEN_RELAY_TRANSCRIPTION)
                memcpy(r->transcription_provider, le->transcription_provider,
                       sizeof(r->transcription_provider));
            *fields |= TENANT_FIELD_RELAY;
        }
    }
    return 0;
}

static int tenant_name_valid(const char *name)
{
    size_t n = strlen(name);

    return n > 0 && n < TENANT_NAME_SIZE &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

static int tenants_add(int argc, char **argv)
{
    struct tenant_edit e;
    struct tenant t;
    struct store *s = NULL;
    const char *name = NULL;
    unsigned fields;
    int rc;

    rc = read_flags(argc, argv, 0, &e, &name);
    if (rc)
        return rc;
    if (!tenant_name_valid(name))
        return cli_usage("tenant name '%s' must be 1-63 letters, digits, '-', '_' or '.'", name);
    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "%s", name);
    snprintf(t.default_lang, sizeof(t.default_lang), "es");
    snprintf(t.timezone, sizeof(t.timezone), "UTC");
    rc = apply_edit(&e, &t, &fields);
    if (rc)
        return rc;
    if (cli_open_store(&s, e.db))
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

static int tenants_set(int argc, char **argv)
{
    struct tenant_edit e;
    struct tenant t;
    struct store *s = NULL;
    const char *name = NULL;
    unsigned fields = 0;
    int rc;

    rc = read_flags(argc, argv, 1, &e, &name);
    if (rc)
        return rc;
    if (e.fields == 0 && e.nlangs == 0)
        return cli_usage("tenants set needs at least one setting to change (see --help)");
    if (cli_open_store(&s, e.db))
        return 1;
    /* Read, change and write under the write lock, so that no other change is lost. */
    rc = store_begin(s);
    if (rc) {
        rc = cli_fail("cannot change tenant '%s': %s", name, sb_strerror(rc));
        goto out;
    }
    rc = store_tenant_get(s, name, &t);
    if (rc == SB_ENOTFOUND)
        rc = cli_fail("tenant '%s' does not exist", name);
    else if (rc)
        rc = cli_fail("cannot read tenant '%s': %s", name, sb_strerror(rc));
    else
        rc = apply_edit(&e, &t, &fields);
    if (rc == 0) {
        rc = store_tenant_update(s, &t, fields);
        if (rc == SB_ENOTFOUND)
            rc = cli_fail("tenant '%s' does not exist", name);
        else if (rc)
            rc = cli_fail("cannot change tenant '%s': %s", name, sb_strerror(rc));
    }
    if (rc == 0) {
        rc = store_commit(s);
        if (rc)
            rc = cli_fail("cannot change tenant '%s': %s", name, sb_strerror(rc));
    }
    if (rc)
        store_rollback(s);
    else
        printf("changed tenant %s\n", name);
out:
    store_close(s);
    return rc;
}

static json_t *tenant_json(const struct tenant *t)
{
    json_t *langs = json_object();
    json_t *relay = json_object();

    for (int i = 0; i < t->nlangs; i++)
        json_object_set_new(
            langs, t->langs[i].lang,
            json_pack("{s:s, s:s}", "voice", t->langs[i].voice, "greeting", t->langs[i].greeting));
    for (int i = 0; i < t->nrelay; i++)
        json_object_set_new(relay, t->relay[i].lang,
                            json_pack("{s:s, s:s, s:s}", "tts_provider", t->relay[i].tts_provider,
                                      "voice", t->relay[i].voice, "transcription_provider",
                                      t->relay[i].transcription_provider));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "name", t->name, "default_lang",
                     t->default_lang, "transfer_number", t->transfer_number, "timezone",
                     t->timezone, "sms_fallback", t->sms_fallback, "languages", langs, "relay",
                     relay);
}

static int tenants_show(int argc, char **argv)
{
    struct store *s = NULL;
    struct tenant t;
    const char *db = NULL;
    int as_json = 0, rc;

    opterr = 0;
    if (cli_json_db_options(argc, argv, &as_json, &db) < 0)
        return cli_usage("tenants show: unknown option or missing value in '%s' (see --help)",
                         argv[optind - 1]);
    if (optind != argc - 1)
        return cli_usage("tenants show needs exactly one NAME");
    if (cli_open_store(&s, db))
        return 1;
    rc = store_tenant_get(s, argv[optind], &t);
    store_close(s);
    if (rc == SB_ENOTFOUND)
        return cli_fail("tenant '%s' does not exist", argv[optind]);
    if (rc)
        return cli_fail("cannot read tenant '%s': %s", argv[optind], sb_strerror(rc));
    if (as_json) {
        json_t *obj = tenant_json(&t);

        json_dumpf(obj, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(obj);
        return 0;
    }
    printf("name:         %s\n", t.name);
    printf("default lang: %s\n", t.default_lang);
    printf("transfer:     %s\n", t.transfer_number[0] ? t.transfer_number : "-");
    printf("timezone:     %s\n", t.timezone);
    printf("sms fallback: %s\n", t.sms_fallback[0] ? t.sms_fallback : "-");
    for (int i = 0; i < t.nlangs; i++)
        printf("language %s: voice %s, greeting \"%s\"\n", t.langs[i].lang,
               t.langs[i].voice[0] ? t.langs[i].voice : "-", t.langs[i].greeting);
    for (int i = 0; i < t.nrelay; i++)
        printf("relay %s: voice %s%s%s, transcription %s\n", t.relay[i].lang,
               t.relay[i].tts_provider[0] ? t.relay[i].tts_provider : "-",
               t.relay[i].voice[0] ? ":" : "", t.relay[i].voice,
               t.relay[i].transcription_provider[0] ? t.relay[i].transcription_provider : "-");
    return 0;
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
        return tenants_add(argc - 1, argv + 1);
    if (strcmp(argv[1], "set") == 0)
        return tenants_set(argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0)
        return tenants_show(argc - 1, argv + 1);
    if (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "remove") != 0)
        return cli_fail("unknown tenants command '%s' (add, set, show, list, remove)", argv[1]);
    return cli_collection(&col, argc - 1, argv + 1);
}
