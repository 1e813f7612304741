/*
 * The wire format between the isolated engine and its synthesizer children
 * (private to speech/). Both ends are the same executable on the same host,
 * so integers travel in native byte order; every length is checked against
 * the limits below before anything is allocated.
 *
 *   hello   (child, once):  u32 TTS_PROTO_HELLO
 *   request (parent):       u32 TTS_PROTO_REQUEST, u32 lang_len, u32 voice_len,
 *                           u32 text_len, then the three strings without NULs
 *                           (length 0: NULL for lang and voice)
 *   reply   (child):        u32 TTS_PROTO_REPLY, i32 rc, i32 rate, u32 reason_len,
 *                           u64 samples, then the reason, then the samples (i16)
 */
#ifndef SB_SPEECH_TTS_PROTO_H
#define SB_SPEECH_TTS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define TTS_PROTO_HELLO 0x53425448u   /* "SBTH" */
#define TTS_PROTO_REQUEST 0x53425451u /* "SBTQ" */
#define TTS_PROTO_REPLY 0x53425452u   /* "SBTR" */

#define TTS_PROTO_TAG_MAX 255u
#define TTS_PROTO_TEXT_MAX (1024u * 1024u)
#define TTS_PROTO_REASON_MAX 1024u

struct tts_proto_request {
    uint32_t magic;
    uint32_t lang_len;
    uint32_t voice_len;
    uint32_t text_len;
};

struct tts_proto_reply {
    uint32_t magic;
    int32_t rc;
    int32_t rate;
    uint32_t reason_len;
    uint64_t samples;
};

/*
 * Writes all `len` bytes to socket `fd` (MSG_NOSIGNAL: a closed peer is an
 * error, not a signal). `deadline_ms` is a CLOCK_MONOTONIC time in ms, or
 * -1 for no limit. Returns 0, SB_EIO (peer gone, error) or SB_EBUSY (deadline).
 */
int tts_proto_send(int fd, const void *buf, size_t len, long long deadline_ms);

/*
 * Reads exactly `len` bytes from `fd`. Returns 0, SB_ECLOSED (end of input
 * before the first byte), SB_EIO (end of input inside, or an error) or
 * SB_EBUSY (deadline, as for tts_proto_send).
 */
int tts_proto_recv(int fd, void *buf, size_t len, long long deadline_ms);

#endif
