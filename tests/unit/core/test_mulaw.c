/*
 * Tests for core/mulaw against references written here independently: the
 * decoder from G.711's reconstruction formula, the encoder the plain
 * textbook way (bias, clip, exponent from the highest set bit).
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "core/mulaw.h"

/*
 * G.711 reconstructs code (sign s, segment e, step m, after inverting the
 * bits) at ((2m + 33) << e) - 33 in 14-bit units; 16-bit PCM is four times that.
 */
static int ref_decode(int code)
{
    int c = ~code & 0xFF;
    int e = (c >> 4) & 7;
    int m = c & 15;
    int mag = (((2 * m + 33) << e) - 33) * 4;

    return (c & 0x80) ? -mag : mag;
}

static int ref_encode(int sample)
{
    int sign = sample < 0 ? 0x80 : 0;
    int mag = sample < 0 ? -sample : sample;
    int exponent = 7;

    if (mag > 32635)
        mag = 32635;
    mag += 0x84;
    /* The exponent is the position of the highest set bit above bit 7. */
    while (exponent > 0 && !(mag & (0x4000 >> (7 - exponent))))
        exponent--;
    return ~(sign | (exponent << 4) | ((mag >> (exponent + 3)) & 0x0F)) & 0xFF;
}

Test(mulaw, decode_all_256_codes)
{
    for (int c = 0; c < 256; c++)
        cr_assert_eq(mulaw_decode((uint8_t)c), ref_decode(c), "code 0x%02X: %d, want %d", c,
                     mulaw_decode((uint8_t)c), ref_decode(c));
}

Test(mulaw, decode_known_values)
{
    cr_assert_eq(mulaw_decode(0x00), -32124);
    cr_assert_eq(mulaw_decode(0x7F), 0);
    cr_assert_eq(mulaw_decode(0x80), 32124);
    cr_assert_eq(mulaw_decode(0xFF), 0);
    cr_assert_eq(mulaw_decode(0x7E), -8);
    cr_assert_eq(mulaw_decode(0xFE), 8);
    cr_assert_eq(mulaw_decode(0xEF), 132);
}

Test(mulaw, encode_every_16_bit_value)
{
    for (int s = -32768; s <= 32767; s++)
        cr_assert_eq(mulaw_encode((int16_t)s), ref_encode(s), "sample %d: 0x%02X, want 0x%02X", s,
                     mulaw_encode((int16_t)s), ref_encode(s));
}

Test(mulaw, encode_known_values)
{
    cr_assert_eq(mulaw_encode(0), 0xFF);
    cr_assert_eq(mulaw_encode(-1), 0x7F);
    cr_assert_eq(mulaw_encode(32767), 0x80);
    cr_assert_eq(mulaw_encode(-32768), 0x00);
    cr_assert_eq(mulaw_encode(32124), 0x80);
    cr_assert_eq(mulaw_decode(MULAW_SILENCE), 0);
}

Test(mulaw, round_trip_is_stable)
{
    for (int c = 0; c < 256; c++) {
        int16_t v = mulaw_decode((uint8_t)c);

        cr_assert_eq(mulaw_decode(mulaw_encode(v)), v, "code 0x%02X", c);
    }
}

Test(mulaw, round_trip_error_is_within_half_a_step)
{
    /* A segment's step is 8 << segment and decoding gives its middle. */
    for (int s = -32635; s <= 32635; s += 7) {
        int back = mulaw_decode(mulaw_encode((int16_t)s));
        int err = back > s ? back - s : s - back;
        int mag = (s < 0 ? -s : s) + 0x84;
        int seg = 0;

        while (seg < 7 && mag > (0x100 << seg) - 1)
            seg++;
        cr_assert_leq(err, 4 << seg, "sample %d decoded as %d", s, back);
    }
}

Test(mulaw, buffers)
{
    int16_t pcm[6] = {0, 1000, -1000, 32767, -32768, 8};
    uint8_t codes[6];
    int16_t back[6];

    mulaw_encode_buf(pcm, 6, codes);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(codes[i], mulaw_encode(pcm[i]));
    mulaw_decode_buf(codes, 6, back);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(back[i], mulaw_decode(codes[i]));
}
