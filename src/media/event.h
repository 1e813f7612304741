/*
 * The Media Streams wire format (Twilio's WebSocket messages): parsing what
 * Twilio sends and writing what switchboard sends, exactly as documented
 * (numbers as strings where Twilio sends strings). Pure: no I/O, no state.
 */
#ifndef SB_MEDIA_EVENT_H
#define SB_MEDIA_EVENT_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/phone.h"

/* Messages larger than this are refused (a media frame is about 300 bytes). */
#define MEDIA_EVENT_MAX_SIZE 16384
#define MEDIA_MAX_PAYLOAD 4096 /* decoded bytes accepted in one inbound media message */
#define MEDIA_MAX_PARAMS 16

enum media_event_kind {
    MEDIA_EV_CONNECTED,
    MEDIA_EV_START,
    MEDIA_EV_MEDIA,
    MEDIA_EV_DTMF,
    MEDIA_EV_MARK,
    MEDIA_EV_STOP,
    MEDIA_EV_UNKNOWN, /* well-formed, but an event we do not know: log and ignore */
};

struct media_param {
    char name[64];
    char value[256];
};

/* One parsed inbound message. Strings are copied in; nothing points into the input. */
struct media_event {
    enum media_event_kind kind;
    char event[32]; /* the "event" string as sent */
    long sequence;  /* sequenceNumber, -1 when absent (connected) */
    char stream_sid[SID_SIZE];
    /* start */
    char call_sid[SID_SIZE];
    char account_sid[SID_SIZE];
    int nparams;
    int sample_rate;   /* mediaFormat.sampleRate */
    char encoding[32]; /* mediaFormat.encoding */
    /* media */
    char track[16];
    long chunk;
    long timestamp; /* ms */
    size_t payload_len;
    /* dtmf */
    char digit;
    /* mark */
    char mark[64];
    /*
     * The large arrays come last: parsing clears only the fields above them
     * (about 300 bytes, not 9 KiB), since only nparams entries and
     * payload_len bytes are ever meaningful.
     */
    struct media_param params[MEDIA_MAX_PARAMS]; /* customParameters */
    unsigned char payload[MEDIA_MAX_PAYLOAD];
};

/**
 * Parses one text message. Returns 0 and fills `ev`; SB_EPARSE with a
 * lower-case reason in `err` for malformed JSON, a missing or mistyped field
 * ("media.payload is not valid base64", "sequenceNumber is not a string of
 * digits"), or SB_ETOOBIG for a message or payload over the limits.
 */
SB_MUST_CHECK int media_event_parse(const char *text, size_t len, struct media_event *ev, char *err,
                                    size_t errlen);

/** Writes {"event":"media","streamSid":...,"media":{"payload":<base64 of audio>}}. */
SB_MUST_CHECK int media_event_write_media(struct buf *out, const char *stream_sid,
                                          const unsigned char *audio, size_t len);

/** Writes {"event":"mark","streamSid":...,"mark":{"name":...}}. */
SB_MUST_CHECK int media_event_write_mark(struct buf *out, const char *stream_sid, const char *name);

/** Writes {"event":"clear","streamSid":...}. */
SB_MUST_CHECK int media_event_write_clear(struct buf *out, const char *stream_sid);

/** The customParameters value for `name`, or NULL. */
const char *media_event_param(const struct media_event *ev, const char *name);

#endif
