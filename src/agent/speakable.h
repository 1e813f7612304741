/*
 * Cuts text streamed from a model into pieces that can be spoken (sent to
 * text-to-speech) as soon as each exists, so the caller hears the first
 * sentence while the model still writes the rest. Fed in pieces of any size,
 * cut anywhere (a token may end in the middle of a UTF-8 character).
 *
 * Where it cuts, at the first of:
 *   - a sentence end: a run of . ! ? or U+2026 (…), then closing quotes or
 *     brackets, then white space, or an opening ¿ or ¡ (which starts the next
 *     sentence, so "Claro.¿Algo más?" is two pieces). A run of . and … alone
 *     is no end when the next word starts with a lower-case ASCII letter
 *     ("etc. and", "Bueno… creo"), after a title ("Dr.", "Sra.", "Mr.",
 *     "St.", "e.g.", "p.ej.", see titles[] in speakable.c) or after one
 *     letter ("J. Smith"). A mark not followed by white space ("9.30",
 *     "3,50", "9:30", "a.m.") is no boundary, so numbers are never cut;
 *   - a line break;
 *   - a clause mark (, ; :) followed by white space, once the piece is at
 *     least min_clause bytes long (so the first piece comes early but not
 *     in fragments), and not when the next word opens a question or an
 *     exclamation (¿ ¡): "Llega el martes, ¿verdad?" stays one piece;
 *   - past max_piece bytes with no boundary: the last white space, else the
 *     last character boundary.
 * A cut piece must hold a letter ("1." of a list waits for its text). Pieces are trimmed of ASCII
 * white space and never empty; a cut never falls inside a UTF-8 sequence. A boundary is decided
 * only once the text after it is seen, so a piece may wait for the next token; speakable_flush
 * speaks the rest (dropping an unfinished UTF-8 sequence at the very end). Bytes are passed through
 * otherwise unchanged.
 *
 * Ownership: struct speakable owns its pending text; speakable_release
 * frees it (a zeroed one is fine). Pieces handed to `emit` are borrowed for
 * the call. One splitter per reply, used by one thread at a time.
 */
#ifndef SB_AGENT_SPEAKABLE_H
#define SB_AGENT_SPEAKABLE_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

#define SPEAKABLE_MIN_CLAUSE 40
#define SPEAKABLE_MAX_PIECE 300

struct speakable {
    struct buf pending; /* text not yet spoken, at most 2 * max_piece bytes */
    size_t min_clause;
    size_t max_piece;
};

/**
 * Gets a piece to speak (`len` bytes, not NUL-terminated, borrowed for the
 * call). Returns nonzero to stop: the push or flush returns that value at
 * once (the piece counts as spoken; the rest stays pending).
 */
typedef int (*speakable_emit_fn)(void *arg, const char *piece, size_t len);

/**
 * Starts an empty splitter; 0 picks SPEAKABLE_MIN_CLAUSE or
 * SPEAKABLE_MAX_PIECE (max_piece is at least 16). Allocates nothing.
 */
void speakable_init(struct speakable *s, size_t min_clause, size_t max_piece);

/**
 * Adds `len` bytes and emits every piece they complete, in order. Returns
 * 0, emit's nonzero value, or SB_ENOMEM (the splitter is still usable;
 * what was pending may be lost).
 */
SB_MUST_CHECK int speakable_push(struct speakable *s, const char *text, size_t len,
                                 speakable_emit_fn emit, void *arg);

/**
 * The text is complete: emits what is pending, cut the same way, and
 * empties the splitter for reuse. Returns 0 or emit's nonzero value.
 */
SB_MUST_CHECK int speakable_flush(struct speakable *s, speakable_emit_fn emit, void *arg);

/** Drops what is pending (the caller interrupted); the splitter is reusable. */
void speakable_reset(struct speakable *s);

/** Frees the pending text; the splitter is empty. A zeroed one is fine. */
void speakable_release(struct speakable *s);

#endif
