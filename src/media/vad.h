/*
 * Voice activity detection on the caller's 8 kHz audio, one 20 ms frame at a
 * time: frame energy against an adaptive noise floor, with an onset count and
 * a hangover so that short clicks do not start speech and short pauses do not
 * end it. The struct is the interface: a better detector can replace the
 * energy one behind the same functions.
 */
#ifndef SB_MEDIA_VAD_H
#define SB_MEDIA_VAD_H

#include <stddef.h>
#include <stdint.h>

struct vad {
    double noise_floor; /* running estimate of background energy (mean square) */
    int speech;         /* 1 while the caller is speaking */
    int onset_frames;   /* consecutive loud frames seen */
    int quiet_frames;   /* consecutive quiet frames while speaking */
    /* tuning, set by vad_init */
    double ratio; /* speech when energy > floor * ratio (and above min_energy) */
    double min_energy;
    int onset_needed; /* loud frames before speech starts (e.g. 3 = 60 ms) */
    int hangover;     /* quiet frames before speech ends (e.g. 15 = 300 ms) */
};

enum vad_change { VAD_NONE, VAD_SPEECH_START, VAD_SPEECH_END };

/** Sets defaults: ratio 4, onset 3 frames (60 ms), hangover 15 frames (300 ms). */
void vad_init(struct vad *v);

/**
 * Feeds one frame of 16-bit samples (normally PHONE_FRAME_BYTES). Returns whether speech
 * started or ended with this frame. The noise floor adapts only outside speech.
 */
enum vad_change vad_feed(struct vad *v, const int16_t *samples, size_t n);

#endif
