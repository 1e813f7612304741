/*
 * libFuzzer target for what switchboard sim providers reads from clients:
 * the input is read as a Deepgram control message, an ElevenLabs
 * stream-input message (first and later), a Cartesia request, a query
 * string (split at '&') for both handshakes, a path, text to cut into
 * sentences, and µ-law audio for the utterance segmenter. Besides the
 * sanitizers it checks that a refusal says why and leaves nothing behind,
 * that what is accepted is whole, and that the messages built from accepted
 * text are JSON.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "sim/providers.h"

static int count_event(void *arg, const struct sim_providers_listen_event *ev)
{
    size_t *n = arg;

    if (ev->duration < 0 || ev->speech_end < ev->speech_start || (ev->len && !ev->audio))
        abort();
    (*n)++;
    return 0;
}

static void check_json(char *text)
{
    json_t *doc;

    if (!text)
        abort();
    doc = json_loads(text, 0, NULL);
    if (!doc)
        abort();
    json_decref(doc);
    free(text);
}

static void queries(const char *text, size_t size)
{
    char buf[2048];
    const char *args[32];
    size_t n = 0, len = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;
    struct sim_providers_dg_query dg;
    struct sim_providers_el_query el;
    char err[300] = "";

    memcpy(buf, text, len);
    buf[len] = '\0';
    args[n++] = buf;
    for (size_t i = 0; i < len && n < 32; i++) {
        if (buf[i] == '&') {
            buf[i] = '\0';
            args[n++] = buf + i + 1;
        }
    }
    if (sim_providers_dg_query_parse(&dg, args, n, err, sizeof(err)) != 0 && !err[0])
        abort();
    err[0] = '\0';
    if (sim_providers_el_query_parse(&el, args, n, err, sizeof(err)) != 0 && !err[0])
        abort();
    (void)sim_providers_route(buf, err, sizeof(err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    enum sim_providers_dg_control ctl;
    struct sim_providers_el_message m;
    struct sim_providers_ca_request r;
    struct sim_providers_dg_query q;
    struct sim_providers_listen l;
    char err[300] = "";
    size_t events = 0, cut;
    int rc;

    if (sim_providers_dg_control_parse(text, size, &ctl, err, sizeof(err)) != 0 && !err[0])
        abort();
    for (int first = 0; first < 2; first++) {
        err[0] = '\0';
        rc = sim_providers_el_message_parse(&m, text, size, first, err, sizeof(err));
        if (rc != 0 && (!err[0] || m.text || m.key))
            abort();
        if (rc == 0) {
            struct sim_providers_dg_result res = {0};

            if (!m.text || (first && strcmp(m.text, " ") != 0))
                abort();
            /* Text a client sent is fit for a transcript and a sentence cut. */
            cut = sim_providers_sentence_end(m.text, strlen(m.text));
            if (cut > strlen(m.text))
                abort();
            res.transcript = m.text;
            res.words_end = 1.0;
            check_json(sim_providers_dg_results_json(&res));
        }
        sim_providers_el_message_release(&m);
    }
    err[0] = '\0';
    rc = sim_providers_ca_request_parse(&r, text, size, err, sizeof(err));
    if (rc != 0 && (!err[0] || r.transcript))
        abort();
    if (rc == 0) {
        if (!r.context_id || (!r.cancel && !r.transcript))
            abort();
        check_json(sim_providers_ca_done_json(r.context_id));
    }
    sim_providers_ca_request_release(&r);
    if (utf8_valid(text, size))
        check_json(sim_providers_dg_error_json("bad", text, size));
    queries(text, size);
    if (sim_providers_sentence_end(text, size) > size)
        abort();
    memset(&q, 0, sizeof(q));
    q.endpointing_ms = size % 2 ? -1 : (int)(size % 700);
    q.interim_results = 1;
    q.utterance_end_ms = 1000;
    q.vad_events = 1;
    sim_providers_listen_init(&l, &q);
    if (sim_providers_listen_feed(&l, data, size, count_event, &events) != 0 ||
        sim_providers_listen_finish(&l, 1, count_event, &events) != 0 || events == 0)
        abort();
    sim_providers_listen_release(&l);
    return 0;
}
