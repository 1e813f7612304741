#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
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

/* Per-call state of the rule agent on a media stream. */
struct rules_state {
    char lang[16];
    int can_transfer;
};

static void rules_start(void *state, const struct agent_call *call, struct agent_reply *out)
{
    struct rules_state *st = state;

    snprintf(st->lang, sizeof(st->lang), "%s", call->lang ? call->lang : "es");
    st->can_transfer = call->can_transfer;
    reply_set(out, AGENT_CONTINUE, call->greeting ? call->greeting : phrases_for(st->lang)->hello);
}

static void rules_turn(void *state, const struct agent_turn *turn, struct agent_reply *out)
{
    struct rules_state *st = state;
    struct agent_turn t = *turn;

    t.lang = st->lang;
    t.can_transfer = st->can_transfer;
    /* Speech without a transcript (no recogniser yet): offer the keys instead. */
    if (t.unrecognised_speech && (!t.speech || !*t.speech) && (!t.digits || !*t.digits)) {
        reply_set(out, AGENT_CONTINUE, phrases_for(st->lang)->speech_unheard);
        return;
    }
    agent_rules_turn(&t, out);
}

static void rules_interrupted(void *state, long heard_ms)
{
    (void)state;
    (void)heard_ms;
}

static void rules_hangup(void *state)
{
    (void)state;
}

const struct agent_ops agent_rules_ops = {
    "rules", sizeof(struct rules_state), rules_start, rules_turn, rules_interrupted, rules_hangup,
};

/* The echo agent says nothing: a media session in echo mode sends the caller's audio back. */
static void echo_start(void *state, const struct agent_call *call, struct agent_reply *out)
{
    (void)state;
    (void)call;
    reply_set(out, AGENT_CONTINUE, "");
}

static void echo_turn(void *state, const struct agent_turn *turn, struct agent_reply *out)
{
    (void)state;
    (void)turn;
    reply_set(out, AGENT_CONTINUE, "");
}

const struct agent_ops agent_echo_ops = {
    "echo", 0, echo_start, echo_turn, rules_interrupted, rules_hangup,
};

const struct agent_ops *agent_for(const char *agent_type)
{
    if (agent_type && strcmp(agent_type, "echo") == 0)
        return &agent_echo_ops;
    return &agent_rules_ops;
}
