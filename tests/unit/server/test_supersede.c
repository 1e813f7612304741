/*
 * A stress of replies superseded while they are synthesized, on the path of
 * a Media Stream (server/stream.c): the session asks for each piece of a
 * reply through its io table, the piece is synthesized on the worker pool by
 * the isolated engine (flite and espeak-ng in child processes), the result
 * comes back to the thread that owns the session (here the test's main
 * thread, standing in for the event loop) and is handed over whole with
 * session_synthesized, as the server does, or in chunks as a streaming
 * engine delivers it; the paced audio goes out as media messages, and the
 * test echoes their marks as Twilio does.
 *
 * Six calls, half in English and half in Spanish, talk at once. The caller's
 * words (the recogniser's answer) come at random points of each reply: at
 * once, while its pieces are queued or being synthesized; once its first
 * audio came back; after some of its frames went out; or after it was all
 * heard; some of them right after a synthesizer child was killed. Words
 * while the agent talks cut its reply (`clear`: the piece playing and those
 * still queued, in a child or held) and a new reply follows; words while
 * nothing plays yet do not cut it, and the new reply follows it. Then, from
 * what each session sent:
 *   - after a `clear`, no audio and no mark of any piece asked before it;
 *   - between clears, the audio is the pieces' audio in the order asked
 *     (a prefix of it, when a clear cut it short);
 *   - the replies nothing superseded arrive whole, in order, and marked;
 *   - every synthesis gave speech (a killed child is restarted and the
 *     phrase retried), the pool keeps serving to the end, nothing leaks.
 * The random choices come from a seed printed first; SB_STRESS_SEED=N
 * replays them (the threads' timing still varies). Under AddressSanitizer
 * (the suite's ASan step) the children are sanitized too.
 *
 * The children are this test program itself: main() answers `__tts-worker`.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mulaw.h"
#include "core/phone.h"
#include "media/session.h"
#include "server/workers.h"
#include "speech/tts.h"

/*
 * The suite's ASan step builds with LeakSanitizer, but a leak reported when
 * the test's process exits does not fail the test: the test asks for the
 * check itself before it ends (0 without AddressSanitizer).
 */
#if defined(__SANITIZE_ADDRESS__)
#define SB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SB_ASAN 1
#endif
#endif
#ifdef SB_ASAN
#include <sanitizer/lsan_interface.h>
#define LEAKS() __lsan_do_recoverable_leak_check()
#else
#define LEAKS() 0
#endif

int main(int argc, char *argv[])
{
    struct criterion_test_set *tests;
    int result = 0;

    if (argc == 2 && strcmp(argv[1], TTS_WORKER_COMMAND) == 0)
        return tts_worker_main(NULL);
    tests = criterion_initialize();
    if (criterion_handle_args(argc, argv, true))
        result = !criterion_run_all_tests(tests);
    criterion_finalize(tests);
    return result;
}

#define CALLS 6       /* half English, half Spanish */
#define TURNS 7       /* caller turns per call, after the greeting */
#define KILLS 4       /* synthesizer children killed during the run */
#define MAX_IDS 128   /* utterances one call asks at most */
#define STEP_US 40000 /* virtual time per pass of the loop */
#define MAX_PASSES 20000
#define F PHONE_FRAME_BYTES

static const char *const english[] = {
    "Thanks for calling Acme.",
    "We are open Monday to Friday, from nine in the morning to five in the afternoon.",
    "What else can I do for you?",
    "Please hold while I connect you with a person.",
    "Your appointment is on Tuesday at ten.",
};
static const char *const spanish[] = {
    "Abrimos de lunes a viernes, de nueve de la mañana a cinco de la tarde. ¿En qué más puedo "
    "ayudarle?",
    "Gracias por llamar a Acme.",
    "¡Hola! Buenos días, señor Núñez. ¿Tiene reservas para el sábado?",
    "Lo siento, no hay nadie disponible. ¿En qué más puedo ayudarle?",
    "Pulse 1 para el horario, 0 para hablar con una persona.",
};
#define NPHRASES 5

/* Where the caller's next words come, in the reply being said. */
enum when {
    W_QUEUED,      /* at once: its pieces are queued or being synthesized */
    W_FIRST_AUDIO, /* once some of its audio came back */
    W_MID_PLAY,    /* after some of its frames went out */
    W_HEARD,       /* after it was all played and its mark echoed */
    W_COUNT,
};
static const char *const when_names[] = {"queued", "first audio", "mid play", "heard"};

/* A synthesis job: runs on a worker, comes back to the loop's list. */
struct job {
    struct job *next;
    struct call *call;
    unsigned id;
    char text[512];
    char lang[16];
    unsigned char *audio;
    size_t len;
    int rc;
    char err[128];
    int state; /* 0 queued, 1 in a child, 2 finished (atomic) */
};

/* What the test knows of one utterance of a call. */
struct piece {
    int asked;
    int back; /* its result came back to the loop */
    int rc;
    unsigned char *audio; /* what the synthesis returned, in whole frames */
    size_t len;
    struct job *job; /* until it came back */
    int streaming;   /* its audio goes to the session in chunks, pass by pass */
    size_t given;    /* bytes of it given to the session so far */
    unsigned rng;
};

/* One message the session sent: a frame (its index), a clear, or a mark. */
enum out_kind { OUT_FRAME, OUT_CLEAR, OUT_MARK };
struct out {
    enum out_kind kind;
    unsigned val; /* frame index; for a clear, the newest id asked before it; mark id */
};

struct call {
    int index;
    unsigned rng;
    int said; /* pieces its agent said */
    struct session s;
    char stream_sid[SID_SIZE];
    char call_sid[SID_SIZE];
    const char *lang;
    struct piece pieces[MAX_IDS];
    unsigned max_asked;
    struct out *out;
    size_t nout, capout;
    unsigned char *frames;
    size_t nframes, capframes;
    unsigned owed[MAX_IDS]; /* marks to echo */
    size_t nowed;
    int closes;
    /* the driver */
    int turns_left;
    enum when when;
    int kill_first;      /* kill a child just before the words */
    long wait;           /* W_QUEUED: passes to wait; W_MID_PLAY: frames to wait for */
    unsigned reply_from; /* the first id of the reply being said, 0 before it asks any */
    size_t frames_at;    /* frames sent when the reply was asked */
    long cut_queued, cut_running, cut_back; /* pieces cut at each stage */
};

static struct {
    unsigned rng;
    struct workers *pool;
    struct tts tts;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *done;
    int serial;           /* numbers every piece's text, so that no two sound the same */
    struct call *opening; /* the call whose agent session_begin opens */
    long long now;
    int kills;
    long when_count[W_COUNT];
    unsigned seed;
} g;

/*
 * Random choices come from several streams, all from the seed: one per call
 * (where its words come, what its agent says), one per piece (whole or in
 * chunks, and their sizes), one for the rest; so a seed replays each call's
 * choices whatever the order the threads finish in.
 */
static unsigned rnd_from(unsigned *state, unsigned n)
{
    return (unsigned)rand_r(state) % n;
}

/* --- the worker pool's side -------------------------------------------------- */

static void job_run(void *arg)
{
    struct job *j = arg;
    size_t whole;

    __atomic_store_n(&j->state, 1, __ATOMIC_RELEASE);
    j->rc =
        tts_synth_mulaw(&g.tts, j->text, j->lang, NULL, &j->audio, &j->len, j->err, sizeof(j->err));
    /*
     * Whole frames, padded with silence: then the pacer never pads one, and
     * every frame the session sends is one frame of one piece, to be traced.
     */
    whole = (j->len + F - 1) / F * F;
    if (j->rc == 0 && whole > j->len) {
        unsigned char *a = realloc(j->audio, whole);

        if (a) {
            memset(a + j->len, MULAW_SILENCE, whole - j->len);
            j->audio = a;
            j->len = whole;
        } else {
            j->rc = SB_ENOMEM;
        }
    }
}

static void job_done(void *arg)
{
    struct job *j = arg;

    __atomic_store_n(&j->state, 2, __ATOMIC_RELEASE);
    pthread_mutex_lock(&g.lock);
    j->next = g.done;
    g.done = j;
    pthread_cond_signal(&g.cond);
    pthread_mutex_unlock(&g.lock);
}

/* --- the session's io ---------------------------------------------------------- */

static void out_push(struct call *c, enum out_kind kind, unsigned val)
{
    if (c->nout == c->capout) {
        c->capout = c->capout ? c->capout * 2 : 1024;
        c->out = realloc(c->out, c->capout * sizeof(*c->out));
        cr_assert_not_null(c->out);
    }
    c->out[c->nout++] = (struct out){kind, val};
}

/* The pieces a clear cuts (sent before the session drops them), by how far they had gone. */
static void count_cut(struct call *c)
{
    for (size_t i = 0; i < c->s.npieces; i++) {
        const struct piece *p = &c->pieces[c->s.pieces[i].id];

        if (p->back)
            c->cut_back++;
        else if (p->job && __atomic_load_n(&p->job->state, __ATOMIC_ACQUIRE) == 0)
            c->cut_queued++;
        else
            c->cut_running++;
    }
}

static int io_send(void *arg, const char *text, size_t len)
{
    struct call *c = arg;
    json_t *msg = json_loadb(text, len, 0, NULL);
    const char *event = json_string_value(json_object_get(msg, "event"));

    cr_assert_not_null(event, "%.*s", (int)len, text);
    cr_assert_str_eq(json_string_value(json_object_get(msg, "streamSid")), c->stream_sid);
    if (strcmp(event, "media") == 0) {
        const char *b64 =
            json_string_value(json_object_get(json_object_get(msg, "media"), "payload"));
        unsigned char frame[F + 3];

        cr_assert(b64 && strlen(b64) == (F + 2) / 3 * 4, "%.*s", (int)len, text);
        cr_assert_geq(EVP_DecodeBlock(frame, (const unsigned char *)b64, (int)strlen(b64)), F);
        if (c->nframes == c->capframes) {
            c->capframes = c->capframes ? c->capframes * 2 : 4096;
            c->frames = realloc(c->frames, c->capframes * F);
            cr_assert_not_null(c->frames);
        }
        memcpy(c->frames + c->nframes * F, frame, F);
        out_push(c, OUT_FRAME, (unsigned)c->nframes++);
    } else if (strcmp(event, "clear") == 0) {
        count_cut(c);
        out_push(c, OUT_CLEAR, c->max_asked);
    } else if (strcmp(event, "mark") == 0) {
        const char *name = json_string_value(json_object_get(json_object_get(msg, "mark"), "name"));
        unsigned id = 0;

        cr_assert(name && sscanf(name, "u%u", &id) == 1 && id > 0 && id < MAX_IDS, "%s", name);
        out_push(c, OUT_MARK, id);
        c->owed[c->nowed++] = id;
    } else {
        cr_assert_fail("unexpected message %.*s", (int)len, text);
    }
    json_decref(msg);
    return 0;
}

static void io_close(void *arg, int code, const char *reason)
{
    struct call *c = arg;

    c->closes++;
    fprintf(stderr, "supersede: call %d closed: %d %s\n", c->index, code, reason);
}

static int io_synthesize(void *arg, unsigned id, const char *text, const char *lang,
                         const char *voice)
{
    struct call *c = arg;
    struct piece *p;
    struct job *j;
    int rc;

    (void)voice;
    cr_assert(id > c->max_asked && id < MAX_IDS, "utterance %u after %u", id, c->max_asked);
    p = &c->pieces[id];
    j = calloc(1, sizeof(*j));
    cr_assert_not_null(j);
    j->call = c;
    j->id = id;
    snprintf(j->text, sizeof(j->text), "%s", text);
    snprintf(j->lang, sizeof(j->lang), "%s", lang);
    p->asked = 1;
    p->job = j;
    c->max_asked = id;
    if (!c->reply_from) {
        c->reply_from = id;
        c->frames_at = c->nframes;
    }
    rc = workers_submit(g.pool, job_run, job_done, j);
    if (rc) {
        /* As the server does: the piece is skipped (the session ends it). */
        p->job = NULL;
        p->back = 1;
        p->rc = rc;
        free(j);
    }
    return rc;
}

/* --- the agent: each reply is a few numbered sentences ------------------------- */

struct stress_agent {
    struct agent_sink sink;
    struct call *call;
};

static void agent_say(struct stress_agent *a, int pieces)
{
    const char *const *phrases = strncmp(a->call->lang, "es", 2) == 0 ? spanish : english;
    struct agent_event ev = {AGENT_EV_TEXT, NULL, AGENT_CONTINUE, NULL};
    char text[512];

    a->call->reply_from = 0;
    for (int i = 0; i < pieces; i++) {
        /* The number first: a piece differs from every other from its first words. */
        g.serial++;
        snprintf(text, sizeof(text), "%d. %s", ++a->call->said,
                 phrases[rnd_from(&a->call->rng, NPHRASES)]);
        ev.text = text;
        a->sink.emit(a->sink.arg, &ev);
    }
    ev = (struct agent_event){AGENT_EV_END, NULL, AGENT_CONTINUE, NULL};
    a->sink.emit(a->sink.arg, &ev);
}

static int agent_open(void **out, const struct agent_call *call, const struct agent_sink *sink,
                      const struct agent_env *env)
{
    struct stress_agent *a = calloc(1, sizeof(*a));

    (void)call;
    (void)env;
    if (!a)
        return SB_ENOMEM;
    a->sink = *sink;
    a->call = g.opening;
    *out = a;
    return 0;
}

static void agent_start(void *agent)
{
    struct stress_agent *a = agent;

    agent_say(a, 1 + (int)rnd_from(&a->call->rng, 2));
}

static void agent_turn(void *agent, const struct agent_turn *turn)
{
    struct stress_agent *a = agent;

    (void)turn;
    agent_say(a, 2 + (int)rnd_from(&a->call->rng, 3));
}

static void agent_interrupt(void *agent, long heard_ms, const char *heard)
{
    (void)agent;
    (void)heard_ms;
    (void)heard;
}

static void agent_close(void *agent)
{
    free(agent);
}

static const struct agent_ops stress_ops = {
    "stress", agent_open, agent_start, agent_turn, agent_interrupt,
    NULL,     NULL,       agent_close, NULL,       NULL,
};

static void io_started(void *arg, struct session *s, const struct media_event *start)
{
    struct call *c = arg;
    struct agent_call call = {c->call_sid, "acme", c->lang, NULL, 0, NULL};

    (void)start;
    g.opening = c;
    session_begin(s, &stress_ops, &call, NULL, NULL, g.now);
    g.opening = NULL;
}

/* Never called: no caller audio is sent, the recogniser's answers are given directly. */
static int io_recognize(void *arg, unsigned id, unsigned char *mulaw, size_t len, const char *lang)
{
    (void)arg;
    (void)id;
    (void)len;
    (void)lang;
    free(mulaw);
    return SB_EIO;
}

/* --- the loop ----------------------------------------------------------------------- */

static void feed(struct call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void feed(struct call *c, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    cr_assert(n > 0 && (size_t)n < sizeof(text));
    cr_assert_eq(session_message(&c->s, text, (size_t)n, g.now), 0, "%s", c->s.reason);
}

static void call_open(struct call *c, int index)
{
    static const struct session_io io = {NULL,       io_send,      io_close, io_synthesize,
                                         io_started, io_recognize, NULL,     NULL};
    struct session_io mine = io;

    c->index = index;
    c->lang = index % 2 ? "es-MX" : "en-US";
    snprintf(c->stream_sid, sizeof(c->stream_sid), "MZ%032x", 0x5000u + (unsigned)index);
    snprintf(c->call_sid, sizeof(c->call_sid), "CA%032x", 0x5000u + (unsigned)index);
    c->turns_left = TURNS;
    c->rng = g.seed ^ ((unsigned)index + 1) * 2654435761u;
    mine.arg = c;
    session_init(&c->s, &mine, NULL, g.now);
    feed(c, "{\"event\":\"connected\",\"protocol\":\"Call\",\"version\":\"1.0.0\"}");
    feed(c,
         "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{\"accountSid\":\"AC%032x\","
         "\"streamSid\":\"%s\",\"callSid\":\"%s\",\"tracks\":[\"inbound\"],\"mediaFormat\":"
         "{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":8000,\"channels\":1}},"
         "\"streamSid\":\"%s\"}",
         1u, c->stream_sid, c->call_sid, c->stream_sid);
    cr_assert_eq(c->s.agent_started, 1);
}

/* Picks where the caller's next words come in the reply just asked. */
static void plan_turn(struct call *c)
{
    static const enum when weighted[] = {W_QUEUED,      W_QUEUED,   W_FIRST_AUDIO, W_FIRST_AUDIO,
                                         W_FIRST_AUDIO, W_MID_PLAY, W_MID_PLAY,    W_HEARD};

    c->when = weighted[rnd_from(&c->rng, sizeof(weighted) / sizeof(weighted[0]))];
    c->kill_first = rnd_from(&c->rng, 4) == 0;
    c->wait = c->when == W_QUEUED     ? (long)rnd_from(&c->rng, 3)
              : c->when == W_MID_PLAY ? 1 + (long)rnd_from(&c->rng, 120)
                                      : 0;
}

static int reply_has_audio(const struct call *c)
{
    for (unsigned id = c->reply_from; c->reply_from && id <= c->max_asked; id++) {
        if (c->pieces[id].given)
            return 1;
    }
    return 0;
}

static int idle(const struct call *c)
{
    return c->s.npieces == 0 && pacer_idle(&c->s.pacer) && c->s.playing == 0 && c->nowed == 0;
}

static int turn_due(struct call *c)
{
    switch (c->when) {
    case W_QUEUED:
        return c->wait-- <= 0;
    case W_FIRST_AUDIO:
        return reply_has_audio(c) || idle(c);
    case W_MID_PLAY:
        return (long)(c->nframes - c->frames_at) >= c->wait || idle(c);
    default:
        return idle(c);
    }
}

static void kill_a_child(void)
{
    int pids[TTS_ISOLATED_MAX_WORKERS] = {0};
    size_t n = tts_isolated_pids(&g.tts, pids, TTS_ISOLATED_MAX_WORKERS);
    size_t slot = n ? rnd_from(&g.rng, (unsigned)n) : 0;

    if (g.kills < KILLS && n && pids[slot] > 0 && kill(pids[slot], SIGKILL) == 0)
        g.kills++;
}

/* The caller's words: a new reply, cutting the one being said if the agent talks. */
static void caller_words(struct call *c)
{
    static const char *const words_en = "what are your hours";
    static const char *const words_es = "cuál es el horario";

    if (c->kill_first)
        kill_a_child();
    g.when_count[c->when]++;
    c->turns_left--;
    session_transcript(&c->s, c->s.listen_id, SESSION_HEARD_WORDS,
                       c->lang[0] == 'e' && c->lang[1] == 's' ? words_es : words_en, g.now);
    if (c->turns_left > 0)
        plan_turn(c);
}

/* The results that came back, handed to their sessions as server/stream.c does. */
static int drain(int wait_ms)
{
    struct job *list;
    int n = 0;

    pthread_mutex_lock(&g.lock);
    if (!g.done && wait_ms > 0) {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += wait_ms * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g.cond, &g.lock, &until);
    }
    list = g.done;
    g.done = NULL;
    pthread_mutex_unlock(&g.lock);
    while (list) {
        struct job *j = list;
        struct call *c = j->call;
        struct piece *p = &c->pieces[j->id];

        list = j->next;
        cr_expect_eq(j->rc, 0, "call %d utterance %u: %s", c->index, j->id, j->err);
        cr_expect_gt(j->len, 0, "call %d utterance %u: no audio", c->index, j->id);
        p->back = 1;
        p->rc = j->rc;
        p->audio = j->audio;
        p->len = j->rc ? 0 : j->len;
        p->job = NULL;
        /* Whole, as the server hands over a job; or in chunks, as a streaming engine. */
        p->rng = g.seed ^ ((unsigned)c->index * 7919u + j->id) * 2654435761u;
        if (j->rc == 0 && rnd_from(&p->rng, 2)) {
            p->streaming = 1;
        } else {
            session_synthesized(&c->s, j->id, j->rc, j->audio, j->len, g.now);
            p->given = p->len;
        }
        free(j);
        n++;
    }
    return n;
}

/* The next chunk of each streamed piece (of 1 to 20 frames), and its end after the last. */
static void stream_chunks(struct call *c)
{
    for (unsigned id = 1; id <= c->max_asked; id++) {
        struct piece *p = &c->pieces[id];
        size_t n;

        if (!p->streaming || p->given > p->len)
            continue;
        n = (1 + rnd_from(&p->rng, 20)) * F;
        if (n > p->len - p->given)
            n = p->len - p->given;
        if (n)
            session_audio(&c->s, id, p->audio + p->given, n, g.now);
        p->given += n;
        if (p->given == p->len) {
            session_audio_end(&c->s, id, g.now);
            p->given++; /* ended */
        }
    }
}

static int all_given(const struct call *c)
{
    for (unsigned id = 1; id <= c->max_asked; id++) {
        if (c->pieces[id].streaming && c->pieces[id].given <= c->pieces[id].len)
            return 0;
    }
    return 1;
}

/* Every piece asked came back and was given to the session. */
static int all_back(const struct call *c)
{
    for (unsigned id = 1; id <= c->max_asked; id++) {
        if (c->pieces[id].asked && !c->pieces[id].back)
            return 0;
    }
    return all_given(c);
}

/* One pass: results in, frames out, marks echoed, the callers' words when due. */
static void pass(struct call *calls, int talk)
{
    drain(1);
    for (int i = 0; i < CALLS; i++) {
        struct call *c = &calls[i];
        size_t owed;

        stream_chunks(c);
        session_tick(&c->s, g.now);
        owed = c->nowed;
        /* Twilio echoes each mark once it played the audio before it. */
        c->nowed = 0;
        for (size_t k = 0; k < owed; k++)
            feed(c,
                 "{\"event\":\"mark\",\"sequenceNumber\":\"9\",\"streamSid\":\"%s\","
                 "\"mark\":{\"name\":\"u%u\"}}",
                 c->stream_sid, c->owed[k]);
        if (talk && c->turns_left > 0 && turn_due(c))
            caller_words(c);
    }
    g.now += STEP_US;
}

/* --- the checks ------------------------------------------------------------------------ */

/*
 * What call `c` sent, run by run (a run ends at a clear): the frames of a
 * run are the audio of the pieces asked since the previous clear, in order;
 * cut short only by the clear that ends it; no mark of a piece asked before
 * the previous clear. The last run is played whole and marked.
 */
static void check_call(const struct call *c)
{
    unsigned from = 1; /* the first id the run may play */
    size_t i = 0;

    while (i <= c->nout) {
        size_t end = i;
        unsigned upto;
        int last;
        unsigned id;
        size_t off = 0, frames = 0;
        unsigned marked = 0;

        while (end < c->nout && c->out[end].kind != OUT_CLEAR)
            end++;
        last = end == c->nout;
        upto = last ? c->max_asked : c->out[end].val;
        /* Walk the run's frames along the pieces from..upto that have audio. */
        id = from;
        for (size_t k = i; k < end; k++) {
            const struct out *o = &c->out[k];

            if (o->kind == OUT_MARK) {
                cr_assert(
                    o->val >= from && o->val <= upto,
                    "seed %u, call %d: mark u%u after a clear that cut every utterance up to u%u",
                    g.seed, c->index, o->val, from - 1);
                cr_assert_gt(o->val, marked, "seed %u, call %d: mark u%u after u%u", g.seed,
                             c->index, o->val, marked);
                marked = o->val;
                continue;
            }
            while (id <= upto && (!c->pieces[id].asked || off >= c->pieces[id].len)) {
                id++;
                off = 0;
            }
            cr_assert(
                id <= upto,
                "seed %u, call %d: frame %u is more audio than utterances u%u..u%u have (stale "
                "audio of a superseded reply?)",
                g.seed, c->index, o->val, from, upto);
            cr_assert(
                memcmp(c->frames + (size_t)o->val * F, c->pieces[id].audio + off, F) == 0,
                "seed %u, call %d: frame %u is not frame %zu of u%u (the utterances since the last "
                "clear are u%u..u%u)",
                g.seed, c->index, o->val, off / F, id, from, upto);
            off += F;
            frames++;
        }
        if (last) {
            size_t want = 0;
            unsigned tail = 0; /* the last utterance with audio */

            for (unsigned k = from; k <= upto; k++) {
                want += c->pieces[k].asked ? c->pieces[k].len / F : 0;
                if (c->pieces[k].asked && c->pieces[k].len)
                    tail = k;
            }
            cr_assert_eq(frames, want, "seed %u, call %d: %zu frames of u%u..u%u, want %zu", g.seed,
                         c->index, frames, from, upto, want);
            cr_assert_eq(marked, tail, "seed %u, call %d: last mark u%u, want u%u", g.seed,
                         c->index, marked, tail);
            break;
        }
        from = upto + 1;
        i = end + 1;
    }
}

static void call_release(struct call *c)
{
    session_release(&c->s);
    for (unsigned id = 0; id < MAX_IDS; id++)
        free(c->pieces[id].audio);
    free(c->out);
    free(c->frames);
}

Test(supersede, replies_cut_at_random_points_while_children_are_killed, .timeout = 180)
{
    static struct call calls[CALLS];
    const char *seed_env = getenv("SB_STRESS_SEED");
    unsigned seed = seed_env ? (unsigned)strtoul(seed_env, NULL, 10) : (unsigned)time(NULL);
    long clears = 0, frames = 0, cut_queued = 0, cut_running = 0, cut_back = 0;
    char err[256] = "";
    int passes = 0, done = 0;

    fprintf(stderr, "supersede: seed %u (SB_STRESS_SEED=%u replays its choices)\n", seed, seed);
    log_set_level(LOG_WARN);
    memset(&g, 0, sizeof(g));
    memset(calls, 0, sizeof(calls));
    g.rng = seed;
    g.seed = seed;
    g.now = 1000000;
    pthread_mutex_init(&g.lock, NULL);
    pthread_cond_init(&g.cond, NULL);
    /* Criterion's sandbox finds this test's process through it: a child must not see it. */
    unsetenv("BXFI_MAP");
    {
        static const char *const argv[] = {"/proc/self/exe", TTS_WORKER_COMMAND, NULL};

        cr_assert_eq(tts_isolated_init(&g.tts, argv, 2, 0, err, sizeof(err)), 0, "%s", err);
    }
    cr_assert_eq(workers_start(&g.pool, 2, 256), 0);

    for (int i = 0; i < CALLS; i++) {
        call_open(&calls[i], i);
        plan_turn(&calls[i]);
    }
    calls[0].kill_first = 1; /* at least one kill, whatever the seed */
    /* The callers talk until each has had its turns... */
    while (passes++ < MAX_PASSES) {
        int talking = 0;

        pass(calls, 1);
        for (int i = 0; i < CALLS; i++)
            talking |= calls[i].turns_left > 0;
        if (!talking)
            break;
    }
    /* ...then listen to the last replies to the end. */
    while (passes++ < MAX_PASSES && !done) {
        pass(calls, 0);
        done = 1;
        for (int i = 0; i < CALLS; i++)
            done &= all_back(&calls[i]) && idle(&calls[i]);
    }
    for (int i = 0; !done && i < CALLS; i++)
        fprintf(stderr, "supersede: call %d: all back %d, %zu pieces, pacer idle %d, playing u%u\n",
                i, all_back(&calls[i]), calls[i].s.npieces, pacer_idle(&calls[i].s.pacer),
                calls[i].s.playing);
    cr_assert(done, "seed %u: the calls did not finish within %d passes", seed, MAX_PASSES);

    for (int i = 0; i < CALLS; i++) {
        struct call *c = &calls[i];

        cr_assert_eq(c->closes, 0, "call %d closed", i);
        cr_assert_eq(c->turns_left, 0);
        check_call(c);
        clears += c->s.clears;
        frames += (long)c->nframes;
        cut_queued += c->cut_queued;
        cut_running += c->cut_running;
        cut_back += c->cut_back;
    }
    fprintf(stderr,
            "supersede: %d calls, %d syntheses; %ld clears cut %ld pieces queued, %ld being "
            "synthesized, %ld back and held; %ld frames; %d children killed; words at: %s %ld, "
            "%s %ld, %s %ld, %s %ld\n",
            CALLS, g.serial, clears, cut_queued, cut_running, cut_back, frames, g.kills,
            when_names[0], g.when_count[0], when_names[1], g.when_count[1], when_names[2],
            g.when_count[2], when_names[3], g.when_count[3]);
    cr_assert_gt(clears, 0, "no reply was superseded");
    cr_assert_gt(g.kills, 0, "no child was killed");

    /* The pool and the engine still serve, in both languages. */
    for (int i = 0; i < 2; i++) {
        struct call *c = &calls[i];

        c->turns_left = 1;
        c->when = W_HEARD;
        c->kill_first = 0;
        caller_words(c);
    }
    for (done = 0, passes = 0; passes++ < MAX_PASSES && !done;) {
        pass(calls, 0);
        done = all_back(&calls[0]) && idle(&calls[0]) && all_back(&calls[1]) && idle(&calls[1]);
    }
    cr_assert(done, "seed %u: the pool stopped serving", seed);
    check_call(&calls[0]);
    check_call(&calls[1]);

    workers_stop(g.pool);
    drain(0);
    for (int i = 0; i < CALLS; i++)
        call_release(&calls[i]);
    /* Nothing the calls held stays reachable: LeakSanitizer sees what was not freed. */
    memset(calls, 0, sizeof(calls));
    g.pool = NULL;
    tts_release(&g.tts);
    cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "a child was left behind");
    pthread_cond_destroy(&g.cond);
    pthread_mutex_destroy(&g.lock);
    cr_assert_eq(LEAKS(), 0, "seed %u: leaks (LeakSanitizer's report is above)", seed);
}
