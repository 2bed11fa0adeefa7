/* zlib, lzo and zstd for single pages. */
#include <errno.h>
#include <stdbool.h>
#include <libdeflate.h>
#include <lzo/lzo1x.h>
#include <zlib.h>
#include <zstd.h>

#include "codec.h"
#include "deflateenc.h"
#include "lzoenc.h"

/* zlib pages are written by deflateenc: standard zlib streams (what crash
 * and drgn inflate) in 0.64x libdeflate level 1's time over the pages of
 * the lab's 8 GiB vmcore at -d 31 (0.85-1.0x over the 6.1 vmcore's); level 1
 * spends 14.5 us on any 4 KiB page before it looks at a byte. At about
 * zlib's Z_BEST_SPEED size (makedumpfile's level): pages of the lab's 6.1
 * vmcore at -d 31 1.002x, of its 8 GiB vmcore 0.955x. Pages past
 * deflateenc's limit (64 KiB pages) go to libdeflate. Decompression stays
 * with zlib. */
#define ZLIB_LEVEL 1

struct codec {
        enum codec_kind kind;
        uint32_t page_size;
        uint8_t *out;
        size_t out_cap;
        void *lzo_work;
        struct lzoenc *lzo;
        struct deflateenc *deflateenc;
        struct libdeflate_compressor *deflate;
        ZSTD_CCtx *zstd;
        ZSTD_DCtx *zstd_d;
};

struct codec *codec_free(struct codec *c) {
        if (c) {
                free(c->out);
                free(c->lzo_work);
                lzoenc_free(c->lzo);
                deflateenc_free(c->deflateenc);
                if (c->deflate)
                        libdeflate_free_compressor(c->deflate);
                ZSTD_freeCCtx(c->zstd);
                ZSTD_freeDCtx(c->zstd_d);
                free(c);
        }
        return NULL;
}

uint32_t codec_flag(enum codec_kind kind) {
        switch (kind) {
        case CODEC_ZLIB: return KDUMP_FLAG_ZLIB;
        case CODEC_LZO: return KDUMP_FLAG_LZO;
        case CODEC_ZSTD: return KDUMP_FLAG_ZSTD;
        default: return 0;
        }
}

int codec_new(enum codec_kind kind, uint32_t page_size, struct codec **ret) {
        struct codec *c;
        size_t bound = page_size;
        bool lzo_ready = true, zlib_ready = true;

        if (kind > CODEC_ZSTD || page_size == 0 || page_size > (1u << 20))
                return -EINVAL;
        if (kind == CODEC_LZO && lzo_init() != LZO_E_OK)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->kind = kind;
        c->page_size = page_size;
        /* The largest of the libraries' worst cases. */
        bound = compressBound(page_size);
        if (ZSTD_compressBound(page_size) > bound)
                bound = ZSTD_compressBound(page_size);
        if (page_size + page_size / 16 + 64 + 3 > bound)
                bound = page_size + page_size / 16 + 64 + 3;
        c->out_cap = bound;
        c->out = malloc(bound);
        /* Pages past lzoenc's limit (64 KiB pages) go to liblzo. */
        if (kind == CODEC_LZO)
                lzo_ready = page_size <= LZOENC_MAX_INPUT ? lzoenc_new(&c->lzo) == 0
                                                          : (c->lzo_work = malloc(LZO1X_1_MEM_COMPRESS)) != NULL;
        c->zstd = ZSTD_createCCtx();
        c->zstd_d = ZSTD_createDCtx();
        if (kind == CODEC_ZLIB)
                zlib_ready = page_size <= DEFLATEENC_MAX_INPUT ? deflateenc_new(&c->deflateenc) == 0
                                                               : (c->deflate = libdeflate_alloc_compressor(ZLIB_LEVEL)) != NULL;
        if (!c->out || !lzo_ready || !zlib_ready || !c->zstd || !c->zstd_d) {
                codec_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

static int compress_raw(struct codec *c, const uint8_t *page, size_t *ret_size) {
        switch (c->kind) {
        case CODEC_ZLIB:
                /* 0 means no shorter than the page (or, from libdeflate,
                 * that it did not fit): stored raw. */
                *ret_size = c->deflateenc ? deflateenc_compress(c->deflateenc, page, c->page_size, c->out, c->out_cap)
                                          : libdeflate_zlib_compress(c->deflate, page, c->page_size, c->out, c->out_cap);
                if (*ret_size == 0)
                        *ret_size = c->page_size;
                return 0;
        case CODEC_LZO: {
                lzo_uint n = c->out_cap;

                if (c->lzo) {
                        /* 0 means no shorter than the page: stored raw. */
                        *ret_size = lzoenc_compress(c->lzo, page, c->page_size, c->out, c->out_cap);
                        if (*ret_size == 0)
                                *ret_size = c->page_size;
                        return 0;
                }
                if (lzo1x_1_compress(page, c->page_size, c->out, &n, c->lzo_work) != LZO_E_OK)
                        return -EIO;
                *ret_size = n;
                return 0;
        }
        case CODEC_ZSTD: {
                size_t n = ZSTD_compressCCtx(c->zstd, c->out, c->out_cap, page, c->page_size, 1);
                if (ZSTD_isError(n))
                        return -EIO;
                *ret_size = n;
                return 0;
        }
        default:
                *ret_size = c->page_size;
                return 0;
        }
}

int codec_compress(struct codec *c, const uint8_t *page, const uint8_t **ret_data, uint32_t *ret_size) {
        size_t n;
        int r = compress_raw(c, page, &n);

        if (r < 0)
                return r;
        if (c->kind == CODEC_NONE || n >= c->page_size) {
                *ret_data = page;
                *ret_size = c->page_size;
                return 0;
        }
        *ret_data = c->out;
        *ret_size = (uint32_t)n;
        return (int)codec_flag(c->kind);
}

int codec_compress_to(struct codec *c, const uint8_t *page, uint8_t *out, uint32_t *ret_size) {
        const uint8_t *data;
        size_t n = 0;
        int flags;

        if (c->deflateenc)
                n = deflateenc_compress(c->deflateenc, page, c->page_size, out, c->page_size);
        else if (c->lzo)
                n = lzoenc_compress(c->lzo, page, c->page_size, out, c->page_size);
        else if ((flags = codec_compress(c, page, &data, ret_size)) <= 0)
                return flags;
        else {
                memcpy(out, data, *ret_size);
                return flags;
        }
        *ret_size = (uint32_t)n;
        return n ? (int)codec_flag(c->kind) : 0;
}

int codec_decompress(struct codec *c, uint32_t flags, const uint8_t *data, uint32_t size, uint8_t *out) {
        if (flags == 0) {
                if (size != c->page_size)
                        return -EBADMSG;
                memcpy(out, data, size);
                return 0;
        }
        if (flags == KDUMP_FLAG_ZLIB) {
                uLongf n = c->page_size;
                return uncompress(out, &n, data, size) == Z_OK && n == c->page_size ? 0 : -EBADMSG;
        }
        if (flags == KDUMP_FLAG_LZO) {
                lzo_uint n = c->page_size;
                return lzo1x_decompress_safe(data, size, out, &n, NULL) == LZO_E_OK && n == c->page_size ? 0 : -EBADMSG;
        }
        if (flags == KDUMP_FLAG_ZSTD) {
                size_t n = ZSTD_decompressDCtx(c->zstd_d, out, c->page_size, data, size);
                return !ZSTD_isError(n) && n == c->page_size ? 0 : -EBADMSG;
        }
        return -EBADMSG;
}

/* Eight words are or-ed before each test: one branch per 64-byte line
 * instead of one per word. Most pages with data stop in the first line;
 * a zero page is read through at memory speed (8 GiB vmcore: 0.85 s against
 * 0.94 s for a word-by-word loop). */
bool page_is_zero(const uint8_t *page, uint32_t size) {
        const uint64_t *w = (const uint64_t *)page;
        uint32_t n = size / 8, i = 0;

        for (; i + 8 <= n; i += 8)
                if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
                        return false;
        for (; i < n; i++)
                if (w[i])
                        return false;
        return true;
}
