#include "server/stream_listen.h"

#include <pthread.h>

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "server/server_internal.h"
#include "server/stream.h"
#include "server/workers.h"
#include "flow/flow.h"
#include "speech/stt.h"
#include "core/banned.h"

struct stt_job {
    struct stt_job *next;
    struct server *srv;
    unsigned long long conn_id;
    unsigned id;
    unsigned char *audio;
    size_t len;
    char lang[16];
    struct stream_stt stt; /* url "" : the server's engine */
    char *phrases;         /* the call's own, NUL-separated (a copy), NULL for none */
    size_t nphrases;
    int rc;
    char err[128];
    struct stt_result res;
    long long queued_us, done_us;
};

/*
 * What a caller can usefully say to the agents of Media Streams today (the
 * rule agent's intents, yes/no, thanks, goodbye, backchannels, and what
 * callers ask LLM agents most), in the words of a caller. English: the one
 * language of the offline recogniser.
 */
static const char *const phrases_en[] = {
    "what are your hours",
    "what are your opening hours",
    "when are you open",
    "when do you open",
    "what time do you open",
    "what time do you close",
    "are you open today",
    "are you open on saturday",
    "your hours please",
    "hours",
    "opening hours",
    "i want to talk to a person",
    "i want to speak to a person",
    "can i talk to a person",
    "can i speak to someone",
    "let me talk to a person",
    "a person please",
    "talk to a human",
    "speak to an agent",
    "representative",
    "operator",
    "a real person",
    "agent",
    "person",
    "yes",
    "yes please",
    "no",
    "no thanks",
    "no thank you",
    "thank you",
    "thanks",
    "goodbye",
    "bye",
    "that's all",
    "hello",
    "hi",
    "help",
    "uh huh",
    "mm hmm",
    "okay",
    "yeah",
    "right",
    "sure",
    "i see",
    "repeat that",
    "say that again",
    "zero",
    "one",
    "two",
    "three",
    /* What callers ask the LLM agents' tools and knowledge most. */
    "i want to leave a message",
    "can i leave a message",
    "take a message",
    "call me back",
    "i want to book an appointment",
    "book an appointment",
    "cancel my appointment",
    "what are your prices",
    "how much does it cost",
    "where are you located",
    "what is your address",
    "do you take insurance",
    "speak spanish",
    "in spanish please",
    /* Numbers a caller gives: digits, then the tens. */
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "fifteen",
    "twenty",
    "thirty",
    "hundred",
};

const char *const *stream_listen_phrases(const char *lang, size_t *n)
{
    (void)lang;
    *n = sizeof(phrases_en) / sizeof(phrases_en[0]);
    return phrases_en;
}

static void job_free(struct stt_job *j)
{
    OPENSSL_cleanse(j->stt.key, sizeof(j->stt.key));
    free(j->phrases);
    free(j->audio);
    free(j);
}

/* The collector of stream_phrases_of_tenant: each keyword once, within the limits. */
struct phrase_collect {
    struct buf b;
    size_t n;
    int rc;
};

static void collect_keyword(void *arg, const char *keyword)
{
    struct phrase_collect *pc = arg;
    size_t len = strlen(keyword);

    if (pc->rc || !len || pc->n >= STREAM_PHRASES_MAX || pc->b.len + len + 1 > pc->b.max)
        return;
    for (const char *p = pc->b.data; p && p < pc->b.data + pc->b.len; p += strlen(p) + 1) {
        if (strcmp(p, keyword) == 0)
            return;
    }
    pc->rc = buf_append(&pc->b, keyword, len + 1);
    if (pc->rc == 0)
        pc->n++;
}

int stream_phrases_of_tenant(struct server *srv, const char *tenant, struct stream_phrases *out)
{
    struct phrase_collect pc = {BUF_INIT(STREAM_PHRASES_BYTES), 0, 0};

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; tenant && i < srv->routing->flows.count; i++) {
        if (strcmp(srv->routing->flows.items[i].ref.tenant, tenant) == 0)
            flow_keywords(srv->routing->flows.items[i].flow, collect_keyword, &pc);
    }
    if (pc.rc == SB_ENOMEM) {
        buf_release(&pc.b);
        return SB_ENOMEM;
    }
    out->len = pc.b.len;
    out->n = pc.n;
    out->text = pc.n ? buf_detach(&pc.b, NULL) : NULL;
    buf_release(&pc.b);
    if (pc.n && !out->text) {
        memset(out, 0, sizeof(*out));
        return SB_ENOMEM;
    }
    return 0;
}

void stream_phrases_release(struct stream_phrases *p)
{
    free(p->text);
    memset(p, 0, sizeof(*p));
}

static void stt_run(void *arg)
{
    struct stt_job *j = arg;
    struct stt_request req;
    const char *both[sizeof(phrases_en) / sizeof(phrases_en[0]) + STREAM_PHRASES_MAX];
    size_t n = 0;

    memset(&req, 0, sizeof(req));
    req.mulaw = j->audio;
    req.len = j->len;
    req.lang = j->lang;
    req.phrases = stream_listen_phrases(j->lang, &req.nphrases);
    if (j->nphrases) {
        /* The common phrases and the call's own, in one list. */
        memcpy(both, req.phrases, req.nphrases * sizeof(both[0]));
        n = req.nphrases;
        for (const char *p = j->phrases; n < req.nphrases + j->nphrases; p += strlen(p) + 1)
            both[n++] = p;
        req.phrases = both;
        req.nphrases = n;
    }
    if (j->stt.url[0]) {
        /* An agent's own recogniser: a request of its own, nothing kept between them. */
        struct stt whisper;

        j->rc = stt_whisper_open(&whisper, j->stt.url, j->stt.model, j->stt.key);
        if (j->rc == 0)
            j->rc = stt_recognize(&whisper, &req, &j->res, j->err, sizeof(j->err));
        else
            snprintf(j->err, sizeof(j->err), "the recogniser's URL is not usable");
        stt_release(&whisper);
    } else {
        j->rc = stt_recognize(&j->srv->stt, &req, &j->res, j->err, sizeof(j->err));
    }
    j->done_us = clock_mono_us();
}

static void stt_done(void *arg)
{
    struct stt_job *j = arg;
    struct server *srv = j->srv;

    pthread_mutex_lock(&srv->done_lock);
    j->next = srv->stt_done;
    srv->stt_done = j;
    pthread_mutex_unlock(&srv->done_lock);
    lws_cancel_service(srv->lws);
}

int stream_listen_submit(struct server *srv, unsigned long long conn_id, unsigned id,
                         unsigned char *mulaw, size_t len, const char *lang,
                         const struct stream_stt *stt, const struct stream_phrases *extra)
{
    struct stt_job *j;
    int rc;

    if (!srv->stt.ops && !(stt && stt->url[0])) {
        free(mulaw);
        return SB_ENOTFOUND;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        free(mulaw);
        return SB_ENOMEM;
    }
    j->srv = srv;
    j->conn_id = conn_id;
    j->id = id;
    j->audio = mulaw;
    j->len = len;
    j->queued_us = clock_mono_us();
    snprintf(j->lang, sizeof(j->lang), "%s", lang ? lang : "");
    if (stt)
        j->stt = *stt;
    if (extra && extra->n && extra->n <= STREAM_PHRASES_MAX) {
        j->phrases = malloc(extra->len);
        if (!j->phrases) {
            job_free(j);
            return SB_ENOMEM;
        }
        memcpy(j->phrases, extra->text, extra->len);
        j->nphrases = extra->n;
    }
    rc = workers_submit(srv->workers, stt_run, stt_done, j);
    if (rc)
        job_free(j);
    return rc;
}

void stream_listen_drain(struct server *srv)
{
    struct stt_job *list;

    pthread_mutex_lock(&srv->done_lock);
    list = srv->stt_done;
    srv->stt_done = NULL;
    pthread_mutex_unlock(&srv->done_lock);
    while (list) {
        struct stt_job *j = list;
        enum session_heard heard = SESSION_HEARD_NOTHING;

        list = j->next;
        if (j->rc)
            log_event(LOG_ERROR, "stream.stt_failed", "utterance=%u error=\"%s\"", j->id, j->err);
        else if (j->res.outcome == STT_WORDS)
            heard = SESSION_HEARD_WORDS;
        else if (j->res.outcome == STT_UNSUPPORTED)
            heard = SESSION_HEARD_UNSUPPORTED;
        else if (j->res.outcome == STT_REJECTED && j->res.text[0])
            heard = SESSION_HEARD_GUESS;
        log_event(LOG_INFO, "stream.recognized",
                  "utterance=%u outcome=%s audio_ms=%ld wait_ms=%lld score=%.1f", j->id,
                  j->rc                               ? "error"
                  : j->res.outcome == STT_WORDS       ? "words"
                  : j->res.outcome == STT_REJECTED    ? (j->res.text[0] ? "guessed" : "rejected")
                  : j->res.outcome == STT_UNSUPPORTED ? "unsupported"
                                                      : "nothing",
                  j->res.audio_ms, (j->done_us - j->queued_us) / 1000, j->res.score);
        stream_heard(srv, j->conn_id, j->id, heard, j->res.text);
        job_free(j);
    }
}
