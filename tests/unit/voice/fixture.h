/*
 * Shared setup of the voice tests: a store in a temporary directory with two
 * tenants and their numbers, the routing table loaded from it, and helpers
 * to build webhook parameters and to capture log lines.
 */
#ifndef SB_TESTS_VOICE_FIXTURE_H
#define SB_TESTS_VOICE_FIXTURE_H

#include "core/form.h"
#include "store/routes.h"
#include "store/store.h"
#include "voice/voice.h"

#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"

/* The bilingual apology, byte for byte. */
#define APOLOGY_DOC                                                                                \
    DECL "<Response><Say voice=\"Polly.Lupe\">Lo sentimos, este número no está configurado. "    \
         "Sorry, this number is not configured.</Say><Hangup /></Response>"

/* Numbers of the fixture. acme has its own voices and a transfer number; bodega has neither. */
#define NUM_PRO "+15005550006"        /* acme, pro, agent "rules" */
#define NUM_ENTERPRISE "+15005550007" /* acme, enterprise, agent "concierge" */
#define NUM_STARTER "+15005550008"    /* acme, starter */
#define NUM_BODEGA "+15005550009"     /* bodega, starter */
#define NUM_INACTIVE "+15005550010"   /* acme, starter, inactive */
#define NUM_NOT_E164 "5005550011"     /* acme, starter, stored without the '+' */
#define NUM_UNKNOWN "+15005559999"    /* in no table */
#define ACME_TRANSFER "+15005550001"

/* Callers by country. */
#define CALLER_US "+14155550100"
#define CALLER_MX "+525512345678"
#define CALLER_ES "+34911234567"
#define CALLER_FR "+33142685300"

#define STREAM_URL "wss://voice.example.test/voice/stream"
#define FIXED_NOW 1700000000LL

/* Set up by fixture_setup, valid until fixture_teardown. */
extern char fx_dir[256];
extern char fx_path[300];
extern struct store *fx_store;
extern struct routes fx_routes;
extern struct voice_ctx fx_ctx; /* routes, no writer, STREAM_URL, clock at FIXED_NOW */

/** Creates the directory and opens an empty store in it. */
void fixture_setup_store(void);

/** fixture_setup_store, then adds the tenants and numbers above and loads the routes. */
void fixture_setup(void);

/** Releases everything and removes the directory. */
void fixture_teardown(void);

/** Returns FIXED_NOW (the clock of fx_ctx). */
long long fixture_now(void *arg);

/**
 * Parses a NULL-terminated list of key, value pairs into `f` (form_release
 * it), percent-encoding them as Twilio does.
 */
void form_from(struct form *f, ...);

/** Starts sending everything written to stderr to a file in fx_dir. */
void capture_start(void);

/** Restores stderr and returns what was written meanwhile (free() it). */
char *capture_stop(void);

#endif
