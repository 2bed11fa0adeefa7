/* lib/deflateenc: every stream it writes must come back through zlib's
 * inflate, the decoder crash, makedumpfile and drgn use, byte for byte,
 * and be about the size zlib's own level 1 gives; it must say "store raw"
 * rather than write a stream that is not shorter than its input, and never
 * write past the room it is given. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "cleanup.h"
#include "deflateenc.h"
#include "encoder-inputs.h"
#include "harness.h"
#include "io.h"

#define MAX DEFLATEENC_MAX_INPUT
#define PAGE 4096u

static uint8_t in[MAX], out[MAX + MAX / 16 + 64], back[MAX];

/* Encodes in[0..n) and, when the encoder writes a stream, checks that zlib
 * reads it back whole, to its last byte. Returns the stream's length (0:
 * stored raw). */
static size_t round_trip(struct deflateenc *e, size_t n, size_t cap) {
        size_t m = deflateenc_compress(e, in, n, out, cap);
        z_stream z = { .next_in = out, .avail_in = 0, .next_out = back, .avail_out = sizeof(back) };
        int r;

        if (m == 0)
                return 0;
        if (m >= n || m > cap)
                harness_fail(__FILE__, __LINE__, "a stream of %zu bytes for %zu (room %zu)", m, n, cap);
        z.avail_in = (uInt)m;
        if (inflateInit(&z) != Z_OK)
                harness_fail(__FILE__, __LINE__, "inflateInit");
        r = inflate(&z, Z_FINISH);
        inflateEnd(&z);
        if (r != Z_STREAM_END || z.avail_in != 0 || z.total_out != n || memcmp(back, in, n) != 0)
                harness_fail(__FILE__, __LINE__, "%zu bytes do not come back from their %zu-byte stream (%d, %u left)", n,
                             m, r, z.avail_in);
        return m;
}

/* Random bytes and copies of earlier bytes, at every distance deflate has
 * (up to 32 KiB) and lengths past its 258, which go out in pieces. */
static void fill_mixed(size_t n, uint64_t seed) {
        encoder_fill_mixed(in, n, seed, 700, 64);
}

TEST(mixed_inputs_come_back) {
        struct deflateenc *e = NULL;
        size_t streams = 0;

        ASSERT_EQ_INT(deflateenc_new(&e), 0);
        for (uint64_t seed = 1; seed <= 2000; seed++) {
                size_t n = seed % 5 == 0 ? 1 + seed * 17 % MAX : PAGE;

                fill_mixed(n, seed);
                streams += round_trip(e, n, sizeof(out)) > 0;
        }
        ASSERT_TRUE(streams > 1500);
        deflateenc_free(e);
}

/* Every match length from 3 to 800 (each length symbol, 258, and the
 * pieces of longer ones) at distances from 1 to 32768 (each distance
 * symbol's ends). */
TEST(every_length_and_distance) {
        static const size_t distances[] = { 1, 2, 3, 4, 5, 8, 9, 24, 25, 256, 257, 4096, 4097, 24577, 32767, 32768 };
        struct deflateenc *e = NULL;
        uint64_t st = 7;

        ASSERT_EQ_INT(deflateenc_new(&e), 0);
        for (size_t k = 0; k < sizeof(distances) / sizeof(distances[0]); k++)
                for (size_t len = 3; len <= 800; len += len < 300 ? 1 : 37) {
                        size_t d = distances[k], n = 0;

                        if (d + len > MAX)
                                break;
                        for (; n < d; n++)
                                in[n] = (uint8_t)encoder_random(&st);
                        for (size_t i = 0; i < len; i++, n++)
                                in[n] = in[n - d];
                        for (size_t i = 0; i < 8 && n < MAX; i++, n++)
                                in[n] = (uint8_t)encoder_random(&st);
                        round_trip(e, n, sizeof(out));
                }
        deflateenc_free(e);
}

/* 32-bit words that share their upper bytes and differ in the lowest, as
 * in the kernel's arrays of pfns and offsets: each word is a literal and a
 * 3-byte match 4 back. With 4-byte matches only, it is all literals (about
 * half the size). */
TEST(word_arrays_take_three_byte_matches) {
        struct deflateenc *e = NULL;
        uint64_t st = 3;

        ASSERT_EQ_INT(deflateenc_new(&e), 0);
        for (size_t i = 0; i + 4 <= PAGE; i += 4) {
                uint32_t w = 0xfffb0000u | (uint32_t)(i / 64) << 8 | (uint32_t)(encoder_random(&st) & 0xff);
                memcpy(in + i, &w, 4);
        }
        ASSERT_TRUE(round_trip(e, PAGE, sizeof(out)) < PAGE * 45 / 100);
        deflateenc_free(e);
}

/* Sparse bytes among zeros: the zero runs become matches of every
 * length, the bytes between them literals seen once or twice, and the
 * Huffman code over them comes out deeper than deflate's 15 bits, which
 * zlib refuses; the encoder must limit it. */
TEST(deep_codes_are_limited) {
        struct deflateenc *e = NULL;
        uint64_t st = 11;

        ASSERT_EQ_INT(deflateenc_new(&e), 0);
        for (uint64_t seed = 1; seed <= 64; seed++) {
                for (size_t i = 0; i < MAX; i++)
                        in[i] = encoder_random(&st) % (4 + seed % 29) == 0 ? (uint8_t)encoder_random(&st) : 0;
                round_trip(e, seed % 2 ? MAX : PAGE, sizeof(out));
        }
        deflateenc_free(e);
}

/* A short input takes the fixed codes (BTYPE 01), a page of text its own
 * (BTYPE 10); the block is the last (BFINAL). */
TEST(fixed_and_own_codes) {
        static const char text[] = "the quick brown fox jumps over the lazy dog; ";
        struct deflateenc *e = NULL;

        ASSERT_EQ_INT(deflateenc_new(&e), 0);
        memcpy(in, "abcabcabcabcabcabcabcabcabcabcab", 32);
        ASSERT_TRUE(round_trip(e, 32, sizeof(out)) > 0);
        ASSERT_EQ_INT(out[0], 0x78);
        ASSERT_EQ_INT(out[1], 0x01);
        ASSERT_EQ_INT(out[2] & 7, 1 | 1 << 1);
        for (size_t i = 0; i < PAGE; i++)
                in[i] = (uint8_t)text[(i * 7 + i / 45) % (sizeof(text) - 1)];
        ASSERT_TRUE(round_trip(e, PAGE, sizeof(out)) > 0);
        ASSERT_EQ_INT(out[2] & 7, 1 | 2 << 1);
        deflateenc_free(e);
}

TEST(uniform_and_tiny_inputs) {
        struct deflateenc *e = NULL;

        ASSERT_EQ_INT(deflateenc_new(&e), 0);
        for (unsigned b = 0; b < 256; b += 51) {
                memset(in, (int)b, MAX);
                ASSERT_TRUE(round_trip(e, PAGE, sizeof(out)) < 32);
                ASSERT_TRUE(round_trip(e, MAX, sizeof(out)) < 400);
        }
        /* The zlib header and Adler-32 alone are 6 bytes. */
        for (size_t n = 1; n <= 6; n++)
                ASSERT_EQ_U64(deflateenc_compress(e, in, n, out, sizeof(out)), 0);
        ASSERT_EQ_U64(deflateenc_compress(e, in, 0, out, sizeof(out)), 0);
        ASSERT_EQ_U64(deflateenc_compress(e, in, MAX + 1, out, sizeof(out)), 0);
        deflateenc_free(e);
}

TEST(incompressible_and_tight_room) {
        struct deflateenc *e = NULL;
        uint64_t st = 5;
        size_t m;

        ASSERT_EQ_INT(deflateenc_new(&e), 0);
        for (size_t i = 0; i < PAGE; i++)
                in[i] = (uint8_t)encoder_random(&st);
        ASSERT_EQ_U64(round_trip(e, PAGE, sizeof(out)), 0);
        fill_mixed(PAGE, 17);
        m = round_trip(e, PAGE, sizeof(out));
        ASSERT_TRUE(m > 8);
        for (size_t cap = m - 8; cap < m + 2; cap++) {
                memset(out, 0x5a, sizeof(out));
                size_t got = round_trip(e, PAGE, cap);
                ASSERT_TRUE(cap > m ? got == m : got == 0);
                for (size_t i = cap; i < sizeof(out); i++)
                        if (out[i] != 0x5a)
                                harness_fail(__FILE__, __LINE__, "byte %zu written with room %zu", i, cap);
        }
        deflateenc_free(e);
}

/* Real pages from the lab's 6.1 vmcore, one or two for each eighth of
 * compressed size (the lzoenc fuzz corpus): they come back, and in all
 * they are at most 2% larger than zlib's level 1 makes them. */
TEST(lab_pages_near_zlib_size) {
        struct deflateenc *e = NULL;
        size_t ours = 0, zlibs = 0;
        unsigned pages = 0;

        ASSERT_EQ_INT(deflateenc_new(&e), 0);
        for (unsigned class = 0; class <= 8; class++)
                for (unsigned copy = 1; copy <= 2; copy++) {
                        char path[4096];
                        _cleanup_close_ int fd = -1;
                        uLongf z = sizeof(out);
                        size_t m;

                        snprintf(path, sizeof(path), "%s/lzoenc/page-class%u-%u", CORPUS_DIR, class, copy);
                        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                                continue;
                        ASSERT_EQ_INT((int)read_full(fd, in, PAGE), (int)PAGE);
                        m = round_trip(e, PAGE, sizeof(out));
                        ours += m ? m : PAGE;
                        ASSERT_EQ_INT(compress2(out, &z, in, PAGE, 1), Z_OK);
                        zlibs += z < PAGE ? z : PAGE;
                        pages++;
                }
        ASSERT_EQ_INT(pages, 17);
        if (ours * 100 > zlibs * 102)
                harness_fail(__FILE__, __LINE__, "%zu bytes against zlib's %zu", ours, zlibs);
        deflateenc_free(e);
}
