#include "media/utterance.h"

#include <string.h>

#include "core/err.h"
#include "core/banned.h"

void utterance_init(struct utterance *u)
{
    u->preroll_len = 0;
    buf_init(&u->audio, UTTERANCE_MAX_BYTES);
}

void utterance_quiet(struct utterance *u, const unsigned char *frame, size_t len)
{
    if (len >= UTTERANCE_PREROLL_BYTES) {
        memcpy(u->preroll, frame + len - UTTERANCE_PREROLL_BYTES, UTTERANCE_PREROLL_BYTES);
        u->preroll_len = UTTERANCE_PREROLL_BYTES;
        return;
    }
    if (u->preroll_len + len > UTTERANCE_PREROLL_BYTES) {
        size_t drop = u->preroll_len + len - UTTERANCE_PREROLL_BYTES;

        memmove(u->preroll, u->preroll + drop, u->preroll_len - drop);
        u->preroll_len -= drop;
    }
    memcpy(u->preroll + u->preroll_len, frame, len);
    u->preroll_len += len;
}

int utterance_start(struct utterance *u, const unsigned char *frame, size_t len)
{
    int rc;

    buf_reset(&u->audio);
    rc = buf_append(&u->audio, u->preroll, u->preroll_len);
    u->preroll_len = 0;
    if (rc == 0)
        rc = buf_append(&u->audio, frame, len);
    return rc == SB_ETOOBIG ? 0 : rc;
}

int utterance_add(struct utterance *u, const unsigned char *frame, size_t len)
{
    if (u->audio.len + len > UTTERANCE_MAX_BYTES)
        return 1;
    return buf_append(&u->audio, frame, len);
}

unsigned char *utterance_take(struct utterance *u, size_t *len)
{
    unsigned char *audio;

    *len = 0;
    if (!u->audio.len)
        return NULL;
    audio = (unsigned char *)buf_detach(&u->audio, len);
    if (!audio)
        *len = 0;
    return audio;
}

void utterance_release(struct utterance *u)
{
    buf_release(&u->audio);
    u->preroll_len = 0;
}
