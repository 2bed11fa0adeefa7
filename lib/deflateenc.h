/* A deflate encoder for single pages: zlib streams (RFC 1950 around one
 * RFC 1951 block) that zlib's uncompress() (crash, makedumpfile, drgn's
 * libkdumpfile) reads, made faster than by zlib or libdeflate.
 *
 * Why: libdeflate 1.14's level 1 spends 14.5 us on any 4 KiB page, even
 * one of zeros: it resets a 128 KiB match finder and builds its codes for
 * every call. zlib's level 1 with deflateReset() takes 25 us a page. A
 * page is one block, so this encoder clears an 8 KiB table, finds matches
 * greedily (as lzoenc does), and writes one block with the codes built for
 * it, or with the fixed codes when those come out shorter. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The largest input: every match distance then fits deflate's 32 KiB
 * window, and a position fits the match table's 16 bits. */
#define DEFLATEENC_MAX_INPUT 32768u

struct deflateenc;

/* An encoder with its match table and symbol buffer (about 60 KiB); one
 * per thread. Returns 0 or -ENOMEM. */
int deflateenc_new(struct deflateenc **ret);
struct deflateenc *deflateenc_free(struct deflateenc *e);

/* Encodes in[0..n) (1 <= n <= DEFLATEENC_MAX_INPUT) as a zlib stream into
 * out, which has room for cap bytes. Returns the stream's length, or 0 when
 * it would not be shorter than min(n, cap) bytes: the caller then stores the
 * input raw. Nothing is written past out + cap. */
size_t deflateenc_compress(struct deflateenc *e, const uint8_t *in, size_t n, uint8_t *out, size_t cap);
