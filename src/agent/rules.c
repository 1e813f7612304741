#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "core/err.h"
#include "core/lang.h"
#include "core/words.h"
#include "core/banned.h"

/* The lines the rule agent speaks, in English and Spanish. */
struct phrases {
    const char *hours;
    const char *transfer;
    const char *no_transfer;
    const char *goodbye;
    const char *hello;
    const char *reprompt;
    const char *speech_unheard;
};

static const struct phrases phrases_en = {
    "We are open Monday to Friday, from nine in the morning to five in the afternoon. "
    "What else can I do for you?",
    "Please hold while I connect you with a person.",
    "I'm sorry, nobody is available to take your call right now. What else can I do for you?",
    "Thank you for calling. Goodbye!",
    "Hello! How can I help you today?",
    "Sorry, I didn't catch that. You can ask about our hours, or ask for a person.",
    "Sorry, I can't understand speech yet. Press 1 for our hours, 0 for a person, or pound to "
    "hang up.",
};

static const struct phrases phrases_es = {
    "Abrimos de lunes a viernes, de nueve de la mañana a cinco de la tarde. "
    "¿En qué más puedo ayudarle?",
    "Un momento, por favor. Le comunico con una persona.",
    "Lo siento, no hay nadie disponible para atenderle ahora. ¿En qué más puedo ayudarle?",
    "Gracias por llamar. ¡Hasta luego!",
    "¡Hola! ¿En qué puedo ayudarle hoy?",
    "Perdone, no le he entendido. Puede preguntar por nuestro horario o pedir hablar con una "
    "persona.",
    "Perdone, todavía no entiendo la voz. Pulse 1 para el horario, 0 para hablar con una persona "
    "o almohadilla para colgar.",
};

static const struct phrases *phrases_for(const char *lang)
{
    return lang_same_base(lang, "en") ? &phrases_en : &phrases_es;
}

/* Keyword lists per intent; matched as whole words by core/words (the same as IVR flows). */
static const char *const words_person[] = {"human",   "agent",         "operator", "representative",
                                           "person",  "humano",        "agente",   "operador",
                                           "persona", "representante", NULL};
static const char *const words_hours[] = {"hours", "open",    "close",   "closed", "horario",
                                          "abren", "abierto", "cierran", NULL};
static const char *const words_bye[] = {"bye", "goodbye", "adios", "adiós", "chao", NULL};
static const char *const words_hello[] = {"hello", "hi", "hey", "hola", "buenas", NULL};

static void reply_set(struct agent_reply *out, enum agent_action action, const char *text)
{
    out->action = action;
    snprintf(out->text, sizeof(out->text), "%s", text);
}

void agent_rules_turn(const struct agent_turn *turn, struct agent_reply *out)
{
    const struct phrases *ph = phrases_for(turn->lang);
    const char *speech = turn->speech ? turn->speech : "";
    const char *digits = turn->digits ? turn->digits : "";

    if (words_match_any(speech, words_person) || strcmp(digits, "0") == 0) {
        if (turn->can_transfer)
            reply_set(out, AGENT_TRANSFER, ph->transfer);
        else
            reply_set(out, AGENT_CONTINUE, ph->no_transfer);
    } else if (words_match_any(speech, words_hours) || strcmp(digits, "1") == 0) {
        reply_set(out, AGENT_CONTINUE, ph->hours);
    } else if (words_match_any(speech, words_bye) || strcmp(digits, "#") == 0) {
        reply_set(out, AGENT_HANGUP, ph->goodbye);
    } else if (words_match_any(speech, words_hello)) {
        reply_set(out, AGENT_CONTINUE, ph->hello);
    } else {
        reply_set(out, AGENT_CONTINUE, ph->reprompt);
    }
}

const char *agent_goodbye(const char *lang)
{
    return phrases_for(lang)->goodbye;
}

/* One call's rule agent: it answers every turn at once, from inside turn(). */
struct rules_agent {
    struct agent_sink sink;
    char lang[16];
    char greeting[AGENT_TEXT_SIZE];
    int can_transfer;
    int echo; /* the echo agent: says nothing at all */
};

/* Emits a whole reply: its text (when there is any), then the end of the turn. */
static void emit_reply(const struct rules_agent *a, const struct agent_reply *r)
{
    struct agent_event ev = {AGENT_EV_TEXT, r->text, AGENT_CONTINUE, NULL};

    if (r->text[0])
        a->sink.emit(a->sink.arg, &ev);
    ev.kind = AGENT_EV_END;
    ev.text = NULL;
    ev.action = r->action;
    a->sink.emit(a->sink.arg, &ev);
}

static int rules_open_as(void **out, const struct agent_call *call, const struct agent_sink *sink,
                         int echo)
{
    struct rules_agent *a;

    *out = NULL;
    if (!call || !sink || !sink->emit)
        return SB_EINVAL;
    a = calloc(1, sizeof(*a));
    if (!a)
        return SB_ENOMEM;
    a->sink = *sink;
    a->echo = echo;
    snprintf(a->lang, sizeof(a->lang), "%s", call->lang ? call->lang : "es");
    snprintf(a->greeting, sizeof(a->greeting), "%s",
             call->greeting ? call->greeting : phrases_for(a->lang)->hello);
    a->can_transfer = call->can_transfer;
    *out = a;
    return 0;
}

static int rules_open(void **out, const struct agent_call *call, const struct agent_sink *sink,
                      const struct agent_env *env)
{
    (void)env;
    return rules_open_as(out, call, sink, 0);
}

static void rules_start(void *agent)
{
    const struct rules_agent *a = agent;
    struct agent_reply r = {AGENT_CONTINUE, ""};

    if (!a->echo)
        reply_set(&r, AGENT_CONTINUE, a->greeting);
    emit_reply(a, &r);
}

static void rules_turn(void *agent, const struct agent_turn *turn)
{
    const struct rules_agent *a = agent;
    struct agent_turn t = *turn;
    struct agent_reply r = {AGENT_CONTINUE, ""};

    t.lang = a->lang;
    t.can_transfer = a->can_transfer;
    if (a->echo)
        ; /* the echo agent says nothing: a media session sends the caller's audio back */
    else if (t.unrecognised_speech && (!t.speech || !*t.speech) && (!t.digits || !*t.digits))
        /* Speech without a transcript (no recogniser): offer the keys instead. */
        reply_set(&r, AGENT_CONTINUE, phrases_for(a->lang)->speech_unheard);
    else
        agent_rules_turn(&t, &r);
    emit_reply(a, &r);
}

static void rules_interrupt(void *agent, long heard_ms, const char *heard)
{
    /* Nothing runs between turns, and the rule agent keeps no memory. */
    (void)agent;
    (void)heard_ms;
    (void)heard;
}

static void rules_close(void *agent)
{
    free(agent);
}

const struct agent_ops agent_rules_ops = {
    "rules", rules_open, rules_start, rules_turn, rules_interrupt,
    NULL,    NULL,       rules_close, NULL,       NULL,
};

static int echo_open(void **out, const struct agent_call *call, const struct agent_sink *sink,
                     const struct agent_env *env)
{
    (void)env;
    return rules_open_as(out, call, sink, 1);
}

const struct agent_ops agent_echo_ops = {
    "echo", echo_open, rules_start, rules_turn, rules_interrupt,
    NULL,   NULL,      rules_close, NULL,       NULL,
};

/* Joins a turn's pieces for agent_answer_now. */
struct collected {
    struct agent_reply *out;
    size_t len;
    int ended;
};

static void collect(void *arg, const struct agent_event *ev)
{
    struct collected *c = arg;
    int n;

    if (ev->kind == AGENT_EV_END) {
        c->out->action = ev->action;
        c->ended = 1;
    } else if (ev->kind == AGENT_EV_TEXT && ev->text && c->len < sizeof(c->out->text) - 1) {
        n = snprintf(c->out->text + c->len, sizeof(c->out->text) - c->len, "%s%s",
                     c->len ? " " : "", ev->text);
        if (n > 0)
            c->len += (size_t)n < sizeof(c->out->text) - c->len ? (size_t)n
                                                                : sizeof(c->out->text) - 1 - c->len;
    }
}

int agent_answer_now(const struct agent_ops *ops, const struct agent_call *call,
                     const struct agent_turn *turn, struct agent_reply *out)
{
    struct collected c = {out, 0, 0};
    struct agent_sink sink = {collect, &c};
    void *a = NULL;
    int rc;

    out->action = AGENT_CONTINUE;
    out->text[0] = '\0';
    rc = ops->open(&a, call, &sink, NULL);
    if (rc)
        return rc;
    if (turn)
        ops->turn(a, turn);
    else
        ops->start(a);
    if (ops->close)
        ops->close(a);
    return c.ended ? 0 : SB_EBUSY;
}

int agent_is_builtin(const char *agent_type)
{
    return agent_type &&
           (strcmp(agent_type, "receptionist") == 0 || strcmp(agent_type, "echo") == 0);
}

const struct agent_ops *agent_for(const char *agent_type)
{
    if (agent_type && strcmp(agent_type, "echo") == 0)
        return &agent_echo_ops;
    return &agent_rules_ops;
}
