/* lib/codec: the zero-page test, and pages through each codec and back. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "cleanup.h"
#include "io.h"

#include "codec.h"
#include "harness.h"

#define PAGE 4096u

/* A page like the kernel's: some text, some small integers, a zero tail. */
static void fill_kernel_like(uint8_t *page, unsigned seed) {
        memset(page, 0, PAGE);
        for (unsigned i = 0; i < PAGE / 2; i += 16) {
                snprintf((char *)page + i, 12, "obj%07u", seed + i / 16);
                page[i + 12] = (uint8_t)(i >> 4);
        }
}

static void fill_random(uint8_t *page, unsigned seed) {
        srand(seed);
        for (unsigned i = 0; i < PAGE; i++)
                page[i] = (uint8_t)rand();
}

TEST(zero_page_and_one_byte_anywhere) {
        static uint64_t words[PAGE / 8];
        uint8_t *page = (uint8_t *)words;

        ASSERT_TRUE(page_is_zero(page, PAGE));
        for (unsigned i = 0; i < PAGE; i++) {
                page[i] = 0x80;
                if (page_is_zero(page, PAGE))
                        harness_fail(__FILE__, __LINE__, "a page with byte %u set is zero", i);
                page[i] = 0;
        }
        ASSERT_TRUE(page_is_zero(page, PAGE));
}

/* codec_compress_to gives what codec_compress gave (flags, size, bytes) for
 * the page at page of size page_size, and writes nothing past page_size. */
static void same_into_room(struct codec *c, const uint8_t *page, uint32_t page_size, int flags, const uint8_t *data,
                           uint32_t size) {
        _cleanup_free_ uint8_t *room = malloc(page_size + 64);
        uint32_t got = 12345;

        ASSERT_TRUE(room != NULL);
        memset(room, 0x5a, page_size + 64);
        ASSERT_EQ_INT(codec_compress_to(c, page, room, &got), flags);
        if (flags)
                ASSERT_EQ_U64(got, size);
        if (flags)
                ASSERT_MEMEQ(room, data, size);
        for (unsigned i = 0; i < 64; i++)
                ASSERT_EQ_INT(room[page_size + i], 0x5a);
}

/* Each codec: a kernel-like page shrinks and comes back; a random page is
 * stored raw (flag 0, the page itself); a zero page shrinks. */
static void round_trip(enum codec_kind kind) {
        static uint8_t page[PAGE], back[PAGE];
        struct codec *c = NULL;
        const uint8_t *data;
        uint32_t size;
        int flags;

        ASSERT_EQ_INT(codec_new(kind, PAGE, &c), 0);
        for (unsigned seed = 0; seed < 64; seed++) {
                fill_kernel_like(page, seed * 1000);
                flags = codec_compress(c, page, &data, &size);
                ASSERT_EQ_INT(flags, (int)codec_flag(kind));
                ASSERT_TRUE(size < PAGE / 2);
                memset(back, 0xaa, PAGE);
                ASSERT_EQ_INT(codec_decompress(c, (uint32_t)flags, data, size, back), 0);
                ASSERT_MEMEQ(back, page, PAGE);
                /* A cut-off stream does not pass for a page. */
                ASSERT_EQ_INT(codec_decompress(c, (uint32_t)flags, data, size / 2, back), -EBADMSG);
        }
        fill_random(page, 7);
        ASSERT_EQ_INT(codec_compress(c, page, &data, &size), 0);
        ASSERT_TRUE(data == page);
        ASSERT_EQ_U64(size, PAGE);
        memset(page, 0, PAGE);
        flags = codec_compress(c, page, &data, &size);
        ASSERT_EQ_INT(flags, (int)codec_flag(kind));
        ASSERT_EQ_INT(codec_decompress(c, (uint32_t)flags, data, size, back), 0);
        ASSERT_MEMEQ(back, page, PAGE);
        /* Pages from all pattern to all random, so that their compressed
         * sizes cover every band (zlib's level-2 retry among them). */
        for (unsigned random_bytes = 0; random_bytes <= PAGE; random_bytes += PAGE / 64) {
                fill_kernel_like(page, random_bytes);
                srand(random_bytes);
                for (unsigned i = 0; i < random_bytes; i++)
                        page[i] = (uint8_t)rand();
                flags = codec_compress(c, page, &data, &size);
                ASSERT_TRUE(flags == 0 || flags == (int)codec_flag(kind));
                ASSERT_TRUE(flags == 0 ? size == PAGE && data == page : size < PAGE);
                same_into_room(c, page, PAGE, flags, data, size);
                ASSERT_EQ_INT(codec_decompress(c, (uint32_t)flags, data, size, back), 0);
                ASSERT_MEMEQ(back, page, PAGE);
        }
        codec_free(c);
}

/* Real pages from the lab's 6.1 vmcore, one or two for each eighth of
 * compressed size (the lzoenc fuzz corpus), through each codec and back:
 * among them pages that take zlib's level-2 retry. */
TEST(lab_pages_round_trip) {
        static const enum codec_kind kinds[] = { CODEC_ZLIB, CODEC_LZO, CODEC_ZSTD };
        static uint8_t page[PAGE], back[PAGE];
        unsigned pages = 0;

        for (unsigned k = 0; k < 3; k++) {
                struct codec *c = NULL;

                ASSERT_EQ_INT(codec_new(kinds[k], PAGE, &c), 0);
                for (unsigned class = 0; class <= 8; class++)
                        for (unsigned copy = 1; copy <= 2; copy++) {
                                char path[4096];
                                _cleanup_close_ int fd = -1;
                                const uint8_t *data;
                                uint32_t size;
                                int flags;

                                snprintf(path, sizeof(path), "%s/lzoenc/page-class%u-%u", CORPUS_DIR, class, copy);
                                if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                                        continue;
                                ASSERT_EQ_INT((int)read_full(fd, page, PAGE), (int)PAGE);
                                flags = codec_compress(c, page, &data, &size);
                                ASSERT_TRUE(flags >= 0);
                                same_into_room(c, page, PAGE, flags, data, size);
                                ASSERT_EQ_INT(codec_decompress(c, (uint32_t)flags, data, size, back), 0);
                                ASSERT_MEMEQ(back, page, PAGE);
                                pages++;
                        }
                codec_free(c);
        }
        ASSERT_EQ_INT(pages, 3 * 17);
}

/* 64 KiB pages (arm64, ppc64) go past lzoenc's and deflateenc's limit, to
 * liblzo and libdeflate, whose worst case needs more room than a page: their
 * bytes reach the caller's room through a copy. */
TEST(large_pages_into_room) {
        static const enum codec_kind kinds[] = { CODEC_ZLIB, CODEC_LZO, CODEC_ZSTD };
        const uint32_t big = 65536;
        _cleanup_free_ uint8_t *page = malloc(big);

        ASSERT_TRUE(page != NULL);
        for (unsigned k = 0; k < 3; k++) {
                struct codec *c = NULL;
                const uint8_t *data;
                uint32_t size;
                int flags;

                ASSERT_EQ_INT(codec_new(kinds[k], big, &c), 0);
                for (uint32_t i = 0; i < big; i += PAGE)
                        fill_kernel_like(page + i, i);
                flags = codec_compress(c, page, &data, &size);
                ASSERT_EQ_INT(flags, (int)codec_flag(kinds[k]));
                same_into_room(c, page, big, flags, data, size);
                srand(k);
                for (uint32_t i = 0; i < big; i++)
                        page[i] = (uint8_t)rand();
                ASSERT_EQ_INT(codec_compress(c, page, &data, &size), 0);
                same_into_room(c, page, big, 0, NULL, 0);
                codec_free(c);
        }
}

TEST(lzo_round_trip) {
        round_trip(CODEC_LZO);
}

TEST(zlib_round_trip) {
        round_trip(CODEC_ZLIB);
}

TEST(zstd_round_trip) {
        round_trip(CODEC_ZSTD);
}
