/*
 * G.711 µ-law, the only audio encoding of Twilio Media Streams: 8000 Hz,
 * mono, one byte per sample.
 */
#ifndef SB_CORE_MULAW_H
#define SB_CORE_MULAW_H

#include <stddef.h>
#include <stdint.h>

/* The µ-law code of a zero sample; a frame of these is silence on the wire. */
#define MULAW_SILENCE 0xFF

/**
 * Encodes one 16-bit linear PCM sample to a µ-law byte (G.711: bias 0x84,
 * magnitudes clipped at 32635, no zero trap).
 */
uint8_t mulaw_encode(int16_t sample);

/** Decodes one µ-law byte to 16-bit linear PCM (0x00 -> -32124, 0x80 -> 32124). */
int16_t mulaw_decode(uint8_t code);

/** Encodes `n` samples from `in` into `n` bytes at `out` (the caller owns both). */
void mulaw_encode_buf(const int16_t *in, size_t n, uint8_t *out);

/** Decodes `n` bytes from `in` into `n` samples at `out` (the caller owns both). */
void mulaw_decode_buf(const uint8_t *in, size_t n, int16_t *out);

#endif
