/*
 * switchboard sim providers: Deepgram's streaming recognition stand-in
 * (GET /v1/listen). Binary messages are µ-law audio, cut into utterances
 * by the segmenter (providers_listen.c); text messages are KeepAlive,
 * Finalize and CloseStream. Each utterance is heard as the next line of
 * --transcripts, or by pocketsphinx on a worker thread. What goes out
 * keeps its order: a Results that waits for pocketsphinx holds back the
 * messages after it (one recognition at a time per stream).
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "sim/providers.h"
#include "sim/providers_internal.h"
#include "core/banned.h"

/* Messages waiting behind a recognition, at most (a client that floods Finalize is closed). */
#define MAX_ITEMS 1000
/* How fast the words of a transcript line appear in its interim results. */
#define INTERIM_WORD_MS 400

/* One outgoing message, ready or waiting for what pocketsphinx hears. */
struct dg_item {
    struct dg_item *next;
    char *json;        /* ready: the message */
    int close_code;    /* the close, after everything before it */
    int waiting;       /* a Results whose transcript is being recognised */
    int submitted;     /* its job was handed to the workers */
    unsigned long job; /* the job's number */
    int results;       /* a Results (--first-byte-ms applies) */
    long long not_before;
    struct sim_providers_dg_result r; /* waiting: everything but the transcript */
    unsigned char *audio;             /* waiting, not yet submitted: the utterance (owned) */
    size_t len;
};

struct prov_dg {
    struct sim_providers_dg_query q;
    struct sim_providers_listen seg;
    char request_id[40];
    char created[32];
    EVP_MD_CTX *sha;
    unsigned long long audio_bytes;
    unsigned long audio_messages;
    size_t next_line; /* the transcript the next utterance is heard as */
    long long last_active_us;
    struct dg_item *head, *tail;
    size_t nitems;
    unsigned long next_job;
    int ended; /* CloseStream: nothing more is read */
    unsigned long utterances;
};

static void item_free(struct dg_item *it)
{
    free(it->json);
    free(it->audio);
    free(it);
}

static void pump(struct prov_conn *c);

/* Appends an item; takes `json` (may be NULL only for a waiting item or a close). */
static struct dg_item *add(struct prov_conn *c, char *json, int results)
{
    struct prov_dg *d = c->dg;
    struct dg_item *it;

    if (d->nitems >= MAX_ITEMS || !(it = calloc(1, sizeof(*it)))) {
        free(json);
        prov_close(c, 1011, d->nitems >= MAX_ITEMS ? "too many results waiting" : "out of memory");
        return NULL;
    }
    it->json = json;
    it->results = results;
    if (results)
        it->not_before = clock_mono_us() + (long long)c->srv->o->first_byte_ms * 1000;
    if (d->tail)
        d->tail->next = it;
    else
        d->head = it;
    d->tail = it;
    d->nitems++;
    return it;
}

/* Queues a message that is ready now (NULL: memory ran out, which closes). */
static void ready(struct prov_conn *c, char *json, int results)
{
    if (!json) {
        prov_close(c, 1011, "out of memory");
        return;
    }
    if (add(c, json, results))
        pump(c);
}

static int waiting_for_words(const struct prov_dg *d)
{
    for (const struct dg_item *it = d->head; it; it = it->next) {
        if (it->waiting)
            return 1;
    }
    return 0;
}

/* Sends what is ready at the head; hands the first waiting utterance to the workers. */
static void pump(struct prov_conn *c)
{
    struct prov_dg *d = c->dg;

    while (d->head && !c->closing) {
        struct dg_item *it = d->head;

        if (it->waiting) {
            struct prov_job *j;

            if (it->submitted)
                return;
            j = prov_job_new(c, PROV_JOB_RECOGNIZE);
            if (!j) {
                prov_close(c, 1011, "out of memory");
                return;
            }
            j->id = it->job = ++d->next_job;
            snprintf(j->lang, sizeof(j->lang), "%s", d->q.language);
            j->audio = it->audio;
            j->len = it->len;
            it->audio = NULL;
            it->submitted = 1;
            if (prov_submit(c->srv, j) != 0)
                prov_close(c, 1011, "NET-0000");
            return;
        }
        d->head = it->next;
        if (!d->head)
            d->tail = NULL;
        d->nitems--;
        if (it->close_code) {
            prov_close(c, it->close_code, "");
        } else {
            (void)prov_send(c, it->json, it->results ? it->not_before : 0, 0, 0);
            it->json = NULL;
        }
        item_free(it);
    }
}

static void result_of(const struct prov_conn *c, const struct sim_providers_listen_event *ev,
                      struct sim_providers_dg_result *r)
{
    memset(r, 0, sizeof(*r));
    r->start = ev->start;
    r->duration = ev->duration;
    r->is_final = ev->kind == SIM_PROVIDERS_FINAL;
    r->speech_final = ev->speech_final;
    r->from_finalize = ev->from_finalize;
    r->words_start = ev->speech_start;
    r->words_end = ev->speech_end;
    r->request_id = c->dg->request_id;
    r->model = c->dg->q.model;
}

static char *results_json(struct sim_providers_dg_result *r, const char *transcript)
{
    r->transcript = transcript;
    r->confidence = transcript[0] ? 0.9 : 0.0;
    return sim_providers_dg_results_json(r);
}

/* A transcript line's first words, as an interim result shows them while the caller speaks. */
static char *interim_line(const char *line, double speech_s)
{
    size_t words = sim_providers_count_words(line);
    size_t shown = 1 + (size_t)(speech_s * 1000.0 / INTERIM_WORD_MS);
    size_t len;
    char *out;

    if (shown > words)
        shown = words;
    len = sim_providers_words_len(line, shown);
    out = malloc(len + 1);
    if (out) {
        memcpy(out, line, len);
        out[len] = '\0';
    }
    return out;
}

/* What the segmenter found, turned into messages. */
static int on_event(void *arg, const struct sim_providers_listen_event *ev)
{
    struct prov_conn *c = arg;
    struct prov_dg *d = c->dg;
    const struct sim_providers_opts *o = c->srv->o;
    struct sim_providers_dg_result r;
    struct dg_item *it;

    if (c->closing)
        return 0;
    switch (ev->kind) {
    case SIM_PROVIDERS_SPEECH_STARTED:
        ready(c, sim_providers_dg_speech_started_json(ev->timestamp), 0);
        return 0;
    case SIM_PROVIDERS_UTTERANCE_END:
        ready(c, sim_providers_dg_utterance_end_json(ev->timestamp), 0);
        return 0;
    case SIM_PROVIDERS_INTERIM:
    case SIM_PROVIDERS_FINAL:
        break;
    }
    result_of(c, ev, &r);
    if (ev->kind == SIM_PROVIDERS_FINAL && ev->has_speech) {
        d->utterances++;
        log_event(LOG_INFO, "providers.utterance", "conn=%llu n=%lu start=%.2f seconds=%.2f", c->id,
                  d->utterances, ev->speech_start, ev->speech_end - ev->speech_start);
    }
    if (!ev->has_speech) {
        ready(c, results_json(&r, ""), 1);
        return 0;
    }
    if (o->ntranscripts) {
        const char *line = o->transcripts[d->next_line % o->ntranscripts];

        if (ev->kind == SIM_PROVIDERS_FINAL) {
            d->next_line++;
            ready(c, results_json(&r, line), 1);
        } else {
            char *words = interim_line(line, ev->speech_end - ev->speech_start);

            ready(c, words ? results_json(&r, words) : NULL, 1);
            free(words);
        }
        return 0;
    }
    /* pocketsphinx: an interim only when nothing waits already (it would be stale). */
    if (ev->kind == SIM_PROVIDERS_INTERIM && waiting_for_words(d))
        return 0;
    it = add(c, NULL, 1);
    if (!it)
        return 0;
    it->waiting = 1;
    it->r = r;
    it->audio = malloc(ev->len ? ev->len : 1);
    if (!it->audio) {
        prov_close(c, 1011, "out of memory");
        return 0;
    }
    memcpy(it->audio, ev->audio, ev->len);
    it->len = ev->len;
    pump(c);
    return 0;
}

int prov_dg_open(struct prov_conn *c, const struct sim_providers_dg_query *q)
{
    struct prov_dg *d = calloc(1, sizeof(*d));
    long long wall = clock_wall_ms();
    time_t t = (time_t)(wall / 1000);
    struct tm tm;
    unsigned char id[16];

    if (!d)
        return -1;
    d->sha = EVP_MD_CTX_new();
    if (!d->sha || EVP_DigestInit_ex(d->sha, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(d->sha);
        free(d);
        return -1;
    }
    d->q = *q;
    sim_providers_listen_init(&d->seg, q);
    if (RAND_bytes(id, sizeof(id)) != 1)
        memset(id, 0, sizeof(id));
    id[6] = (unsigned char)((id[6] & 0x0f) | 0x40);
    id[8] = (unsigned char)((id[8] & 0x3f) | 0x80);
    snprintf(d->request_id, sizeof(d->request_id),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", id[0], id[1],
             id[2], id[3], id[4], id[5], id[6], id[7], id[8], id[9], id[10], id[11], id[12], id[13],
             id[14], id[15]);
    gmtime_r(&t, &tm);
    strftime(d->created, sizeof(d->created), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(d->created + strlen(d->created), sizeof(d->created) - strlen(d->created), ".%03dZ",
             (int)(wall % 1000));
    d->last_active_us = clock_mono_us();
    c->dg = d;
    log_event(LOG_INFO, "providers.open",
              "conn=%llu kind=deepgram request_id=%s language=%s interim_results=%s "
              "endpointing=%d utterance_end_ms=%d vad_events=%s recogniser=%s",
              c->id, d->request_id, q->language, q->interim_results ? "true" : "false",
              q->endpointing_ms, q->utterance_end_ms, q->vad_events ? "true" : "false",
              c->srv->o->ntranscripts ? "transcripts" : "pocketsphinx");
    return 0;
}

void prov_dg_free(struct prov_conn *c)
{
    struct prov_dg *d = c->dg;

    if (!d)
        return;
    while (d->head) {
        struct dg_item *it = d->head;

        d->head = it->next;
        item_free(it);
    }
    sim_providers_listen_release(&d->seg);
    EVP_MD_CTX_free(d->sha);
    free(d);
    c->dg = NULL;
}

/* CloseStream (or an empty audio message): the rest, Metadata, then close 1000. */
static void close_stream(struct prov_conn *c)
{
    struct prov_dg *d = c->dg;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
    struct dg_item *it;

    d->ended = 1;
    if (sim_providers_listen_finish(&d->seg, 0, on_event, c) != 0) {
        prov_close(c, 1011, "out of memory");
        return;
    }
    if (EVP_DigestFinal_ex(d->sha, digest, &dlen) == 1) {
        for (unsigned int i = 0; i < dlen; i++)
            snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    }
    ready(c,
          sim_providers_dg_metadata_json(d->request_id, hex, d->created,
                                         (double)d->audio_bytes / 8000.0, 1),
          0);
    it = add(c, NULL, 0);
    if (it) {
        it->close_code = 1000;
        pump(c);
    }
}

void prov_dg_text(struct prov_conn *c, const char *text, size_t len)
{
    struct prov_dg *d = c->dg;
    enum sim_providers_dg_control ctl;
    char err[200];

    if (d->ended)
        return;
    if (sim_providers_dg_control_parse(text, len, &ctl, err, sizeof(err)) != 0) {
        char shown[200];

        log_event(LOG_WARN, "providers.bad_message", "conn=%llu error=\"%s\"", c->id,
                  prov_loggable(err, shown, sizeof(shown)));
        ready(c, sim_providers_dg_error_json(err, text, len), 0);
        return;
    }
    switch (ctl) {
    case SIM_PROVIDERS_DG_KEEPALIVE:
        d->last_active_us = clock_mono_us();
        return;
    case SIM_PROVIDERS_DG_FINALIZE:
        if (sim_providers_listen_finish(&d->seg, 1, on_event, c) != 0)
            prov_close(c, 1011, "out of memory");
        return;
    case SIM_PROVIDERS_DG_CLOSESTREAM:
        close_stream(c);
        return;
    }
}

void prov_dg_audio(struct prov_conn *c, const unsigned char *data, size_t len, int last,
                   size_t size)
{
    struct prov_dg *d = c->dg;
    const struct sim_providers_opts *o = c->srv->o;

    if (d->ended)
        return;
    d->last_active_us = clock_mono_us();
    /* An empty message is the old way to close a stream. */
    if (last && size == 0) {
        close_stream(c);
        return;
    }
    d->audio_bytes += len;
    if (len && EVP_DigestUpdate(d->sha, data, len) != 1) {
        prov_close(c, 1011, "NET-0000");
        return;
    }
    if (sim_providers_listen_feed(&d->seg, data, len, on_event, c) != 0) {
        prov_close(c, 1011, "out of memory");
        return;
    }
    if (last && o->cut_after > 0 && ++d->audio_messages >= (unsigned long)o->cut_after) {
        log_event(LOG_INFO, "providers.cut", "conn=%llu after=%lu", c->id, d->audio_messages);
        prov_close(c, 1011, "NET-0000");
    }
}

void prov_dg_job_done(struct prov_conn *c, struct prov_job *j)
{
    struct prov_dg *d = c->dg;
    struct dg_item *it = d->head;
    const char *heard = "";

    if (!it || !it->waiting || it->job != j->id)
        return;
    if (j->rc == 0 && j->heard.outcome == STT_WORDS)
        heard = j->heard.text;
    if (it->r.is_final)
        log_event(LOG_INFO, "providers.heard", "conn=%llu outcome=%s words=%zu ms=%.0f", c->id,
                  j->rc                              ? "failed"
                  : j->heard.outcome == STT_WORDS    ? "words"
                  : j->heard.outcome == STT_NOTHING  ? "nothing"
                  : j->heard.outcome == STT_REJECTED ? "rejected"
                                                     : "unsupported",
                  sim_providers_count_words(heard), j->ms);
    it->r.request_id = d->request_id;
    it->r.model = d->q.model;
    it->json = results_json(&it->r, heard);
    it->waiting = 0;
    if (!it->json) {
        prov_close(c, 1011, "out of memory");
        return;
    }
    pump(c);
}

void prov_dg_tick(struct prov_conn *c, long long now)
{
    struct prov_dg *d = c->dg;
    int idle = c->srv->o->idle_ms > 0 ? c->srv->o->idle_ms : SIM_PROVIDERS_IDLE_MS;

    if (!d->ended && now - d->last_active_us > (long long)idle * 1000) {
        log_event(LOG_INFO, "providers.idle", "conn=%llu idle_ms=%d", c->id, idle);
        prov_close(c, 1011, "NET-0001");
    }
}
