/*
 * flow/ through every failing allocation: flow_load on the example flows
 * (and on two it must refuse), then a Spanish call stepped through the
 * interpreter into TwiML.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/twiml.h"
#include "flow/flow.h"
#include "oom.h"

static void setup(void)
{
    oom_route_jansson();
}

TestSuite(oom_flow, .init = setup);

struct load_case {
    char *json;
    size_t len;
    int want;      /* 0, or SB_EPARSE for a flow that is refused */
    char *outline; /* the reference outline (want 0) */
    char err[512]; /* the reference message (want SB_EPARSE) */
};

static int run_load(void *ctx)
{
    struct load_case *c = ctx;
    struct flow *f = NULL;
    char err[512];
    char *outline;
    int rc = flow_load(&f, c->json, c->len, err, sizeof(err));

    if (rc < 0 && f)
        rc = OOM_WRONG;
    if (rc == 0 && c->want == 0) {
        oom_pause();
        outline = flow_outline(f);
        if (!outline || strcmp(outline, c->outline) != 0)
            rc = OOM_WRONG;
        free(outline);
        oom_resume();
    } else if (rc == 0) {
        rc = OOM_WRONG; /* a flow that must be refused was accepted */
    } else if (rc == SB_ENOMEM && strcmp(err, "out of memory") != 0) {
        rc = OOM_WRONG;
    } else if (c->want && rc == c->want && strcmp(err, c->err) == 0) {
        rc = 0; /* refused as without failures */
    }
    /*
     * Any other error passes: jansson 2.14 reports a failed allocation in
     * its string scanner as a syntax error ("string or '}' expected"), so
     * flow_load can only pass that on.
     */
    flow_free(f);
    return rc;
}

static void drive_load(const char *file, int want)
{
    char path[512], label[128];
    struct load_case c;
    struct flow *f = NULL;

    snprintf(path, sizeof(path), "%s/fuzz/corpus/flow/%s", OOM_SOURCE_ROOT, file);
    memset(&c, 0, sizeof(c));
    c.json = oom_read_file(path, &c.len);
    c.want = want;
    cr_assert_eq(flow_load(&f, c.json, c.len, c.err, sizeof(c.err)), want, "%s: %s", file, c.err);
    if (want == 0) {
        c.outline = flow_outline(f);
        cr_assert_not_null(c.outline);
    }
    flow_free(f);
    snprintf(label, sizeof(label), "flow_load %s", file);
    oom_drive(label, run_load, &c, NULL);
    free(c.outline);
    free(c.json);
}

Test(oom_flow, load_main)
{
    drive_load("main.json", 0);
}

Test(oom_flow, load_the_other_examples)
{
    drive_load("hours-play.json", 0);
    drive_load("language.json", 0);
    drive_load("menu-speech.json", 0);
    drive_load("transfer.json", 0);
}

Test(oom_flow, load_refusals)
{
    drive_load("cycle.json", SB_EPARSE);
    drive_load("syntax.json", SB_EPARSE);
}

/* ---- the interpreter ---- */

static struct flow *main_flow;

#define STEPS 4
static char *steps_ref[STEPS];

static void env_of(struct flow_env *env)
{
    memset(env, 0, sizeof(*env));
    env->now = 1772445600; /* Monday 2026-03-02 10:00 UTC: open */
    env->transfer = "+15550001111";
    env->caller_id = "+15557770000";
    env->action_url = "/voice/flow";
    env->recording_callback = "/voice/recording";
    env->voice_en = "Polly.Joanna";
    env->voice_es = "Polly.Mia";
    env->plan_stream = 1;
    env->stream_url = "wss://sb.example.com/media";
    env->call_sid = "CA0123456789abcdef0123456789abcdef";
    env->from = "+5215512345678";
    env->to = "+15557770000";
    env->tenant = "acme";
    env->agent = "rules";
    env->stream_token = "q83vEjRUVniQq83vEjRUVniQq83vEjRUVniQq83vEjQ=";
}

/* Runs a Spanish call: the start, "2" for Spanish, "quiero una cita" to the agent. */
static int call(char *docs[STEPS])
{
    static const struct flow_input inputs[STEPS] = {
        {FLOW_START, NULL},
        {FLOW_DIGITS, "2"},
        {FLOW_NO_INPUT, NULL},
        {FLOW_SPEECH, "Quiero una cita, por favor."},
    };
    struct flow_state st, next;
    struct flow_result res;
    struct flow_env env;
    int rc = 0;

    env_of(&env);
    memset(&st, 0, sizeof(st));
    for (int i = 0; i < STEPS; i++)
        docs[i] = NULL;
    for (int i = 0; i < STEPS && rc == 0; i++) {
        struct twiml t;
        size_t len;

        twiml_init(&t);
        rc = flow_step(main_flow, &st, &inputs[i], &env, &t, &next, &res);
        if (rc) {
            twiml_release(&t);
            break;
        }
        rc = twiml_finish(&t, &docs[i], &len);
        st = next;
    }
    return rc;
}

static int run_call(void *ctx)
{
    char *docs[STEPS];
    int rc = call(docs);

    for (int i = 0; i < STEPS; i++) {
        if (rc == 0 && strcmp(docs[i], steps_ref[i]) != 0)
            rc = OOM_WRONG;
        free(docs[i]);
    }
    return rc;
}

Test(oom_flow, spanish_call_through_the_interpreter)
{
    char path[512], err[512];
    size_t len;
    char *json;

    snprintf(path, sizeof(path), "%s/fuzz/corpus/flow/main.json", OOM_SOURCE_ROOT);
    json = oom_read_file(path, &len);
    cr_assert_eq(flow_load(&main_flow, json, len, err, sizeof(err)), 0, "%s", err);
    free(json);
    cr_assert_eq(call(steps_ref), 0);
    cr_assert(strstr(steps_ref[1], "Para citas oprima 1."), "%s", steps_ref[1]);
    cr_assert(strstr(steps_ref[3], "<Stream"), "%s", steps_ref[3]);
    oom_drive("flow_step (Spanish call)", run_call, NULL, NULL);
    for (int i = 0; i < STEPS; i++)
        free(steps_ref[i]);
    flow_free(main_flow);
}
