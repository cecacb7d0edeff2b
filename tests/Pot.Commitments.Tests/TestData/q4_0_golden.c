/*
 * Generates the Q4_0 golden vectors used by Q4CodecTests. NOT compiled by the test suite: it was built
 * once with `gcc -O2 -ffp-contract=off -o q4gen q4_0_golden.c -lm && ./q4gen` and its three output
 * files are committed next to it.
 *
 * The quantizer and dequantizer below follow llama.cpp's reference routines quantize_row_q4_0_ref and
 * dequantize_row_q4_0 (ggml-quants.c) step for step: signed value of largest magnitude, d = max / -8,
 * id = 1/d (0 when d is 0), nibble = min(15, (int8)(x*id + 8.5)), low nibble = element j, high nibble =
 * element j+16, scale stored as IEEE fp16 rounded to nearest-even. fp16 conversion is done two ways
 * (bit manipulation, as GGML's portable fallback does, and the F16C instruction when available) and
 * the program aborts if they ever disagree.
 *
 * Outputs: q4_input.f32 (float32 LE), q4_expected.q4 (18-byte blocks), q4_expected_deq.f32 (float32 LE).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __F16C__
#include <immintrin.h>
#endif

#define QK 32
#define NBLOCKS 160

static uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Round-to-nearest-even fp32 -> fp16 by bit manipulation (the classic FP16 library method). */
static uint16_t to_fp16(float f) {
    const float scale_to_inf = 0x1.0p+112f;
    const float scale_to_zero = 0x1.0p-110f;
    float base = (fabsf(f) * scale_to_inf) * scale_to_zero;
    const uint32_t w = bits_of(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = float_of((bias >> 1) + 0x07800000u) + base;
    const uint32_t b = bits_of(base);
    const uint32_t exp_bits = (b >> 13) & 0x00007C00u;
    const uint32_t mantissa_bits = b & 0x00000FFFu;
    const uint32_t nonsign = exp_bits + mantissa_bits;
    uint16_t h = (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
#ifdef __F16C__
    uint16_t hw = (uint16_t)_cvtss_sh(f, 0);
    if (hw != h) { fprintf(stderr, "fp16 mismatch for %a: %04x vs %04x\n", f, h, hw); abort(); }
#endif
    return h;
}

static float from_fp16(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    if (exp == 0) {
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    if (exp == 31) return float_of(sign | 0x7F800000u | (man << 13));
    return float_of(sign | ((exp + 112) << 23) | (man << 13));
}

static void quantize_block(const float *x, uint8_t *out) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK; j++) {
        const float v = x[j];
        if (amax < fabsf(v)) { amax = fabsf(v); max = v; }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    uint16_t dh = to_fp16(d);
    out[0] = (uint8_t)(dh & 0xFF);
    out[1] = (uint8_t)(dh >> 8);
    for (int j = 0; j < QK / 2; ++j) {
        const float x0 = x[j] * id;
        const float x1 = x[QK / 2 + j] * id;
        const int8_t t0 = (int8_t)(x0 + 8.5f);
        const int8_t t1 = (int8_t)(x1 + 8.5f);
        const uint8_t xi0 = (uint8_t)(15 < t0 ? 15 : t0);
        const uint8_t xi1 = (uint8_t)(15 < t1 ? 15 : t1);
        out[2 + j] = (uint8_t)(xi0 | (xi1 << 4));
    }
}

static void dequantize_block(const uint8_t *in, float *y) {
    const float d = from_fp16((uint16_t)(in[0] | (in[1] << 8)));
    for (int j = 0; j < QK / 2; ++j) {
        const int x0 = (in[2 + j] & 0x0F) - 8;
        const int x1 = (in[2 + j] >> 4) - 8;
        y[j] = x0 * d;
        y[j + QK / 2] = x1 * d;
    }
}

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint64_t next_u64(void) { /* splitmix64 */
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float uniform(void) { return (float)((next_u64() >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f; }

int main(void) {
    static float x[NBLOCKS * QK];
    static uint8_t q[NBLOCKS * 18];
    static float y[NBLOCKS * QK];
    int b = 0;
    /* 0-63: random blocks with a scale that varies per block from 1e-6 to 1e4. */
    for (; b < 64; b++) {
        float scale = powf(10.0f, -6.0f + 10.0f * (float)b / 63.0f);
        for (int j = 0; j < QK; j++) x[b * QK + j] = uniform() * scale;
    }
    /* 64-79: constant blocks (zero, negative zero, positive, negative). */
    for (; b < 80; b++) {
        float c = (b % 4 == 0) ? 0.0f : (b % 4 == 1) ? -0.0f : (b % 4 == 2) ? 1.5f * (float)b : -3.25f * (float)b;
        for (int j = 0; j < QK; j++) x[b * QK + j] = c;
    }
    /* 80-87: mixed signed zeros with a single non-zero. */
    for (; b < 88; b++) {
        for (int j = 0; j < QK; j++) x[b * QK + j] = (j & 1) ? -0.0f : 0.0f;
        x[b * QK + (b * 5) % QK] = (b & 1) ? -0.75f : 2.0f;
    }
    /* 88-103: fp32 subnormals and values near FLT_MIN (1/d overflows to infinity for the smallest). */
    for (; b < 104; b++) {
        for (int j = 0; j < QK; j++) {
            uint32_t mant = (uint32_t)(next_u64() & 0x7FFFFFu);
            uint32_t exp = (b < 96) ? 0u : (uint32_t)(b - 95); /* subnormal, then exponents 1..8 */
            x[b * QK + j] = float_of(((next_u64() & 1) ? 0x80000000u : 0u) | (exp << 23) | mant);
        }
    }
    /* 104-119: large values up to 5.2e5, just inside the fp16 range of d = max/8. */
    for (; b < 120; b++) {
        float scale = 1000.0f * powf(520.0f, (float)(b - 104) / 15.0f);
        for (int j = 0; j < QK; j++) x[b * QK + j] = uniform() * scale;
        x[b * QK + (b % QK)] = (b & 1) ? -scale : scale;
    }
    /* 120-135: exact ties: max = -8 so id = 1 and x + 8.5 hits .0 and .5 boundaries. */
    for (; b < 136; b++) {
        x[b * QK] = -8.0f * (float)(1 + (b & 1));
        for (int j = 1; j < QK; j++) x[b * QK + j] = (float)((int)(next_u64() % 33) - 16) * 0.5f * (float)(1 + (b & 1));
    }
    /* 136-143: scales d that sit exactly halfway between two fp16 values (round to even). */
    for (; b < 144; b++) {
        float d = 1.0f + (float)(2 * (b - 136) + 1) * 0x1.0p-11f;
        for (int j = 0; j < QK; j++) x[b * QK + j] = uniform() * 8.0f * d;
        x[b * QK + 3] = -8.0f * d;
    }
    /* 144-159: plain random in [-1, 1). */
    for (; b < NBLOCKS; b++) {
        for (int j = 0; j < QK; j++) x[b * QK + j] = uniform();
    }
    for (int i = 0; i < NBLOCKS; i++) {
        quantize_block(x + i * QK, q + i * 18);
        dequantize_block(q + i * 18, y + i * QK);
    }
    FILE *f;
    f = fopen("q4_input.f32", "wb"); fwrite(x, 4, NBLOCKS * QK, f); fclose(f);
    f = fopen("q4_expected.q4", "wb"); fwrite(q, 1, NBLOCKS * 18, f); fclose(f);
    f = fopen("q4_expected_deq.f32", "wb"); fwrite(y, 4, NBLOCKS * QK, f); fclose(f);
    printf("wrote %d blocks\n", NBLOCKS);
    return 0;
}
