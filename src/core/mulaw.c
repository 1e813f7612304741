#include "core/mulaw.h"
#include "core/banned.h"

/* Added to the magnitude so that every segment starts on a power of two. */
#define MULAW_BIAS 0x84
/* The largest magnitude that still fits once the bias is added (0x7FFF). */
#define MULAW_CLIP 32635

/* The largest biased magnitude of each of the eight segments. */
static const int seg_end[8] = {0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF};

uint8_t mulaw_encode(int16_t sample)
{
    int mag = sample;
    int sign = 0;
    int seg = 0;
    int mant;

    if (mag < 0) {
        /* int has room for the magnitude of -32768. */
        mag = -mag;
        sign = 0x80;
    }
    if (mag > MULAW_CLIP)
        mag = MULAW_CLIP;
    mag += MULAW_BIAS;
    while (seg < 7 && mag > seg_end[seg])
        seg++;
    mant = (mag >> (seg + 3)) & 0x0F;
    /* Codes are sent inverted so that silence is mostly ones on the line. */
    return (uint8_t) ~(sign | (seg << 4) | mant);
}

int16_t mulaw_decode(uint8_t code)
{
    int c = (uint8_t)~code;
    int seg = (c >> 4) & 0x07;
    int mant = c & 0x0F;
    int mag = (((mant << 3) + MULAW_BIAS) << seg) - MULAW_BIAS;

    return (int16_t)((c & 0x80) ? -mag : mag);
}

void mulaw_encode_buf(const int16_t *in, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = mulaw_encode(in[i]);
}

void mulaw_decode_buf(const uint8_t *in, size_t n, int16_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = mulaw_decode(in[i]);
}
