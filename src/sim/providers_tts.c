/*
 * switchboard sim providers: the streaming synthesis stand-ins, ElevenLabs'
 * stream-input and Cartesia's /tts/websocket. Text is gathered until a
 * sentence is complete (or flushed, or the input ends), then spoken by
 * espeak-ng (or answered with the --replay-audio clip) on a worker thread,
 * one synthesis at a time per socket, and sent back as base64 µ-law in
 * 100 ms messages, in order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mulaw.h"
#include "sim/audio.h"
#include "sim/providers.h"
#include "sim/providers_internal.h"
#include "core/banned.h"

/* Cartesia contexts open at once on one socket, at most. */
#define CA_MAX_CONTEXTS 64
/* Texts waiting for synthesis on one socket, at most. */
#define MAX_WAITING 1000

/* Text to speak, or (text NULL) a message to send once what is before it went. */
struct tts_work {
    struct tts_work *next;
    char *text;
    unsigned tag; /* Cartesia: the context's serial */
    char ctx[SIM_PROVIDERS_CONTEXT_MAX + 1];
    char lang[36];
    int flush_id; /* Cartesia: the chunks' flush_id, or the flush_done's */
    int marker;   /* text NULL: MARK_FLUSH_DONE or MARK_DONE */
};

enum { MARK_NONE, MARK_FLUSH_DONE, MARK_DONE };

/* The synthesis queue of a socket. */
struct tts_queue {
    struct tts_work *head, *tail;
    size_t count;
    int inflight;           /* a job is with the workers */
    unsigned long job;      /* its number */
    struct tts_work *doing; /* what it speaks (owned) */
    int cancelled;          /* its context was cancelled: its audio is dropped */
    unsigned long next_job;
};

static void work_free(struct tts_work *w)
{
    if (w) {
        free(w->text);
        free(w);
    }
}

static void queue_release(struct tts_queue *q)
{
    while (q->head) {
        struct tts_work *w = q->head;

        q->head = w->next;
        work_free(w);
    }
    q->tail = NULL;
    q->count = 0;
    work_free(q->doing);
    q->doing = NULL;
}

/* Appends text (copied; skipped when it is only spaces) or a marker. Returns 0 or -1. */
static int enqueue(struct prov_conn *c, struct tts_queue *q, const char *text, size_t len,
                   unsigned tag, const char *ctx, const char *lang, int flush_id, int marker)
{
    struct tts_work *w;
    size_t i = 0;

    if (text) {
        while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r'))
            i++;
        if (i == len)
            return 0;
    }
    if (q->count >= MAX_WAITING || !(w = calloc(1, sizeof(*w)))) {
        prov_close(c, 1011, "too much text waiting");
        return -1;
    }
    if (text) {
        w->text = malloc(len - i + 1);
        if (!w->text) {
            free(w);
            prov_close(c, 1011, "out of memory");
            return -1;
        }
        memcpy(w->text, text + i, len - i);
        w->text[len - i] = '\0';
    }
    w->tag = tag;
    snprintf(w->ctx, sizeof(w->ctx), "%s", ctx ? ctx : "");
    snprintf(w->lang, sizeof(w->lang), "%s", lang && *lang ? lang : "en-US");
    w->flush_id = flush_id;
    w->marker = marker;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    q->count++;
    return 0;
}

/* Hands the next text to the workers. Returns the marker at the head (popped), or MARK_NONE. */
static struct tts_work *next_work(struct prov_conn *c, struct tts_queue *q)
{
    while (!q->inflight && q->head && !c->closing) {
        struct tts_work *w = q->head;
        struct prov_job *j;

        q->head = w->next;
        if (!q->head)
            q->tail = NULL;
        q->count--;
        if (!w->text)
            return w;
        j = prov_job_new(c, PROV_JOB_SYNTHESIZE);
        if (!j) {
            work_free(w);
            prov_close(c, 1011, "out of memory");
            return NULL;
        }
        j->id = q->job = ++q->next_job;
        snprintf(j->lang, sizeof(j->lang), "%s", w->lang);
        j->text = w->text;
        w->text = NULL;
        q->doing = w;
        q->inflight = 1;
        q->cancelled = 0;
        if (prov_submit(c->srv, j) != 0)
            prov_close(c, 1011, "server is stopping");
    }
    return NULL;
}

/* The job's answer, if it is the one in flight: 1 (take its audio), 0 (ignore it). */
static int job_ends(struct prov_conn *c, struct tts_queue *q, const struct prov_job *j)
{
    if (!q->inflight || q->job != j->id)
        return 0;
    q->inflight = 0;
    log_event(LOG_INFO, "providers.synthesized", "conn=%llu chars=%zu bytes=%zu ms=%.0f rc=%d",
              c->id, j->text ? strlen(j->text) : 0, j->mulaw_len, j->ms, j->rc);
    if (j->rc) {
        prov_close(c, 1011, "synthesis failed");
        return 0;
    }
    return !q->cancelled;
}

/* --- ElevenLabs ----------------------------------------------------------------------------- */

struct prov_el {
    struct sim_providers_el_query q;
    char voice[72];
    int key_checked; /* the header carried the key, or none is needed */
    int started;     /* the first message came */
    int input_done;  /* {"text":""} came */
    int final_sent;
    struct buf text; /* received, not yet spoken */
    struct tts_queue work;
    long long last_text_us;
};

static char *el_piece(void *arg, const unsigned char *audio, size_t len)
{
    struct prov_conn *c = arg;

    return sim_providers_el_audio_json(audio, len, c->srv->o->garbage_audio);
}

static void el_pump(struct prov_conn *c)
{
    struct prov_el *e = c->el;
    struct tts_work *marker = next_work(c, &e->work);

    /* ElevenLabs' queue holds only text: no marker is ever queued. */
    work_free(marker);
    if (!c->closing && !e->work.inflight && !e->work.head && e->input_done && !e->final_sent) {
        e->final_sent = 1;
        if (prov_send(c, sim_providers_el_final_json(), 0, 0, 0) == 0)
            prov_close(c, 1000, "");
    }
}

int prov_el_open(struct prov_conn *c, const struct sim_providers_el_query *q, const char *voice,
                 int key_checked)
{
    struct prov_el *e = calloc(1, sizeof(*e));

    if (!e)
        return -1;
    e->q = *q;
    snprintf(e->voice, sizeof(e->voice), "%s", voice);
    e->key_checked = key_checked;
    buf_init(&e->text, SIM_PROVIDERS_MAX_PENDING_TEXT);
    e->last_text_us = clock_mono_us();
    c->el = e;
    log_event(LOG_INFO, "providers.open",
              "conn=%llu kind=elevenlabs voice=%s model=%s language=%s inactivity_timeout=%d",
              c->id, e->voice, q->model[0] ? q->model : "-", q->language[0] ? q->language : "en",
              q->inactivity_s);
    return 0;
}

void prov_el_free(struct prov_conn *c)
{
    struct prov_el *e = c->el;

    if (!e)
        return;
    queue_release(&e->work);
    buf_release(&e->text);
    free(e);
    c->el = NULL;
}

/* Queues the first `len` bytes of the text received for synthesis and keeps the rest. */
static int el_speak(struct prov_conn *c, size_t len)
{
    struct prov_el *e = c->el;
    int rc;

    if (len == 0)
        return 0;
    rc = enqueue(c, &e->work, e->text.data, len, 0, NULL, e->q.language, 0, MARK_NONE);
    memmove(e->text.data, e->text.data + len, e->text.len - len);
    e->text.len -= len;
    e->text.data[e->text.len] = '\0';
    return rc;
}

void prov_el_text(struct prov_conn *c, const char *text, size_t len)
{
    struct prov_el *e = c->el;
    const char *key = c->srv->o->api_key;
    struct sim_providers_el_message m;
    char err[200];
    int rc;

    if (e->input_done)
        return;
    rc = sim_providers_el_message_parse(&m, text, len, !e->started, err, sizeof(err));
    if (rc) {
        /* ElevenLabs refuses what it cannot take by closing with 1008 and the reason. */
        char shown[200];

        log_event(LOG_WARN, "providers.bad_message", "conn=%llu error=\"%s\"", c->id,
                  prov_loggable(err, shown, sizeof(shown)));
        prov_close(c, rc == SB_ENOMEM ? 1011 : 1008, err);
        return;
    }
    e->last_text_us = clock_mono_us();
    if (!e->started) {
        e->started = 1;
        if (!e->key_checked && !(m.key && sim_providers_key_matches(m.key, NULL, key))) {
            log_event(LOG_WARN, "providers.refused", "conn=%llu reason=\"invalid api key\"", c->id);
            prov_close(c, 1008, "Invalid API key");
        }
        sim_providers_el_message_release(&m);
        return;
    }
    if (m.text[0] == '\0') {
        e->input_done = 1;
        rc = el_speak(c, e->text.len);
    } else if (buf_puts(&e->text, m.text) != 0) {
        prov_close(c, 1009, "more than 65536 bytes of text wait to be spoken");
        rc = -1;
    } else {
        rc = el_speak(c, m.flush ? e->text.len
                                 : sim_providers_sentence_end(e->text.data, e->text.len));
    }
    sim_providers_el_message_release(&m);
    if (rc == 0)
        el_pump(c);
}

void prov_el_job_done(struct prov_conn *c, struct prov_job *j)
{
    struct prov_el *e = c->el;

    if (!job_ends(c, &e->work, j))
        return;
    work_free(e->work.doing);
    e->work.doing = NULL;
    if (prov_send_audio(c, j, 0, el_piece, c) == 0)
        el_pump(c);
}

void prov_el_tick(struct prov_conn *c, long long now)
{
    struct prov_el *e = c->el;
    char reason[100];

    if (e->input_done || now - e->last_text_us <= (long long)e->q.inactivity_s * 1000000)
        return;
    snprintf(reason, sizeof(reason), "no text input within the inactivity timeout of %d seconds",
             e->q.inactivity_s);
    prov_close(c, 1008, reason);
}

/* --- Cartesia ------------------------------------------------------------------------------- */

struct ca_context {
    int used;
    char id[SIM_PROVIDERS_CONTEXT_MAX + 1];
    unsigned serial; /* tags its work and messages */
    struct buf text; /* received, not yet spoken */
    int flushes;
    char lang[36];
};

/* A context whose input ended: its messages may still wait, and a cancel still stops them. */
struct ca_ended {
    char id[SIM_PROVIDERS_CONTEXT_MAX + 1];
    unsigned serial;
};

struct prov_ca {
    struct ca_context ctx[CA_MAX_CONTEXTS];
    struct ca_ended ended[CA_MAX_CONTEXTS]; /* a ring of the latest */
    size_t next_ended;
    unsigned next_serial;
    struct tts_queue work;
    /* the context of the chunks being sent: its id and flush_id */
    char doing_ctx[SIM_PROVIDERS_CONTEXT_MAX + 1];
    int doing_flush;
    double doing_step_ms;
};

static char *ca_piece(void *arg, const unsigned char *audio, size_t len)
{
    struct prov_conn *c = arg;
    struct prov_ca *a = c->ca;

    return sim_providers_ca_chunk_json(a->doing_ctx, audio, len, a->doing_step_ms, a->doing_flush,
                                       c->srv->o->garbage_audio);
}

static void ca_pump(struct prov_conn *c)
{
    struct prov_ca *a = c->ca;
    struct tts_work *m;

    while ((m = next_work(c, &a->work)) != NULL) {
        char *json = m->marker == MARK_DONE ? sim_providers_ca_done_json(m->ctx)
                                            : sim_providers_ca_flush_done_json(m->ctx, m->flush_id);

        (void)prov_send(c, json, 0, m->tag, 0);
        work_free(m);
    }
}

int prov_ca_open(struct prov_conn *c)
{
    struct prov_ca *a = calloc(1, sizeof(*a));

    if (!a)
        return -1;
    c->ca = a;
    log_event(LOG_INFO, "providers.open", "conn=%llu kind=cartesia", c->id);
    return 0;
}

static void ctx_end(struct ca_context *x)
{
    buf_release(&x->text);
    memset(x, 0, sizeof(*x));
}

void prov_ca_free(struct prov_conn *c)
{
    struct prov_ca *a = c->ca;

    if (!a)
        return;
    for (int i = 0; i < CA_MAX_CONTEXTS; i++)
        ctx_end(&a->ctx[i]);
    queue_release(&a->work);
    free(a);
    c->ca = NULL;
}

static struct ca_context *ctx_find(struct prov_ca *a, const char *id)
{
    for (int i = 0; i < CA_MAX_CONTEXTS; i++) {
        if (a->ctx[i].used && strcmp(a->ctx[i].id, id) == 0)
            return &a->ctx[i];
    }
    return NULL;
}

static void ca_error(struct prov_conn *c, const char *ctx, int status, const char *message)
{
    char shown[200];

    log_event(LOG_WARN, "providers.bad_message", "conn=%llu status=%d error=\"%s\"", c->id, status,
              prov_loggable(message, shown, sizeof(shown)));
    (void)prov_send(c,
                    sim_providers_ca_error_json(
                        ctx, status, status == 400 ? "Invalid request" : "Error", message),
                    0, 0, 0);
}

/* Drops a cancelled context's work, its queued messages and the audio being made for it. */
static void ca_cancel(struct prov_conn *c, const char *id)
{
    struct prov_ca *a = c->ca;
    struct ca_context *x = ctx_find(a, id);
    struct tts_work **pp = &a->work.head, *w;
    unsigned tag = 0;

    if (x) {
        tag = x->serial;
        ctx_end(x);
    } else {
        /* The latest context of that id whose input ended. */
        for (size_t i = 1; i <= CA_MAX_CONTEXTS && !tag; i++) {
            struct ca_ended *e = &a->ended[(a->next_ended + CA_MAX_CONTEXTS - i) % CA_MAX_CONTEXTS];

            if (e->serial && strcmp(e->id, id) == 0)
                tag = e->serial;
        }
        if (!tag)
            return;
    }
    a->work.tail = NULL;
    while ((w = *pp) != NULL) {
        if (w->tag == tag) {
            *pp = w->next;
            a->work.count--;
            work_free(w);
            continue;
        }
        a->work.tail = w;
        pp = &w->next;
    }
    if (a->work.inflight && a->work.doing && a->work.doing->tag == tag)
        a->work.cancelled = 1;
    prov_drop_tag(c, tag);
    log_event(LOG_INFO, "providers.cancelled", "conn=%llu", c->id);
}

/* Queues the context's first `len` bytes of text for synthesis and keeps the rest. */
static int ca_speak(struct prov_conn *c, struct ca_context *x, size_t len)
{
    int rc = enqueue(c, &c->ca->work, x->text.data, len, x->serial, x->id, x->lang, x->flushes + 1,
                     MARK_NONE);

    if (len) {
        memmove(x->text.data, x->text.data + len, x->text.len - len);
        x->text.len -= len;
        x->text.data[x->text.len] = '\0';
    }
    return rc;
}

void prov_ca_text(struct prov_conn *c, const char *text, size_t len)
{
    struct prov_ca *a = c->ca;
    struct sim_providers_ca_request r;
    struct ca_context *x;
    char err[300];
    int rc = sim_providers_ca_request_parse(&r, text, len, err, sizeof(err));

    if (rc) {
        ca_error(c, r.context_id, rc == SB_ENOMEM ? 500 : 400, err);
        sim_providers_ca_request_release(&r);
        return;
    }
    if (r.cancel) {
        ca_cancel(c, r.context_id);
        sim_providers_ca_request_release(&r);
        return;
    }
    if (r.language[0] && tts_espeak_language(r.language, err, sizeof(err)) != 0) {
        snprintf(err, sizeof(err), "language '%s' is not supported", r.language);
        ca_error(c, r.context_id, 400, err);
        sim_providers_ca_request_release(&r);
        return;
    }
    x = ctx_find(a, r.context_id);
    for (int i = 0; !x && i < CA_MAX_CONTEXTS; i++) {
        if (!a->ctx[i].used) {
            x = &a->ctx[i];
            x->used = 1;
            snprintf(x->id, sizeof(x->id), "%s", r.context_id);
            x->serial = ++a->next_serial;
            buf_init(&x->text, SIM_PROVIDERS_MAX_PENDING_TEXT);
        }
    }
    if (!x) {
        ca_error(c, r.context_id, 429, "too many contexts open on this socket (64)");
        sim_providers_ca_request_release(&r);
        return;
    }
    if (r.language[0])
        snprintf(x->lang, sizeof(x->lang), "%s", r.language);
    if (buf_puts(&x->text, r.transcript) != 0) {
        ca_error(c, r.context_id, 400, "more than 65536 bytes of text wait to be spoken");
        sim_providers_ca_request_release(&r);
        return;
    }
    rc = ca_speak(c, x,
                  r.flush || !r.cont ? x->text.len
                                     : sim_providers_sentence_end(x->text.data, x->text.len));
    if (rc == 0 && r.flush) {
        x->flushes++;
        rc = enqueue(c, &a->work, NULL, 0, x->serial, x->id, x->lang, x->flushes, MARK_FLUSH_DONE);
    }
    if (rc == 0 && !r.cont) {
        struct ca_ended *e = &a->ended[a->next_ended++ % CA_MAX_CONTEXTS];

        rc = enqueue(c, &a->work, NULL, 0, x->serial, x->id, x->lang, x->flushes, MARK_DONE);
        snprintf(e->id, sizeof(e->id), "%s", x->id);
        e->serial = x->serial;
        a->next_ended %= CA_MAX_CONTEXTS;
        ctx_end(x);
    }
    sim_providers_ca_request_release(&r);
    if (rc == 0)
        ca_pump(c);
}

void prov_ca_job_done(struct prov_conn *c, struct prov_job *j)
{
    struct prov_ca *a = c->ca;
    struct tts_work *w;
    int take = job_ends(c, &a->work, j);

    if (a->work.inflight || a->work.job != j->id)
        return; /* not the job in flight */
    w = a->work.doing;
    a->work.doing = NULL;
    if (take && w) {
        unsigned tag = w->tag;

        snprintf(a->doing_ctx, sizeof(a->doing_ctx), "%s", w->ctx);
        a->doing_flush = w->flush_id;
        /* The engine's time, shared among the chunks it made. */
        a->doing_step_ms = j->mulaw_len > SIM_PROVIDERS_PIECE
                               ? j->ms * SIM_PROVIDERS_PIECE / (double)j->mulaw_len
                               : j->ms;
        work_free(w);
        if (prov_send_audio(c, j, tag, ca_piece, c) != 0)
            return;
    } else {
        work_free(w);
    }
    ca_pump(c);
}

/* --- --replay-audio ------------------------------------------------------------------------- */

int sim_providers_replay_load(const char *path, unsigned char **out, size_t *len, char *err,
                              size_t errsize)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *data = NULL;
    size_t n = 0;
    int rc = 0;

    *out = NULL;
    *len = 0;
    if (!fp) {
        char why[128];

        sb_set_error(err, errsize, "cannot open '%s': %s", path,
                     strerror_r(errno, why, sizeof(why)));
        return SB_EIO;
    }
    data = malloc(SIM_PROVIDERS_MAX_REPLAY + 1);
    if (!data) {
        rc = SB_ENOMEM;
        goto out;
    }
    n = fread(data, 1, SIM_PROVIDERS_MAX_REPLAY + 1, fp);
    if (ferror(fp)) {
        sb_set_error(err, errsize, "cannot read '%s'", path);
        rc = SB_EIO;
    } else if (n > SIM_PROVIDERS_MAX_REPLAY) {
        sb_set_error(err, errsize, "'%s' is larger than %u bytes", path,
                     (unsigned)SIM_PROVIDERS_MAX_REPLAY);
        rc = SB_ETOOBIG;
    } else if (n >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WAVE", 4) == 0) {
        struct sim_audio a = SIM_AUDIO_INIT;
        char why[200] = "";

        rc = sim_audio_parse_wav(&a, data, n, why, sizeof(why));
        if (rc == 0 && a.rate != PHONE_RATE) {
            snprintf(why, sizeof(why), "the audio is at %d Hz, not 8000", a.rate);
            rc = SB_EPARSE;
        } else if (rc == 0 && a.len == 0) {
            snprintf(why, sizeof(why), "it holds no audio");
            rc = SB_EPARSE;
        }
        if (rc == 0) {
            /* The µ-law takes a byte a sample: it fits where the file was. */
            mulaw_encode_buf(a.samples, a.len, data);
            n = a.len;
        } else {
            sb_set_error(err, errsize, "'%s': %s", path, why);
        }
        sim_audio_release(&a);
    } else if (n == 0) {
        sb_set_error(err, errsize, "'%s' is empty", path);
        rc = SB_EPARSE;
    }
out:
    fclose(fp);
    if (rc) {
        free(data);
        return rc;
    }
    /* Keep what the clip needs, not the most a file may hold. */
    *out = realloc(data, n);
    if (!*out)
        *out = data;
    *len = n;
    return 0;
}
