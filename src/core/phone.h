/*
 * The phone network's constants, defined once: every module that handles
 * call audio or Twilio identifiers takes them from here.
 */
#ifndef SB_CORE_PHONE_H
#define SB_CORE_PHONE_H

/* G.711 µ-law at 8 kHz: what Twilio Media Streams carry, one byte a sample. */
#define PHONE_RATE 8000
/* One Media Streams frame: 20 ms of audio. */
#define PHONE_FRAME_MS 20
#define PHONE_FRAME_BYTES (PHONE_RATE * PHONE_FRAME_MS / 1000)

/*
 * Twilio SIDs are two letters and 32 hex digits (CA..., MZ..., AC...); a
 * buffer of SID_SIZE bytes holds one with room to spare for a malformed one
 * that is refused rather than cut.
 */
#define SID_LEN 34
#define SID_SIZE 40

#endif
