#include "sim/script.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/banned.h"

#define SCRIPT_MAX_SIZE (1024 * 1024)

static char *dup_range(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Parses a number from lo to hi (NaN refused: it fails every comparison), spaces after it. */
static int parse_number(const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || !(v >= lo && v <= hi))
        return SB_EINVAL;
    while (isspace((unsigned char)*end))
        end++;
    if (*end)
        return SB_EINVAL;
    *out = v;
    return 0;
}

/* Parses a non-negative number of seconds (at most a day). */
static int parse_seconds(const char *s, double *out)
{
    return parse_number(s, 0, 86400, out);
}

/* Parses a noise level in dBFS (SIM_NOISE_MIN_DBFS to SIM_NOISE_MAX_DBFS). */
static int parse_level(const char *s, double *out)
{
    return parse_number(s, SIM_NOISE_MIN_DBFS, SIM_NOISE_MAX_DBFS, out);
}

/* Splits "word rest" into the first word and the rest (trimmed). */
static const char *split_word(const char *line, size_t *wordlen)
{
    const char *p = line;

    while (*p && !isspace((unsigned char)*p))
        p++;
    *wordlen = (size_t)(p - line);
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

static int keys_valid(const char *s)
{
    return *s && strspn(s, "0123456789*#ABCDw") == strlen(s);
}

/* Parses one non-empty line into `a`. Returns 0 or SB_EPARSE with `err`. */
static int parse_line(struct sim_action *a, const char *line, char *err, size_t errlen)
{
    size_t n, m;
    const char *rest = split_word(line, &n);

#define IS(word) (n == strlen(word) && strncmp(line, word, n) == 0)
    memset(a, 0, sizeof(*a));
    if (IS("press")) {
        a->kind = SIM_PRESS;
        if (!keys_valid(rest)) {
            snprintf(err, errlen, "press needs keys (0-9, *, #), got '%s'", rest);
            return SB_EPARSE;
        }
        a->text = dup_range(rest, strlen(rest));
    } else if (IS("say") || IS("say-over") || IS("play")) {
        /* say-over is say: in a stream, say never waits for the agent to finish. */
        a->kind = IS("play") ? SIM_PLAY : SIM_SAY;
        if (!*rest) {
            snprintf(err, errlen, "%.*s needs %s", (int)n, line,
                     IS("play") ? "a WAV file" : "text");
            return SB_EPARSE;
        }
        a->text = dup_range(rest, strlen(rest));
    } else if (IS("silence") || IS("listen") || IS("hangup")) {
        a->kind = IS("silence") ? SIM_SILENCE : IS("listen") ? SIM_LISTEN : SIM_HANGUP;
        if (*rest) {
            snprintf(err, errlen, "%.*s takes nothing after it, got '%s'", (int)n, line, rest);
            return SB_EPARSE;
        }
    } else if (IS("wait")) {
        a->kind = SIM_WAIT;
        if (parse_seconds(rest, &a->seconds)) {
            snprintf(err, errlen, "wait needs seconds, got '%s'", rest);
            return SB_EPARSE;
        }
    } else if (IS("noise")) {
        const char *arg = split_word(rest, &m);
        char secs[32];

        a->kind = SIM_WAIT;
        a->noise = 1;
        a->level = SIM_NOISE_DEFAULT_DBFS;
        if (m == 0 || m >= sizeof(secs)) {
            snprintf(err, errlen, "noise needs seconds (at most %d), got '%.*s'",
                     SIM_NOISE_MAX_SECONDS, (int)m, rest);
            return SB_EPARSE;
        }
        memcpy(secs, rest, m);
        secs[m] = '\0';
        if (parse_seconds(secs, &a->seconds) || !(a->seconds > 0) ||
            a->seconds > SIM_NOISE_MAX_SECONDS) {
            snprintf(err, errlen, "noise needs seconds (at most %d), got '%s'",
                     SIM_NOISE_MAX_SECONDS, secs);
            return SB_EPARSE;
        }
        if (*arg && parse_level(arg, &a->level)) {
            snprintf(err, errlen, "noise level is dBFS from %d to %d, got '%s'",
                     (int)SIM_NOISE_MIN_DBFS, (int)SIM_NOISE_MAX_DBFS, arg);
            return SB_EPARSE;
        }
    } else if (IS("dial")) {
        const char *arg = split_word(rest, &m);

        a->kind = SIM_DIAL;
        a->seconds = 10;
        if (m == 6 && strncmp(rest, "answer", 6) == 0) {
            a->dial = SIM_DIAL_ANSWER;
            if (*arg && parse_seconds(arg, &a->seconds)) {
                snprintf(err, errlen, "dial answer takes seconds, got '%s'", arg);
                return SB_EPARSE;
            }
        } else if ((m == 4 && strncmp(rest, "busy", 4) == 0 && !*arg)) {
            a->dial = SIM_DIAL_BUSY;
        } else if (m == 9 && strncmp(rest, "no-answer", 9) == 0 && !*arg) {
            a->dial = SIM_DIAL_NO_ANSWER;
        } else if (m == 6 && strncmp(rest, "failed", 6) == 0 && !*arg) {
            a->dial = SIM_DIAL_FAILED;
        } else {
            snprintf(err, errlen,
                     "dial needs answer [SECONDS], busy, no-answer or failed, got '%s'", rest);
            return SB_EPARSE;
        }
    } else if (IS("record")) {
        const char *arg = split_word(rest, &m);
        char secs[32];

        a->kind = SIM_RECORD;
        if (m == 0 || m >= sizeof(secs)) {
            snprintf(err, errlen, "record needs seconds");
            return SB_EPARSE;
        }
        memcpy(secs, rest, m);
        secs[m] = '\0';
        if (parse_seconds(secs, &a->seconds)) {
            snprintf(err, errlen, "record needs seconds, got '%s'", secs);
            return SB_EPARSE;
        }
        if (*arg && strcmp(arg, "hangup") != 0 && !(strlen(arg) == 1 && keys_valid(arg))) {
            snprintf(err, errlen, "record ends with one key or 'hangup', got '%s'", arg);
            return SB_EPARSE;
        }
        a->text = dup_range(arg, strlen(arg));
    } else if (IS("expect")) {
        const char *arg = split_word(rest, &m);

        if (m == 3 && strncmp(rest, "say", 3) == 0 && *arg) {
            a->kind = SIM_EXPECT_SAY;
        } else if (m == 4 && strncmp(rest, "dial", 4) == 0 && *arg) {
            a->kind = SIM_EXPECT_DIAL;
        } else if (m == 6 && strncmp(rest, "hangup", 6) == 0 && !*arg) {
            a->kind = SIM_EXPECT_HANGUP;
        } else {
            snprintf(err, errlen, "expect needs 'say TEXT', 'dial TARGET' or 'hangup', got '%s'",
                     rest);
            return SB_EPARSE;
        }
        a->text = dup_range(arg, strlen(arg));
    } else {
        snprintf(err, errlen, "unknown action '%.*s'", (int)n, line);
        return SB_EPARSE;
    }
#undef IS
    if ((a->kind == SIM_PRESS || a->kind == SIM_SAY || a->kind == SIM_PLAY ||
         a->kind == SIM_RECORD || a->kind >= SIM_EXPECT_SAY) &&
        !a->text)
        return SB_ENOMEM;
    return 0;
}

int sim_script_parse(struct sim_script *s, const char *text, char *err, size_t errlen)
{
    const char *p = text;
    int lineno = 0, rc = 0;
    char msg[256];

    memset(s, 0, sizeof(*s));
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char *line = dup_range(p, len);
        char *start, *end;
        struct sim_action *grown;

        lineno++;
        p += len + (eol ? 1 : 0);
        if (!line) {
            rc = SB_ENOMEM;
            goto out;
        }
        start = line;
        while (isspace((unsigned char)*start))
            start++;
        end = start + strlen(start);
        while (end > start && isspace((unsigned char)end[-1]))
            *--end = '\0';
        if (*start == '\0' || *start == '#') {
            free(line);
            continue;
        }
        grown = realloc(s->actions, (s->count + 1) * sizeof(*s->actions));
        if (!grown) {
            free(line);
            rc = SB_ENOMEM;
            goto out;
        }
        s->actions = grown;
        msg[0] = '\0';
        rc = parse_line(&s->actions[s->count], start, msg, sizeof(msg));
        free(line);
        if (rc) {
            snprintf(err, errlen, "line %d: %s", lineno, msg[0] ? msg : sb_strerror(rc));
            goto out;
        }
        s->actions[s->count].line = lineno;
        s->count++;
    }
out:
    if (rc)
        sim_script_release(s);
    return rc;
}

int sim_script_load(struct sim_script *s, const char *path, char *err, size_t errlen)
{
    struct buf text = BUF_INIT(SCRIPT_MAX_SIZE);
    char chunk[4096], msg[256];
    FILE *f = fopen(path, "r");
    size_t n;
    int rc = 0;

    memset(s, 0, sizeof(*s));
    if (!f) {
        char why[128];

        snprintf(err, errlen, "cannot read script '%s': %s", path,
                 strerror_r(errno, why, sizeof(why)));
        return SB_EIO;
    }
    for (n = fread(chunk, 1, sizeof(chunk), f); n > 0 && !rc; n = fread(chunk, 1, sizeof(chunk), f))
        rc = buf_append(&text, chunk, n);
    fclose(f);
    if (rc) {
        snprintf(err, errlen, "script '%s' is larger than 1 MiB", path);
        goto out;
    }
    rc = sim_script_parse(s, buf_cstr(&text), msg, sizeof(msg));
    if (rc)
        snprintf(err, errlen, "script '%s' %s", path, msg);
out:
    buf_release(&text);
    return rc;
}

const struct sim_action *sim_script_peek(const struct sim_script *s)
{
    return s->next < s->count ? &s->actions[s->next] : NULL;
}

const struct sim_action *sim_script_take(struct sim_script *s)
{
    return s->next < s->count ? &s->actions[s->next++] : NULL;
}

void sim_script_release(struct sim_script *s)
{
    for (size_t i = 0; i < s->count; i++)
        free(s->actions[i].text);
    free(s->actions);
    memset(s, 0, sizeof(*s));
}
