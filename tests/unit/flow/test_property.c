/*
 * Property tests for the flow interpreter: random flows (and one flow made
 * of menus that lead into each other) driven by random callers. Whatever the
 * flow and whatever the caller does, every call must end (done, or a
 * <Hangup />) within FLOW_MAX_STEPS steps, every step must give a valid
 * document that either waits for the caller or ends the call, and the same
 * step run twice must give the same bytes.
 *
 * The seed is printed; set SB_FLOW_SEED to run the same flows again.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/twiml.h"
#include "fixture.h"
#include "flow/flow.h"

#define FLOWS 2000
#define CALLS_PER_FLOW 5

struct rng {
    uint64_t s;
};

/* splitmix64: small, fast, and the same on every platform. */
static uint64_t rnd(struct rng *r)
{
    uint64_t z;

    r->s += 0x9e3779b97f4a7c15ULL;
    z = r->s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int below(struct rng *r, int n)
{
    return (int)(rnd(r) % (uint64_t)n);
}

static uint64_t seed_from_env(void)
{
    const char *s = getenv("SB_FLOW_SEED");
    uint64_t seed;

    if (s && *s)
        seed = strtoull(s, NULL, 10);
    else
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    fprintf(stderr, "flow property seed: %llu (SB_FLOW_SEED=%llu repeats this run)\n",
            (unsigned long long)seed, (unsigned long long)seed);
    return seed;
}

static const char *const words[] = {"sales", "billing", "cita",    "español", "persona",
                                    "help",  "ÚLTIMO",  "one two", "agent",   "2"};
static const char *const noise[] = {"um", "please", "CITA",  "Español", "¿",       "!",
                                    "2",  "0.",     "Sales", "two",     "PERSONA", "help me"};
static const char *const keys[] = {"0", "1", "2", "3", "4",  "5",  "6",  "7",
                                   "8", "9", "*", "#", "10", "11", "123"};
static const char *const langs[] = {"en", "es", "en-US", "es-MX", "fr-FR"};
static const char *const statuses[] = {"completed", "busy",     "no-answer", "failed",
                                       "canceled",  "answered", "bogus",     ""};
static const char *const types[] = {"say",      "play",      "menu",  "hours",    "language",
                                    "transfer", "voicemail", "agent", "redirect", "hangup"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void gen_text(struct rng *r, struct buf *b, const char *field, int i)
{
    int n, k, used = 0;

    if (below(r, 3) == 0) {
        cr_assert_eq(buf_printf(b, "\"%s\": \"text %d & <more>\", ", field, i), 0);
        return;
    }
    cr_assert_eq(buf_printf(b, "\"%s\": {", field), 0);
    n = 1 + below(r, 3);
    for (k = 0; k < n; k++) {
        int l = below(r, COUNT(langs));

        if (used & (1 << l))
            continue;
        used |= 1 << l;
        cr_assert_eq(
            buf_printf(b, "%s\"%s\": \"%s %d\"", used != (1 << l) ? ", " : "", langs[l], field, i),
            0);
    }
    cr_assert_eq(buf_puts(b, "}, "), 0);
}

/* A node that may be jumped to without waiting: later in the list, so chains end. */
static int forward(struct rng *r, int i, int n, int chaos)
{
    if (chaos || i + 1 >= n)
        return below(r, n);
    return i + 1 + below(r, n - i - 1);
}

static void gen_keywords(struct rng *r, struct buf *b)
{
    int k, n = 1 + below(r, 2);

    cr_assert_eq(buf_puts(b, "\"keywords\": ["), 0);
    for (k = 0; k < n; k++)
        cr_assert_eq(buf_printf(b, "%s\"%s\"", k ? ", " : "", words[below(r, COUNT(words))]), 0);
    cr_assert_eq(buf_puts(b, "]"), 0);
}

static void gen_menu(struct rng *r, struct buf *b, int n)
{
    static const char *const inputs[] = {"dtmf", "speech", "dtmf speech"};
    int k, count = 1 + below(r, 4), used = 0;

    gen_text(r, b, "prompt", 0);
    if (below(r, 2))
        gen_text(r, b, "invalid_prompt", 1);
    if (below(r, 2))
        cr_assert_eq(buf_printf(b, "\"input\": \"%s\", ", inputs[below(r, 3)]), 0);
    cr_assert_eq(
        buf_printf(b, "\"timeout\": %d, \"max_attempts\": %d, ", 1 + below(r, 10), 1 + below(r, 4)),
        0);
    if (below(r, 2))
        cr_assert_eq(buf_printf(b, "\"fallback\": \"n%d\", ", below(r, n)), 0);
    cr_assert_eq(buf_puts(b, "\"options\": ["), 0);
    for (k = 0; k < count; k++) {
        int d = below(r, COUNT(keys)), kw = below(r, 3);

        cr_assert_eq(buf_puts(b, k ? ", {" : "{"), 0);
        if ((used & (1 << d)) == 0 && kw != 2) {
            used |= 1 << d;
            cr_assert_eq(buf_printf(b, "\"digit\": \"%s\", ", keys[d]), 0);
        } else {
            kw = 1;
        }
        if (kw) {
            gen_keywords(r, b);
            cr_assert_eq(buf_puts(b, ", "), 0);
        }
        cr_assert_eq(buf_printf(b, "\"next\": \"n%d\"}", below(r, n)), 0);
    }
    cr_assert_eq(buf_puts(b, "]"), 0);
}

static void gen_language(struct rng *r, struct buf *b, int n)
{
    int k, count = 1 + below(r, 3);

    gen_text(r, b, "prompt", 0);
    cr_assert_eq(
        buf_printf(b, "\"next\": \"n%d\", \"max_attempts\": %d, ", below(r, n), 1 + below(r, 3)),
        0);
    if (below(r, 2))
        cr_assert_eq(buf_printf(b, "\"fallback\": \"n%d\", ", below(r, n)), 0);
    cr_assert_eq(buf_puts(b, "\"options\": {"), 0);
    for (k = 0; k < count; k++) {
        const char *lang = langs[below(r, COUNT(langs))];

        if (below(r, 2)) {
            cr_assert_eq(buf_printf(b, "%s\"%d\": \"%s\"", k ? ", " : "", k + 1, lang), 0);
        } else {
            cr_assert_eq(buf_printf(b, "%s\"%d\": {\"lang\": \"%s\", ", k ? ", " : "", k + 1, lang),
                         0);
            gen_keywords(r, b);
            cr_assert_eq(buf_puts(b, "}"), 0);
        }
    }
    cr_assert_eq(buf_puts(b, "}"), 0);
}

static void gen_hours(struct rng *r, struct buf *b, int i, int n, int chaos)
{
    static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    int d;

    cr_assert_eq(buf_puts(b, "\"weekly\": {"), 0);
    for (d = 0; d < 7; d++) {
        int start = below(r, 24), end = start + 1 + below(r, 24 - start);

        cr_assert_eq(
            buf_printf(b, "%s\"%s\": [\"%02d:00-%02d:00\"]", d ? ", " : "", days[d], start, end),
            0);
    }
    cr_assert_eq(buf_puts(b, "}, "), 0);
    if (below(r, 2))
        cr_assert_eq(buf_puts(b, "\"holidays\": [\"2026-12-25\", \"01-01\", \"07-04\"], "), 0);
    cr_assert_eq(buf_printf(b, "\"open\": \"n%d\", \"closed\": \"n%d\"", forward(r, i, n, chaos),
                            forward(r, i, n, chaos)),
                 0);
}

static void gen_transfer(struct rng *r, struct buf *b, int n)
{
    static const char *const branches[] = {"completed", "busy", "no-answer", "failed", "canceled"};
    int k, first = 1;

    if (below(r, 2))
        cr_assert_eq(buf_puts(b, "\"number\": \"+15557654321\", "), 0);
    cr_assert_eq(buf_printf(b, "\"timeout\": %d, \"record\": %s, \"on\": {", 5 + below(r, 30),
                            below(r, 2) ? "true" : "false"),
                 0);
    for (k = 0; k < COUNT(branches); k++) {
        if (below(r, 2))
            continue;
        cr_assert_eq(
            buf_printf(b, "%s\"%s\": \"n%d\"", first ? "" : ", ", branches[k], below(r, n)), 0);
        first = 0;
    }
    cr_assert_eq(buf_puts(b, "}"), 0);
}

/*
 * A random flow of 1 to 12 nodes. Chains that do not wait only point
 * forward, unless `chaos`, which makes loops the loader must refuse.
 */
static char *gen_flow(struct rng *r, int chaos)
{
    struct buf b = BUF_INIT(1 << 20);
    int n = 1 + below(r, 12), i;

    cr_assert_eq(
        buf_printf(&b, "{\"name\": \"main\", \"start\": \"n%d\", \"nodes\": {\n", below(r, n)), 0);
    for (i = 0; i < n; i++) {
        int t = below(r, COUNT(types));

        /* The last node cannot chain forward: make it one that waits or ends. */
        if (i == n - 1 && !chaos && (t == 0 || t == 1 || t == 3))
            t = 9;
        cr_assert_eq(buf_printf(&b, "%s\"n%d\": {\"type\": \"%s\", ", i ? ",\n" : "", i, types[t]),
                     0);
        switch (t) {
        case 0:
            gen_text(r, &b, "text", i);
            cr_assert_eq(buf_printf(&b, "\"next\": \"n%d\"", forward(r, i, n, chaos)), 0);
            break;
        case 1:
            cr_assert_eq(
                buf_printf(&b, "\"url\": \"https://cdn.example.com/%d.mp3\", \"next\": \"n%d\"", i,
                           forward(r, i, n, chaos)),
                0);
            break;
        case 2:
            gen_menu(r, &b, n);
            break;
        case 3:
            gen_hours(r, &b, i, n, chaos);
            break;
        case 4:
            gen_language(r, &b, n);
            break;
        case 5:
            gen_transfer(r, &b, n);
            break;
        case 6:
            if (below(r, 2))
                gen_text(r, &b, "prompt", i);
            cr_assert_eq(buf_printf(&b, "\"max_length\": %d, \"next\": \"n%d\"", 1 + below(r, 300),
                                    below(r, n)),
                         0);
            break;
        case 7:
            if (below(r, 2))
                gen_text(r, &b, "prompt", i);
            cr_assert_eq(
                buf_puts(&b, below(r, 2) ? "\"agent\": \"sales\"" : "\"description\": \"agent\""),
                0);
            break;
        case 8:
            cr_assert_eq(buf_puts(&b, below(r, 2) ? "\"flow\": \"main\"" : "\"flow\": \"other\""),
                         0);
            break;
        default:
            if (below(r, 2))
                gen_text(r, &b, "text", i);
            cr_assert_eq(buf_puts(&b, "\"description\": \"end\""), 0);
            break;
        }
        cr_assert_eq(buf_puts(&b, "}"), 0);
    }
    cr_assert_eq(buf_puts(&b, "}}\n"), 0);
    cr_assert_not_null(b.data);
    return buf_detach(&b, NULL);
}

static void random_env(struct rng *r, struct flow_env *env)
{
    fx_env(env);
    env->now = MON_1000 + (time_t)below(r, 366 * 86400);
    env->utc_offset_min = below(r, 26 * 60) - 12 * 60;
    if (below(r, 2))
        env->transfer = "";
    env->plan_stream = below(r, 2);
    if (below(r, 4) == 0)
        env->voice_es = NULL;
}

static void random_input(struct rng *r, const char *doc, struct flow_input *in, char *speech,
                         size_t size)
{
    int k, n;
    size_t used = 0;

    if (strstr(doc, "<Dial action=")) {
        in->kind = FLOW_DIAL_DONE;
        in->text = statuses[below(r, COUNT(statuses))];
        return;
    }
    if (strstr(doc, "<Record ")) {
        in->kind = FLOW_RECORDED;
        in->text = NULL;
        return;
    }
    cr_assert(strstr(doc, "<Gather action=\"/voice/flow\"") != NULL,
              "a call that is not done must wait for the caller: %s", doc);
    switch (below(r, 3)) {
    case 0:
        in->kind = FLOW_DIGITS;
        in->text = below(r, 8) ? keys[below(r, COUNT(keys))] : "";
        break;
    case 1:
        n = below(r, 4);
        speech[0] = '\0';
        for (k = 0; k < n; k++) {
            const char *w =
                below(r, 2) ? words[below(r, COUNT(words))] : noise[below(r, COUNT(noise))];
            int m = snprintf(speech + used, size - used, "%s%s", k ? " " : "", w);

            if (m > 0 && (size_t)m < size - used)
                used += (size_t)m;
        }
        in->kind = FLOW_SPEECH;
        in->text = speech;
        break;
    default:
        in->kind = FLOW_NO_INPUT;
        in->text = NULL;
        break;
    }
}

/* One step, twice: both runs must succeed and agree byte for byte. */
static char *checked_step(const struct flow *f, struct flow_state *st, const struct flow_input *in,
                          const struct flow_env *env, struct flow_result *res, const char *ctx)
{
    struct flow_state next, again;
    struct flow_result res2;
    struct twiml t;
    char *doc = NULL, *doc2 = NULL;
    size_t len, len2;
    int rc;

    twiml_init(&t);
    rc = flow_step(f, st, in, env, &t, &next, res);
    cr_assert_eq(rc, 0, "%s: flow_step: %s", ctx, sb_strerror(rc));
    rc = twiml_finish(&t, &doc, &len);
    cr_assert_eq(rc, 0, "%s: twiml: %s", ctx, sb_strerror(rc));
    twiml_init(&t);
    cr_assert_eq(flow_step(f, st, in, env, &t, &again, &res2), 0);
    cr_assert_eq(twiml_finish(&t, &doc2, &len2), 0);
    cr_assert(len == len2 && memcmp(doc, doc2, len) == 0, "%s: not deterministic", ctx);
    cr_assert(memcmp(&next, &again, sizeof(next)) == 0, "%s: state not deterministic", ctx);
    cr_assert(memcmp(res, &res2, sizeof(res2)) == 0, "%s: result not deterministic", ctx);
    free(doc2);
    cr_assert_leq(next.steps, FLOW_MAX_STEPS, "%s", ctx);
    cr_assert_geq(next.steps, st->steps, "%s", ctx);
    *st = next;
    return doc;
}

/* Plays one random call through `f`; returns the number of webhooks it took. */
static int random_call(const struct flow *f, struct rng *r, const char *ctx)
{
    struct flow_env env;
    struct flow_state st;
    struct flow_input in = {FLOW_START, NULL};
    struct flow_result res;
    char speech[256];
    int calls = 0;

    random_env(r, &env);
    fx_state(&st, below(r, 4) ? langs[below(r, COUNT(langs))] : "");
    for (;;) {
        char *doc = checked_step(f, &st, &in, &env, &res, ctx);

        calls++;
        cr_assert_leq(calls, FLOW_MAX_STEPS + 1, "%s: the call did not end: %s", ctx, doc);
        if (st.done && res.redirect_flow[0]) {
            /* The caller loads the named flow; this test has only one. */
            in.kind = FLOW_START;
            in.text = NULL;
        } else if (st.done) {
            cr_assert(strstr(doc, "<Hangup />") || strstr(doc, "<Connect action="), "%s: %s", ctx,
                      doc);
            free(doc);
            return calls;
        } else {
            cr_assert_null(strstr(doc, "<Hangup />"), "%s: hung up but not done: %s", ctx, doc);
            random_input(r, doc, &in, speech, sizeof(speech));
        }
        free(doc);
    }
}

Test(property, random_flows_and_callers_always_end, .timeout = 240)
{
    uint64_t seed = seed_from_env();
    struct rng r = {seed};
    int i, c, loaded = 0;
    char ctx[96], err[512];

    for (i = 0; i < FLOWS; i++) {
        int chaos = below(&r, 10) == 0;
        char *json = gen_flow(&r, chaos);
        struct flow *f = NULL;
        int rc = flow_load(&f, json, strlen(json), err, sizeof(err));

        snprintf(ctx, sizeof(ctx), "seed %llu flow %d", (unsigned long long)seed, i);
        if (rc) {
            /* Only loops are expected to be refused, and only in chaos flows. */
            cr_assert_eq(rc, SB_EPARSE, "%s", ctx);
            cr_assert(chaos && strstr(err, "loops without waiting"), "%s: %s\n%s", ctx, err, json);
            free(json);
            continue;
        }
        loaded++;
        for (c = 0; c < CALLS_PER_FLOW; c++)
            random_call(f, &r, ctx);
        flow_free(f);
        free(json);
    }
    cr_assert_geq(loaded, FLOWS * 85 / 100, "only %d of %d flows loaded", loaded, FLOWS);
}

/* Menus and a language node that lead into each other, with no way out but the bound. */
static const char cyclic_json[] =
    "{\"name\": \"main\", \"start\": \"hello\", \"nodes\": {"
    "\"hello\": {\"type\": \"say\", \"text\": {\"en\": \"Hi.\", \"es\": \"Hola.\"}, \"next\": "
    "\"a\"},"
    "\"a\": {\"type\": \"menu\", \"prompt\": \"A\", \"max_attempts\": 2, \"fallback\": \"b\", "
    "\"options\": [{\"digit\": \"1\", \"keywords\": [\"sales\"], \"next\": \"b\"}, {\"digit\": "
    "\"2\", \"next\": \"l\"}, {\"digit\": \"*\", \"next\": \"hello\"}]},"
    "\"b\": {\"type\": \"menu\", \"prompt\": {\"es\": \"B\"}, \"input\": \"speech\", "
    "\"fallback\": \"a\", \"options\": [{\"keywords\": [\"persona\", \"cita\"], \"next\": "
    "\"a\"}, {\"digit\": \"0\", \"next\": \"r\"}]},"
    "\"l\": {\"type\": \"language\", \"prompt\": {\"en\": \"1\", \"es\": \"2\"}, \"options\": "
    "{\"1\": \"en-US\", \"2\": {\"lang\": \"es-MX\", \"keywords\": [\"español\"]}}, \"next\": "
    "\"a\"},"
    "\"r\": {\"type\": \"redirect\", \"flow\": \"main\"}}}";

Test(property, menus_in_a_cycle_always_end, .timeout = 120)
{
    uint64_t seed = seed_from_env();
    struct rng r = {seed};
    struct flow *f = fx_load(cyclic_json);
    char ctx[96];
    int c, longest = 0;

    for (c = 0; c < 3000; c++) {
        int calls;

        snprintf(ctx, sizeof(ctx), "seed %llu call %d", (unsigned long long)seed, c);
        calls = random_call(f, &r, ctx);
        if (calls > longest)
            longest = calls;
    }
    /* Some caller kept going until the bound ended the call. */
    cr_assert_geq(longest, FLOW_MAX_STEPS / 2, "longest call: %d webhooks", longest);
    flow_free(f);
}
