#include "sim/call.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/phone.h"
#include "core/sid.h"
#include "sim/call_internal.h"
#include "sim/doc.h"
#include "sim/fetch.h"
#include "core/banned.h"

#define DEFAULT_MAX_DOCUMENTS 50
/* c->hung_up when the REST API ended the call (1 means the caller hung up). */
#define HUNG_UP_BY_API 2

/* What a verb tells the document loop to do next. */
enum step { STEP_NEXT, STEP_GOTO, STEP_END };

/* A request for a new document: where, how, and what to add to the standard parameters. */
struct jump {
    char *url;
    char method[8];
    struct form params;
};

static void jump_release(struct jump *j)
{
    free(j->url);
    j->url = NULL;
    form_release(&j->params);
}

/* Small deterministic generator for SIDs and --chaos, so runs repeat with --seed. */
unsigned call_random(struct call *c)
{
    c->rng = c->rng * 1103515245u + 12345u;
    return (c->rng >> 8) & 0xffffff;
}

void call_new_sid(struct call *c, const char *prefix, char *out, size_t size)
{
    unsigned char raw[SID_RAW_BYTES];

    /* One generator draw per hex digit, high digit first: --seed repeats the SIDs it always did. */
    for (size_t i = 0; i < sizeof(raw); i++) {
        unsigned hi = call_random(c) & 15;

        raw[i] = (unsigned char)(hi << 4 | (call_random(c) & 15));
    }
    sid_format(prefix, raw, out, size);
}

json_t *call_event(struct call *c, const char *kind)
{
    json_t *ev = json_pack("{s:f, s:s}", "t", c->clock_ms / 1000.0, "kind", kind);

    json_array_append_new(c->res->events, ev);
    return ev;
}

int call_fail(struct call *c, int code, const char *fmt, ...)
{
    va_list ap;
    json_t *ev;

    if (c->res->error[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(c->res->error, sizeof(c->res->error), fmt, ap);
        va_end(ap);
        c->res->error_code = code;
    }
    ev = call_event(c, "error");
    json_object_set_new(ev, "message", json_string(c->res->error));
    if (code)
        json_object_set_new(ev, "code", json_integer(code));
    c->failed = 1;
    return STEP_END;
}

void call_fail_later(struct call *c, int code, const char *fmt, ...)
{
    char message[sizeof(c->res->error)];
    va_list ap;
    json_t *ev;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (c->res->error[0] == '\0') {
        snprintf(c->res->error, sizeof(c->res->error), "%s", message);
        c->res->error_code = code;
    }
    ev = call_event(c, "error");
    json_object_set_new(ev, "message", json_string(message));
    if (code)
        json_object_set_new(ev, "code", json_integer(code));
    c->soft_failed = 1;
}

/* --- expectations ----------------------------------------------------------- */

/* Fails the call if an `expect say` is still waiting at a point where the caller acts. */
static int expectations_met(struct call *c)
{
    const struct sim_action *a = c->o->script ? sim_script_peek(c->o->script) : NULL;

    if (a && a->kind == SIM_EXPECT_SAY) {
        call_fail(c, 0, "script line %d: expected to hear '%s' before this point", a->line,
                  a->text);
        return 0;
    }
    return 1;
}

void call_heard(struct call *c, const char *text)
{
    const struct sim_action *a = c->o->script ? sim_script_peek(c->o->script) : NULL;

    /* One sentence may satisfy several expectations in a row. */
    while (a && a->kind == SIM_EXPECT_SAY && strstr(text, a->text)) {
        sim_script_take(c->o->script);
        a = sim_script_peek(c->o->script);
    }
}

/* --- requests ---------------------------------------------------------------- */

/* The parameters Twilio sends on every request of this call. */
static int base_params(struct call *c, struct form *p)
{
    const struct sim_call_opts *o = c->o;
    const char *const pairs[][2] = {
        {"CallSid", c->call_sid},
        {"AccountSid", c->account_sid},
        {"From", o->from},
        {"To", o->to},
        {"CallStatus", c->call_over  ? "completed"
                       : c->answered ? "in-progress"
                                     : "ringing"},
        {"ApiVersion", "2010-04-01"},
        {"Direction", o->direction ? o->direction : "inbound"},
        {"Caller", o->from},
        {"Called", o->to},
        {"FromCountry", strncmp(o->from, "+1", 2) == 0 ? "US" : ""},
        {"ToCountry", strncmp(o->to, "+1", 2) == 0 ? "US" : ""},
    };
    int rc = form_add_pairs(p, pairs, sizeof(pairs) / sizeof(pairs[0]));

    /* The first error stands: OR-ing two error codes makes a third that neither returned. */
    if (!rc && o->extra)
        rc = form_extend(p, o->extra);
    return rc;
}

int call_post(struct call *c, const char *url, const char *method, const struct form *params,
              int twiml, struct sim_fetch_result *res)
{
    struct sim_fetch_request req;
    json_t *ev;
    int rc;

    memset(&req, 0, sizeof(req));
    req.url = url;
    req.method = method;
    req.params = params;
    req.token = c->o->token;
    req.expect_twiml = twiml;
    rc = sim_fetch(c->fetcher, &req, res);
    ev = call_event(c, "request");
    json_object_set_new(ev, "method", json_string(method));
    json_object_set_new(ev, "url", json_string(url));
    json_object_set_new(ev, "status", json_integer(res->status));
    json_object_set_new(ev, "ms", json_real(round(res->elapsed_ms * 10) / 10));
    if (res->content_type[0])
        json_object_set_new(ev, "content_type", json_string(res->content_type));
    if (res->error_code) {
        json_object_set_new(ev, "error_code", json_integer(res->error_code));
        json_object_set_new(ev, "error", json_string(res->error));
    }
    return rc;
}

/*
 * Fetches and parses a TwiML document. On a failure, tries the fallback URL
 * once with ErrorCode and ErrorUrl, as Twilio does. Returns 0 with `doc`
 * ready, or a failure recorded on the call.
 */
static int fetch_document(struct call *c, const char *url, const char *method,
                          const struct form *extra, struct sim_doc *doc)
{
    struct form params = FORM_INIT;
    struct sim_fetch_result res;
    int code = 0, rc;
    char message[512];

    memset(&res, 0, sizeof(res));
    memset(doc, 0, sizeof(*doc));
    if (++c->res->documents > c->max_documents)
        return call_fail(c, 0,
                         "more than %d TwiML documents in one call: a <Redirect> or action "
                         "loop?",
                         c->max_documents),
               SB_EINVAL;
    rc = base_params(c, &params);
    if (!rc && extra)
        rc = form_extend(&params, extra);
    if (rc) {
        call_fail(c, 0, "cannot build the request to %s: %s", url, sb_strerror(rc));
        goto out;
    }
    rc = call_post(c, url, method, &params, 1, &res);
    if (rc == 0) {
        rc = sim_doc_parse(doc, res.body, res.len);
        for (size_t i = 0; i < doc->nproblems; i++) {
            json_t *ev;

            if (doc->problems[i].code == 12200) {
                ev = call_event(c, "warning");
                json_object_set_new(ev, "code", json_integer(12200));
                json_object_set_new(ev, "line", json_integer(doc->problems[i].line));
                json_object_set_new(ev, "message", json_string(doc->problems[i].message));
            } else if (!code) {
                /* The fatal problem is reported once, by call_fail or the fallback. */
                code = doc->problems[i].code;
                snprintf(message, sizeof(message), "%s: line %d: %s", url, doc->problems[i].line,
                         doc->problems[i].message);
            }
        }
        if (rc)
            sim_doc_release(doc);
    } else {
        code = res.error_code;
        snprintf(message, sizeof(message), "%s: %s", url, res.error);
    }
    if (rc && code && c->o->fallback_url && !c->in_fallback) {
        char codebuf[16];
        struct form fb = FORM_INIT;
        json_t *fev;

        snprintf(codebuf, sizeof(codebuf), "%d", code);
        fev = call_event(c, "fallback");
        json_object_set_new(fev, "code", json_integer(code));
        json_object_set_new(fev, "message", json_string(message));
        c->in_fallback = 1;
        rc = form_add(&fb, "ErrorCode", codebuf);
        if (!rc)
            rc = form_add(&fb, "ErrorUrl", url);
        if (!rc)
            rc = fetch_document(c, c->o->fallback_url, "POST", &fb, doc);
        form_release(&fb);
        c->in_fallback = 0;
        if (rc == 0) {
            free(c->doc_url);
            c->doc_url = strdup(c->o->fallback_url);
        }
        goto out;
    }
    if (rc) {
        call_fail(c, code ? code : 11200, "%s", code ? message : "request failed");
        goto out;
    }
    free(c->doc_url);
    c->doc_url = strdup(url);
out:
    form_release(&params);
    sim_fetch_result_release(&res);
    return rc;
}

/* --- verbs ------------------------------------------------------------------------ */

static const char *attr_or(const struct sim_node *n, const char *name, const char *fallback)
{
    const char *v = sim_node_attr(n, name);

    return v ? v : fallback;
}

static double attr_seconds(const struct sim_node *n, const char *name, double fallback)
{
    const char *v = sim_node_attr(n, name);
    char *end = NULL;
    double d;

    if (!v)
        return fallback;
    d = strtod(v, &end);
    return end == v || d < 0 ? fallback : d;
}

/* Sets j to go to `ref` (resolved against the document URL, or the document itself). */
/*
 * Adds an action's parameters to a jump. Out of memory the call fails
 * rather than asking the app with parameters missing.
 */
static int jump_add(struct call *c, struct jump *j, const char *const pairs[][2], size_t n)
{
    if (form_add_pairs(&j->params, pairs, n) != 0)
        return call_fail(c, 0, "out of memory building the request to %s", j->url);
    return STEP_GOTO;
}

#define JUMP_ADD(c, j, pairs) jump_add((c), (j), (pairs), sizeof(pairs) / sizeof((pairs)[0]))

static int jump_to(struct call *c, struct jump *j, const char *ref, const char *method)
{
    j->url = sim_url_resolve(c->doc_url, ref && *ref ? ref : c->doc_url);
    snprintf(j->method, sizeof(j->method), "%s",
             method && strcasecmp(method, "GET") == 0 ? "GET" : "POST");
    if (!j->url)
        return call_fail(c, 0, "cannot resolve URL '%s' against '%s'", ref ? ref : "", c->doc_url);
    return STEP_GOTO;
}

/*
 * Polls the control hook (switchboard sim api). Returns STEP_NEXT to carry
 * on, STEP_GOTO with `j` replaced by the API's redirect, or STEP_END when
 * the API hung up.
 */
static int call_control(struct call *c, struct jump *j)
{
    struct sim_control ctl;
    json_t *ev;
    int action;

    if (!c->o->control || c->failed)
        return STEP_NEXT;
    memset(&ctl, 0, sizeof(ctl));
    ctl.clock_ms = c->clock_ms;
    ctl.answered = c->answered;
    ctl.events = c->res->events;
    action = c->o->control(c->o->control_arg, &ctl);
    if (action != SIM_CONTROL_REDIRECT && action != SIM_CONTROL_HANGUP)
        return STEP_NEXT;
    /* Cut short (a long <Pause> or <Gather>): the call only lasted until now. */
    if (ctl.clock_ms >= 0 && ctl.clock_ms < c->clock_ms)
        c->clock_ms = ctl.clock_ms;
    ev = call_event(c, "control");
    if (action == SIM_CONTROL_REDIRECT) {
        ctl.url[sizeof(ctl.url) - 1] = '\0';
        json_object_set_new(ev, "action", json_string("redirect"));
        json_object_set_new(ev, "url", json_string(ctl.url));
        jump_release(j);
        j->url = strdup(ctl.url);
        snprintf(j->method, sizeof(j->method), "%s",
                 strcasecmp(ctl.method, "GET") == 0 ? "GET" : "POST");
        return j->url ? STEP_GOTO : call_fail(c, 0, "out of memory");
    }
    json_object_set_new(ev, "action", json_string("hangup"));
    ctl.status[sizeof(ctl.status) - 1] = '\0';
    if (ctl.status[0])
        snprintf(c->res->status, sizeof(c->res->status), "%s", ctl.status);
    else if (!c->answered)
        snprintf(c->res->status, sizeof(c->res->status), "canceled");
    c->hung_up = HUNG_UP_BY_API;
    return STEP_END;
}

/* After the caller's input (or the wait for it) the REST API may hang up or redirect instead. */
static int after_input(struct call *c, struct jump *j, int step)
{
    int ctl;

    if (step == STEP_END || c->hung_up)
        return step;
    ctl = call_control(c, j);
    return ctl == STEP_NEXT ? step : ctl;
}

static void say(struct call *c, const struct sim_node *n)
{
    json_t *ev = call_event(c, "say");
    double loops = attr_seconds(n, "loop", 1);
    size_t words = 1;
    char speaker[256];

    /* The app that answered speaks: switchboard, another IVR, a stand-in. */
    sim_url_speaker(c->doc_url, speaker, sizeof(speaker));
    json_object_set_new(ev, "speaker", json_string(speaker));
    json_object_set_new(ev, "text", json_string(n->text));
    if (sim_node_attr(n, "voice"))
        json_object_set_new(ev, "voice", json_string(sim_node_attr(n, "voice")));
    if (sim_node_attr(n, "language"))
        json_object_set_new(ev, "language", json_string(sim_node_attr(n, "language")));
    for (const char *p = n->text; *p; p++)
        words += *p == ' ';
    /* About 150 words a minute; loop="0" plays until hangup: count it once. */
    c->clock_ms += 400.0 * (double)words * (loops < 1 ? 1 : loops);
    call_heard(c, n->text);
}

static void play(struct call *c, const struct sim_node *n)
{
    json_t *ev = call_event(c, "play");

    if (sim_node_attr(n, "digits"))
        json_object_set_new(ev, "digits", json_string(sim_node_attr(n, "digits")));
    else
        json_object_set_new(ev, "url", json_string(n->text));
    c->clock_ms += 3000;
}

static void pause_verb(struct call *c, const struct sim_node *n)
{
    double len = attr_seconds(n, "length", 1);
    json_t *ev = call_event(c, "pause");

    json_object_set_new(ev, "seconds", json_real(len));
    c->clock_ms += len * 1000;
}

/* The caller's next action at an input point; NULL for silence when the script is over. */
static const struct sim_action *caller_action(struct call *c, const char *what)
{
    if (!expectations_met(c))
        return NULL;
    if (c->o->interactive)
        return call_ask(c, what);
    return c->o->script ? sim_script_peek(c->o->script) : NULL;
}

/* Applies Gather's numDigits and finishOnKey to keys the caller pressed. */
static void gather_keys(const struct sim_node *n, const char *keys, char *digits, size_t size,
                        char *finished)
{
    const char *finish = attr_or(n, "finishOnKey", "#");
    long num = strtol(attr_or(n, "numDigits", "0"), NULL, 10);
    size_t len = 0;

    finished[0] = '\0';
    for (const char *k = keys; *k && len + 1 < size; k++) {
        if (*finish && *k == finish[0]) {
            finished[0] = *k;
            finished[1] = '\0';
            break;
        }
        digits[len++] = *k;
        if (num > 0 && (long)len >= num)
            break;
    }
    digits[len] = '\0';
}

/*
 * What Twilio posts to a Gather's partialResultCallback while the caller
 * speaks: one partial a word, the words heard so far split into a stable
 * part and an unstable last word, then one with nothing unstable left
 * (the caller stopped). Their answers are logged, never followed.
 */
static void gather_partials(struct call *c, const struct sim_node *n, const char *speech)
{
    const char *ref = sim_node_attr(n, "partialResultCallback");
    char *url, words[1024];
    size_t len = 0, stable = 0;
    int seq = 0;

    if (!ref || !*ref || c->o->no_partial_results)
        return;
    url = sim_url_resolve(c->doc_url, ref);
    if (!url) {
        call_fail(c, 0, "cannot resolve URL '%s' against '%s'", ref, c->doc_url);
        return;
    }
    snprintf(words, sizeof(words), "%s", speech);
    len = strlen(words);
    for (size_t at = 0; at <= len && !c->failed; at++) {
        char unstable[1024];
        struct form p = FORM_INIT;
        struct sim_fetch_result res;
        char number[16];
        int last = at == len;

        if (!last && words[at] != ' ')
            continue;
        if (at == 0)
            continue;
        /* Everything before the newest word is stable; at the end, all of it. */
        snprintf(unstable, sizeof(unstable), "%.*s", (int)(at - stable), words + stable);
        snprintf(number, sizeof(number), "%d", ++seq);
        memset(&res, 0, sizeof(res));
        {
            char stable_text[1024];
            const char *const pairs[][2] = {
                {"StableSpeechResult", stable_text},
                {"UnstableSpeechResult", unstable[0] == ' ' ? unstable + 1 : unstable},
                {"SequenceNumber", number},
                {"Stability", "0.9"},
            };

            snprintf(stable_text, sizeof(stable_text), "%.*s", (int)stable, words);
            if (base_params(c, &p) != 0 || form_add_pairs(&p, pairs, 4) != 0) {
                form_release(&p);
                call_fail(c, 0, "out of memory building the request to %s", url);
                break;
            }
            call_post(c, url, "POST", &p, 0, &res);
        }
        form_release(&p);
        sim_fetch_result_release(&res);
        stable = at;
    }
    if (!c->failed) {
        /* The caller is done: everything is stable now. */
        struct form p = FORM_INIT;
        struct sim_fetch_result res;
        char number[16];
        const char *const pairs[][2] = {
            {"StableSpeechResult", words},
            {"UnstableSpeechResult", ""},
            {"SequenceNumber", number},
            {"Stability", "0.9"},
        };

        snprintf(number, sizeof(number), "%d", ++seq);
        memset(&res, 0, sizeof(res));
        if (base_params(c, &p) == 0 && form_add_pairs(&p, pairs, 4) == 0)
            call_post(c, url, "POST", &p, 0, &res);
        form_release(&p);
        sim_fetch_result_release(&res);
        if (c->o->speech_end_ms > 0) {
            /* Twilio's end of speech: the silence it waits before the final result. */
            struct timespec ts = {c->o->speech_end_ms / 1000,
                                  (c->o->speech_end_ms % 1000) * 1000000L};

            nanosleep(&ts, NULL);
        }
    }
    free(url);
}

static int gather(struct call *c, const struct sim_node *n, struct jump *j)
{
    const char *input = attr_or(n, "input", "dtmf");
    const struct sim_action *a;
    int wants_dtmf = strstr(input, "dtmf") != NULL, wants_speech = strstr(input, "speech") != NULL;
    char digits[64], finished[2];
    json_t *ev;
    int got = 0, rc = STEP_NEXT;

    for (size_t i = 0; i < n->nchildren; i++) {
        const struct sim_node *child = &n->children[i];

        if (strcmp(child->name, "Say") == 0)
            say(c, child);
        else if (strcmp(child->name, "Play") == 0)
            play(c, child);
        else if (strcmp(child->name, "Pause") == 0)
            pause_verb(c, child);
    }
    a = caller_action(c, "gather");
    if (c->failed)
        return STEP_END;
    ev = call_event(c, "gather");
    json_object_set_new(ev, "input", json_string(input));
    if (a && a->kind == SIM_HANGUP) {
        if (!c->o->interactive)
            sim_script_take(c->o->script);
        json_object_set_new(ev, "caller", json_string("hangs up"));
        c->hung_up = 1;
        return STEP_END;
    }
    if (a && (a->kind == SIM_PRESS || a->kind == SIM_SAY || a->kind == SIM_SILENCE)) {
        if (!c->o->interactive)
            sim_script_take(c->o->script);
    } else if (a && a->kind != SIM_EXPECT_DIAL && a->kind != SIM_EXPECT_HANGUP) {
        return call_fail(c, 0, "script line %d: a <Gather> waits for input here, not '%s'", a->line,
                         sim_action_name(a->kind));
    } else {
        a = NULL; /* the script is over: silence */
    }
    if (a && a->kind == SIM_PRESS && wants_dtmf) {
        const char *const pairs[][2] = {{"Digits", digits}, {"FinishedOnKey", finished}};

        gather_keys(n, a->text, digits, sizeof(digits), finished);
        json_object_set_new(ev, "digits", json_string(digits));
        rc = jump_to(c, j, sim_node_attr(n, "action"), sim_node_attr(n, "method"));
        if (rc == STEP_GOTO)
            rc = JUMP_ADD(c, j, pairs);
        got = 1;
    } else if (a && a->kind == SIM_SAY && wants_speech) {
        const char *const pairs[][2] = {{"SpeechResult", a->text}, {"Confidence", "0.92"}};

        json_object_set_new(ev, "speech", json_string(a->text));
        gather_partials(c, n, a->text);
        if (c->failed)
            return STEP_END;
        rc = jump_to(c, j, sim_node_attr(n, "action"), sim_node_attr(n, "method"));
        if (rc == STEP_GOTO)
            rc = JUMP_ADD(c, j, pairs);
        got = 1;
    }
    if (got) {
        c->clock_ms += 1500;
        return rc;
    }
    if (a && a->kind != SIM_SILENCE)
        json_object_set_new(ev, "ignored", json_string(a->kind == SIM_PRESS ? "keys" : "speech"));
    json_object_set_new(ev, "timeout", json_true());
    c->clock_ms += attr_seconds(n, "timeout", 5) * 1000;
    if (strcmp(attr_or(n, "actionOnEmptyResult", "false"), "true") == 0) {
        rc = jump_to(c, j, sim_node_attr(n, "action"), sim_node_attr(n, "method"));
        if (rc == STEP_GOTO && wants_dtmf && form_add(&j->params, "Digits", "") != 0)
            return call_fail(c, 0, "out of memory building the request to %s", j->url);
        return rc;
    }
    return STEP_NEXT;
}

static int dial(struct call *c, const struct sim_node *n, struct jump *j)
{
    const struct sim_action *a = c->o->script ? sim_script_peek(c->o->script) : NULL;
    json_t *ev, *targets;
    const char *first = n->text;
    int conference = 0;
    enum sim_dial_outcome outcome = SIM_DIAL_ANSWER;
    double talk = 5;
    char child_sid[SID_SIZE];
    static const char *const statuses[] = {"completed", "busy", "no-answer", "failed"};
    const char *status;
    int rc = STEP_NEXT;

    if (!expectations_met(c))
        return STEP_END;
    targets = json_array();
    if (*n->text)
        json_array_append_new(targets, json_pack("{s:s, s:s}", "noun", "Number", "to", n->text));
    for (size_t i = 0; i < n->nchildren; i++) {
        const struct sim_node *noun = &n->children[i];

        json_array_append_new(targets,
                              json_pack("{s:s, s:s}", "noun", noun->name, "to", noun->text));
        if (!*first)
            first = noun->text;
        conference |= strcmp(noun->name, "Conference") == 0;
    }
    ev = call_event(c, "dial");
    json_object_set_new(ev, "targets", targets);
    if (sim_node_attr(n, "callerId"))
        json_object_set_new(ev, "caller_id", json_string(sim_node_attr(n, "callerId")));
    if (a && a->kind == SIM_EXPECT_DIAL) {
        sim_script_take(c->o->script);
        if (!strstr(first, a->text))
            return call_fail(c, 0, "script line %d: expected a dial to '%s', got '%s'", a->line,
                             a->text, first);
        a = sim_script_peek(c->o->script);
    }
    if (c->o->interactive) {
        a = call_ask(c, "dial");
    } else if (a && a->kind == SIM_DIAL) {
        sim_script_take(c->o->script);
    } else {
        a = NULL;
    }
    if (a && a->kind == SIM_DIAL) {
        outcome = a->dial;
        talk = a->seconds;
    }
    status = conference && outcome == SIM_DIAL_ANSWER ? "answered" : statuses[outcome];
    json_object_set_new(ev, "outcome", json_string(status));
    /* The callee answered or the conference began: the REST API sees the call there. */
    rc = call_control(c, j);
    if (rc != STEP_NEXT)
        return rc;
    if (outcome == SIM_DIAL_ANSWER)
        c->clock_ms += talk * 1000;
    else if (outcome == SIM_DIAL_NO_ANSWER)
        c->clock_ms += attr_seconds(n, "timeout", 30) * 1000;
    if (!sim_node_attr(n, "action"))
        return STEP_NEXT;
    rc = jump_to(c, j, sim_node_attr(n, "action"), sim_node_attr(n, "method"));
    if (rc != STEP_GOTO)
        return rc;
    {
        char secs[32];
        const char *const pairs[][2] = {
            {"DialCallStatus", status},
            {"DialBridged", outcome == SIM_DIAL_ANSWER ? "true" : "false"},
            {"DialCallSid", conference ? NULL : child_sid},
            {"DialCallDuration", conference ? NULL : secs},
        };

        if (!conference) {
            call_new_sid(c, "CA", child_sid, sizeof(child_sid));
            snprintf(secs, sizeof(secs), "%.0f", outcome == SIM_DIAL_ANSWER ? talk : 0.0);
        }
        return JUMP_ADD(c, j, pairs);
    }
}

static int record(struct call *c, const struct sim_node *n, struct jump *j)
{
    const struct sim_action *a = caller_action(c, "record");
    double max = attr_seconds(n, "maxLength", 3600), secs;
    const char *ending = "";
    char rec_sid[SID_SIZE], url[512], dur[32];
    json_t *ev;
    int rc;

    if (c->failed)
        return STEP_END;
    ev = call_event(c, "record");
    if (a && (a->kind == SIM_RECORD || a->kind == SIM_HANGUP || a->kind == SIM_SILENCE)) {
        if (!c->o->interactive)
            sim_script_take(c->o->script);
    } else {
        a = NULL;
    }
    if (!a || a->kind == SIM_SILENCE || (a->kind == SIM_RECORD && a->seconds <= 0)) {
        /* An empty recording: no action request; the next verb runs. */
        json_object_set_new(ev, "empty", json_true());
        c->clock_ms += attr_seconds(n, "timeout", 5) * 1000;
        return STEP_NEXT;
    }
    secs = a->kind == SIM_RECORD ? (a->seconds < max ? a->seconds : max) : 1;
    if (a->kind == SIM_HANGUP)
        ending = "hangup";
    else if (a->text && *a->text)
        ending = a->text;
    c->clock_ms += secs * 1000;
    call_new_sid(c, "RE", rec_sid, sizeof(rec_sid));
    snprintf(url, sizeof(url), "%s/2010-04-01/Accounts/%s/Recordings/%s",
             c->o->api_base ? c->o->api_base : "https://api.twilio.com", c->account_sid, rec_sid);
    snprintf(dur, sizeof(dur), "%.0f", secs);
    json_object_set_new(ev, "seconds", json_real(secs));
    json_object_set_new(ev, "ended_by", json_string(*ending ? ending : "timeout"));
    json_object_set_new(ev, "recording_sid", json_string(rec_sid));
    /* The recording is kept when the REST API ends or redirects the call during it. */
    rc = call_control(c, j);
    if (sim_node_attr(n, "recordingStatusCallback"))
        call_recording_callback(c, n, rec_sid, url, dur);
    if (rc != STEP_NEXT)
        return rc;
    if (strcmp(ending, "hangup") == 0)
        c->hung_up = 1;
    rc = jump_to(c, j, sim_node_attr(n, "action"), sim_node_attr(n, "method"));
    if (rc != STEP_GOTO)
        return rc;
    {
        const char *const pairs[][2] = {
            {"RecordingUrl", url},
            {"RecordingDuration", dur},
            {"RecordingSid", rec_sid},
            {"Digits", ending},
        };

        return JUMP_ADD(c, j, pairs);
    }
}

static int enqueue(struct call *c, const struct sim_node *n, struct jump *j)
{
    const char *wait_url = sim_node_attr(n, "waitUrl");
    const char *result = "bridged";
    json_t *ev = call_event(c, "enqueue");
    int rc;

    json_object_set_new(ev, "queue", json_string(n->text));
    if (wait_url && *wait_url) {
        struct sim_doc wait;
        struct jump dummy;
        char *saved = c->doc_url ? strdup(c->doc_url) : NULL;
        char *url = sim_url_resolve(c->doc_url, wait_url);

        memset(&dummy, 0, sizeof(dummy));
        if (url && fetch_document(c, url, attr_or(n, "waitUrlMethod", "POST"), NULL, &wait) == 0) {
            for (size_t i = 0; i < wait.root.nchildren; i++) {
                const struct sim_node *v = &wait.root.children[i];

                if (strcmp(v->name, "Leave") == 0)
                    result = "leave";
                else if (strcmp(v->name, "Say") == 0)
                    say(c, v);
                else if (strcmp(v->name, "Play") == 0)
                    play(c, v);
                else if (strcmp(v->name, "Pause") == 0)
                    pause_verb(c, v);
            }
            sim_doc_release(&wait);
        }
        free(url);
        free(c->doc_url);
        c->doc_url = saved;
        if (c->failed)
            return STEP_END;
    }
    json_object_set_new(ev, "result", json_string(result));
    if (!sim_node_attr(n, "action"))
        return STEP_NEXT;
    rc = jump_to(c, j, sim_node_attr(n, "action"), sim_node_attr(n, "method"));
    if (rc == STEP_GOTO) {
        char qsid[SID_SIZE];
        const char *const pairs[][2] = {
            {"QueueResult", result},
            {"QueueSid", qsid},
            {"QueueTime", "5"},
        };

        call_new_sid(c, "QU", qsid, sizeof(qsid));
        rc = JUMP_ADD(c, j, pairs);
    }
    return rc;
}

/*
 * <Connect><ConversationRelay>: the session, then <Connect action> with how
 * it ended. After `end` or a failure the call follows the action's TwiML;
 * when the caller hung up the action is requested and its answer ignored.
 * Without an action the next verb runs (or the call is over).
 */
static int relay_verb(struct call *c, const struct sim_node *connect, const struct sim_node *relay,
                      struct jump *j)
{
    struct form params = FORM_INIT;
    enum call_relay_status status = call_relay(c, relay, &params);
    int rc;

    if (c->failed) {
        rc = STEP_END;
    } else if (!sim_node_attr(connect, "action")) {
        rc = status == CALL_RELAY_COMPLETED ? STEP_END : STEP_NEXT;
    } else {
        rc = jump_to(c, j, sim_node_attr(connect, "action"), sim_node_attr(connect, "method"));
        if (rc == STEP_GOTO && form_extend(&j->params, &params) != 0)
            rc = call_fail(c, 0, "out of memory building the request to %s", j->url);
    }
    if (rc == STEP_GOTO && status == CALL_RELAY_COMPLETED) {
        struct form all = FORM_INIT;
        struct sim_fetch_result res;

        memset(&res, 0, sizeof(res));
        c->call_over = 1;
        if (base_params(c, &all) != 0 || form_extend(&all, &j->params) != 0)
            rc = call_fail(c, 0, "out of memory building the request to %s", j->url);
        else {
            /* Its answer (or its failure, in the transcript) changes nothing: nobody is left. */
            call_post(c, j->url, j->method, &all, 1, &res);
            rc = STEP_END;
        }
        sim_fetch_result_release(&res);
        form_release(&all);
    }
    form_release(&params);
    return rc;
}

static int connect_verb(struct call *c, const struct sim_node *n, struct jump *j)
{
    for (size_t i = 0; i < n->nchildren; i++) {
        const struct sim_node *noun = &n->children[i];

        if (strcmp(noun->name, "ConversationRelay") == 0) {
            return relay_verb(c, n, noun, j);
        } else if (strcmp(noun->name, "Stream") == 0) {
            call_stream(c, noun, 1);
        } else {
            json_t *ev = call_event(c, "warning");

            json_object_set_new(
                ev, "message",
                json_sprintf("<Connect><%s> is not simulated; it ends at once", noun->name));
        }
        if (c->failed || c->hung_up)
            return STEP_END;
    }
    if (!sim_node_attr(n, "action"))
        return STEP_NEXT;
    return jump_to(c, j, sim_node_attr(n, "action"), sim_node_attr(n, "method"));
}

static int start_verb(struct call *c, const struct sim_node *n)
{
    for (size_t i = 0; i < n->nchildren; i++) {
        const struct sim_node *noun = &n->children[i];
        json_t *ev = call_event(c, "start");

        json_object_set_new(ev, "noun", json_string(noun->name));
        if (strcmp(noun->name, "Stream") == 0)
            call_stream(c, noun, 0);
        if (c->failed)
            return STEP_END;
    }
    return STEP_NEXT;
}

/* Runs one verb of <Response>. */
static int run_verb(struct call *c, const struct sim_node *n, struct jump *j)
{
    const char *v = n->name;

    if (strcmp(v, "Say") == 0) {
        say(c, n);
    } else if (strcmp(v, "Play") == 0) {
        play(c, n);
    } else if (strcmp(v, "Pause") == 0) {
        pause_verb(c, n);
    } else if (strcmp(v, "Gather") == 0) {
        return after_input(c, j, gather(c, n, j));
    } else if (strcmp(v, "Dial") == 0) {
        return after_input(c, j, dial(c, n, j));
    } else if (strcmp(v, "Record") == 0) {
        return record(c, n, j);
    } else if (strcmp(v, "Redirect") == 0) {
        json_t *ev = call_event(c, "redirect");
        int rc = jump_to(c, j, n->text, attr_or(n, "method", "POST"));

        if (rc == STEP_GOTO) {
            json_object_set_new(ev, "url", json_string(j->url));
            json_object_set_new(ev, "method", json_string(j->method));
        }
        return rc;
    } else if (strcmp(v, "Hangup") == 0) {
        call_event(c, "hangup");
        return STEP_END;
    } else if (strcmp(v, "Reject") == 0) {
        json_t *ev = call_event(c, "reject");
        const char *reason = attr_or(n, "reason", "rejected");

        json_object_set_new(ev, "reason", json_string(reason));
        snprintf(c->res->status, sizeof(c->res->status), "%s",
                 strcmp(reason, "busy") == 0 ? "busy" : "no-answer");
        return STEP_END;
    } else if (strcmp(v, "Enqueue") == 0) {
        return enqueue(c, n, j);
    } else if (strcmp(v, "Connect") == 0) {
        return connect_verb(c, n, j);
    } else if (strcmp(v, "Start") == 0) {
        return start_verb(c, n);
    } else {
        json_t *ev = call_event(c, strcmp(v, "Leave") == 0 || strcmp(v, "Stop") == 0 ||
                                           strcmp(v, "Echo") == 0
                                       ? "verb"
                                       : "warning");

        json_object_set_new(ev, "verb", json_string(v));
    }
    return STEP_NEXT;
}

/* Executes one document; on STEP_GOTO `j` says where to go. */
static int run_document(struct call *c, const struct sim_doc *doc, struct jump *j)
{
    int step;

    for (size_t i = 0; i < doc->root.nchildren; i++) {
        step = call_control(c, j);
        if (step == STEP_NEXT)
            step = run_verb(c, &doc->root.children[i], j);
        if (step != STEP_NEXT)
            return step;
    }
    /* The last verb plays out before the call ends; the REST API may still redirect. */
    step = call_control(c, j);
    return step == STEP_GOTO ? step : STEP_END;
}

/* Checks the script is consumed up to its expectations at the end of the call. */
static void script_finished(struct call *c)
{
    const struct sim_action *a;

    if (!c->o->script || c->failed)
        return;
    a = sim_script_peek(c->o->script);
    if (a && a->kind == SIM_EXPECT_HANGUP) {
        sim_script_take(c->o->script);
        a = sim_script_peek(c->o->script);
    }
    if (a && a->kind >= SIM_EXPECT_SAY)
        call_fail(c, 0, "script line %d: the call ended before this expectation", a->line);
}

int sim_call_run(const struct sim_call_opts *opts, struct sim_call_result *res)
{
    struct call c;
    struct sim_doc doc;
    struct jump j;
    int step, rc;

    memset(res, 0, sizeof(*res));
    memset(&c, 0, sizeof(c));
    memset(&j, 0, sizeof(j));
    res->events = json_array();
    c.o = opts;
    c.res = res;
    c.rng = opts->seed ? opts->seed : (unsigned)time(NULL) ^ (unsigned)clock();
    c.max_documents = opts->max_documents > 0 ? opts->max_documents : DEFAULT_MAX_DOCUMENTS;
    c.started_wall = time(NULL);
    snprintf(c.account_sid, sizeof(c.account_sid), "%s",
             opts->account_sid ? opts->account_sid : "AC00000000000000000000000000000000");
    if (opts->call_sid)
        snprintf(c.call_sid, sizeof(c.call_sid), "%s", opts->call_sid);
    else
        call_new_sid(&c, "CA", c.call_sid, sizeof(c.call_sid));
    snprintf(res->call_sid, sizeof(res->call_sid), "%s", c.call_sid);
    snprintf(res->status, sizeof(res->status), "completed");
    if (sim_fetcher_new(&c.fetcher)) {
        call_fail(&c, 0, "out of memory");
        goto done;
    }
    call_status_event(&c, SIM_EVENT_INITIATED, "initiated");
    call_status_event(&c, SIM_EVENT_RINGING, "ringing");

    /* While it rings the REST API may cancel the call or give it another URL. */
    step = call_control(&c, &j);
    if (step == STEP_END) {
        rc = SB_ECLOSED;
    } else if (step == STEP_GOTO) {
        rc = fetch_document(&c, j.url, j.method, NULL, &doc);
        jump_release(&j);
    } else {
        rc = fetch_document(&c, opts->url, opts->method ? opts->method : "POST", NULL, &doc);
    }
    while (rc == 0) {
        if (!c.answered) {
            c.answered = 1;
            call_status_event(&c, SIM_EVENT_ANSWERED, "in-progress");
        }
        step = run_document(&c, &doc, &j);
        sim_doc_release(&doc);
        if (step != STEP_GOTO || c.failed || c.hung_up)
            break;
        rc = fetch_document(&c, j.url, j.method, &j.params, &doc);
        jump_release(&j);
    }
    jump_release(&j);
    if (!c.failed) {
        json_t *ev = call_event(&c, "end");

        json_object_set_new(ev, "by",
                            json_string(c.hung_up == HUNG_UP_BY_API ? "api"
                                        : c.hung_up                 ? "caller"
                                                                    : "twiml"));
    }
    script_finished(&c);
done:
    res->duration_s = c.answered ? ceil(c.clock_ms / 1000.0) : 0;
    if (c.failed && strcmp(res->status, "completed") == 0 && !c.answered)
        snprintf(res->status, sizeof(res->status), "failed");
    call_streams_finish(&c);
    call_status_event(&c, SIM_EVENT_COMPLETED, res->status);
    call_status_flush(&c);
    sim_fetcher_free(c.fetcher);
    free(c.doc_url);
    res->ok = !c.failed && !c.soft_failed;
    return res->ok ? 0 : SB_EIO;
}

void sim_call_result_release(struct sim_call_result *res)
{
    json_decref(res->events);
    res->events = NULL;
}
