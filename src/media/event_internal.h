/*
 * Shared by the two readers of inbound Media Streams messages (event.c, the
 * jansson tree; event_fast.c, the media fast path) and by their tests. Not
 * for other modules: they call media_event_parse.
 */
#ifndef SB_MEDIA_EVENT_INTERNAL_H
#define SB_MEDIA_EVENT_INTERNAL_H

#include <stddef.h>

#include "media/event.h"

/** A string of decimal digits (not empty) as a long: 0, SB_EPARSE, or SB_ETOOBIG when too big. */
int media_decimal(const char *s, size_t n, long *out);

/**
 * Decodes a base64 media payload strictly into ev->payload. Returns 0, or
 * SB_EPARSE / SB_ETOOBIG with a reason in `err`.
 */
int media_decode_payload(struct media_event *ev, const char *s, size_t n, char *err, size_t errlen);

/**
 * The media fast path: 1 when `text` is a media message it could read in
 * full (ev filled exactly as the tree parser would fill it), 0 when the
 * message must go through media_event_parse_tree, which decides.
 */
int media_event_parse_fast(const char *text, size_t len, struct media_event *ev);

/** The complete parser, through a jansson tree: every event, every error message. */
int media_event_parse_tree(const char *text, size_t len, struct media_event *ev, char *err,
                           size_t errlen);

#endif
