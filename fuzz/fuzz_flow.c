/*
 * libFuzzer target for flow/load and flow/interpret. The input is a flow
 * document. A refused document must come back as SB_EPARSE with a message
 * that starts with its line, and nothing handed out. An accepted one must
 * outline, and calls driven through it (callers chosen from a hash of the
 * input, so a crash replays) must each end within FLOW_MAX_STEPS steps with
 * every step giving a complete TwiML document. Any violation aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/twiml.h"
#include "flow/flow.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

static const char *const digits[] = {"1", "2", "0", "9", "#", "*", "12", ""};
static const char *const speech[] = {"sales", "una cita por favor", "ESPAÑOL", "2.", "", "?"};
static const char *const statuses[] = {"completed", "busy",     "no-answer", "failed",
                                       "canceled",  "answered", "x"};

/* A caller's next move, from a small generator seeded with the input's hash. */
static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void pick_input(const char *doc, uint32_t *s, struct flow_input *in)
{
    if (strstr(doc, "<Dial action=")) {
        in->kind = FLOW_DIAL_DONE;
        in->text = statuses[next_rand(s) % (sizeof(statuses) / sizeof(statuses[0]))];
    } else if (strstr(doc, "<Record ")) {
        in->kind = FLOW_RECORDED;
        in->text = NULL;
    } else {
        /* Not done and not dialling or recording: it must be asking. */
        check(strstr(doc, "<Gather ") != NULL);
        switch (next_rand(s) % 3) {
        case 0:
            in->kind = FLOW_DIGITS;
            in->text = digits[next_rand(s) % (sizeof(digits) / sizeof(digits[0]))];
            break;
        case 1:
            in->kind = FLOW_SPEECH;
            in->text = speech[next_rand(s) % (sizeof(speech) / sizeof(speech[0]))];
            break;
        default:
            in->kind = FLOW_NO_INPUT;
            in->text = NULL;
            break;
        }
    }
}

static void run_call(const struct flow *f, uint32_t seed, int plan_stream)
{
    struct flow_env env;
    struct flow_state st;
    struct flow_input in = {FLOW_START, NULL};
    struct flow_result res;
    uint32_t s = seed ? seed : 1;
    int calls;

    memset(&env, 0, sizeof(env));
    memset(&st, 0, sizeof(st));
    memcpy(st.lang, (seed & 1) ? "es-MX" : "en-US", 6);
    env.now = 1772445600 + (time_t)(seed % (7 * 86400));
    env.utc_offset_min = (int)(seed % 1500) - 720;
    env.transfer = (seed & 2) ? "+15550001111" : "";
    env.caller_id = "+15557770000";
    env.action_url = "/voice/flow";
    env.recording_callback = "/voice/recording";
    env.voice_en = "Polly.Joanna";
    env.voice_es = "Polly.Lupe";
    env.plan_stream = plan_stream;
    env.stream_url = "wss://sb.example.com/media";
    env.call_sid = "CA00";
    env.tenant = "acme";
    for (calls = 0; calls <= FLOW_MAX_STEPS; calls++) {
        struct twiml t;
        struct flow_state next;
        char *doc = NULL;
        size_t len = 0;
        int rc;

        twiml_init(&t);
        rc = flow_step(f, &st, &in, &env, &t, &next, &res);
        /* Long chains of long texts may outgrow Twilio's 64 KiB: refused, never cut. */
        check(rc == 0 || rc == SB_ETOOBIG);
        check(twiml_finish(&t, &doc, &len) == rc);
        if (rc) {
            check(doc == NULL);
            return;
        }
        check(next.steps <= FLOW_MAX_STEPS && next.steps >= st.steps);
        st = next;
        if (st.done && res.redirect_flow[0]) {
            in.kind = FLOW_START;
            in.text = NULL;
        } else if (st.done) {
            free(doc);
            return;
        } else {
            pick_input(doc, &s, &in);
        }
        free(doc);
    }
    /* Every webhook that does not end the call runs a node: the bound must have ended it. */
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct flow *f = NULL;
    char err[256];
    char *outline;
    uint32_t hash = 2166136261u;
    size_t i;
    int rc;

    rc = flow_load(&f, (const char *)data, size, err, sizeof(err));
    if (rc) {
        check(rc == SB_EPARSE || rc == SB_ENOMEM);
        check(f == NULL);
        check(rc == SB_ENOMEM || strncmp(err, "line ", 5) == 0);
        return 0;
    }
    check(f != NULL && flow_name(f) != NULL);
    outline = flow_outline(f);
    check(outline != NULL);
    free(outline);
    for (i = 0; i < size; i++)
        hash = (hash ^ data[i]) * 16777619u;
    run_call(f, hash, 0);
    run_call(f, hash * 2654435761u, 1);
    flow_free(f);
    return 0;
}
