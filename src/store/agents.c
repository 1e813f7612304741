/*
 * The agents' store interface (store/agents.h): argument checks, the cutting
 * of knowledge files into passages and of queries into words, and dispatch
 * through the backend's ops table, like store/store.c for the rest.
 */
#include "store/agents.h"

#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "core/utf8.h"
#include "core/words.h"
#include "core/banned.h"

static const char *const fallback_names[] = {"rules", "transfer"};
static const char *const role_names[] = {"caller", "agent", "tool", "event"};
/* The agents built into the program (agent/rules.c); a configured agent may not shadow one. */
static const char *const reserved_names[] = {"rules", "echo"};
/* The speech engines an agent may name (AGENT_STT_ENGINES, AGENT_TTS_ENGINES). */
static const char *const stt_engines[] = {"pocketsphinx", "deepgram", "whisper-api"};
static const char *const tts_engines[] = {"espeak", "flite", "elevenlabs", "cartesia", "openai"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *agent_fallback_name(enum agent_fallback f)
{
    return (unsigned)f < COUNT(fallback_names) ? fallback_names[f] : "unknown";
}

int agent_fallback_parse(const char *s, enum agent_fallback *out)
{
    for (size_t i = 0; s && out && i < COUNT(fallback_names); i++) {
        if (strcmp(s, fallback_names[i]) == 0) {
            *out = (enum agent_fallback)i;
            return 0;
        }
    }
    return SB_EINVAL;
}

const char *turn_role_name(enum turn_role r)
{
    return (unsigned)r < COUNT(role_names) ? role_names[r] : "unknown";
}

int turn_role_parse(const char *s, enum turn_role *out)
{
    for (size_t i = 0; s && out && i < COUNT(role_names); i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *out = (enum turn_role)i;
            return 0;
        }
    }
    return SB_EINVAL;
}

int agent_name_reserved(const char *name)
{
    for (size_t i = 0; name && i < COUNT(reserved_names); i++) {
        if (strcmp(name, reserved_names[i]) == 0)
            return 1;
    }
    return 0;
}

int agent_name_valid(const char *name)
{
    size_t len = name ? strnlen(name, AGENT_NAME_SIZE) : 0;

    return len > 0 && len < AGENT_NAME_SIZE &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
               len &&
           !agent_name_reserved(name);
}

int agent_base_url_valid(const char *url)
{
    size_t len = url ? strnlen(url, AGENT_BASE_URL_SIZE) : 0;
    size_t scheme;

    if (len == 0 || len >= AGENT_BASE_URL_SIZE)
        return 0;
    if (strncmp(url, "http://", 7) == 0)
        scheme = 7;
    else if (strncmp(url, "https://", 8) == 0)
        scheme = 8;
    else
        return 0;
    /* A host, and nothing that is no part of a URL: spaces, control bytes, non-ASCII. */
    if (len == scheme || url[scheme] == '/')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];

        if (c <= 0x20 || c >= 0x7f)
            return 0;
    }
    return 1;
}

int agent_key_env_valid(const char *name)
{
    size_t len = name ? strnlen(name, AGENT_KEY_ENV_SIZE) : 0;

    if (len >= AGENT_KEY_ENV_SIZE)
        return 0;
    if (len == 0)
        return 1;
    if (name[0] >= '0' && name[0] <= '9')
        return 0;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == len;
}

int agent_text_valid(const char *s, size_t len)
{
    return utf8_valid(s, len);
}

/* True when `name` is "" or one of the `n` names. */
static int engine_valid(const char *name, const char *const *names, size_t n)
{
    if (!name)
        return 0;
    if (!name[0])
        return 1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(name, names[i]) == 0)
            return 1;
    }
    return 0;
}

int agent_stt_engine_valid(const char *name)
{
    return engine_valid(name, stt_engines, COUNT(stt_engines));
}

int agent_tts_engine_valid(const char *name)
{
    return engine_valid(name, tts_engines, COUNT(tts_engines));
}

int agent_voice_name_valid(const char *voice)
{
    size_t len = voice ? strnlen(voice, AGENT_VOICE_SIZE) : 0;
    size_t i = 0;

    if (len == 0 || len >= AGENT_VOICE_SIZE)
        return 0;
    while (i < len) {
        unsigned cp = 0;
        size_t n = utf8_decode((const unsigned char *)voice + i, len - i, &cp);

        if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
            return 0;
        i += n;
    }
    return 1;
}

/* True when `s` is NUL-terminated within its `size` bytes. */
static int terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

/* A speech URL: "" (the engine's own) or as a base URL. */
int agent_speech_url_valid(const char *url)
{
    char twin[AGENT_BASE_URL_SIZE + 2];

    if (strncmp(url, "ws://", 5) == 0 || strncmp(url, "wss://", 6) == 0) {
        if (strlen(url) >= AGENT_BASE_URL_SIZE)
            return 0;
        snprintf(twin, sizeof(twin), "http%s", url + 2);
        return agent_base_url_valid(twin);
    }
    return agent_base_url_valid(url);
}

static int speech_url_valid(const char *url, size_t size)
{
    return terminated(url, size) && (!url[0] || agent_speech_url_valid(url));
}

/* The voices: at most AGENT_MAX_VOICES, each a tag and a name, no language twice. */
static int voices_valid(const struct agent_config *c)
{
    if (c->nvoices < 0 || c->nvoices > AGENT_MAX_VOICES)
        return 0;
    for (int i = 0; i < c->nvoices; i++) {
        const struct agent_voice *v = &c->voices[i];
        size_t len = strnlen(v->lang, LANG_SIZE);

        if (len == 0 || len >= LANG_SIZE ||
            strspn(v->lang, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") !=
                len ||
            v->lang[0] == '-' || !terminated(v->voice, sizeof(v->voice)) ||
            !agent_voice_name_valid(v->voice))
            return 0;
        for (int j = 0; j < i; j++) {
            if (strcasecmp(c->voices[j].lang, v->lang) == 0)
                return 0;
        }
    }
    return 1;
}

/* Checks the key and the fields named by `fields`. */
static int agent_valid(const struct agent_config *c, unsigned fields, int adding)
{
    if (!terminated(c->tenant, sizeof(c->tenant)) || !c->tenant[0] ||
        !terminated(c->name, sizeof(c->name)) || (adding && !agent_name_valid(c->name)))
        return 0;
    if ((fields & AGENT_FIELD_BASE_URL) &&
        (!terminated(c->base_url, sizeof(c->base_url)) || !agent_base_url_valid(c->base_url)))
        return 0;
    if ((fields & AGENT_FIELD_MODEL) && (!terminated(c->model, sizeof(c->model)) || !c->model[0]))
        return 0;
    if ((fields & AGENT_FIELD_API_KEY_ENV) &&
        (!terminated(c->api_key_env, sizeof(c->api_key_env)) ||
         !agent_key_env_valid(c->api_key_env)))
        return 0;
    if ((fields & AGENT_FIELD_PROMPT) && c->prompt) {
        size_t len = strnlen(c->prompt, AGENT_PROMPT_MAX + 1);

        if (len > AGENT_PROMPT_MAX || !agent_text_valid(c->prompt, len))
            return 0;
    }
    /* Written so that NaN fails too. */
    if ((fields & AGENT_FIELD_TEMPERATURE) &&
        !(c->temperature < 0 || (c->temperature >= 0 && c->temperature <= AGENT_TEMPERATURE_MAX)))
        return 0;
    if ((fields & AGENT_FIELD_MAX_TOKENS) && c->max_tokens < 0)
        return 0;
    if (fields & AGENT_FIELD_LANGS) {
        if (c->nlangs < 0 || c->nlangs > AGENT_MAX_LANGS)
            return 0;
        for (int i = 0; i < c->nlangs; i++) {
            if (!terminated(c->langs[i], LANG_SIZE) || !c->langs[i][0] || strchr(c->langs[i], ','))
                return 0;
        }
    }
    if ((fields & AGENT_FIELD_FIRST_TOKEN_TIMEOUT) &&
        (c->first_token_timeout_ms < 0 ||
         c->first_token_timeout_ms > AGENT_FIRST_TOKEN_TIMEOUT_MAX_MS))
        return 0;
    if ((fields & AGENT_FIELD_FALLBACK) && (unsigned)c->fallback >= COUNT(fallback_names))
        return 0;
    if ((fields & AGENT_FIELD_STT) &&
        (!terminated(c->stt, sizeof(c->stt)) || !agent_stt_engine_valid(c->stt)))
        return 0;
    if ((fields & AGENT_FIELD_STT_MODEL) && !terminated(c->stt_model, sizeof(c->stt_model)))
        return 0;
    if ((fields & AGENT_FIELD_STT_URL) && !speech_url_valid(c->stt_url, sizeof(c->stt_url)))
        return 0;
    if ((fields & AGENT_FIELD_STT_KEY_ENV) &&
        (!terminated(c->stt_key_env, sizeof(c->stt_key_env)) ||
         !agent_key_env_valid(c->stt_key_env)))
        return 0;
    if ((fields & AGENT_FIELD_TTS) &&
        (!terminated(c->tts, sizeof(c->tts)) || !agent_tts_engine_valid(c->tts)))
        return 0;
    if ((fields & AGENT_FIELD_TTS_URL) && !speech_url_valid(c->tts_url, sizeof(c->tts_url)))
        return 0;
    if ((fields & AGENT_FIELD_TTS_KEY_ENV) &&
        (!terminated(c->tts_key_env, sizeof(c->tts_key_env)) ||
         !agent_key_env_valid(c->tts_key_env)))
        return 0;
    if ((fields & AGENT_FIELD_VOICES) && !voices_valid(c))
        return 0;
    return 1;
}

void agent_config_release(struct agent_config *c)
{
    if (!c)
        return;
    free(c->prompt);
    c->prompt = NULL;
}

void agent_config_list_free(struct agent_config *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        agent_config_release(&list[i]);
    free(list);
}

int agent_config_add(struct store *s, const struct agent_config *c)
{
    if (!s || !c || !agent_valid(c, AGENT_FIELD_ALL, 1))
        return SB_EINVAL;
    return s->ops->agent_add(s, c);
}

int agent_config_update(struct store *s, const struct agent_config *c, unsigned fields)
{
    if (!s || !c || (fields & ~(unsigned)AGENT_FIELD_ALL) || !agent_valid(c, fields, 0))
        return SB_EINVAL;
    return s->ops->agent_update(s, c, fields);
}

int agent_config_get(struct store *s, const char *tenant, const char *name,
                     struct agent_config *out)
{
    if (!out)
        return SB_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!s || !tenant || !name)
        return SB_EINVAL;
    return s->ops->agent_get(s, tenant, name, out);
}

int agent_config_list(struct store *s, const char *tenant, struct agent_config **out, size_t *n)
{
    if (!s || !out || !n)
        return SB_EINVAL;
    *out = NULL;
    *n = 0;
    return s->ops->agent_list(s, tenant, out, n);
}

int agent_config_remove(struct store *s, const char *tenant, const char *name)
{
    if (!s || !tenant || !name)
        return SB_EINVAL;
    return s->ops->agent_remove(s, tenant, name);
}

/* Knowledge files into passages (the rules are in store/agents.h). */

struct cutter {
    struct knowledge_passage *arr;
    size_t n, cap;
    char heading[KNOWLEDGE_HEADING_SIZE];
    char cur[KNOWLEDGE_PASSAGE_MAX + 1]; /* the passage being filled */
    size_t cur_len;
    int rc;
};

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static size_t rtrim(const char *s, size_t len)
{
    while (len > 0 && is_space(s[len - 1]))
        len--;
    return len;
}

/* The largest length <= len that does not end inside a character (s has a byte at len). */
static size_t char_boundary(const char *s, size_t len)
{
    while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
        len--;
    return len;
}

/* Adds a passage of the current heading (empty text is skipped). */
static void emit(struct cutter *c, const char *text, size_t len)
{
    struct knowledge_passage *p;

    while (len > 0 && is_space(*text)) {
        text++;
        len--;
    }
    len = rtrim(text, len);
    if (c->rc || len == 0)
        return;
    if (c->n == KNOWLEDGE_MAX_PASSAGES) {
        c->rc = SB_ETOOBIG;
        return;
    }
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 16;

        p = realloc(c->arr, ncap * sizeof(*p));
        if (!p) {
            c->rc = SB_ENOMEM;
            return;
        }
        c->arr = p;
        c->cap = ncap;
    }
    p = &c->arr[c->n++];
    memset(p, 0, sizeof(*p));
    p->seq = (int)c->n;
    memcpy(p->heading, c->heading, sizeof(p->heading));
    memcpy(p->text, text, len);
}

static void flush_current(struct cutter *c)
{
    emit(c, c->cur, c->cur_len);
    c->cur_len = 0;
}

/* Where to cut a paragraph longer than a passage: after a sentence, at a space, or a character. */
static size_t cut_point(const char *p)
{
    size_t i;

    for (i = KNOWLEDGE_PASSAGE_MAX; i > KNOWLEDGE_PASSAGE_MAX / 2; i--) {
        if (is_space(p[i]) && (p[i - 1] == '.' || p[i - 1] == '?' || p[i - 1] == '!'))
            return i;
    }
    for (i = KNOWLEDGE_PASSAGE_MAX; i > 0; i--) {
        if (is_space(p[i]))
            return i;
    }
    return char_boundary(p, KNOWLEDGE_PASSAGE_MAX);
}

static void add_paragraph(struct cutter *c, const char *p, size_t len)
{
    if (len == 0)
        return;
    if (c->cur_len > 0 && c->cur_len + 2 + len <= KNOWLEDGE_PASSAGE_MAX) {
        memcpy(c->cur + c->cur_len, "\n\n", 2);
        memcpy(c->cur + c->cur_len + 2, p, len);
        c->cur_len += 2 + len;
        return;
    }
    flush_current(c);
    while (len > KNOWLEDGE_PASSAGE_MAX) {
        size_t cut = cut_point(p);

        emit(c, p, cut);
        p += cut;
        len -= cut;
        while (len > 0 && is_space(*p)) {
            p++;
            len--;
        }
    }
    memcpy(c->cur, p, len);
    c->cur_len = len;
}

/*
 * True when the line (without its end) is an ATX heading: up to three
 * spaces, one to six '#', then a space or the end. Sets its text, without
 * the marks or a closing run of '#'.
 */
static int heading_of(const char *line, size_t len, const char **text, size_t *tlen)
{
    size_t i = 0, hashes = 0;

    while (i < len && i < 3 && line[i] == ' ')
        i++;
    while (i < len && line[i] == '#' && hashes < 7) {
        i++;
        hashes++;
    }
    if (hashes == 0 || hashes > 6 || (i < len && line[i] != ' ' && line[i] != '\t'))
        return 0;
    while (i < len && is_space(line[i]))
        i++;
    len = rtrim(line, len);
    /* "## Prices ##": the closing run goes when a space precedes it. */
    {
        size_t end = len;

        while (end > i && line[end - 1] == '#')
            end--;
        if (end < len && (end == i || is_space(line[end - 1])))
            len = rtrim(line, end);
    }
    *text = line + i;
    *tlen = len > i ? len - i : 0;
    return 1;
}

static void set_heading(struct cutter *c, const char *text, size_t len)
{
    if (len >= sizeof(c->heading))
        len = char_boundary(text, sizeof(c->heading) - 1);
    memcpy(c->heading, text, len);
    c->heading[len] = '\0';
}

int knowledge_cut(const char *text, size_t len, struct knowledge_passage **out, size_t *n)
{
    struct cutter *c = NULL;
    char *para = NULL;
    size_t para_len = 0, pos = 0;
    int rc = 0;

    if (!out || !n)
        return SB_EINVAL;
    *out = NULL;
    *n = 0;
    if (!text || len == 0)
        return SB_EINVAL;
    if (len > KNOWLEDGE_FILE_MAX)
        return SB_ETOOBIG;
    if (!agent_text_valid(text, len))
        return SB_EINVAL;
    c = calloc(1, sizeof(*c));
    para = malloc(len + 1);
    if (!c || !para) {
        rc = SB_ENOMEM;
        goto out;
    }
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    while (pos < len && c->rc == 0) {
        const char *line = text + pos;
        const char *eol = memchr(line, '\n', len - pos);
        size_t line_len = eol ? (size_t)(eol - line) : len - pos;
        const char *h;
        size_t hlen;

        pos += line_len + (eol ? 1 : 0);
        line_len = rtrim(line, line_len);
        if (line_len == 0) {
            add_paragraph(c, para, para_len);
            para_len = 0;
        } else if (heading_of(line, line_len, &h, &hlen)) {
            add_paragraph(c, para, para_len);
            para_len = 0;
            flush_current(c);
            set_heading(c, h, hlen);
        } else {
            /* The paragraph's lines keep their breaks (lists stay lists). */
            if (para_len > 0)
                para[para_len++] = '\n';
            memcpy(para + para_len, line, line_len);
            para_len += line_len;
        }
    }
    add_paragraph(c, para, para_len);
    flush_current(c);
    rc = c->rc;
    if (rc == 0 && c->n == 0)
        rc = SB_EINVAL; /* blank, or headings only */
    if (rc == 0) {
        *out = c->arr;
        *n = c->n;
        c->arr = NULL;
    }
out:
    if (c)
        free(c->arr);
    free(c);
    free(para);
    return rc;
}

/* True when `s` is a string of 1 to size-1 bytes. */
static int sized(const char *s, size_t size)
{
    size_t len = s ? strnlen(s, size) : 0;

    return len > 0 && len < size;
}

int knowledge_import(struct store *s, const char *tenant, const char *agent, const char *file,
                     const char *text, size_t len, size_t *npassages)
{
    struct knowledge_passage *p = NULL;
    size_t np = 0;
    int rc;

    if (npassages)
        *npassages = 0;
    if (!s || !sized(tenant, TENANT_NAME_SIZE) || !sized(agent, AGENT_NAME_SIZE) ||
        !sized(file, KNOWLEDGE_FILE_NAME_SIZE) || !agent_text_valid(file, strlen(file)))
        return SB_EINVAL;
    rc = knowledge_cut(text, len, &p, &np);
    if (rc == 0)
        rc = s->ops->knowledge_put(s, tenant, agent, file, (long long)len, p, np);
    if (rc == 0 && npassages)
        *npassages = np;
    free(p);
    return rc;
}

int knowledge_file_list(struct store *s, const char *tenant, const char *agent,
                        struct knowledge_file **out, size_t *n)
{
    if (!s || !tenant || !agent || !out || !n)
        return SB_EINVAL;
    *out = NULL;
    *n = 0;
    return s->ops->knowledge_file_list(s, tenant, agent, out, n);
}

/* A query word longer than this is no word anyone says; it is skipped. */
#define QUERY_WORD_MAX 64

/*
 * Words of English and Spanish questions that say nothing about the topic
 * ("how much does it cost": only "cost" tells which passage answers). bm25
 * weighs rare words up, but in a small knowledge base "it" or "does" in the
 * wrong passage can still outweigh the one word that matters. Folded as
 * core/words folds (lower case, accents kept), so both spellings are listed.
 */
static const char *const stop_words[] = {
    /* English */
    "a",
    "about",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "for",
    "from",
    "have",
    "has",
    "how",
    "i",
    "if",
    "in",
    "is",
    "it",
    "its",
    "know",
    "like",
    "many",
    "me",
    "much",
    "my",
    "of",
    "on",
    "or",
    "our",
    "please",
    "should",
    "so",
    "some",
    "tell",
    "that",
    "the",
    "there",
    "this",
    "to",
    "want",
    "was",
    "we",
    "what",
    "when",
    "where",
    "which",
    "who",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    /* Spanish */
    "al",
    "como",
    "cómo",
    "con",
    "cual",
    "cuál",
    "cuando",
    "cuándo",
    "cuanto",
    "cuánto",
    "cuanta",
    "cuánta",
    "cuantos",
    "cuántos",
    "cuantas",
    "cuántas",
    "de",
    "del",
    "donde",
    "dónde",
    "el",
    "en",
    "es",
    "esta",
    "está",
    "este",
    "esto",
    "favor",
    "hay",
    "la",
    "las",
    "le",
    "les",
    "lo",
    "los",
    "me",
    "mi",
    "mis",
    "nos",
    "o",
    "para",
    "por",
    "puede",
    "puedo",
    "que",
    "qué",
    "quiero",
    "quisiera",
    "saber",
    "se",
    "su",
    "sus",
    "te",
    "tiene",
    "tienen",
    "tu",
    "un",
    "una",
    "unas",
    "uno",
    "unos",
    "usted",
    "y",
    "yo",
};

static int stop_word(const char *w)
{
    for (size_t i = 0; i < COUNT(stop_words); i++) {
        if (strcmp(w, stop_words[i]) == 0)
            return 1;
    }
    return 0;
}

int knowledge_search(struct store *s, const char *tenant, const char *agent, const char *query,
                     size_t k, struct knowledge_passage **out, size_t *n)
{
    char words[KNOWLEDGE_QUERY_MAX_TERMS][QUERY_WORD_MAX + 1];
    const char *terms[KNOWLEDGE_QUERY_MAX_TERMS];
    const char *pos = query, *w;
    size_t nterms = 0, nwords = 0, wlen;

    if (!s || !tenant || !agent || !query || !out || !n)
        return SB_EINVAL;
    *out = NULL;
    *n = 0;
    /* core/words: letters and digits only, so no word carries FTS5 syntax. */
    while (nwords < KNOWLEDGE_QUERY_MAX_TERMS && words_next(&pos, &w, &wlen)) {
        size_t i;

        if (wlen > QUERY_WORD_MAX)
            continue;
        words_fold(w, wlen, words[nwords]);
        words[nwords][wlen] = '\0';
        for (i = 0; i < nwords && strcmp(words[i], words[nwords]) != 0; i++)
            ;
        if (i == nwords)
            nwords++;
    }
    /* The stop words go, unless nothing else is left ("how much?" still searches). */
    for (size_t i = 0; i < nwords; i++) {
        if (!stop_word(words[i]))
            terms[nterms++] = words[i];
    }
    if (nterms == 0) {
        for (size_t i = 0; i < nwords; i++)
            terms[i] = words[i];
        nterms = nwords;
    }
    if (nterms == 0 || k == 0)
        return 0;
    if (k > KNOWLEDGE_SEARCH_MAX)
        k = KNOWLEDGE_SEARCH_MAX;
    return s->ops->knowledge_search(s, tenant, agent, terms, nterms, k, out, n);
}

/* Transcripts. */

static int text_ok(const char *s, size_t max)
{
    return !s || strnlen(s, max + 1) <= max;
}

int call_turn_append(struct store *s, const struct call_turn *t, int *seq)
{
    if (!s || !t || !terminated(t->call_sid, sizeof(t->call_sid)) || !t->call_sid[0] ||
        (unsigned)t->role >= COUNT(role_names) || !terminated(t->tool, sizeof(t->tool)))
        return SB_EINVAL;
    if (!text_ok(t->text, CALL_TURN_TEXT_MAX) || !text_ok(t->tool_args, CALL_TURN_TEXT_MAX) ||
        !text_ok(t->tool_result, CALL_TURN_TEXT_MAX) || !text_ok(t->heard, CALL_TURN_TEXT_MAX))
        return SB_ETOOBIG;
    return s->ops->turn_append(s, t, seq);
}

int call_turns_list(struct store *s, const char *call_sid, struct call_turn **out, size_t *n)
{
    if (!s || !call_sid || !out || !n)
        return SB_EINVAL;
    *out = NULL;
    *n = 0;
    return s->ops->turn_list(s, call_sid, out, n);
}

void call_turns_free(struct call_turn *turns, size_t n)
{
    for (size_t i = 0; turns && i < n; i++) {
        free(turns[i].text);
        free(turns[i].tool_args);
        free(turns[i].tool_result);
        free(turns[i].heard);
    }
    free(turns);
}

int call_message_add(struct store *s, const struct call_message *m)
{
    if (!s || !m || !terminated(m->call_sid, sizeof(m->call_sid)) || !m->call_sid[0] ||
        !terminated(m->caller_name, sizeof(m->caller_name)) ||
        !terminated(m->callback_number, sizeof(m->callback_number)))
        return SB_EINVAL;
    if (!text_ok(m->message, CALL_MESSAGE_MAX))
        return SB_ETOOBIG;
    return s->ops->message_add(s, m);
}

int call_messages_list(struct store *s, const char *call_sid, struct call_message **out, size_t *n)
{
    if (!s || !out || !n)
        return SB_EINVAL;
    *out = NULL;
    *n = 0;
    return s->ops->message_list(s, call_sid, out, n);
}

void call_messages_free(struct call_message *messages, size_t n)
{
    for (size_t i = 0; messages && i < n; i++)
        free(messages[i].message);
    free(messages);
}
