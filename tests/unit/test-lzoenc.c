/* lib/lzoenc: every stream it writes must come back through liblzo's
 * lzo1x_decompress_safe(), the decoder crash and makedumpfile use, byte for
 * byte; and it must say "store raw" rather than write a stream that is not
 * shorter than its input. */
#include <lzo/lzo1x.h>
#include <stdlib.h>

#include "encoder-inputs.h"
#include "harness.h"
#include "lzoenc.h"

#define MAX LZOENC_MAX_INPUT

static uint8_t in[MAX], out[MAX + MAX / 16 + 64], back[MAX];

/* Encodes in[0..n) and, when the encoder writes a stream, checks that liblzo
 * reads it back whole. Returns the stream's length (0: stored raw). */
static size_t round_trip(struct lzoenc *e, size_t n, size_t cap) {
        size_t m = lzoenc_compress(e, in, n, out, cap);
        lzo_uint got = sizeof(back);

        if (m == 0)
                return 0;
        if (m >= n || m > cap)
                harness_fail(__FILE__, __LINE__, "a stream of %zu bytes for %zu (room %zu)", m, n, cap);
        if (lzo1x_decompress_safe(out, m, back, &got, NULL) != LZO_E_OK || got != n || memcmp(back, in, n) != 0)
                harness_fail(__FILE__, __LINE__, "%zu bytes do not come back from their %zu-byte stream", n, m);
        return m;
}

/* Random bytes and copies of earlier bytes, at distances and lengths that
 * reach every instruction form: short and long literal runs, M2 and M3
 * matches, lengths past the instruction's own bits. */
static void fill_mixed(size_t n, uint64_t seed) {
        encoder_fill_mixed(in, n, seed, 600, 2048);
}

/* A page of kernel pointers, which differ in their lowest byte. */
static void fill_pointers(size_t n, uint64_t seed) {
        uint64_t st = seed;

        for (size_t i = 0; i + 8 <= n; i += 8) {
                uint64_t p = 0xffff888012345600ull | (encoder_random(&st) & 0xff);
                memcpy(in + i, &p, 8);
        }
}

TEST(mixed_inputs_come_back) {
        struct lzoenc *e = NULL;
        size_t streams = 0;

        ASSERT_EQ_INT(lzoenc_new(&e), 0);
        for (uint64_t seed = 1; seed <= 3000; seed++) {
                size_t n = seed % 5 == 0 ? 1 + seed * 7 % MAX : 4096;

                fill_mixed(n, seed);
                streams += round_trip(e, n, sizeof(out)) > 0;
        }
        /* Most of these repeat enough to shrink. */
        ASSERT_TRUE(streams > 2000);
        lzoenc_free(e);
}

TEST(pointer_arrays_shrink) {
        struct lzoenc *e = NULL;

        ASSERT_EQ_INT(lzoenc_new(&e), 0);
        for (uint64_t seed = 1; seed <= 50; seed++) {
                fill_pointers(4096, seed);
                /* 7 of every 8 bytes repeat at distance 8. */
                ASSERT_TRUE(round_trip(e, 4096, sizeof(out)) < 4096 / 2);
        }
        lzoenc_free(e);
}

/* Every literal-run length at the start and between two matches, across
 * the boundaries of its encodings (1-3 in a match's tail bits, 4-18 in a
 * byte, then extra bytes; a first run up to 238 in the first byte). */
TEST(every_literal_run_length) {
        struct lzoenc *e = NULL;
        uint64_t st = 99;

        ASSERT_EQ_INT(lzoenc_new(&e), 0);
        for (size_t run = 1; run <= 800; run++) {
                size_t i = 0;

                for (; i < run; i++)
                        in[i] = (uint8_t)encoder_random(&st);
                /* Long enough for two probes at the stride the run grew. */
                memset(in + i, 0xab, 256);
                i += 256;
                for (size_t k = 0; k < run; k++, i++)
                        in[i] = (uint8_t)encoder_random(&st);
                memset(in + i, 0xcd, 256);
                i += 256;
                ASSERT_TRUE(round_trip(e, i, sizeof(out)) > 0);
        }
        lzoenc_free(e);
}

TEST(uniform_and_tiny_inputs) {
        struct lzoenc *e = NULL;

        ASSERT_EQ_INT(lzoenc_new(&e), 0);
        for (unsigned b = 0; b < 256; b += 51) {
                memset(in, (int)b, MAX);
                /* One literal, then one match of 4095 (16 extra length
                 * bytes), then the end. */
                ASSERT_TRUE(round_trip(e, 4096, sizeof(out)) < 32);
                ASSERT_TRUE(round_trip(e, MAX, sizeof(out)) < 80);
        }
        /* Inputs too short to shrink are stored raw. */
        for (size_t n = 1; n <= 5; n++)
                ASSERT_EQ_U64(lzoenc_compress(e, in, n, out, sizeof(out)), 0);
        ASSERT_EQ_U64(lzoenc_compress(e, in, 0, out, sizeof(out)), 0);
        ASSERT_EQ_U64(lzoenc_compress(e, in, MAX + 1, out, sizeof(out)), 0);
        lzoenc_free(e);
}

TEST(incompressible_and_tight_room) {
        struct lzoenc *e = NULL;
        uint64_t st = 5;
        size_t m;

        ASSERT_EQ_INT(lzoenc_new(&e), 0);
        for (size_t i = 0; i < 4096; i++)
                in[i] = (uint8_t)encoder_random(&st);
        ASSERT_EQ_U64(round_trip(e, 4096, sizeof(out)), 0);
        /* With less room than the stream needs, the answer is "raw", and
         * nothing is written past the room given. */
        fill_pointers(4096, 17);
        m = round_trip(e, 4096, sizeof(out));
        ASSERT_TRUE(m > 0);
        for (size_t cap = m - 8; cap < m + 2; cap++) {
                memset(out, 0x5a, sizeof(out));
                size_t got = round_trip(e, 4096, cap);
                ASSERT_TRUE(cap >= m ? got == m : got == 0);
                for (size_t i = cap; i < sizeof(out); i++)
                        if (out[i] != 0x5a)
                                harness_fail(__FILE__, __LINE__, "byte %zu written with room %zu", i, cap);
        }
        lzoenc_free(e);
}
