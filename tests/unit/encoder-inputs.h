/* Inputs for the page encoders' tests (test-lzoenc, test-deflateenc). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* A 64-bit LCG: the same bytes on every machine. */
static inline uint64_t encoder_random(uint64_t *state) {
        *state = *state * 6364136223846793005ull + 1442695040888963407ull;
        return *state >> 33;
}

/* Random bytes and copies of earlier bytes into buf[0..n): runs of 1-24
 * bytes, one in eight up to long_run; copies from anywhere before, or from
 * at most near back. */
static inline void encoder_fill_mixed(uint8_t *buf, size_t n, uint64_t seed, size_t long_run, size_t near) {
        uint64_t st = seed;
        size_t i = 0;

        while (i < n) {
                size_t len = 1 + encoder_random(&st) % (encoder_random(&st) % 8 == 0 ? long_run : 24);

                if (i > 0 && encoder_random(&st) % 2) {
                        size_t d = 1 + encoder_random(&st) % (encoder_random(&st) % 2 ? i : (i < near ? i : near));
                        for (size_t k = 0; k < len && i < n; k++, i++)
                                buf[i] = buf[i - d];
                } else {
                        for (size_t k = 0; k < len && i < n; k++, i++)
                                buf[i] = (uint8_t)encoder_random(&st);
                }
        }
}
