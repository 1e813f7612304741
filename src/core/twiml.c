#include "core/twiml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/utf8.h"
#include "core/banned.h"

/*
 * The grammar: one descriptor per element, indexed by an enum so that the
 * children an element allows fit in one 64-bit mask. Attribute lists follow
 * the method signatures of twilio-python's voice_response.py plus the
 * attributes Twilio has documented since; allowed children follow the
 * child methods of each helper class. <Pay>, <Sms> and <Autopilot> are left
 * out on purpose: switchboard does not use them, and an element it cannot
 * produce should not pass as valid.
 */
enum twiml_el_id {
    EL_RESPONSE,
    /* Verbs. */
    EL_SAY,
    EL_PLAY,
    EL_PAUSE,
    EL_GATHER,
    EL_DIAL,
    EL_RECORD,
    EL_REDIRECT,
    EL_HANGUP,
    EL_REJECT,
    EL_ENQUEUE,
    EL_LEAVE,
    EL_CONNECT,
    EL_START,
    EL_STOP,
    EL_REFER,
    EL_ECHO,
    /* Nouns of <Dial>. */
    EL_NUMBER,
    EL_CLIENT,
    EL_SIP,
    EL_CONFERENCE,
    EL_QUEUE,
    EL_SIM,
    EL_IDENTITY,
    /* Nouns of <Enqueue>, <Connect>, <Start>, <Stop> and <Refer>. */
    EL_TASK,
    EL_STREAM,
    EL_SIPREC,
    EL_ROOM,
    EL_VIRTUAL_AGENT,
    EL_CONVERSATION_RELAY,
    EL_LANGUAGE,
    EL_PARAMETER,
    EL_REFER_SIP,
    /* SSML inside <Say>. */
    EL_SSML_BREAK,
    EL_SSML_EMPHASIS,
    EL_SSML_LANG,
    EL_SSML_P,
    EL_SSML_PHONEME,
    EL_SSML_PROSODY,
    EL_SSML_S,
    EL_SSML_SAY_AS,
    EL_SSML_SUB,
    EL_SSML_W,
    EL_COUNT
};

/*
 * `name` must stay the first member: the open-element stack in struct twiml
 * holds `name` pointers, and a pointer to a structure's first member converts
 * back to a pointer to the structure, which gives the descriptor of any open
 * element without a search.
 */
struct twiml_el {
    char name[24];
    int text;                 /* character content is allowed */
    const char *const *attrs; /* NULL-terminated, or NULL for none */
    uint64_t children;        /* bit (1 << enum twiml_el_id) per allowed child */
};

#define BIT(id) ((uint64_t)1 << (id))

/* The verbs <Response> takes. */
#define VERBS                                                                                      \
    (BIT(EL_SAY) | BIT(EL_PLAY) | BIT(EL_PAUSE) | BIT(EL_GATHER) | BIT(EL_DIAL) | BIT(EL_RECORD) | \
     BIT(EL_REDIRECT) | BIT(EL_HANGUP) | BIT(EL_REJECT) | BIT(EL_ENQUEUE) | BIT(EL_LEAVE) |        \
     BIT(EL_CONNECT) | BIT(EL_START) | BIT(EL_STOP) | BIT(EL_REFER) | BIT(EL_ECHO))

/* SSML elements that may appear inside <w>; the others add to this set. */
#define SSML_W_KIDS                                                                                \
    (BIT(EL_SSML_BREAK) | BIT(EL_SSML_EMPHASIS) | BIT(EL_SSML_PHONEME) | BIT(EL_SSML_PROSODY) |    \
     BIT(EL_SSML_SAY_AS) | BIT(EL_SSML_SUB))
#define SSML_INLINE (SSML_W_KIDS | BIT(EL_SSML_LANG) | BIT(EL_SSML_W))
#define SSML_ALL (SSML_INLINE | BIT(EL_SSML_P) | BIT(EL_SSML_S))

static const char *const say_attrs[] = {"language", "loop", "voice", NULL};
static const char *const play_attrs[] = {"digits", "loop", NULL};
static const char *const pause_attrs[] = {"length", NULL};
static const char *const gather_attrs[] = {"action",
                                           "actionOnEmptyResult",
                                           "bargeIn",
                                           "debug",
                                           "enhanced",
                                           "finishOnKey",
                                           "hints",
                                           "input",
                                           "language",
                                           "maxSpeechTime",
                                           "method",
                                           "numDigits",
                                           "partialResultCallback",
                                           "partialResultCallbackMethod",
                                           "profanityFilter",
                                           "speechModel",
                                           "speechTimeout",
                                           "timeout",
                                           NULL};
static const char *const dial_attrs[] = {"action",
                                         "answerOnBridge",
                                         "callerId",
                                         "events",
                                         "hangupOnStar",
                                         "method",
                                         "passports",
                                         "record",
                                         "recordingConfigurationId",
                                         "recordingStatusCallback",
                                         "recordingStatusCallbackEvent",
                                         "recordingStatusCallbackMethod",
                                         "recordingTrack",
                                         "referMethod",
                                         "referUrl",
                                         "ringTone",
                                         "sequential",
                                         "timeLimit",
                                         "timeout",
                                         "trim",
                                         NULL};
static const char *const record_attrs[] = {"action",
                                           "finishOnKey",
                                           "maxLength",
                                           "method",
                                           "playBeep",
                                           "recordingConfigurationId",
                                           "recordingStatusCallback",
                                           "recordingStatusCallbackEvent",
                                           "recordingStatusCallbackMethod",
                                           "timeout",
                                           "transcribe",
                                           "transcribeCallback",
                                           "trim",
                                           NULL};
static const char *const method_attrs[] = {"method", NULL};
static const char *const reject_attrs[] = {"reason", NULL};
static const char *const enqueue_attrs[] = {"action",        "maxQueueSize", "method", "waitUrl",
                                            "waitUrlMethod", "workflowSid",  NULL};
static const char *const action_attrs[] = {"action", "method", NULL};
static const char *const number_attrs[] = {"amdStatusCallback",
                                           "amdStatusCallbackMethod",
                                           "byoc",
                                           "machineDetection",
                                           "machineDetectionSilenceTimeout",
                                           "machineDetectionSpeechEndThreshold",
                                           "machineDetectionSpeechThreshold",
                                           "machineDetectionTimeout",
                                           "method",
                                           "sendDigits",
                                           "statusCallback",
                                           "statusCallbackEvent",
                                           "statusCallbackMethod",
                                           "url",
                                           NULL};
static const char *const client_attrs[] = {
    "method", "statusCallback", "statusCallbackEvent", "statusCallbackMethod", "url", NULL};
static const char *const sip_attrs[] = {"amdStatusCallback",
                                        "amdStatusCallbackMethod",
                                        "machineDetection",
                                        "machineDetectionSilenceTimeout",
                                        "machineDetectionSpeechEndThreshold",
                                        "machineDetectionSpeechThreshold",
                                        "machineDetectionTimeout",
                                        "method",
                                        "password",
                                        "statusCallback",
                                        "statusCallbackEvent",
                                        "statusCallbackMethod",
                                        "url",
                                        "username",
                                        NULL};
static const char *const conference_attrs[] = {"beep",
                                               "coach",
                                               "endConferenceOnExit",
                                               "eventCallbackUrl",
                                               "jitterBufferSize",
                                               "maxParticipants",
                                               "muted",
                                               "participantLabel",
                                               "record",
                                               "recordingConfigurationId",
                                               "recordingStatusCallback",
                                               "recordingStatusCallbackEvent",
                                               "recordingStatusCallbackMethod",
                                               "region",
                                               "startConferenceOnEnter",
                                               "statusCallback",
                                               "statusCallbackEvent",
                                               "statusCallbackMethod",
                                               "trim",
                                               "waitMethod",
                                               "waitUrl",
                                               NULL};
static const char *const queue_attrs[] = {"method", "postWorkActivitySid", "reservationSid", "url",
                                          NULL};
static const char *const task_attrs[] = {"priority", "timeout", NULL};
static const char *const stream_attrs[] = {
    "connectorName", "name", "statusCallback", "statusCallbackMethod", "track", "url", NULL};
static const char *const siprec_attrs[] = {"connectorName", "name", "track", NULL};
static const char *const room_attrs[] = {"participantIdentity", NULL};
static const char *const virtual_agent_attrs[] = {"connectorName", "language", "sentimentAnalysis",
                                                  "statusCallback", NULL};
/* ConversationRelay's attributes: Twilio's noun reference and its helper libraries. */
static const char *const conversation_relay_attrs[] = {"backgroundNoiseReduction",
                                                       "debug",
                                                       "deepgramSmartFormat",
                                                       "dtmfDetection",
                                                       "elevenlabsTextNormalization",
                                                       "events",
                                                       "hints",
                                                       "ignoreBackchannel",
                                                       "intelligenceService",
                                                       "interruptSensitivity",
                                                       "interruptible",
                                                       "language",
                                                       "partialPrompts",
                                                       "preemptible",
                                                       "profanityFilter",
                                                       "reportInputDuringAgentSpeech",
                                                       "speechModel",
                                                       "speechTimeout",
                                                       "transcriptionLanguage",
                                                       "transcriptionProvider",
                                                       "ttsLanguage",
                                                       "ttsProvider",
                                                       "url",
                                                       "voice",
                                                       "welcomeGreeting",
                                                       "welcomeGreetingInterruptible",
                                                       NULL};
static const char *const language_attrs[] = {"code",        "speechModel", "transcriptionProvider",
                                             "ttsProvider", "voice",       NULL};
static const char *const parameter_attrs[] = {"name", "value", NULL};
static const char *const break_attrs[] = {"strength", "time", NULL};
static const char *const emphasis_attrs[] = {"level", NULL};
static const char *const lang_attrs[] = {"xml:lang", NULL};
static const char *const phoneme_attrs[] = {"alphabet", "ph", NULL};
static const char *const prosody_attrs[] = {"pitch", "rate", "volume", NULL};
static const char *const say_as_attrs[] = {"interpret-as", "role", NULL};
static const char *const sub_attrs[] = {"alias", NULL};
static const char *const role_attrs[] = {"role", NULL};

static const struct twiml_el elements[EL_COUNT] = {
    [EL_RESPONSE] = {"Response", 0, NULL, VERBS},
    [EL_SAY] = {"Say", 1, say_attrs, SSML_ALL},
    [EL_PLAY] = {"Play", 1, play_attrs, 0},
    [EL_PAUSE] = {"Pause", 0, pause_attrs, 0},
    [EL_GATHER] = {"Gather", 0, gather_attrs, BIT(EL_SAY) | BIT(EL_PLAY) | BIT(EL_PAUSE)},
    [EL_DIAL] = {"Dial", 1, dial_attrs,
                 BIT(EL_NUMBER) | BIT(EL_CLIENT) | BIT(EL_SIP) | BIT(EL_CONFERENCE) |
                     BIT(EL_QUEUE) | BIT(EL_SIM)},
    [EL_RECORD] = {"Record", 0, record_attrs, 0},
    [EL_REDIRECT] = {"Redirect", 1, method_attrs, 0},
    [EL_HANGUP] = {"Hangup", 0, NULL, 0},
    [EL_REJECT] = {"Reject", 0, reject_attrs, 0},
    [EL_ENQUEUE] = {"Enqueue", 1, enqueue_attrs, BIT(EL_TASK)},
    [EL_LEAVE] = {"Leave", 0, NULL, 0},
    [EL_CONNECT] = {"Connect", 0, action_attrs,
                    BIT(EL_STREAM) | BIT(EL_ROOM) | BIT(EL_VIRTUAL_AGENT) |
                        BIT(EL_CONVERSATION_RELAY)},
    [EL_START] = {"Start", 0, action_attrs, BIT(EL_STREAM) | BIT(EL_SIPREC)},
    [EL_STOP] = {"Stop", 0, NULL, BIT(EL_STREAM) | BIT(EL_SIPREC)},
    [EL_REFER] = {"Refer", 0, action_attrs, BIT(EL_REFER_SIP)},
    [EL_ECHO] = {"Echo", 0, NULL, 0},
    [EL_NUMBER] = {"Number", 1, number_attrs, 0},
    [EL_CLIENT] = {"Client", 1, client_attrs, BIT(EL_IDENTITY) | BIT(EL_PARAMETER)},
    [EL_SIP] = {"Sip", 1, sip_attrs, 0},
    [EL_CONFERENCE] = {"Conference", 1, conference_attrs, 0},
    [EL_QUEUE] = {"Queue", 1, queue_attrs, 0},
    [EL_SIM] = {"Sim", 1, NULL, 0},
    [EL_IDENTITY] = {"Identity", 1, NULL, 0},
    [EL_TASK] = {"Task", 1, task_attrs, 0},
    [EL_STREAM] = {"Stream", 0, stream_attrs, BIT(EL_PARAMETER)},
    [EL_SIPREC] = {"Siprec", 0, siprec_attrs, BIT(EL_PARAMETER)},
    [EL_ROOM] = {"Room", 1, room_attrs, 0},
    [EL_VIRTUAL_AGENT] = {"VirtualAgent", 0, virtual_agent_attrs, 0},
    [EL_CONVERSATION_RELAY] = {"ConversationRelay", 0, conversation_relay_attrs,
                               BIT(EL_LANGUAGE) | BIT(EL_PARAMETER)},
    [EL_LANGUAGE] = {"Language", 0, language_attrs, 0},
    [EL_PARAMETER] = {"Parameter", 0, parameter_attrs, 0},
    /* <Refer><Sip> is a different noun from <Dial><Sip>: a bare URI. */
    [EL_REFER_SIP] = {"Sip", 1, NULL, 0},
    [EL_SSML_BREAK] = {"break", 0, break_attrs, 0},
    [EL_SSML_EMPHASIS] = {"emphasis", 1, emphasis_attrs, SSML_INLINE},
    [EL_SSML_LANG] = {"lang", 1, lang_attrs, SSML_ALL},
    [EL_SSML_P] = {"p", 1, NULL, SSML_INLINE | BIT(EL_SSML_S)},
    [EL_SSML_PHONEME] = {"phoneme", 1, phoneme_attrs, 0},
    [EL_SSML_PROSODY] = {"prosody", 1, prosody_attrs, SSML_ALL},
    [EL_SSML_S] = {"s", 1, NULL, SSML_INLINE},
    [EL_SSML_SAY_AS] = {"say-as", 1, say_as_attrs, 0},
    [EL_SSML_SUB] = {"sub", 1, sub_attrs, 0},
    [EL_SSML_W] = {"w", 1, role_attrs, SSML_W_KIDS},
};

/* Room for every attribute of the largest element (Conference, 21), with margin. */
#define TWIML_MAX_ATTRS 32

static const char xml_prolog[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response";

/*
 * Byte classes for escaping. Everything not listed is copied as is.
 * Control characters other than tab, newline and carriage return cannot
 * appear in an XML 1.0 document at all, so Twilio would fail to parse a
 * document holding one (error 12100); they are refused instead of escaped.
 */
enum {
    C_PLAIN = 0,
    C_TEXT, /* escaped in text and in attributes */
    C_ATTR, /* escaped in attributes only */
    C_BAD,  /* never allowed */
    C_UTF8  /* any byte from 0x80 up: the start of a multi-byte sequence */
};

static const unsigned char byte_class[128] = {
    [0x01] = C_BAD, [0x02] = C_BAD, [0x03] = C_BAD,  [0x04] = C_BAD,  [0x05] = C_BAD,
    [0x06] = C_BAD, [0x07] = C_BAD, [0x08] = C_BAD,  ['\t'] = C_ATTR, ['\n'] = C_ATTR,
    [0x0b] = C_BAD, [0x0c] = C_BAD, ['\r'] = C_ATTR, [0x0e] = C_BAD,  [0x0f] = C_BAD,
    [0x10] = C_BAD, [0x11] = C_BAD, [0x12] = C_BAD,  [0x13] = C_BAD,  [0x14] = C_BAD,
    [0x15] = C_BAD, [0x16] = C_BAD, [0x17] = C_BAD,  [0x18] = C_BAD,  [0x19] = C_BAD,
    [0x1a] = C_BAD, [0x1b] = C_BAD, [0x1c] = C_BAD,  [0x1d] = C_BAD,  [0x1e] = C_BAD,
    [0x1f] = C_BAD, ['"'] = C_ATTR, ['&'] = C_TEXT,  ['<'] = C_TEXT,  ['>'] = C_TEXT,
};

/*
 * Returns the length of the well-formed UTF-8 sequence at `p` (2 to 4), or 0
 * when it is malformed, overlong, a surrogate, beyond U+10FFFF, or one of the
 * noncharacters U+FFFE and U+FFFF that XML 1.0 excludes. The string is
 * NUL-terminated and NUL is never a continuation byte, so this cannot read
 * past its end.
 */
static size_t utf8_len(const unsigned char *p)
{
    unsigned cp = 0;
    size_t n = utf8_decode(p, 4, &cp);

    if (n < 2 || cp == 0xfffe || cp == 0xffff)
        return 0;
    return n;
}

/* The entity for a byte of class C_TEXT or C_ATTR, as ElementTree writes it. */
static const char *entity(unsigned char c, size_t *len)
{
    const char *e;

    switch (c) {
    case '&':
        e = "&amp;";
        break;
    case '<':
        e = "&lt;";
        break;
    case '>':
        e = "&gt;";
        break;
    case '"':
        e = "&quot;";
        break;
    case '\n':
        e = "&#10;";
        break;
    case '\r':
        e = "&#13;";
        break;
    default:
        e = "&#09;";
        break;
    }
    *len = strlen(e);
    return e;
}

/*
 * Appends `text` escaped; `attr` selects the attribute rules. Plain runs are
 * copied in one append each, so ordinary text costs one pass and one copy.
 * On error the buffer is put back as it was.
 */
static int escape(struct buf *b, const char *text, int attr)
{
    const unsigned char *p = (const unsigned char *)text;
    const unsigned char *run = p;
    size_t start = b->len;
    size_t n, elen;
    const char *e;
    int rc = 0;

    if (!text)
        return SB_EINVAL;
    for (;;) {
        unsigned char c = *p;
        unsigned char cls = c < 0x80 ? byte_class[c] : C_UTF8;

        if (c == '\0')
            break;
        if (cls == C_PLAIN || (cls == C_ATTR && !attr)) {
            p++;
            continue;
        }
        if (cls == C_UTF8) {
            n = utf8_len(p);
            if (n == 0) {
                rc = SB_EINVAL;
                goto out;
            }
            p += n;
            continue;
        }
        if (cls == C_BAD) {
            rc = SB_EINVAL;
            goto out;
        }
        rc = buf_append(b, run, (size_t)(p - run));
        if (rc)
            goto out;
        e = entity(c, &elen);
        rc = buf_append(b, e, elen);
        if (rc)
            goto out;
        p++;
        run = p;
    }
    rc = buf_append(b, run, (size_t)(p - run));
out:
    if (rc) {
        b->len = start;
        if (b->data)
            b->data[start] = '\0';
    }
    return rc;
}

int twiml_escape_text(struct buf *b, const char *text)
{
    return escape(b, text, 0);
}

int twiml_escape_attr(struct buf *b, const char *text)
{
    return escape(b, text, 1);
}

void twiml_init(struct twiml *t)
{
    buf_init(&t->out, TWIML_MAX_SIZE);
    t->stack[0] = elements[EL_RESPONSE].name;
    t->depth = 1;
    t->tag_open = 1;
    t->err = 0;
}

/* Records the first error; every later call returns it unchanged. */
static int fail(struct twiml *t, int rc)
{
    if (rc && !t->err)
        t->err = rc;
    return t->err;
}

/*
 * The declaration and the start of <Response> are written on first use
 * rather than in twiml_init, which keeps init free of allocation and so
 * unable to fail.
 */
static int begin(struct twiml *t)
{
    if (t->out.len)
        return 0;
    return buf_append(&t->out, xml_prolog, sizeof(xml_prolog) - 1);
}

static const struct twiml_el *current(const struct twiml *t)
{
    return (const struct twiml_el *)(const void *)t->stack[t->depth - 1];
}

/* Ends the innermost start tag so that content can follow it. */
static int end_start_tag(struct twiml *t)
{
    if (!t->tag_open)
        return 0;
    t->tag_open = 0;
    return buf_putc(&t->out, '>');
}

static const struct twiml_el *find_child(const struct twiml_el *parent, const char *name)
{
    int i;

    for (i = 0; i < EL_COUNT; i++) {
        if ((parent->children & BIT(i)) && strcmp(elements[i].name, name) == 0)
            return &elements[i];
    }
    return NULL;
}

static int has_attr(const struct twiml_el *el, const char *name)
{
    const char *const *a;

    for (a = el->attrs; a && *a; a++) {
        if (strcmp(*a, name) == 0)
            return 1;
    }
    return 0;
}

/*
 * Checks every name in `attrs` against the element and collects the pairs
 * that have a value into `pairs` (name, value, name, value, ...), sorted by
 * name in byte order as twilio-python sorts its keys. Insertion sort is the
 * right tool for a couple of dozen entries at most. A repeated name is an
 * error: the helper libraries take attributes as keyword arguments, which
 * cannot repeat.
 */
static int collect_attrs(const struct twiml_el *el, const char *const *attrs, const char **pairs,
                         size_t *count)
{
    size_t n = 0, i, j;
    int cmp;

    for (i = 0; attrs && attrs[i]; i += 2) {
        const char *name = attrs[i];
        const char *value = attrs[i + 1];

        if (!has_attr(el, name))
            return SB_EINVAL;
        for (j = 0; j < i; j += 2) {
            if (strcmp(attrs[j], name) == 0)
                return SB_EINVAL;
        }
        if (!value)
            continue;
        if (n == TWIML_MAX_ATTRS)
            return SB_ETOOBIG;
        j = n;
        while (j > 0) {
            cmp = strcmp(pairs[2 * (j - 1)], name);
            if (cmp < 0)
                break;
            pairs[2 * j] = pairs[2 * (j - 1)];
            pairs[2 * j + 1] = pairs[2 * (j - 1) + 1];
            j--;
        }
        pairs[2 * j] = name;
        pairs[2 * j + 1] = value;
        n++;
    }
    *count = n;
    return 0;
}

int twiml_open(struct twiml *t, const char *name, const char *const *attrs)
{
    const char *pairs[2 * TWIML_MAX_ATTRS];
    const struct twiml_el *el;
    size_t n = 0, i;
    int rc;

    if (t->err)
        return t->err;
    if (!name)
        return fail(t, SB_EINVAL);
    el = find_child(current(t), name);
    if (!el)
        return fail(t, SB_EINVAL);
    if (t->depth >= TWIML_MAX_DEPTH)
        return fail(t, SB_ETOOBIG);
    rc = collect_attrs(el, attrs, pairs, &n);
    if (rc)
        return fail(t, rc);
    rc = begin(t);
    if (!rc)
        rc = end_start_tag(t);
    if (!rc)
        rc = buf_putc(&t->out, '<');
    if (!rc)
        rc = buf_puts(&t->out, el->name);
    for (i = 0; i < n && !rc; i++) {
        rc = buf_putc(&t->out, ' ');
        if (!rc)
            rc = buf_puts(&t->out, pairs[2 * i]);
        if (!rc)
            rc = buf_append(&t->out, "=\"", 2);
        if (!rc)
            rc = escape(&t->out, pairs[2 * i + 1], 1);
        if (!rc)
            rc = buf_putc(&t->out, '"');
    }
    if (rc)
        return fail(t, rc);
    t->stack[t->depth++] = el->name;
    t->tag_open = 1;
    return 0;
}

int twiml_text(struct twiml *t, const char *text)
{
    int rc;

    if (t->err)
        return t->err;
    if (!text)
        return fail(t, SB_EINVAL);
    /* ElementTree treats empty text as no text, so `<Say />` stays short. */
    if (!*text)
        return 0;
    if (!current(t)->text)
        return fail(t, SB_EINVAL);
    rc = begin(t);
    if (!rc)
        rc = end_start_tag(t);
    if (!rc)
        rc = escape(&t->out, text, 0);
    return fail(t, rc);
}

/* Writes the end of the innermost element, whichever form it needs. */
static int close_one(struct twiml *t)
{
    const char *name = t->stack[t->depth - 1];
    int rc;

    rc = begin(t);
    if (rc)
        return rc;
    if (t->tag_open) {
        rc = buf_append(&t->out, " />", 3);
    } else {
        rc = buf_append(&t->out, "</", 2);
        if (!rc)
            rc = buf_puts(&t->out, name);
        if (!rc)
            rc = buf_putc(&t->out, '>');
    }
    if (rc)
        return rc;
    t->depth--;
    t->tag_open = 0;
    return 0;
}

int twiml_close(struct twiml *t)
{
    if (t->err)
        return t->err;
    /* <Response> is closed by twiml_finish alone, so nothing can follow it. */
    if (t->depth <= 1)
        return fail(t, SB_EINVAL);
    return fail(t, close_one(t));
}

int twiml_leaf(struct twiml *t, const char *name, const char *const *attrs, const char *text)
{
    int rc = twiml_open(t, name, attrs);

    if (!rc && text)
        rc = twiml_text(t, text);
    if (!rc)
        rc = twiml_close(t);
    return rc;
}

int twiml_finish(struct twiml *t, char **out, size_t *len)
{
    char *doc;
    size_t n = 0;
    int rc = t->err;

    while (!rc && t->depth > 0)
        rc = close_one(t);
    if (rc)
        goto out;
    doc = buf_detach(&t->out, &n);
    if (!doc) {
        rc = SB_ENOMEM;
        goto out;
    }
    *out = doc;
    *len = n;
out:
    twiml_release(t);
    return rc;
}

void twiml_release(struct twiml *t)
{
    buf_release(&t->out);
    t->depth = 0;
    t->tag_open = 0;
    /* A released builder refuses further use until twiml_init. */
    t->err = SB_ECLOSED;
}

/*
 * Finds the descriptor of `name` inside `parent`. Several descriptors can
 * share a parent's name (<Sip> under <Dial> and under <Refer>), so every
 * element of that name is asked; the first one that allows the child wins.
 */
static const struct twiml_el *schema_find(const char *parent, const char *name)
{
    const struct twiml_el *el = NULL;
    int i;

    if (!name)
        return NULL;
    if (!parent)
        return strcmp(name, elements[EL_RESPONSE].name) == 0 ? &elements[EL_RESPONSE] : NULL;
    for (i = 0; i < EL_COUNT && !el; i++) {
        if (strcmp(elements[i].name, parent) == 0)
            el = find_child(&elements[i], name);
    }
    return el;
}

int twiml_schema_element(const char *parent, const char *name)
{
    return schema_find(parent, name) != NULL;
}

int twiml_schema_attr(const char *parent, const char *name, const char *attr)
{
    const struct twiml_el *el = schema_find(parent, name);

    return el && attr && has_attr(el, attr);
}

int twiml_schema_text(const char *parent, const char *name)
{
    const struct twiml_el *el = schema_find(parent, name);

    return el && el->text;
}

/* ASCII-only, so that the answer does not depend on the locale. */
static int equal_ignoring_case(const char *a, const char *b)
{
    unsigned char ca, cb;

    for (;; a++, b++) {
        ca = (unsigned char)*a;
        cb = (unsigned char)*b;
        if (ca >= 'A' && ca <= 'Z')
            ca = (unsigned char)(ca - 'A' + 'a');
        if (cb >= 'A' && cb <= 'Z')
            cb = (unsigned char)(cb - 'A' + 'a');
        if (ca != cb)
            return 0;
        if (ca == '\0')
            return 1;
    }
}

const char *twiml_schema_suggest(const char *parent, const char *name)
{
    int i, j;

    if (!name)
        return NULL;
    if (!parent)
        return equal_ignoring_case(name, elements[EL_RESPONSE].name) ? elements[EL_RESPONSE].name
                                                                     : NULL;
    for (i = 0; i < EL_COUNT; i++) {
        if (strcmp(elements[i].name, parent) != 0)
            continue;
        for (j = 0; j < EL_COUNT; j++) {
            if ((elements[i].children & BIT(j)) && equal_ignoring_case(elements[j].name, name))
                return elements[j].name;
        }
    }
    return NULL;
}
