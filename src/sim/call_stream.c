/*
 * <Connect><Stream> and <Start><Stream> in a simulated call. A bidirectional
 * stream runs in the calling thread until the server closes it (the call
 * then goes on with <Connect action>) or the caller hangs up; the caller's
 * side comes from the script's stream actions (say, play, press, wait,
 * noise, listen, hangup). A unidirectional stream runs in a background thread,
 * sending the caller's silence, until the call ends.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/lang.h"
#include "sim/call_internal.h"
#include "sim/stream.h"
#include "core/banned.h"

#define MAX_STEPS 256

/* A <Start><Stream> running beside the call. */
struct background_stream {
    struct background_stream *next;
    pthread_t thread;
    atomic_int hangup;
    struct sim_stream_opts opts;
    struct sim_stream_result res;
    struct form custom;
    char *url;
};

/* Stream events go into the transcript at the call's clock plus the stream's own time. */
struct event_sink {
    struct call *c;
    double base_ms;
};

static void on_stream_event(void *arg, long ms, const char *event, const char *detail)
{
    struct event_sink *sink = arg;
    struct call *c = sink->c;
    double saved = c->clock_ms;
    json_t *ev;

    c->clock_ms = sink->base_ms + (double)ms;
    ev = call_event(c, "stream-event");
    c->clock_ms = saved;
    json_object_set_new(ev, "event", json_string(event));
    json_object_set_new(ev, "detail", json_string(detail ? detail : ""));
}

/*
 * The language the caller speaks in, from the stream's lang parameter: "es"
 * for Spanish ("es-MX"; espeak-ng speaks it), "en-us" for anything else
 * (flite speaks it; see sim_audio_tts).
 */
static const char *speech_lang(const struct form *custom)
{
    const char *lang = form_get(custom, "lang");

    if (lang_same_base(lang, "es"))
        return "es";
    return "en-us";
}

/*
 * Turns the script's next stream actions into steps. Stops at the first
 * action that belongs to TwiML (press is both: inside a stream it is DTMF).
 * Returns how many steps were written.
 */
static size_t script_steps(struct call *c, const char *lang, struct sim_stream_step *steps,
                           size_t max, int *hangs_up)
{
    size_t n = 0;
    const struct sim_action *a;

    *hangs_up = 0;
    while (c->o->script && n < max) {
        struct sim_stream_step *s = &steps[n];

        a = sim_script_peek(c->o->script);
        if (!a)
            break;
        memset(s, 0, sizeof(*s));
        switch (a->kind) {
        case SIM_SAY:
            s->kind = SIM_STEP_SAY_TEXT;
            s->text = a->text;
            s->lang = lang;
            break;
        case SIM_PLAY:
            s->kind = SIM_STEP_SAY_WAV;
            s->text = a->text;
            break;
        case SIM_PRESS:
            s->kind = SIM_STEP_DTMF;
            s->text = a->text;
            break;
        case SIM_WAIT:
            s->kind = SIM_STEP_SILENCE;
            s->ms = (int)(a->seconds * 1000);
            if (a->noise) {
                /* From the call's generator: --seed repeats the noise too. */
                s->kind = SIM_STEP_NOISE;
                s->ms = s->ms > 0 ? s->ms : 1;
                s->level_dbfs = a->level;
                s->seed = call_random(c);
            }
            break;
        case SIM_SILENCE:
            s->kind = SIM_STEP_SILENCE;
            s->ms = 1000;
            break;
        case SIM_LISTEN:
            s->kind = SIM_STEP_WAIT_REPLY;
            break;
        case SIM_HANGUP:
            s->kind = SIM_STEP_HANGUP;
            *hangs_up = 1;
            break;
        default:
            return n;
        }
        sim_script_take(c->o->script);
        n++;
        if (*hangs_up)
            break;
    }
    return n;
}

/* Fills the options shared by both kinds of stream. */
static int stream_opts(struct call *c, const struct sim_node *stream, struct form *custom,
                       char **url, struct sim_stream_opts *o)
{
    const char *ref = sim_node_attr(stream, "url");

    memset(o, 0, sizeof(*o));
    *url = ref ? sim_url_resolve(c->doc_url, ref) : NULL;
    if (ref && !*url && (strncmp(ref, "wss://", 6) == 0 || strncmp(ref, "ws://", 5) == 0))
        *url = strdup(ref);
    if (!*url)
        return call_fail(c, 31923, "<Stream> url '%s' is not a WebSocket URL", ref ? ref : ""),
               SB_EINVAL;
    for (size_t i = 0; i < stream->nchildren; i++) {
        const struct sim_node *p = &stream->children[i];

        if (strcmp(p->name, "Parameter") == 0 && sim_node_attr(p, "name") &&
            form_add(custom, sim_node_attr(p, "name"),
                     sim_node_attr(p, "value") ? sim_node_attr(p, "value") : "") != 0)
            return call_fail(c, 0, "out of memory reading the <Stream> parameters"), SB_ENOMEM;
    }
    o->url = *url;
    o->token = c->o->token;
    o->plain = c->o->stream_plain;
    o->account_sid = c->account_sid;
    o->call_sid = c->call_sid;
    o->custom = custom;
    o->max_ms = c->o->stream_max_ms;
    o->realtime = 1;
    return 0;
}

/* Adds the stream's outcome to the transcript. */
static void stream_summary(struct call *c, const char *url, const struct sim_stream_result *r)
{
    json_t *ev = call_event(c, "stream");
    json_t *gaps = json_array();
    json_t *v2v = json_array();

    for (size_t i = 0; i < r->nturns && i < SIM_STREAM_MAX_TURNS; i++) {
        json_array_append_new(gaps, json_integer(r->turn_gap_ms[i]));
        /* A turn the server never answered with voice has no latency. */
        json_array_append_new(v2v, r->voice_to_voice_ms[i] >= 0
                                       ? json_integer(r->voice_to_voice_ms[i])
                                       : json_null());
    }
    json_object_set_new(ev, "url", json_string(url));
    json_object_set_new(ev, "stream_sid", json_string(r->stream_sid));
    json_object_set_new(ev, "frames_sent", json_integer(r->frames_sent));
    json_object_set_new(ev, "frames_received", json_integer(r->frames_received));
    json_object_set_new(ev, "first_audio_ms", json_integer(r->first_audio_ms));
    json_object_set_new(ev, "turn_gaps_ms", gaps);
    json_object_set_new(ev, "voice_to_voice_ms", v2v);
    json_object_set_new(ev, "marks_echoed", json_integer(r->marks_echoed));
    json_object_set_new(ev, "clears", json_integer(r->clears));
    json_object_set_new(ev, "closed_by", json_string(r->closed_by_server ? "server" : "caller"));
    json_object_set_new(ev, "duration_ms", json_integer(r->duration_ms));
    json_object_set_new(ev, "close_code", json_integer(r->close_code));
    json_object_set_new(ev, "close_reason", json_string(r->close_reason));
    json_object_set_new(ev, "summary",
                        json_sprintf("%ld frames sent, %ld received, first audio after %ld ms, "
                                     "closed by %s",
                                     r->frames_sent, r->frames_received, r->first_audio_ms,
                                     r->closed_by_server ? "the server" : "the caller"));
}

static void run_bidirectional(struct call *c, const struct sim_node *stream)
{
    struct sim_stream_step steps[MAX_STEPS + 2];
    struct form custom = FORM_INIT;
    struct sim_stream_opts o;
    struct sim_stream_result r;
    struct event_sink sink = {c, c->clock_ms};
    char *url = NULL;
    int hangs_up = 0;
    size_t n;

    memset(&r, 0, sizeof(r));
    if (stream_opts(c, stream, &custom, &url, &o))
        goto out;
    n = script_steps(c, speech_lang(&custom), steps, MAX_STEPS, &hangs_up);
    if (!c->o->script) {
        /* No script: hear the greeting, then hang up. */
        memset(steps, 0, 2 * sizeof(steps[0]));
        steps[0].kind = SIM_STEP_WAIT_REPLY;
        steps[1].kind = SIM_STEP_HANGUP;
        n = 2;
        hangs_up = 1;
    }
    o.bidirectional = 1;
    o.steps = steps;
    o.nsteps = n;
    o.record_path = c->o->record_audio;
    o.on_event = on_stream_event;
    o.event_arg = &sink;
    sim_stream_run(&o, &r);
    c->clock_ms += (double)r.duration_ms;
    stream_summary(c, url, &r);
    if (!r.ok) {
        call_fail(c, r.error_code, "media stream %s: %s", url, r.error);
        goto out;
    }
    if (r.hung_up || (hangs_up && !r.closed_by_server))
        c->hung_up = 1;
out:
    form_release(&custom);
    free(url);
}

static void *background_main(void *arg)
{
    struct background_stream *b = arg;

    sim_stream_run(&b->opts, &b->res);
    return NULL;
}

static void start_background(struct call *c, const struct sim_node *stream)
{
    struct background_stream *b = calloc(1, sizeof(*b));

    if (!b) {
        call_fail(c, 0, "out of memory");
        return;
    }
    if (stream_opts(c, stream, &b->custom, &b->url, &b->opts)) {
        form_release(&b->custom);
        free(b);
        return;
    }
    atomic_init(&b->hangup, 0);
    b->opts.bidirectional = 0;
    b->opts.hangup = &b->hangup;
    if (pthread_create(&b->thread, NULL, background_main, b) != 0) {
        call_fail(c, 0, "cannot start a thread for the stream");
        form_release(&b->custom);
        free(b->url);
        free(b);
        return;
    }
    b->next = c->streams;
    c->streams = b;
}

void call_stream(struct call *c, const struct sim_node *stream, int bidirectional)
{
    if (bidirectional)
        run_bidirectional(c, stream);
    else
        start_background(c, stream);
}

void call_streams_finish(struct call *c)
{
    struct background_stream *b = c->streams;

    while (b) {
        struct background_stream *next = b->next;

        atomic_store(&b->hangup, 1);
        pthread_join(b->thread, NULL);
        stream_summary(c, b->url, &b->res);
        if (!b->res.ok && !b->res.hung_up)
            call_fail(c, b->res.error_code, "media stream %s: %s", b->url, b->res.error);
        form_release(&b->custom);
        free(b->url);
        free(b);
        b = next;
    }
    c->streams = NULL;
}
