/*
 * A TwiML document parsed the way Twilio reads it: well-formed XML (else
 * error 12100 with the line), root <Response>, then checked against the
 * TwiML grammar of core/twiml (unknown verbs, attributes or children are
 * 12200 warnings with their line). Uses libxml2.
 */
#ifndef SB_SIM_DOC_H
#define SB_SIM_DOC_H

#include <stddef.h>

#include "core/err.h"

struct sim_attr {
    const char *name;
    const char *value;
};

struct sim_node {
    const char *name; /* element name */
    const char *text; /* text content directly inside, whitespace-trimmed; "" when none */
    struct sim_attr *attrs;
    size_t nattrs;
    struct sim_node *children; /* elements only, in document order */
    size_t nchildren;
    int line;
};

#define SIM_DOC_MAX_PROBLEMS 16

struct sim_problem {
    int code; /* 12100 (fatal) or 12200 (warning) */
    int line; /* 0 when unknown */
    char message[192];
};

struct sim_doc {
    struct sim_node root; /* <Response> */
    struct sim_problem problems[SIM_DOC_MAX_PROBLEMS];
    size_t nproblems;
    void *arena; /* owns every string and node */
};

/**
 * Parses and checks `len` bytes of TwiML. Returns 0 when the document can be
 * executed (there may still be 12200 warnings in doc->problems), SB_EPARSE
 * when it cannot (a 12100 problem says why: not XML, leading whitespace
 * before the XML declaration, root is not <Response>). Release with
 * sim_doc_release in both cases.
 */
SB_MUST_CHECK int sim_doc_parse(struct sim_doc *doc, const char *xml, size_t len);

/** The value of attribute `name`, or NULL. */
const char *sim_node_attr(const struct sim_node *n, const char *name);

/** Frees the document. */
void sim_doc_release(struct sim_doc *doc);

#endif
