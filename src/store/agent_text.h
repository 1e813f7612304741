/*
 * How an agent's languages and voices are written in the store: the
 * languages in one text column, comma-separated; the voices in another,
 * one "lang=voice" a line. Shared by both backends, so that a store copied
 * between them reads the same.
 */
#ifndef SB_STORE_AGENT_TEXT_H
#define SB_STORE_AGENT_TEXT_H

#include "store/agents.h"

/* The language tags as stored: separated by commas. */
#define AGENT_LANGS_TEXT_SIZE (AGENT_MAX_LANGS * LANG_SIZE)
/* The voices as stored: "lang=voice" lines (a tag has no '=', a voice no control character). */
#define AGENT_VOICES_TEXT_SIZE (AGENT_MAX_VOICES * (LANG_SIZE + AGENT_VOICE_SIZE + 1))

void agent_langs_join(const struct agent_config *c, char out[AGENT_LANGS_TEXT_SIZE]);

void agent_langs_split(const char *text, struct agent_config *c);

void agent_voices_join(const struct agent_config *c, char out[AGENT_VOICES_TEXT_SIZE]);

/* Reads the voices column; a line that does not fit is skipped. */
void agent_voices_split(const char *text, struct agent_config *c);

#endif
