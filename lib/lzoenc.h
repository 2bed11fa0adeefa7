/* An LZO1X encoder for single pages: streams that liblzo's
 * lzo1x_decompress_safe() (crash, makedumpfile, drgn's libkdumpfile) and the
 * kernel's decoder read, produced faster than liblzo's lzo1x_1_compress.
 *
 * The stream is plain LZO1X: literal runs, M2 matches (3-8 bytes back at
 * most 2048) and M3 matches (back at most 16384), then the end marker
 * 0x11 0x00 0x00. The encoder never writes M1 or M4 instructions, nor the
 * run-length extension of the kernel's lzo-rle (5.1), whose streams start
 * with 0x11 and a version byte: ours start with a literal run. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The largest input: every match distance then fits an M3 instruction. */
#define LZOENC_MAX_INPUT 16384u

struct lzoenc;

/* An encoder with its match table (8 KiB); one per thread. Returns 0 or
 * -ENOMEM. */
int lzoenc_new(struct lzoenc **ret);
struct lzoenc *lzoenc_free(struct lzoenc *e);

/* Encodes in[0..n) (1 <= n <= LZOENC_MAX_INPUT) into out, which has room
 * for cap bytes. Returns the stream's length, or 0 when it would not be
 * shorter than min(n, cap) bytes: the caller then stores the input raw,
 * and the encoder stops as soon as it knows. */
size_t lzoenc_compress(struct lzoenc *e, const uint8_t *in, size_t n, uint8_t *out, size_t cap);
