/*
 * The flow interpreter: one webhook's worth of a call. It answers the input
 * at the node the call waits at, then runs nodes until one must wait for the
 * caller again or the call ends, writing TwiML as it goes. Everything it
 * needs comes in through its arguments (the time included), so the same
 * arguments always give the same bytes, and tests drive whole calls without
 * a clock or a network.
 */
#include "flow/flow.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/e164.h"
#include "core/err.h"
#include "core/lang.h"
#include "core/stream_token.h"
#include "core/words.h"
#include "flow/model.h"
#include "core/banned.h"

/*
 * What the flow says when the document does not: the same words as the rule
 * agent, so that a caller hears one voice of the business either way.
 */
static const struct flow_text goodbye_text = {
    {{"en", "Thank you for calling. Goodbye!"}, {"es", "Gracias por llamar. ¡Hasta luego!"}}, 2};
static const struct flow_text hold_text = {
    {{"en", "Please hold while I connect you with a person."},
     {"es", "Un momento, por favor. Le comunico con una persona."}},
    2};
static const struct flow_text invalid_text = {{{"en", "Sorry, that is not one of the choices."},
                                               {"es", "Lo siento, esa no es una de las opciones."}},
                                              2};
static const struct flow_text no_input_text = {
    {{"en", "Sorry, I didn't hear anything."}, {"es", "Perdone, no he oído nada."}}, 2};
static const struct flow_text voicemail_text = {
    {{"en", "Please leave a message after the tone, and press the pound key when you are done."},
     {"es", "Deje su mensaje después del tono y pulse la tecla de almohadilla al terminar."}},
    2};

/* Where the agent's webhooks go: the routes of the voice layer. */
#define AGENT_GATHER_ACTION "/voice/gather"
#define AGENT_STREAM_ACTION "/voice/stream-ended"

/* One flow_step call. */
struct run {
    const struct flow *f;
    const struct flow_env *env;
    struct twiml *t;
    struct flow_result *res;
    struct flow_state st;
};

/* Empty strings in the environment mean "not set", like NULL. */
static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

static const char *item_tag(const void *items, size_t i)
{
    return ((const struct flow_text_item *)items)[i].lang;
}

/*
 * The text for language `lang`: the best by core/lang's rules (the exact
 * tag, else the base language written alone, else another region of it),
 * else the first one given, so that something is always said.
 */
static const struct flow_text_item *pick(const struct flow_text *tx, const char *lang)
{
    int i;

    if (tx->n == 0)
        return NULL;
    i = lang_best(lang, tx->items, (size_t)tx->n, item_tag);
    return &tx->items[i >= 0 ? i : 0];
}

/* The language a text is spoken in: its own, or the caller's for a plain string. */
static const char *item_lang(const struct run *r, const struct flow_text_item *item)
{
    if (item && item->lang)
        return item->lang;
    return nonempty(r->st.lang);
}

static const char *voice_for(const struct run *r, const char *lang)
{
    if (!lang)
        return NULL;
    if (lang_same_base(lang, "en"))
        return nonempty(r->env->voice_en);
    if (lang_same_base(lang, "es"))
        return nonempty(r->env->voice_es);
    return NULL;
}

/*
 * The recogniser's language for a <Gather>: the caller's when the prompt is
 * in the caller's language (it is the more precise tag), else the prompt's,
 * since a caller answers in the language they were asked in. Twilio wants a
 * region, so bare "en" and "es" get the ones our voices speak.
 */
static const char *gather_lang(const struct run *r, const struct flow_text_item *item)
{
    const char *lang = nonempty(r->st.lang);

    if (item && item->lang && !lang_same_base(lang, item->lang))
        lang = item->lang;
    if (!lang)
        return NULL;
    if (lang_same(lang, "en"))
        return "en-US";
    if (lang_same(lang, "es"))
        return "es-US";
    return lang;
}

static void say_item(struct run *r, const struct flow_text_item *item)
{
    const char *attrs[] = {"voice", voice_for(r, item_lang(r, item)), NULL};

    twiml_leaf(r->t, "Say", attrs, item->text);
}

static void say(struct run *r, const struct flow_text *tx)
{
    const struct flow_text_item *item = pick(tx, r->st.lang);

    if (item)
        say_item(r, item);
}

/* Language nodes speak every language they have, each in its own voice. */
static void say_all(struct run *r, const struct flow_text *tx)
{
    int i;

    for (i = 0; i < tx->n; i++)
        say_item(r, &tx->items[i]);
}

static void set_node(struct run *r, const char *id)
{
    size_t n = strnlen(id, sizeof(r->st.node) - 1);

    memcpy(r->st.node, id, n);
    r->st.node[n] = '\0';
}

static void end_call(struct run *r)
{
    say(r, &goodbye_text);
    twiml_leaf(r->t, "Hangup", NULL, NULL);
    r->st.done = 1;
}

static void dial(struct run *r, const char *action, const char *number, int timeout, int record)
{
    char secs[16];
    const char *attrs[] = {"action",   action,
                           "callerId", nonempty(r->env->caller_id),
                           "record",   record ? "record-from-answer" : NULL,
                           "timeout",  secs,
                           NULL};

    snprintf(secs, sizeof(secs), "%d", timeout);
    twiml_open(r->t, "Dial", attrs);
    twiml_leaf(r->t, "Number", NULL, number);
    twiml_close(r->t);
}

/* The tenant's transfer number when it is one Twilio can dial, else NULL. */
static const char *env_transfer(const struct run *r)
{
    const char *n = nonempty(r->env->transfer);

    return n && e164_valid(n) ? n : NULL;
}

/*
 * A menu without "fallback" that ran out of attempts: put the caller through
 * to a person when the tenant has a number, else say goodbye. The <Dial> has
 * no action, so Twilio goes on to the goodbye when the transfer ends.
 */
static void default_fallback(struct run *r)
{
    const char *number = env_transfer(r);

    if (number) {
        say(r, &hold_text);
        dial(r, NULL, number, 20, 0);
    }
    end_call(r);
}

static int single_keys(const struct flow_node *n)
{
    int i, any = 0;

    for (i = 0; i < n->noptions; i++) {
        if (!n->options[i].digit)
            continue;
        if (n->options[i].digit[1] != '\0')
            return 0;
        any = 1;
    }
    return any;
}

static int uses_pound(const struct flow_node *n)
{
    int i;

    for (i = 0; i < n->noptions; i++) {
        if (n->options[i].digit && strchr(n->options[i].digit, '#'))
            return 1;
    }
    return 0;
}

/*
 * A menu or language node asks: the <Gather> comes back to the flow whether
 * or not the caller answered (actionOnEmptyResult), so that silence is
 * counted here rather than ending the call. `before` is the reason for a
 * repeat, said inside the <Gather> so that a caller who knows the menu can
 * press a key at once.
 */
static void ask(struct run *r, const struct flow_node *n, const struct flow_text *before)
{
    const struct flow_text_item *item = NULL;
    int dtmf = (n->input & INPUT_DTMF) != 0;
    const char *input = n->input == INPUT_DTMF     ? "dtmf"
                        : n->input == INPUT_SPEECH ? "speech"
                                                   : "dtmf speech";
    char secs[16];
    const char *attrs[] = {"action", nonempty(r->env->action_url), "actionOnEmptyResult", "true",
                           /* With numDigits 1, '#' would end the <Gather> instead of counting. */
                           "finishOnKey", dtmf && uses_pound(n) ? "" : NULL, "input", input,
                           "language", NULL, "numDigits", dtmf && single_keys(n) ? "1" : NULL,
                           "timeout", secs, NULL};

    if (n->type == NODE_MENU)
        item = pick(&n->prompt, r->st.lang);
    attrs[9] = gather_lang(r, item);
    snprintf(secs, sizeof(secs), "%d", n->timeout);
    twiml_open(r->t, "Gather", attrs);
    if (n->type == NODE_LANGUAGE) {
        if (before)
            say_all(r, before);
        say_all(r, &n->prompt);
    } else {
        if (before)
            say(r, before);
        say_item(r, item);
    }
    twiml_close(r->t);
}

/*
 * A transfer node dials; returns 0 when there is nobody to dial (no number
 * in the node and none for the tenant), which the caller treats as a failed
 * dial so that the "failed" branch (say, voicemail) still serves the caller.
 */
static int transfer(struct run *r, const struct flow_node *n)
{
    const char *number = n->number ? n->number : env_transfer(r);

    if (!number)
        return 0;
    dial(r, nonempty(r->env->action_url), number, n->timeout, n->record);
    return 1;
}

static void voicemail(struct run *r, const struct flow_node *n)
{
    char secs[16];
    const char *attrs[] = {"action",
                           nonempty(r->env->action_url),
                           "finishOnKey",
                           "#",
                           "maxLength",
                           secs,
                           "playBeep",
                           "true",
                           "recordingStatusCallback",
                           nonempty(r->env->recording_callback),
                           NULL};

    snprintf(secs, sizeof(secs), "%d", n->max_length);
    say(r, n->prompt.n ? &n->prompt : &voicemail_text);
    twiml_leaf(r->t, "Record", attrs, NULL);
    r->res->voicemail = 1;
}

/*
 * Hands the call to the agent, as voice/incoming does for numbers without a
 * flow: a Media Stream on plans that have one, else the speech <Gather> loop
 * of /voice/gather (with the same goodbye after it for a caller who says
 * nothing). Either way the flow is done with the call.
 */
static void agent(struct run *r, const struct flow_node *n)
{
    const struct flow_env *env = r->env;
    const char *stream_url = nonempty(env->stream_url);

    if (env->plan_stream && stream_url) {
        const char *connect[] = {"action", AGENT_STREAM_ACTION, NULL};
        const char *stream[] = {"url", stream_url, NULL};
        const char *const params[][2] = {
            {"CallSid", env->call_sid},
            {"From", env->from},
            {"To", env->to},
            {"tenant", env->tenant},
            {"agent", n->agent ? n->agent : env->agent},
            {"lang", r->st.lang},
        };
        size_t i;

        if (n->prompt.n)
            say(r, &n->prompt);
        twiml_open(r->t, "Connect", connect);
        twiml_open(r->t, "Stream", stream);
        for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
            const char *attrs[] = {"name", params[i][0], "value", params[i][1] ? params[i][1] : "",
                                   NULL};

            twiml_leaf(r->t, "Parameter", attrs, NULL);
        }
        if (env->stream_token && *env->stream_token) {
            const char *attrs[] = {"name", STREAM_TOKEN_PARAM, "value", env->stream_token, NULL};

            twiml_leaf(r->t, "Parameter", attrs, NULL);
        }
        twiml_close(r->t);
        twiml_close(r->t);
    } else {
        const struct flow_text_item *item = pick(&n->prompt, r->st.lang);
        char action[sizeof(AGENT_GATHER_ACTION) + 8 + FLOW_NAME_SIZE];
        const char *gather[] = {"action",        action,     "input",
                                "speech",        "language", gather_lang(r, item),
                                "speechTimeout", "auto",     NULL};

        /* The node's own agent (names are [A-Za-z0-9_.-]: nothing to escape) rides on the URL. */
        if (n->agent)
            snprintf(action, sizeof(action), "%s?agent=%s", AGENT_GATHER_ACTION, n->agent);
        else
            snprintf(action, sizeof(action), "%s", AGENT_GATHER_ACTION);

        twiml_open(r->t, "Gather", gather);
        if (item)
            say_item(r, item);
        twiml_close(r->t);
        say(r, &goodbye_text);
        twiml_leaf(r->t, "Hangup", NULL, NULL);
    }
    r->st.done = 1;
}

static long long floor_div(long long a, long long b)
{
    long long q = a / b;

    if (a % b != 0 && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* The civil date of a day count from 1970-01-01 (H. Hinnant's days_from_civil, inverted). */
static void civil_from_days(long long z, long long *y, int *m, int *d)
{
    long long era, doe, yoe, doy, mp;

    z += 719468;
    era = floor_div(z, 146097);
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/*
 * Open or closed at env->now in the tenant's local time. The arithmetic is
 * done here rather than with localtime(), which reads the process's time
 * zone: the tenant's offset is an input, which keeps the interpreter pure.
 */
static int is_open(const struct flow_node *n, const struct flow_env *env)
{
    long long t = (long long)env->now + (long long)env->utc_offset_min * 60;
    long long days = floor_div(t, 86400), year;
    int minute = (int)((t - days * 86400) / 60);
    int wday = (int)(days + 3 - floor_div(days + 3, 7) * 7); /* 1970-01-01 was a Thursday */
    int month, day, i;

    civil_from_days(days, &year, &month, &day);
    for (i = 0; i < n->nholidays; i++) {
        const struct flow_date *h = &n->holidays[i];

        if ((h->year == 0 || h->year == year) && h->month == month && h->day == day)
            return 0;
    }
    for (i = 0; i < n->nranges[wday]; i++) {
        if (minute >= n->week[wday][i].start && minute < n->week[wday][i].end)
            return 1;
    }
    return 0;
}

/*
 * Runs nodes from `id` until one waits for the caller or the call ends.
 * `before` is set only when a menu is asked again after a wrong or missing
 * answer; it keeps the attempts counted so far. Every node run counts one
 * step, and the steps of a whole call are bounded, so no flow (even one
 * that bounces between menus or flows forever) can keep a call alive
 * without end.
 */
static void run_from(struct run *r, int id, const struct flow_text *before)
{
    const struct flow_node *n;

    for (;;) {
        if (id < 0 || r->st.steps >= FLOW_MAX_STEPS) {
            end_call(r);
            return;
        }
        r->st.steps++;
        n = &r->f->nodes[id];
        set_node(r, n->id);
        if (!before)
            r->st.attempts = 0;
        switch (n->type) {
        case NODE_SAY:
            say(r, &n->text);
            id = n->next;
            break;
        case NODE_PLAY:
            twiml_leaf(r->t, "Play", NULL, n->url);
            id = n->next;
            break;
        case NODE_HOURS:
            id = is_open(n, r->env) ? n->open : n->closed;
            break;
        case NODE_MENU:
        case NODE_LANGUAGE:
            ask(r, n, before);
            return;
        case NODE_TRANSFER:
            if (transfer(r, n))
                return;
            id = n->on[DIAL_FAILED];
            break;
        case NODE_VOICEMAIL:
            voicemail(r, n);
            return;
        case NODE_AGENT:
            agent(r, n);
            return;
        case NODE_REDIRECT:
            snprintf(r->res->redirect_flow, sizeof(r->res->redirect_flow), "%s", n->flow);
            r->st.done = 1;
            return;
        case NODE_HANGUP:
            if (n->text.n)
                say(r, &n->text);
            twiml_leaf(r->t, "Hangup", NULL, NULL);
            r->st.done = 1;
            return;
        case NODE_TYPE_COUNT:
            end_call(r);
            return;
        }
        before = NULL;
    }
}

static const struct flow_option *match_digits(const struct flow_node *n, const char *digits)
{
    int i;

    for (i = 0; i < n->noptions; i++) {
        if (n->options[i].digit && strcmp(n->options[i].digit, digits) == 0)
            return &n->options[i];
    }
    return NULL;
}

/*
 * The first option (in document order) with a keyword in the speech; else,
 * when the caller said nothing but a number ("two" comes back as "2."), the
 * option with those keys.
 */
static const struct flow_option *match_speech(const struct flow_node *n, const char *speech)
{
    const char *pos = speech, *word, *w2;
    size_t len, l2, k;
    int i;

    for (i = 0; i < n->noptions; i++) {
        const json_t *kw = n->options[i].keywords;

        for (k = 0; kw && k < json_array_size(kw); k++) {
            if (words_match_keyword(speech, json_string_value(json_array_get(kw, k))))
                return &n->options[i];
        }
    }
    if (!words_next(&pos, &word, &len) || words_next(&pos, &w2, &l2))
        return NULL;
    for (i = 0; i < n->noptions; i++) {
        const char *d = n->options[i].digit;

        if (d && strlen(d) == len && memcmp(d, word, len) == 0)
            return &n->options[i];
    }
    return NULL;
}

/* A wrong or missing answer at a menu: ask again, or give up after max_attempts. */
static void retry(struct run *r, int id, const struct flow_text *why)
{
    const struct flow_node *n = &r->f->nodes[id];

    r->st.attempts++;
    if (r->st.attempts < n->max_attempts) {
        run_from(r, id, why);
        return;
    }
    r->st.attempts = 0;
    if (n->fallback >= 0)
        run_from(r, n->fallback, NULL);
    else
        default_fallback(r);
}

static int answer(struct run *r, int id, const struct flow_input *in)
{
    const struct flow_node *n = &r->f->nodes[id];
    const struct flow_option *opt = NULL;
    int heard = in->text && *in->text;

    if (in->kind == FLOW_DIGITS && heard)
        opt = match_digits(n, in->text);
    else if (in->kind == FLOW_SPEECH && heard)
        opt = match_speech(n, in->text);
    else if (in->kind != FLOW_DIGITS && in->kind != FLOW_SPEECH && in->kind != FLOW_NO_INPUT)
        return SB_EINVAL;
    else
        heard = 0;
    if (opt) {
        if (opt->lang)
            snprintf(r->st.lang, sizeof(r->st.lang), "%s", opt->lang);
        run_from(r, opt->next, NULL);
    } else if (heard) {
        retry(r, id, n->invalid_prompt.n ? &n->invalid_prompt : &invalid_text);
    } else {
        retry(r, id, n->no_input_prompt.n ? &n->no_input_prompt : &no_input_text);
    }
    return 0;
}

/* DialCallStatus: "answered" (conferences) counts as completed, anything unknown as failed. */
static enum flow_dial_status dial_status(const char *s)
{
    int i;

    if (!s)
        return DIAL_FAILED;
    if (strcmp(s, "answered") == 0)
        return DIAL_COMPLETED;
    for (i = 0; i < DIAL_STATUS_COUNT; i++) {
        if (strcmp(s, flow_dial_status_name((enum flow_dial_status)i)) == 0)
            return (enum flow_dial_status)i;
    }
    return DIAL_FAILED;
}

static int resume(struct run *r, const struct flow_input *in)
{
    int id = flow_find(r->f, r->st.node);
    const struct flow_node *n;

    if (id < 0)
        return SB_EINVAL;
    n = &r->f->nodes[id];
    switch (n->type) {
    case NODE_MENU:
    case NODE_LANGUAGE:
        return answer(r, id, in);
    case NODE_TRANSFER:
        if (in->kind != FLOW_DIAL_DONE)
            return SB_EINVAL;
        run_from(r, n->on[dial_status(in->text)], NULL);
        return 0;
    case NODE_VOICEMAIL:
        if (in->kind != FLOW_RECORDED)
            return SB_EINVAL;
        run_from(r, n->next, NULL);
        return 0;
    default:
        return SB_EINVAL;
    }
}

int flow_step(const struct flow *f, const struct flow_state *state, const struct flow_input *in,
              const struct flow_env *env, struct twiml *t, struct flow_state *next,
              struct flow_result *res)
{
    struct run r;
    int rc = 0;

    if (!f || !state || !in || !env || !t || !next || !res)
        return SB_EINVAL;
    memset(res, 0, sizeof(*res));
    r.f = f;
    r.env = env;
    r.t = t;
    r.res = res;
    r.st = *state;
    /* The state comes from storage: never trust its strings to be terminated. */
    r.st.node[sizeof(r.st.node) - 1] = '\0';
    r.st.lang[sizeof(r.st.lang) - 1] = '\0';
    if (r.st.steps < 0)
        r.st.steps = 0;
    if (r.st.attempts < 0)
        r.st.attempts = 0;
    if (in->kind == FLOW_START) {
        /* Steps and language carry over, so that redirects between flows stay bounded. */
        r.st.node[0] = '\0';
        r.st.attempts = 0;
        r.st.done = 0;
        run_from(&r, f->start, NULL);
    } else if (r.st.done) {
        twiml_leaf(t, "Hangup", NULL, NULL);
    } else {
        rc = resume(&r, in);
    }
    if (rc) {
        *next = *state;
        goto out;
    }
    *next = r.st;
    rc = t->err;
out:
    return rc;
}

/* -- outline -- */

/* The outline being written; the first failed append stops the rest. */
struct outline {
    struct buf b;
    int rc;
};

static void out(struct outline *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out(struct outline *o, const char *fmt, ...)
{
    va_list ap;

    if (o->rc)
        return;
    va_start(ap, fmt);
    o->rc = buf_vprintf(&o->b, fmt, ap);
    va_end(ap);
}

static void outline_target(struct outline *o, const struct flow *f, const char *label, int id)
{
    out(o, ", %s -> %s", label, f->nodes[id].id);
}

static void outline_options(struct outline *o, const struct flow *f, const struct flow_node *n)
{
    int i;
    size_t k;

    for (i = 0; i < n->noptions; i++) {
        const struct flow_option *opt = &n->options[i];

        out(o, ", %s", opt->digit ? opt->digit : "");
        if (opt->lang)
            out(o, " %s", opt->lang);
        for (k = 0; opt->keywords && k < json_array_size(opt->keywords); k++)
            out(o, "%s\"%s\"", (opt->digit || k) ? " " : "",
                json_string_value(json_array_get(opt->keywords, k)));
        if (!opt->lang)
            out(o, " -> %s", f->nodes[opt->next].id);
    }
}

static void outline_node(struct outline *o, const struct flow *f, const struct flow_node *n)
{
    static const char *const inputs[] = {"", "dtmf", "speech", "dtmf speech"};
    int s;

    out(o, "%s: %s", n->id, flow_type_name(n->type));
    switch (n->type) {
    case NODE_SAY:
    case NODE_VOICEMAIL:
        out(o, " -> %s", f->nodes[n->next].id);
        break;
    case NODE_PLAY:
        out(o, " %s -> %s", n->url, f->nodes[n->next].id);
        break;
    case NODE_HOURS:
        outline_target(o, f, "open", n->open);
        outline_target(o, f, "closed", n->closed);
        break;
    case NODE_MENU:
        out(o, " (%s)", inputs[n->input & 3]);
        outline_options(o, f, n);
        if (n->fallback >= 0)
            outline_target(o, f, "fallback", n->fallback);
        else
            out(o, ", fallback -> (transfer or goodbye)");
        break;
    case NODE_LANGUAGE:
        out(o, " (%s)", inputs[n->input & 3]);
        outline_options(o, f, n);
        outline_target(o, f, "next", n->next);
        outline_target(o, f, "fallback", n->fallback);
        break;
    case NODE_TRANSFER:
        out(o, " %s", n->number ? n->number : "(tenant's number)");
        for (s = 0; s < DIAL_STATUS_COUNT; s++) {
            if (n->on[s] >= 0)
                outline_target(o, f, flow_dial_status_name((enum flow_dial_status)s), n->on[s]);
        }
        break;
    case NODE_AGENT:
        if (n->agent)
            out(o, " %s", n->agent);
        break;
    case NODE_REDIRECT:
        out(o, " to flow %s", n->flow);
        break;
    case NODE_HANGUP:
    case NODE_TYPE_COUNT:
        break;
    }
    out(o, "\n");
}

char *flow_outline(const struct flow *f)
{
    struct outline o = {BUF_INIT(4 * FLOW_MAX_DOC), 0};
    char *text = NULL;
    int i;

    out(&o, "flow %s: start %s, %d node%s\n", f->name, f->nodes[f->start].id, f->nnodes,
        f->nnodes == 1 ? "" : "s");
    for (i = 0; i < f->nnodes; i++)
        outline_node(&o, f, &f->nodes[i]);
    if (!o.rc)
        text = buf_detach(&o.b, NULL);
    buf_release(&o.b);
    return text;
}
