/*
 * IVR flows on the webhooks: load the call's state, turn the request into a
 * flow input, run one step of the pure interpreter, commit the new state, and
 * answer. The answer to each step is kept with the state, so a retried
 * request gets exactly the same TwiML and counts nothing twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/phone.h"
#include "core/twiml.h"
#include "voice/call_context.h"
#include "voice/flow_cache.h"
#include "voice/flow_states.h"
#include "voice/persona.h"
#include "voice/tz.h"
#include "voice/voice.h"
#include "core/banned.h"

/* What travels to the writer thread and back with a committed step. */
struct flow_commit {
    voice_reply_fn done;
    void *arg;
    char *twiml; /* owned until handed to `done` */
    size_t len;
    char call_sid[SID_SIZE]; /* whose state is being committed */
};

static void reply_xml(struct reply *out, char *doc, size_t len)
{
    reply_release(out);
    out->status = 200;
    out->content_type = "text/xml";
    out->body = doc;
    out->len = len;
}

/*
 * The state remembered for a call: memory, then the store. The store is only
 * asked for an action (`from_store`): a first request that memory does not
 * know is a new call, and running its start again would give the same
 * answer anyway, so the hot path does no SQL.
 */
static int load_state(const struct voice_ctx *ctx, const char *call_sid, int from_store,
                      struct flow_call *out)
{
    const struct flow_call *mem =
        ctx->flow_states ? flow_states_get(ctx->flow_states, call_sid) : NULL;

    if (mem) {
        *out = *mem;
        out->last_twiml = strdup(mem->last_twiml ? mem->last_twiml : "");
        return out->last_twiml ? 0 : SB_ENOMEM;
    }
    if (!ctx->store || !from_store)
        return SB_ENOTFOUND;
    return store_flow_call_get(ctx->store, call_sid, out);
}

static const struct flow *flow_of(const struct voice_ctx *ctx, const struct call_context *cc,
                                  const char *name)
{
    if (!ctx->flows || !cc->route || !name || !*name)
        return NULL;
    return flow_cache_find(ctx->flows, cc->route->tenant->name, name);
}

int voice_flow_answers(const struct voice_ctx *ctx, const struct route *route)
{
    struct call_context cc = {.route = route};

    return flow_of(ctx, &cc, route ? route->number.flow : NULL) != NULL;
}

/* The caller's answer to the step that is waiting. */
static void input_of(const struct form *params, struct flow_input *in)
{
    const char *digits = form_get(params, "Digits");
    const char *speech = form_get(params, "SpeechResult");
    const char *dial = form_get(params, "DialCallStatus");

    in->text = NULL;
    if (dial) {
        in->kind = FLOW_DIAL_DONE;
        in->text = dial;
    } else if (form_get(params, "RecordingUrl")) {
        in->kind = FLOW_RECORDED;
    } else if (speech && *speech) {
        in->kind = FLOW_SPEECH;
        in->text = speech;
    } else if (digits && *digits) {
        in->kind = FLOW_DIGITS;
        in->text = digits;
    } else {
        in->kind = FLOW_NO_INPUT;
    }
}

/* The recording a voicemail's action reports, logged on the call. */
static void log_recording(const struct voice_ctx *ctx, const char *call_sid,
                          const struct form *params, const char *status)
{
    struct recording r;
    const char *sid = form_get(params, "RecordingSid");
    const char *url = form_get(params, "RecordingUrl");
    const char *dur = form_get(params, "RecordingDuration");
    int rc;

    if (!ctx->writer || !sid || !*sid || !url)
        return;
    memset(&r, 0, sizeof(r));
    snprintf(r.recording_sid, sizeof(r.recording_sid), "%s", sid);
    snprintf(r.call_sid, sizeof(r.call_sid), "%s", call_sid);
    snprintf(r.url, sizeof(r.url), "%s", url);
    snprintf(r.status, sizeof(r.status), "%s", status);
    r.duration = dur ? strtol(dur, NULL, 10) : 0;
    r.at = voice_now(ctx);
    rc = writer_submit_recording(ctx->writer, &r, NULL, NULL);
    if (rc)
        log_event(LOG_ERROR, "flow.recording_log_failed",
                  "call_sid=%s recording_sid=%s error=\"writer: %s\"", call_sid, r.recording_sid,
                  sb_strerror(rc));
    log_event(LOG_INFO, "flow.recording", "call_sid=%s recording_sid=%s duration=%ld", call_sid,
              r.recording_sid, r.duration);
}

static void commit_done(void *arg, int rc, enum status_outcome outcome)
{
    struct flow_commit *fc = arg;
    struct reply r = REPLY_INIT;

    (void)outcome;
    if (rc) {
        free(fc->twiml);
        voice_apology(&r);
        /* The memory already holds the new state: the loop drops it when it takes the reply. */
        snprintf(r.uncommitted_call, sizeof(r.uncommitted_call), "%s", fc->call_sid);
        r.answered_elsewhere = rc == SB_EBUSY;
    } else {
        r.status = 200;
        r.content_type = "text/xml";
        r.body = fc->twiml;
        r.len = fc->len;
    }
    fc->done(fc->arg, &r);
    free(fc);
}

/* Fills the interpreter's view of the world for this call. */
static void env_of(const struct voice_ctx *ctx, const struct call_context *cc, int step_no,
                   char *action, size_t action_size, char token[STREAM_TOKEN_SIZE],
                   struct flow_env *env)
{
    const struct tenant *t = cc->route->tenant;

    memset(env, 0, sizeof(*env));
    env->now = (time_t)voice_now(ctx);
    if (tz_offset_minutes(t->timezone, env->now, &env->utc_offset_min))
        log_event(LOG_WARN, "flow.timezone", "tenant=%s reason=\"unknown time zone, using UTC\"",
                  t->name);
    snprintf(action, action_size, "/voice/flow?step=%d", step_no);
    env->transfer = t->transfer_number;
    env->caller_id = cc->to;
    env->action_url = action;
    env->recording_callback = "/voice/flow/recording";
    env->voice_en = persona_voice(t, "en-US");
    env->voice_es = persona_voice(t, "es-MX");
    env->plan_stream = cc->route->number.plan != PLAN_STARTER;
    env->stream_url = ctx->stream_url;
    env->call_sid = cc->call_sid;
    env->from = cc->from;
    env->to = cc->to;
    env->tenant = t->name;
    env->agent = cc->route->number.agent;
    /* The interpreter stays pure: the token is computed here, as voice/incoming does. */
    env->stream_token = stream_token_for(&ctx->stream_key, cc->call_sid, token) == 0 ? token : NULL;
}

int voice_flow(const struct voice_ctx *ctx, const struct form *params, const char *step,
               voice_reply_fn done, void *arg, struct reply *out)
{
    struct call_context cc;
    struct flow_call call;
    struct flow_state state, next;
    struct flow_result res;
    struct flow_input in;
    struct flow_env env;
    struct flow_commit *fc = NULL;
    struct twiml t;
    const struct flow *f;
    const char *missing = NULL;
    char action[64], token[STREAM_TOKEN_SIZE], *doc = NULL;
    size_t len = 0;
    long k = -1;
    int have, rc, hops;

    memset(&call, 0, sizeof(call));
    if (call_context_init(&cc, ctx->routes, params, &missing) || !cc.route) {
        log_event(LOG_WARN, "flow.rejected", "call_sid=%s reason=\"%s\"",
                  cc.call_sid ? cc.call_sid : "-", missing ? missing : "number not routed");
        voice_apology(out);
        return 1;
    }
    have = load_state(ctx, cc.call_sid, step != NULL, &call) == 0;
    if (step)
        k = strtol(step, NULL, 10);
    /*
     * Memory waits for another step than the one asked: another process
     * sharing the store may have answered steps this one never saw. The
     * store decides (only here, off the hot path).
     */
    if (have && step && k != call.step_no && ctx->store) {
        struct flow_call stored;

        if (store_flow_call_get(ctx->store, cc.call_sid, &stored) == 0) {
            free(call.last_twiml);
            call = stored;
            if (ctx->flow_states)
                flow_states_forget(ctx->flow_states, cc.call_sid);
        }
    }
    /* A retried request (or one whose step is not the one waiting) gets the last answer again. */
    if (have && (!step || k != call.step_no)) {
        log_event(LOG_INFO, "flow.replay", "call_sid=%s step=%ld waiting=%d", cc.call_sid, k,
                  call.step_no);
        doc = call.last_twiml;
        call.last_twiml = NULL;
        reply_xml(out, doc, strlen(doc));
        return 1;
    }
    if (!have) {
        if (step) {
            /* An action for a call we never started: nothing to trust in the URL. */
            voice_apology(out);
            return 1;
        }
        snprintf(call.call_sid, sizeof(call.call_sid), "%s", cc.call_sid);
        snprintf(call.tenant, sizeof(call.tenant), "%s", cc.route->tenant->name);
        snprintf(call.flow, sizeof(call.flow), "%s", cc.route->number.flow);
        snprintf(call.lang, sizeof(call.lang), "%s", cc.lang);
    }
    memset(&state, 0, sizeof(state));
    snprintf(state.node, sizeof(state.node), "%s", call.node);
    snprintf(state.lang, sizeof(state.lang), "%s", call.lang);
    state.attempts = call.attempts;
    state.steps = call.steps;
    state.done = call.done;
    in.kind = FLOW_START;
    in.text = NULL;
    if (have)
        input_of(params, &in);
    if (in.kind == FLOW_RECORDED)
        log_recording(ctx, cc.call_sid, params, "completed");
    env_of(ctx, &cc, call.step_no + 1, action, sizeof(action), token, &env);

    f = flow_of(ctx, &cc, call.flow);
    twiml_init(&t);
    memset(&res, 0, sizeof(res));
    rc = f ? flow_step(f, &state, &in, &env, &t, &next, &res) : SB_ENOTFOUND;
    /* A redirect node hands the call to another flow of the same tenant, from its start. */
    for (hops = 0; rc == 0 && res.redirect_flow[0] && hops < 4; hops++) {
        f = flow_of(ctx, &cc, res.redirect_flow);
        if (!f) {
            rc = SB_ENOTFOUND;
            break;
        }
        snprintf(call.flow, sizeof(call.flow), "%s", res.redirect_flow);
        /* Same builder: what was said before the redirect is still heard. */
        state = next;
        state.node[0] = '\0';
        state.done = 0;
        in.kind = FLOW_START;
        in.text = NULL;
        memset(&res, 0, sizeof(res));
        rc = flow_step(f, &state, &in, &env, &t, &next, &res);
    }
    if (rc == 0)
        rc = twiml_finish(&t, &doc, &len);
    else
        twiml_release(&t);
    if (rc) {
        log_event(LOG_ERROR, "flow.failed", "call_sid=%s flow=%s error=\"%s\"", cc.call_sid,
                  call.flow, sb_strerror(rc));
        free(call.last_twiml);
        voice_apology(out);
        return 1;
    }
    snprintf(call.node, sizeof(call.node), "%s", next.node);
    snprintf(call.lang, sizeof(call.lang), "%s", next.lang);
    call.attempts = next.attempts;
    call.steps = next.steps;
    call.done = next.done;
    call.step_no++;
    free(call.last_twiml);
    call.last_twiml = doc;
    log_event(LOG_INFO, "flow.step", "call_sid=%s flow=%s node=%s step=%d attempts=%d done=%d",
              cc.call_sid, call.flow, call.node, call.step_no, call.attempts, call.done);
    /* A state that could not be held must not leave the previous step's in
     * memory: the next step would be answered from it. Forgotten, it is read
     * from the store. */
    if (ctx->flow_states && flow_states_put(ctx->flow_states, &call) != 0)
        flow_states_forget(ctx->flow_states, call.call_sid);
    fc = calloc(1, sizeof(*fc));
    if (fc) {
        fc->done = done;
        fc->arg = arg;
        fc->twiml = doc;
        fc->len = len;
        snprintf(fc->call_sid, sizeof(fc->call_sid), "%s", call.call_sid);
    }
    if (!fc || !ctx->writer || writer_submit_flow_call(ctx->writer, &call, commit_done, fc) != 0) {
        /* Without a durable state the step must not be acknowledged, nor answered from memory. */
        log_event(LOG_ERROR, "flow.failed", "call_sid=%s error=\"cannot commit the step\"",
                  cc.call_sid);
        if (ctx->flow_states)
            flow_states_forget(ctx->flow_states, call.call_sid);
        free(fc);
        free(doc);
        voice_apology(out);
        return 1;
    }
    return 0;
}

static void recording_committed(void *arg, int rc, enum status_outcome outcome)
{
    struct flow_commit *fc = arg;
    struct reply r = REPLY_INIT;

    (void)outcome;
    r.status = rc ? 503 : 204;
    if (rc)
        reply_text(&r, 503, "error: the recording could not be logged; retry\n");
    fc->done(fc->arg, &r);
    free(fc);
}

int voice_flow_recording(const struct voice_ctx *ctx, const struct form *params,
                         voice_reply_fn done, void *arg, struct reply *out)
{
    const char *call_sid = form_get(params, "CallSid");
    const char *sid = form_get(params, "RecordingSid");
    const char *status = form_get(params, "RecordingStatus");
    const char *url = form_get(params, "RecordingUrl");
    const char *dur = form_get(params, "RecordingDuration");
    struct flow_commit *fc;
    struct recording r;

    if (!call_sid || !*call_sid || !sid || !*sid || !url) {
        reply_text(out, 400,
                   "error: a recording callback needs CallSid, RecordingSid and "
                   "RecordingUrl\n");
        return 1;
    }
    memset(&r, 0, sizeof(r));
    snprintf(r.recording_sid, sizeof(r.recording_sid), "%s", sid);
    snprintf(r.call_sid, sizeof(r.call_sid), "%s", call_sid);
    snprintf(r.url, sizeof(r.url), "%s", url);
    snprintf(r.status, sizeof(r.status), "%s", status ? status : "completed");
    r.duration = dur ? strtol(dur, NULL, 10) : 0;
    r.at = voice_now(ctx);
    fc = calloc(1, sizeof(*fc));
    if (fc) {
        fc->done = done;
        fc->arg = arg;
    }
    if (!fc || !ctx->writer || writer_submit_recording(ctx->writer, &r, recording_committed, fc)) {
        free(fc);
        reply_text(out, 503, "error: the recording could not be logged; retry\n");
        return 1;
    }
    log_event(LOG_INFO, "flow.recording", "call_sid=%s recording_sid=%s status=%s duration=%ld",
              call_sid, r.recording_sid, r.status, r.duration);
    return 0;
}

void voice_flow_replay_stored(const struct voice_ctx *ctx, const char *call_sid, struct reply *r)
{
    struct flow_call stored;

    if (!ctx->store || store_flow_call_get(ctx->store, call_sid, &stored) != 0)
        return;
    if (!stored.last_twiml || !*stored.last_twiml) {
        free(stored.last_twiml);
        return;
    }
    log_event(LOG_INFO, "flow.answered_elsewhere", "call_sid=%s step=%d", call_sid, stored.step_no);
    reply_release(r);
    r->status = 200;
    r->content_type = "text/xml";
    r->body = stored.last_twiml;
    r->len = strlen(stored.last_twiml);
}
