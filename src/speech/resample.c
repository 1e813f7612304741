/* One-shot resampling with libsoxr. */
#include "speech/resample.h"

#include <soxr.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/banned.h"

/* Room past the scaled length for the filter's rounding at either end. */
#define RESAMPLE_SLACK 64

int speech_resample(const int16_t *in, size_t n, int from, int to, int16_t **out, size_t *outn)
{
    soxr_io_spec_t io = soxr_io_spec(SOXR_INT16_I, SOXR_INT16_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_error_t serr;
    int16_t *buf = NULL;
    double scaled;
    size_t cap;
    size_t idone = 0;
    size_t odone = 0;
    int rc = 0;

    *out = NULL;
    *outn = 0;
    if (from < SPEECH_RATE_MIN || from > SPEECH_RATE_MAX || to < SPEECH_RATE_MIN ||
        to > SPEECH_RATE_MAX || (!in && n > 0)) {
        rc = SB_EINVAL;
        goto out;
    }
    if (n == 0)
        goto out;
    /* Computed in double first: n * to could overflow size_t for absurd inputs. */
    scaled = (double)n * (double)to / (double)from;
    if (scaled > (double)SPEECH_RESAMPLE_MAX_SAMPLES) {
        rc = SB_ETOOBIG;
        goto out;
    }
    if (from == to) {
        buf = malloc(n * sizeof(*buf));
        if (!buf) {
            rc = SB_ENOMEM;
            goto out;
        }
        memcpy(buf, in, n * sizeof(*buf));
        odone = n;
        goto out;
    }
    cap = (size_t)scaled + RESAMPLE_SLACK;
    buf = malloc(cap * sizeof(*buf));
    if (!buf) {
        rc = SB_ENOMEM;
        goto out;
    }
    serr =
        soxr_oneshot((double)from, (double)to, 1, in, n, &idone, buf, cap, &odone, &io, &q, NULL);
    if (serr)
        rc = SB_EIO;
out:
    if (rc) {
        free(buf);
        buf = NULL;
        odone = 0;
    }
    *out = buf;
    *outn = odone;
    return rc;
}
