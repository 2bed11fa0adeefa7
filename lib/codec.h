/* Per-page compression for kdump-compressed dumps: zlib, lzo or zstd, one
 * page at a time, in the streams makedumpfile writes (zlib, LZO1X, zstd
 * frames), which crash, drgn and makedumpfile read. zlib and lzo come from
 * faster encoders than makedumpfile's (libdeflate, lib/lzoenc); zstd is
 * level 1, as makedumpfile's. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum codec_kind {
        CODEC_NONE,
        CODEC_ZLIB,
        CODEC_LZO,
        CODEC_ZSTD,
};

/* The page descriptor flags and header status bits of the kdump format
 * (makedumpfile's diskdump_mod.h; crash's diskdump.h). */
#define KDUMP_FLAG_ZLIB 0x01u
#define KDUMP_FLAG_LZO 0x02u
#define KDUMP_FLAG_ZSTD 0x20u

struct codec;

/* A compression context for pages of page_size bytes; one per thread.
 * Returns 0, -EINVAL for a bad kind or size, -ENOMEM. */
int codec_new(enum codec_kind kind, uint32_t page_size, struct codec **ret);
struct codec *codec_free(struct codec *c);

/* The descriptor flag of this codec (0 for CODEC_NONE). */
uint32_t codec_flag(enum codec_kind kind);

/* Compresses one page. Sets *ret_data and *ret_size to the compressed bytes
 * (valid until the next call) and returns the descriptor flag; or returns 0
 * with *ret_data = page when compression does not make it smaller, so the
 * page is stored raw. Negative errno on a library failure. */
int codec_compress(struct codec *c, const uint8_t *page, const uint8_t **ret_data, uint32_t *ret_size);

/* As codec_compress, but the compressed bytes go to out, which has room for
 * page_size bytes: lzoenc and deflateenc write there themselves, where the
 * others' worst case does not fit (their bytes are copied). Returns the
 * flag, or 0 when the page is to be stored raw (out then holds nothing). */
int codec_compress_to(struct codec *c, const uint8_t *page, uint8_t *out, uint32_t *ret_size);

/* Decompresses into out (page_size bytes) data stored with flags. Returns 0,
 * or -EBADMSG when it does not decompress to exactly page_size bytes. */
int codec_decompress(struct codec *c, uint32_t flags, const uint8_t *data, uint32_t size, uint8_t *out);

/* True when the page_size bytes at page are all zero (page_size a multiple
 * of 8, as every kernel page size is). */
bool page_is_zero(const uint8_t *page, uint32_t page_size);
