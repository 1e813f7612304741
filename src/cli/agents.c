/*
 * switchboard agents: the tenants' LLM agents (store/agents.h). Every value
 * is checked before the store is touched, and an agent with its knowledge
 * files is written in one transaction, so a refused command changes nothing.
 * API keys are never read from the command line, stored or printed: an
 * agent names the environment variable that holds its key, for its LLM and
 * for its speech engines alike.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/err.h"
#include "store/agents.h"
#include "voice/call_check.h"
#include "core/banned.h"

static const char agents_usage[] =
    "usage: switchboard agents add NAME --tenant T --base-url URL --model M [options]\n"
    "       switchboard agents set NAME --tenant T [options]\n"
    "       switchboard agents show NAME --tenant T [--json]\n"
    "       switchboard agents remove NAME --tenant T\n"
    "       switchboard agents list [--tenant T] [--json]\n"
    "\n"
    "An LLM agent of a tenant (docs/agents.md). 'set' changes only the flags given.\n"
    "  --tenant T                 the tenant the agent belongs to\n"
    "  --base-url URL             an OpenAI-compatible API, http:// or https://\n"
    "  --model M                  the model name the API expects\n"
    "  --api-key-env VAR          the environment variable holding the API key (must be set;\n"
    "                             the key itself is never stored)\n"
    "  --prompt-file F            the system prompt, UTF-8 text (at most 64 KiB)\n"
    "  --knowledge F              a text or Markdown file the agent can search (at most\n"
    "                             1 MiB); repeatable; importing a file again replaces it\n"
    "  --temperature X            0 to 2 (default: the provider's)\n"
    "  --max-tokens N             the longest reply in tokens (default: the provider's)\n"
    "  --lang TAG                 a language the agent speaks, e.g. es-MX; repeatable\n"
    "  --first-token-timeout MS   how long to wait for the reply's first words (default 2500)\n"
    "  --fallback rules|transfer  what takes the call when the provider fails (default rules)\n"
    "  --stt ENGINE               speech recognition: pocketsphinx, deepgram or whisper-api\n"
    "                             (default pocketsphinx)\n"
    "  --stt-model M              the recognition model (default: the engine's)\n"
    "  --stt-url URL              the recognition service, http(s):// or ws(s)://\n"
    "  --stt-key-env VAR          the environment variable holding its key (must be set)\n"
    "  --tts ENGINE               speech synthesis: espeak, flite, elevenlabs, cartesia or\n"
    "                             openai (default flite for English, espeak-ng otherwise)\n"
    "  --tts-url URL              the synthesis service, http(s):// or ws(s)://\n"
    "  --tts-key-env VAR          the environment variable holding its key (must be set)\n"
    "  --voice LANG=VOICE         the voice for a language, e.g. es-MX=Jimena; repeatable,\n"
    "                             at most 8; on set the voices given replace the old ones\n"
    "  --json                     show and list as JSON\n"
    "  --db PATH                  the store (env SWITCHBOARD_DB, default ./switchboard.db)\n"
    "Giving '' to a speech flag other than --voice (e.g. --stt '') puts that setting\n"
    "back to its default.\n";

#define MAX_KNOWLEDGE_FLAGS 32
#define TOKENS_MAX 1000000

/* The long options without a one-letter code. */
enum {
    OPT_STT = 256,
    OPT_STT_MODEL,
    OPT_STT_URL,
    OPT_STT_KEY_ENV,
    OPT_TTS,
    OPT_TTS_URL,
    OPT_TTS_KEY_ENV,
    OPT_VOICE,
};

/* A knowledge file read and checked, waiting to be imported. */
struct knowledge_input {
    const char *path;
    const char *name; /* borrowed from path: its last component */
    struct buf text;
};

/* What the flags of add and set said. */
struct agent_flags {
    const char *tenant;
    const char *db;
    int as_json;
    unsigned fields; /* enum agent_field: the fields given */
    struct agent_config c;
    struct knowledge_input knowledge[MAX_KNOWLEDGE_FLAGS];
    int nknowledge;
};

static void flags_release(struct agent_flags *f)
{
    agent_config_release(&f->c);
    for (int i = 0; i < f->nknowledge; i++)
        buf_release(&f->knowledge[i].text);
}

/* Reads a whole file of at most `max` bytes. Prints the error and returns 1 on failure. */
static int read_text_file(const char *what, const char *path, size_t max, struct buf *out)
{
    char chunk[8192];
    char why[128];
    FILE *f = fopen(path, "rb");
    size_t n;
    int rc = 0;

    if (!f)
        return cli_fail("cannot read %s '%s': %s", what, path, strerror_r(errno, why, sizeof(why)));
    for (n = fread(chunk, 1, sizeof(chunk), f); n > 0 && rc == 0;
         n = fread(chunk, 1, sizeof(chunk), f))
        rc = buf_append(out, chunk, n);
    if (rc == 0 && ferror(f)) {
        fclose(f);
        return cli_fail("cannot read %s '%s': %s", what, path, strerror_r(EIO, why, sizeof(why)));
    }
    fclose(f);
    if (rc == SB_ETOOBIG)
        return cli_fail("%s '%s' is larger than %zu %s", what, path,
                        max % (1024 * 1024) ? max / 1024 : max / (1024 * 1024),
                        max % (1024 * 1024) ? "KiB" : "MiB");
    if (rc)
        return cli_fail("cannot read %s '%s': %s", what, path, sb_strerror(rc));
    return 0;
}

/* Reads and checks a knowledge file the way the store will cut it. */
static int read_knowledge(struct knowledge_input *k, const char *path)
{
    struct knowledge_passage *p = NULL;
    const char *slash = strrchr(path, '/');
    size_t n = 0;
    int rc;

    k->path = path;
    k->name = slash ? slash + 1 : path;
    buf_init(&k->text, KNOWLEDGE_FILE_MAX);
    if (!*k->name || strlen(k->name) >= KNOWLEDGE_FILE_NAME_SIZE)
        return cli_fail("knowledge file name '%s' is empty or longer than %d bytes", path,
                        KNOWLEDGE_FILE_NAME_SIZE - 1);
    if (read_text_file("knowledge file", path, KNOWLEDGE_FILE_MAX, &k->text))
        return 1;
    if (k->text.len == 0)
        return cli_fail("knowledge file '%s' is empty", path);
    if (!agent_text_valid(k->name, strlen(k->name)))
        return cli_fail("knowledge file name '%s' is not UTF-8", path);
    if (!agent_text_valid(k->text.data, k->text.len))
        return cli_fail("knowledge file '%s' is not UTF-8 text (binary?)", path);
    rc = knowledge_cut(k->text.data, k->text.len, &p, &n);
    free(p);
    if (rc == SB_EINVAL)
        return cli_fail("knowledge file '%s' has no text (blank, or headings only)", path);
    if (rc == SB_ETOOBIG)
        return cli_fail("knowledge file '%s' gives more than %d passages", path,
                        KNOWLEDGE_MAX_PASSAGES);
    if (rc)
        return cli_fail("cannot read knowledge file '%s': %s", path, sb_strerror(rc));
    return 0;
}

static int read_prompt(struct agent_config *c, const char *path)
{
    struct buf text = BUF_INIT(AGENT_PROMPT_MAX);
    char *prompt;
    int rc = 0;

    if (read_text_file("prompt file", path, AGENT_PROMPT_MAX, &text))
        rc = 1;
    else if (!agent_text_valid(text.data, text.len))
        rc = cli_fail("prompt file '%s' is not UTF-8 text (binary?)", path);
    if (rc == 0) {
        /* An empty file clears the prompt. */
        prompt = malloc(text.len + 1);
        if (!prompt) {
            rc = cli_fail("cannot read prompt file '%s': %s", path, sb_strerror(SB_ENOMEM));
        } else {
            if (text.len)
                memcpy(prompt, text.data, text.len);
            prompt[text.len] = '\0';
            free(c->prompt);
            c->prompt = prompt;
        }
    }
    buf_release(&text);
    return rc;
}

/* Parses a whole decimal number in [lo, hi]. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int lang_tag_valid(const char *tag)
{
    size_t len = strlen(tag);

    return len > 0 && len < LANG_SIZE &&
           strspn(tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == len &&
           tag[0] != '-';
}

/*
 * A flag naming the environment variable that holds a key: a variable's
 * name ("" for none) that is set now; its value is never read here.
 */
static int key_env_flag(struct agent_flags *f, const char *flag, const char *arg, char *dst,
                        size_t size, unsigned field)
{
    if (!agent_key_env_valid(arg))
        return cli_fail("%s '%s' is not an environment variable name", flag, arg);
    /* The key must be there when calls come. */
    if (*arg && (!getenv(arg) || !*getenv(arg)))
        return cli_fail("environment variable '%s' (%s) is not set", arg, flag);
    snprintf(dst, size, "%s", arg);
    f->fields |= field;
    return 0;
}

/* --stt-url, --tts-url: "" for the engine's own, else an http(s):// or ws(s):// URL. */
static int speech_url_flag(struct agent_flags *f, const char *flag, const char *arg, char *dst,
                           size_t size, unsigned field)
{
    if (*arg && !agent_speech_url_valid(arg))
        return cli_fail("%s '%s' is not an http://, https://, ws:// or wss:// URL", flag, arg);
    snprintf(dst, size, "%s", arg);
    f->fields |= field;
    return 0;
}

/* --voice LANG=VOICE: the first of a command replaces the list; a LANG again replaces its voice. */
static int voice_flag(struct agent_flags *f, const char *arg)
{
    struct agent_config *c = &f->c;
    const char *eq = strchr(arg, '=');
    char lang[LANG_SIZE];
    size_t taglen;
    int i;

    if (!eq)
        return cli_fail("--voice '%s' is not LANG=VOICE (e.g. es-MX=Jimena)", arg);
    taglen = (size_t)(eq - arg);
    if (taglen >= sizeof(lang))
        return cli_fail("--voice '%s': '%.*s' is not a language tag (e.g. es-MX)", arg, (int)taglen,
                        arg);
    memcpy(lang, arg, taglen);
    lang[taglen] = '\0';
    if (!lang_tag_valid(lang))
        return cli_fail("--voice '%s': '%s' is not a language tag (e.g. es-MX)", arg, lang);
    if (!agent_voice_name_valid(eq + 1))
        return cli_fail("--voice '%s': the voice name must be 1 to %d bytes of printable text", arg,
                        AGENT_VOICE_SIZE - 1);
    if (!(f->fields & AGENT_FIELD_VOICES))
        c->nvoices = 0;
    f->fields |= AGENT_FIELD_VOICES;
    for (i = 0; i < c->nvoices && strcasecmp(c->voices[i].lang, lang) != 0; i++)
        ;
    if (i == AGENT_MAX_VOICES)
        return cli_fail("--voice '%s' is one too many (at most %d languages)", arg,
                        AGENT_MAX_VOICES);
    if (i == c->nvoices)
        c->nvoices++;
    snprintf(c->voices[i].lang, sizeof(c->voices[i].lang), "%s", lang);
    snprintf(c->voices[i].voice, sizeof(c->voices[i].voice), "%s", eq + 1);
    return 0;
}

/* Applies one flag of add or set. Returns 0, or the exit status after printing the error. */
static int apply_flag(struct agent_flags *f, int opt, const char *arg)
{
    struct agent_config *c = &f->c;
    long v;

    switch (opt) {
    case 't':
        f->tenant = arg;
        return 0;
    case 'd':
        f->db = arg;
        return 0;
    case 'j':
        f->as_json = 1;
        return 0;
    case 'u':
        if (!agent_base_url_valid(arg))
            return cli_fail("base URL '%s' is not an http:// or https:// URL", arg);
        snprintf(c->base_url, sizeof(c->base_url), "%s", arg);
        f->fields |= AGENT_FIELD_BASE_URL;
        return 0;
    case 'm':
        if (!*arg || strlen(arg) >= sizeof(c->model))
            return cli_fail("model '%s' must be 1-%zu characters", arg, sizeof(c->model) - 1);
        snprintf(c->model, sizeof(c->model), "%s", arg);
        f->fields |= AGENT_FIELD_MODEL;
        return 0;
    case 'k':
        return key_env_flag(f, "--api-key-env", arg, c->api_key_env, sizeof(c->api_key_env),
                            AGENT_FIELD_API_KEY_ENV);
    case 'p':
        if (read_prompt(c, arg))
            return 1;
        f->fields |= AGENT_FIELD_PROMPT;
        return 0;
    case 'K':
        if (f->nknowledge == MAX_KNOWLEDGE_FLAGS)
            return cli_fail("at most %d --knowledge files at once", MAX_KNOWLEDGE_FLAGS);
        f->nknowledge++;
        if (read_knowledge(&f->knowledge[f->nknowledge - 1], arg))
            return 1;
        for (int i = 0; i < f->nknowledge - 1; i++) {
            if (strcmp(f->knowledge[i].name, f->knowledge[f->nknowledge - 1].name) == 0)
                return cli_fail("two knowledge files are named '%s'", f->knowledge[i].name);
        }
        return 0;
    case 'T': {
        char *end;
        double t;

        errno = 0;
        t = strtod(arg, &end);
        if (!*arg || *end || errno || !isfinite(t) || t < 0 || t > AGENT_TEMPERATURE_MAX)
            return cli_fail("temperature '%s' is not a number from 0 to 2", arg);
        c->temperature = t;
        f->fields |= AGENT_FIELD_TEMPERATURE;
        return 0;
    }
    case 'x':
        if (parse_long(arg, 1, TOKENS_MAX, &v))
            return cli_fail("max tokens '%s' is not a number from 1 to %d", arg, TOKENS_MAX);
        c->max_tokens = (int)v;
        f->fields |= AGENT_FIELD_MAX_TOKENS;
        return 0;
    case 'l':
        if (!lang_tag_valid(arg))
            return cli_fail("language '%s' is not a language tag (e.g. es-MX)", arg);
        if (!(f->fields & AGENT_FIELD_LANGS))
            c->nlangs = 0;
        f->fields |= AGENT_FIELD_LANGS;
        for (int i = 0; i < c->nlangs; i++) {
            if (strcmp(c->langs[i], arg) == 0)
                return 0;
        }
        if (c->nlangs == AGENT_MAX_LANGS)
            return cli_fail("language '%s' is one too many (at most %d)", arg, AGENT_MAX_LANGS);
        snprintf(c->langs[c->nlangs++], LANG_SIZE, "%s", arg);
        return 0;
    case 'o':
        if (parse_long(arg, 1, AGENT_FIRST_TOKEN_TIMEOUT_MAX_MS, &v))
            return cli_fail("first token timeout '%s' is not a number of milliseconds from 1 "
                            "to %d",
                            arg, AGENT_FIRST_TOKEN_TIMEOUT_MAX_MS);
        c->first_token_timeout_ms = (int)v;
        f->fields |= AGENT_FIELD_FIRST_TOKEN_TIMEOUT;
        return 0;
    case 'f':
        if (agent_fallback_parse(arg, &c->fallback))
            return cli_fail("fallback '%s' is not rules or transfer", arg);
        f->fields |= AGENT_FIELD_FALLBACK;
        return 0;
    case OPT_STT:
        if (!agent_stt_engine_valid(arg))
            return cli_fail("--stt '%s' is not %s", arg, AGENT_STT_ENGINES);
        snprintf(c->stt, sizeof(c->stt), "%s", arg);
        f->fields |= AGENT_FIELD_STT;
        return 0;
    case OPT_STT_MODEL:
        if (strlen(arg) >= sizeof(c->stt_model))
            return cli_fail("--stt-model '%s' is longer than %zu characters", arg,
                            sizeof(c->stt_model) - 1);
        snprintf(c->stt_model, sizeof(c->stt_model), "%s", arg);
        f->fields |= AGENT_FIELD_STT_MODEL;
        return 0;
    case OPT_STT_URL:
        return speech_url_flag(f, "--stt-url", arg, c->stt_url, sizeof(c->stt_url),
                               AGENT_FIELD_STT_URL);
    case OPT_STT_KEY_ENV:
        return key_env_flag(f, "--stt-key-env", arg, c->stt_key_env, sizeof(c->stt_key_env),
                            AGENT_FIELD_STT_KEY_ENV);
    case OPT_TTS:
        if (!agent_tts_engine_valid(arg))
            return cli_fail("--tts '%s' is not %s", arg, AGENT_TTS_ENGINES);
        snprintf(c->tts, sizeof(c->tts), "%s", arg);
        f->fields |= AGENT_FIELD_TTS;
        return 0;
    case OPT_TTS_URL:
        return speech_url_flag(f, "--tts-url", arg, c->tts_url, sizeof(c->tts_url),
                               AGENT_FIELD_TTS_URL);
    case OPT_TTS_KEY_ENV:
        return key_env_flag(f, "--tts-key-env", arg, c->tts_key_env, sizeof(c->tts_key_env),
                            AGENT_FIELD_TTS_KEY_ENV);
    case OPT_VOICE:
        return voice_flag(f, arg);
    default:
        return 2;
    }
}

/*
 * Parses argv (argv[0] is the subcommand) into *f; sets *name to the one
 * NAME argument (NULL when none is wanted). Returns 0 or the exit status.
 */
static int parse_flags(int argc, char **argv, struct agent_flags *f, const char **name,
                       int want_name)
{
    static const struct option opts[] = {
        {"tenant", required_argument, NULL, 't'},
        {"db", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"base-url", required_argument, NULL, 'u'},
        {"model", required_argument, NULL, 'm'},
        {"api-key-env", required_argument, NULL, 'k'},
        {"prompt-file", required_argument, NULL, 'p'},
        {"knowledge", required_argument, NULL, 'K'},
        {"temperature", required_argument, NULL, 'T'},
        {"max-tokens", required_argument, NULL, 'x'},
        {"lang", required_argument, NULL, 'l'},
        {"first-token-timeout", required_argument, NULL, 'o'},
        {"fallback", required_argument, NULL, 'f'},
        {"stt", required_argument, NULL, OPT_STT},
        {"stt-model", required_argument, NULL, OPT_STT_MODEL},
        {"stt-url", required_argument, NULL, OPT_STT_URL},
        {"stt-key-env", required_argument, NULL, OPT_STT_KEY_ENV},
        {"tts", required_argument, NULL, OPT_TTS},
        {"tts-url", required_argument, NULL, OPT_TTS_URL},
        {"tts-key-env", required_argument, NULL, OPT_TTS_KEY_ENV},
        {"voice", required_argument, NULL, OPT_VOICE},
        {NULL, 0, NULL, 0},
    };
    int c, rc;

    memset(f, 0, sizeof(*f));
    f->c.temperature = -1;
    f->c.fallback = AGENT_FALLBACK_RULES;
    *name = NULL;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return cli_usage("agents %s: unknown option or missing value in '%s' (see --help)",
                             argv[0], argv[optind - 1]);
        rc = apply_flag(f, c, optarg);
        if (rc)
            return rc;
    }
    if (want_name) {
        if (optind != argc - 1)
            return cli_usage("agents %s needs exactly one NAME", argv[0]);
        *name = argv[optind];
    } else if (optind != argc) {
        return cli_usage("agents %s takes no arguments", argv[0]);
    }
    return 0;
}

/* Which flags a command accepts beyond --tenant, --db and --json. */
static int only_flags(const struct agent_flags *f, const char *cmd, int config, int json)
{
    if (!config && (f->fields || f->nknowledge))
        return cli_usage("agents %s takes no agent settings (see --help)", cmd);
    if (!json && f->as_json)
        return cli_usage("agents %s does not take --json", cmd);
    return 0;
}

/* Checks NAME (and, when `adding`, that it is not a built-in's) and the tenant flag. */
static int check_key(const struct agent_flags *f, const char *cmd, const char *name, int adding)
{
    if (!f->tenant || !*f->tenant)
        return cli_usage("agents %s needs --tenant T", cmd);
    if (strlen(f->tenant) >= TENANT_NAME_SIZE)
        return cli_fail("tenant name '%s' is not valid", f->tenant);
    if (adding && agent_name_reserved(name))
        return cli_fail("agent name '%s' is reserved for a built-in agent (rules, echo)", name);
    if (adding && !agent_name_valid(name))
        return cli_fail("agent name '%s' must be 1-%d letters, digits, '-', '_' or '.'", name,
                        AGENT_NAME_SIZE - 1);
    if (!adding && (!*name || strlen(name) >= AGENT_NAME_SIZE))
        return cli_fail("agent '%s' does not exist for tenant '%s'", name, f->tenant);
    return 0;
}

/* Imports the files of --knowledge; prints what failed. Returns 0 or 1. */
static int import_knowledge(struct store *s, const struct agent_flags *f, const char *name)
{
    for (int i = 0; i < f->nknowledge; i++) {
        const struct knowledge_input *k = &f->knowledge[i];
        size_t n = 0;
        int rc = knowledge_import(s, f->tenant, name, k->name, k->text.data, k->text.len, &n);

        if (rc)
            return cli_fail("cannot import knowledge file '%s': %s", k->path, sb_strerror(rc));
        printf("imported %s: %zu passage%s\n", k->name, n, n == 1 ? "" : "s");
    }
    return 0;
}

/* Runs `write` (add or update) and the imports in one transaction. */
static int write_agent(struct agent_flags *f, const char *cmd, const char *name, int adding)
{
    struct tenant t;
    struct store *s = NULL;
    int rc;

    if (cli_open_store(&s, f->db))
        return 1;
    rc = store_begin(s);
    if (rc) {
        store_close(s);
        return cli_fail("cannot %s agent '%s': %s", cmd, name, sb_strerror(rc));
    }
    rc = store_tenant_get(s, f->tenant, &t);
    if (rc == SB_ENOTFOUND) {
        rc = cli_fail("tenant '%s' does not exist", f->tenant);
        goto out;
    }
    if (rc) {
        rc = cli_fail("cannot %s agent '%s': %s", cmd, name, sb_strerror(rc));
        goto out;
    }
    snprintf(f->c.tenant, sizeof(f->c.tenant), "%s", f->tenant);
    snprintf(f->c.name, sizeof(f->c.name), "%s", name);
    rc = adding ? agent_config_add(s, &f->c) : agent_config_update(s, &f->c, f->fields);
    if (rc == SB_EEXISTS)
        rc = cli_fail("agent '%s' already exists for tenant '%s'", name, f->tenant);
    else if (rc == SB_ENOTFOUND)
        rc = cli_fail("agent '%s' does not exist for tenant '%s'", name, f->tenant);
    else if (rc)
        rc = cli_fail("cannot %s agent '%s': %s", cmd, name, sb_strerror(rc));
    if (rc == 0)
        rc = import_knowledge(s, f, name);
    if (rc == 0) {
        rc = store_commit(s);
        if (rc)
            rc = cli_fail("cannot %s agent '%s': %s", cmd, name, sb_strerror(rc));
    }
out:
    if (rc && store_rollback(s))
        fprintf(stderr, "error: the store could not roll back\n");
    store_close(s);
    if (rc == 0)
        printf("%s agent %s (tenant %s)\n", adding ? "added" : "updated", name, f->tenant);
    return rc;
}

static int agents_add(int argc, char **argv)
{
    struct agent_flags f;
    const char *name;
    int rc = parse_flags(argc, argv, &f, &name, 1);

    if (rc == 0)
        rc = only_flags(&f, "add", 1, 0);
    if (rc == 0)
        rc = check_key(&f, "add", name, 1);
    if (rc == 0 && !(f.fields & AGENT_FIELD_BASE_URL))
        rc = cli_usage("agents add needs --base-url URL");
    if (rc == 0 && !(f.fields & AGENT_FIELD_MODEL))
        rc = cli_usage("agents add needs --model M");
    if (rc == 0)
        rc = write_agent(&f, "add", name, 1);
    flags_release(&f);
    return rc;
}

static int agents_set(int argc, char **argv)
{
    struct agent_flags f;
    const char *name;
    int rc = parse_flags(argc, argv, &f, &name, 1);

    if (rc == 0)
        rc = only_flags(&f, "set", 1, 0);
    if (rc == 0)
        rc = check_key(&f, "set", name, 0);
    if (rc == 0 && !f.fields && !f.nknowledge)
        rc = cli_usage("agents set needs at least one setting to change (see --help)");
    if (rc == 0)
        rc = write_agent(&f, "set", name, 0);
    flags_release(&f);
    return rc;
}

static json_t *time_json(long long t)
{
    char when[32];

    return t > 0 ? json_string(call_iso_time(t, when, sizeof(when))) : json_null();
}

/* A string, or null when it is "". */
static json_t *or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

static json_t *agent_json(const struct agent_config *c, const struct knowledge_file *files,
                          size_t nfiles, int with_knowledge)
{
    json_t *o = json_object();
    json_t *langs = json_array();
    json_t *voices = json_object();

    for (int i = 0; i < c->nlangs; i++)
        json_array_append_new(langs, json_string(c->langs[i]));
    for (int i = 0; i < c->nvoices; i++)
        json_object_set_new(voices, c->voices[i].lang, json_string(c->voices[i].voice));
    json_object_set_new(o, "tenant", json_string(c->tenant));
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "base_url", json_string(c->base_url));
    json_object_set_new(o, "model", json_string(c->model));
    json_object_set_new(o, "api_key_env",
                        c->api_key_env[0] ? json_string(c->api_key_env) : json_null());
    json_object_set_new(o, "prompt", json_string(c->prompt ? c->prompt : ""));
    json_object_set_new(o, "temperature",
                        c->temperature >= 0 ? json_real(c->temperature) : json_null());
    json_object_set_new(o, "max_tokens",
                        c->max_tokens > 0 ? json_integer(c->max_tokens) : json_null());
    json_object_set_new(o, "languages", langs);
    json_object_set_new(o, "first_token_timeout_ms", json_integer(c->first_token_timeout_ms));
    json_object_set_new(o, "fallback", json_string(agent_fallback_name(c->fallback)));
    /* Speech: null is unset (the default engine, or the engine's own setting). */
    json_object_set_new(o, "stt", or_null(c->stt));
    json_object_set_new(o, "stt_model", or_null(c->stt_model));
    json_object_set_new(o, "stt_url", or_null(c->stt_url));
    json_object_set_new(o, "stt_key_env", or_null(c->stt_key_env));
    json_object_set_new(o, "tts", or_null(c->tts));
    json_object_set_new(o, "tts_url", or_null(c->tts_url));
    json_object_set_new(o, "tts_key_env", or_null(c->tts_key_env));
    json_object_set_new(o, "voices", voices);
    json_object_set_new(o, "created_at", time_json(c->created_at));
    json_object_set_new(o, "updated_at", time_json(c->updated_at));
    if (with_knowledge) {
        json_t *k = json_array();

        for (size_t i = 0; i < nfiles; i++)
            json_array_append_new(k, json_pack("{s:s, s:I, s:i, s:o}", "file", files[i].name,
                                               "bytes", (json_int_t)files[i].bytes, "passages",
                                               files[i].passages, "imported_at",
                                               time_json(files[i].imported_at)));
        json_object_set_new(o, "knowledge", k);
    }
    return o;
}

static void print_json(json_t *v)
{
    json_dumpf(v, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    fputc('\n', stdout);
    json_decref(v);
}

/* A key's line: the variable it is read from, and whether it is set here (never its value). */
static void print_key(const char *label, const char *var)
{
    if (var[0])
        printf("%-22sfrom $%s (%s here)\n", label, var,
               getenv(var) && *getenv(var) ? "set" : "not set");
    else
        printf("%-22snone\n", label);
}

static void print_speech(const struct agent_config *c)
{
    if (c->stt[0])
        printf("stt                   %s\n", c->stt);
    else
        printf("stt                   default (pocketsphinx)\n");
    printf("stt model             %s\n", c->stt_model[0] ? c->stt_model : "the engine's default");
    printf("stt url               %s\n", c->stt_url[0] ? c->stt_url : "the engine's default");
    print_key("stt key", c->stt_key_env);
    if (c->tts[0])
        printf("tts                   %s\n", c->tts);
    else
        printf("tts                   default (flite for English, espeak-ng otherwise)\n");
    printf("tts url               %s\n", c->tts_url[0] ? c->tts_url : "the engine's default");
    print_key("tts key", c->tts_key_env);
    printf("voices                %s\n", c->nvoices ? "(below)" : "the engine's default");
    for (int i = 0; i < c->nvoices; i++)
        printf("  %s: %s\n", c->voices[i].lang, c->voices[i].voice);
}

static void print_agent(const struct agent_config *c, const struct knowledge_file *files,
                        size_t nfiles)
{
    char when[32];

    printf("agent                 %s\n", c->name);
    printf("tenant                %s\n", c->tenant);
    printf("base url              %s\n", c->base_url);
    printf("model                 %s\n", c->model);
    print_key("api key", c->api_key_env);
    if (c->temperature >= 0)
        printf("temperature           %g\n", c->temperature);
    else
        printf("temperature           the provider's default\n");
    if (c->max_tokens > 0)
        printf("max tokens            %d\n", c->max_tokens);
    else
        printf("max tokens            the provider's default\n");
    printf("languages            ");
    for (int i = 0; i < c->nlangs; i++)
        printf("%s%s", i ? ", " : " ", c->langs[i]);
    printf("%s\n", c->nlangs ? "" : " the tenant's");
    printf("first token timeout   %d ms\n", c->first_token_timeout_ms);
    printf("fallback              %s\n", agent_fallback_name(c->fallback));
    print_speech(c);
    printf("created               %s\n", call_iso_time(c->created_at, when, sizeof(when)));
    printf("updated               %s\n", call_iso_time(c->updated_at, when, sizeof(when)));
    printf("knowledge             %s\n", nfiles ? "(files below)" : "none");
    for (size_t i = 0; i < nfiles; i++)
        printf("  %s: %d passage%s, %lld bytes, imported %s\n", files[i].name, files[i].passages,
               files[i].passages == 1 ? "" : "s", files[i].bytes,
               call_iso_time(files[i].imported_at, when, sizeof(when)));
    printf("prompt                %s\n", c->prompt && *c->prompt ? "(below)" : "none");
    if (c->prompt && *c->prompt) {
        const char *line = c->prompt;

        while (*line) {
            const char *eol = strchr(line, '\n');
            int len = eol ? (int)(eol - line) : (int)strlen(line);

            printf("  %.*s\n", len, line);
            line += len + (eol ? 1 : 0);
        }
    }
}

static int agents_show(int argc, char **argv)
{
    struct agent_flags f;
    struct agent_config c;
    struct knowledge_file *files = NULL;
    struct store *s = NULL;
    const char *name;
    size_t nfiles = 0;
    int rc = parse_flags(argc, argv, &f, &name, 1);

    memset(&c, 0, sizeof(c));
    if (rc == 0)
        rc = only_flags(&f, "show", 0, 1);
    if (rc == 0)
        rc = check_key(&f, "show", name, 0);
    if (rc == 0 && cli_open_store(&s, f.db))
        rc = 1;
    if (rc == 0) {
        rc = agent_config_get(s, f.tenant, name, &c);
        if (rc == 0)
            rc = knowledge_file_list(s, f.tenant, name, &files, &nfiles);
        if (rc == SB_ENOTFOUND)
            rc = cli_fail("agent '%s' does not exist for tenant '%s'", name, f.tenant);
        else if (rc)
            rc = cli_fail("cannot show agent '%s': %s", name, sb_strerror(rc));
    }
    if (rc == 0) {
        if (f.as_json)
            print_json(agent_json(&c, files, nfiles, 1));
        else
            print_agent(&c, files, nfiles);
    }
    free(files);
    agent_config_release(&c);
    store_close(s);
    flags_release(&f);
    return rc;
}

static int agents_remove(int argc, char **argv)
{
    struct agent_flags f;
    struct store *s = NULL;
    const char *name;
    int rc = parse_flags(argc, argv, &f, &name, 1);

    if (rc == 0)
        rc = only_flags(&f, "remove", 0, 0);
    if (rc == 0)
        rc = check_key(&f, "remove", name, 0);
    if (rc == 0 && cli_open_store(&s, f.db))
        rc = 1;
    if (rc == 0) {
        rc = agent_config_remove(s, f.tenant, name);
        if (rc == SB_ENOTFOUND)
            rc = cli_fail("agent '%s' does not exist for tenant '%s'", name, f.tenant);
        else if (rc)
            rc = cli_fail("cannot remove agent '%s': %s", name, sb_strerror(rc));
        else
            printf("removed agent %s (tenant %s)\n", name, f.tenant);
    }
    store_close(s);
    flags_release(&f);
    return rc;
}

static int agents_list(int argc, char **argv)
{
    struct agent_flags f;
    struct agent_config *list = NULL;
    struct tenant t;
    struct store *s = NULL;
    const char *name;
    size_t n = 0;
    int rc = parse_flags(argc, argv, &f, &name, 0);

    if (rc == 0)
        rc = only_flags(&f, "list", 0, 1);
    if (rc == 0 && cli_open_store(&s, f.db))
        rc = 1;
    if (rc == 0 && f.tenant) {
        rc = store_tenant_get(s, f.tenant, &t);
        if (rc == SB_ENOTFOUND)
            rc = cli_fail("tenant '%s' does not exist", f.tenant);
        else if (rc)
            rc = cli_fail("cannot list agents: %s", sb_strerror(rc));
    }
    if (rc == 0) {
        rc = agent_config_list(s, f.tenant, &list, &n);
        if (rc)
            rc = cli_fail("cannot list agents: %s", sb_strerror(rc));
    }
    if (rc == 0 && f.as_json) {
        json_t *arr = json_array();

        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, agent_json(&list[i], NULL, 0, 0));
        print_json(arr);
    } else if (rc == 0) {
        printf("%-20s %-20s %-24s %-9s %s\n", "TENANT", "NAME", "MODEL", "FALLBACK", "BASE_URL");
        for (size_t i = 0; i < n; i++)
            printf("%-20s %-20s %-24s %-9s %s\n", list[i].tenant, list[i].name, list[i].model,
                   agent_fallback_name(list[i].fallback), list[i].base_url);
    }
    agent_config_list_free(list, n);
    store_close(s);
    flags_release(&f);
    return rc;
}

int cli_agents(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } commands[] = {
        {"add", agents_add},       {"set", agents_set},   {"show", agents_show},
        {"remove", agents_remove}, {"list", agents_list},
    };

    if (cli_wants_help(argc, argv)) {
        fputs(agents_usage, stdout);
        return 0;
    }
    if (argc < 2) {
        fputs(agents_usage, stderr);
        return 2;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    return cli_usage("unknown agents command '%s' (add, set, show, remove, list)", argv[1]);
}
