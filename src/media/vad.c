#include "media/vad.h"

#include <stdint.h>
#include "core/banned.h"

/*
 * Energies are mean squares of 16-bit samples: full scale is 32768^2, so
 * -N dBFS (rms) is 32768^2 * 10^(-N/10).
 *
 * The floor starts at about -45 dBFS, above the noise of most phone lines,
 * so that it settles by falling (which is fast) instead of rising through a
 * false start. Speech on a phone line sits near -26 dBFS, well above it.
 */
#define VAD_INITIAL_FLOOR 34000.0
/*
 * About -50 dBFS: nothing quieter is speech. Digital silence (energy 0) and
 * the +-8 steps of idle mu-law stay far below, whatever the floor has
 * decayed to.
 */
#define VAD_MIN_ENERGY 10700.0
/*
 * The floor follows quieter backgrounds within a few hundred ms but rises
 * only over about a second, so a loud syllable counted as quiet (just under
 * the threshold) moves it little.
 */
#define VAD_ALPHA_DOWN 0.1
#define VAD_ALPHA_UP 0.02
/*
 * A step in background noise bigger than `ratio` looks exactly like speech
 * onset and, because the floor is frozen during speech, would never end.
 * Speech always has quiet frames (breaths, pauses between phrases) within a
 * few seconds, so an unbroken run this long (5 s) is taken to be the new
 * background: speech ends and the floor restarts from the current energy.
 */
#define VAD_MAX_LOUD_RUN 250

void vad_init(struct vad *v)
{
    v->noise_floor = VAD_INITIAL_FLOOR;
    v->speech = 0;
    v->onset_frames = 0;
    v->quiet_frames = 0;
    v->ratio = 4.0;
    v->min_energy = VAD_MIN_ENERGY;
    v->onset_needed = 3;
    v->hangover = 15;
}

static double frame_energy(const int16_t *samples, size_t n)
{
    uint64_t sum = 0;
    size_t i;

    /* 2^30 per sample: a 64-bit sum cannot overflow for any sane frame. */
    for (i = 0; i < n; i++)
        sum += (uint64_t)((int32_t)samples[i] * (int32_t)samples[i]);
    return (double)sum / (double)n;
}

static void adapt_floor(struct vad *v, double energy)
{
    double alpha = energy < v->noise_floor ? VAD_ALPHA_DOWN : VAD_ALPHA_UP;

    v->noise_floor += alpha * (energy - v->noise_floor);
}

enum vad_change vad_feed(struct vad *v, const int16_t *samples, size_t n)
{
    enum vad_change change = VAD_NONE;
    double energy;
    int loud;

    if (!v || !samples || n == 0)
        goto out;
    energy = frame_energy(samples, n);
    loud = energy > v->min_energy && energy > v->noise_floor * v->ratio;
    if (!v->speech) {
        if (!loud) {
            v->onset_frames = 0;
            adapt_floor(v, energy);
            goto out;
        }
        /* Loud frames do not feed the floor, or speech would raise its own threshold. */
        v->onset_frames++;
        if (v->onset_frames >= v->onset_needed) {
            v->speech = 1;
            v->quiet_frames = 0;
            change = VAD_SPEECH_START;
        }
        goto out;
    }
    if (loud) {
        v->quiet_frames = 0;
        v->onset_frames++;
        if (v->onset_frames >= VAD_MAX_LOUD_RUN) {
            v->speech = 0;
            v->onset_frames = 0;
            v->noise_floor = energy;
            change = VAD_SPEECH_END;
        }
        goto out;
    }
    v->onset_frames = 0;
    v->quiet_frames++;
    if (v->quiet_frames >= v->hangover) {
        v->speech = 0;
        v->quiet_frames = 0;
        change = VAD_SPEECH_END;
    }
out:
    return change;
}
