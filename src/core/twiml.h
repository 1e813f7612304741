/*
 * TwiML builder: writes a document element by element, byte-identical to
 * twilio-python's output for the same document (XML declaration, attributes
 * sorted by name, empty elements as `<Hangup />`, no whitespace between
 * elements). Only the voice verbs and nouns Twilio knows, with their known
 * attributes, are accepted, so a typo is an error here rather than a 12200
 * warning on a live call.
 *
 * Errors are sticky: after the first failure every call is a no-op that
 * returns the same code, and twiml_finish reports it. Handlers can build a
 * whole document and check once.
 */
#ifndef SB_CORE_TWIML_H
#define SB_CORE_TWIML_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* Twilio rejects documents over 64 KiB (error 11750). */
#define TWIML_MAX_SIZE 65536
#define TWIML_MAX_DEPTH 8

struct twiml {
    struct buf out;
    const char *stack[TWIML_MAX_DEPTH]; /* open element names (static strings) */
    int depth;
    int tag_open; /* the innermost start tag still lacks its '>' */
    int err;      /* first error, 0 when none */
};

/**
 * Starts a document: writes the XML declaration and opens <Response>.
 * Allocates nothing until the first write; release with twiml_release or
 * hand the text out with twiml_finish.
 */
void twiml_init(struct twiml *t);

/**
 * Opens element `name` with attributes given as a NULL-terminated list of
 * name, value pairs (`attrs` may be NULL). A pair whose value is NULL is
 * skipped (as the helper libraries drop None). Attributes are written sorted
 * by name and escaped. Returns 0, SB_EINVAL for an unknown element, an
 * attribute the element does not take, or a child its parent does not allow;
 * SB_ETOOBIG past TWIML_MAX_SIZE or TWIML_MAX_DEPTH; SB_ENOMEM. The first
 * error is also kept and returned by twiml_finish, so a caller may build a
 * whole document and check once there (twiml_finish must be checked).
 */
int twiml_open(struct twiml *t, const char *name, const char *const *attrs);

/** Writes escaped text content (UTF-8 passes through). Same returns as twiml_open. */
int twiml_text(struct twiml *t, const char *text);

/** Closes the innermost open element (`<X />` when it had no content). */
int twiml_close(struct twiml *t);

/** Opens `name`, writes `text` when not NULL, and closes it. */
int twiml_leaf(struct twiml *t, const char *name, const char *const *attrs, const char *text);

/**
 * Closes every open element including <Response> and hands the document to
 * the caller (free() it). Returns 0 with *out and *len set, or the first error
 * (nothing is handed out). The builder is released either way.
 */
SB_MUST_CHECK int twiml_finish(struct twiml *t, char **out, size_t *len);

/** Frees the builder's memory without producing a document. */
void twiml_release(struct twiml *t);

/** Appends `text` XML-escaped for element content (& < >) to `b`. */
SB_MUST_CHECK int twiml_escape_text(struct buf *b, const char *text);

/** Appends `text` XML-escaped for a double-quoted attribute (& < > " \n \r \t). */
SB_MUST_CHECK int twiml_escape_attr(struct buf *b, const char *text);

/*
 * Read-only queries on the grammar above, for code that checks documents
 * written by others (the simulator reports what Twilio would flag as 12200).
 * An element is named by its parent and its own name because one name can
 * denote different nouns: <Sip> inside <Refer> takes no attributes, <Sip>
 * inside <Dial> takes many. The parent of <Response> is NULL. Names are
 * compared case-sensitively, as Twilio does.
 */

/**
 * Returns 1 when element `name` may appear directly inside `parent` (NULL for
 * the document root, which only <Response> may be), 0 otherwise or when
 * either name is unknown.
 */
int twiml_schema_element(const char *parent, const char *name);

/**
 * Returns 1 when element `name` inside `parent` takes attribute `attr`
 * (SSML's "xml:lang" is spelled with its prefix), 0 otherwise.
 */
int twiml_schema_attr(const char *parent, const char *name, const char *attr);

/** Returns 1 when element `name` inside `parent` may hold character content, 0 otherwise. */
int twiml_schema_text(const char *parent, const char *name);

/**
 * Returns the static name of the element allowed inside `parent` that equals
 * `name` ignoring ASCII case (for "did you mean <Say>?" on a misspelt
 * `<say>`), or NULL when there is none.
 */
const char *twiml_schema_suggest(const char *parent, const char *name);

#endif
