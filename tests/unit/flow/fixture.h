/*
 * Shared helpers of the flow tests: the example flow of docs/flows.md, an
 * environment with every field set, and one-call wrappers around flow_load
 * and flow_step that fail the test on an unexpected return.
 */
#ifndef SB_TESTS_FLOW_FIXTURE_H
#define SB_TESTS_FLOW_FIXTURE_H

#include <stddef.h>

#include "flow/flow.h"

#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"

/* Monday 2026-03-02 10:00 UTC, and other instants the hours tests use. */
#define MON_1000 1772445600
#define MON_0859 1772441940
#define MON_0900 1772442000
#define MON_1400 1772460000
#define MON_1700 1772470800
#define MON_2000 1772481600
#define FRI_1330 1772803800
#define SAT_2359 1772927940
#define XMAS_1000 1798192800    /* Friday 2026-12-25 */
#define NEWYEAR_1000 1798797600 /* Friday 2027-01-01 */

/* The example flow of docs/flows.md (fuzz/corpus/flow/main.json). */
extern const char fx_main_json[];

/** Loads `json`, failing the test with the loader's message on error. Free with flow_free. */
struct flow *fx_load(const char *json);

/** Loads `json`, expects SB_EPARSE, and returns the message in a static buffer. */
const char *fx_load_error(const char *json);

/** An environment with every field set (English and Spanish voices, a transfer number). */
void fx_env(struct flow_env *env);

/** A fresh state for a caller speaking `lang` ("" for none). */
void fx_state(struct flow_state *st, const char *lang);

/**
 * Runs one step with input `kind`/`text` from *st and stores the new state
 * back in *st. Returns the whole TwiML document (free it); fails the test
 * when flow_step or the TwiML builder fails. `res` may be NULL.
 */
char *fx_step(const struct flow *f, struct flow_state *st, enum flow_input_kind kind,
              const char *text, const struct flow_env *env, struct flow_result *res);

/** fx_step, then checks the document against DECL "<Response>" want "</Response>" and frees it. */
void fx_expect(const struct flow *f, struct flow_state *st, enum flow_input_kind kind,
               const char *text, const struct flow_env *env, const char *want);

#endif
