/* The KDKP/1 stream parser and digest. */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "caps.h"
#include "flattened.h"
#include "kdkp.h"
#include "kdkpstream.h"
#include "output.h"
#include "unaligned.h"

/* crash.json is small by nature; the protocol caps it at 1 MiB (§5.1). */
#define CRASH_JSON_MAX (1u << 20)

void kdkp_parser_init(struct kdkp_parser *p) {
        memset(p, 0, sizeof(*p));
        p->state = KDKP_PARSE_SECTION;
}

bool kdkp_parser_done(const struct kdkp_parser *p) {
        return p->state == KDKP_PARSE_END;
}

static int bad(char *why, size_t why_len, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bad(char *why, size_t why_len, int err, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
        return err;
}

/* A complete section header: the order is crash.json, log, then the dump. */
static int section_begin(struct kdkp_parser *p, const struct kdkp_limits *lim, char *why, size_t why_len) {
        unsigned type = le16(p->hdr), flags = le16(p->hdr + 2);
        uint64_t length = le64(p->hdr + 8);

        if (type < KDKP_SECTION_CRASH_JSON || type > KDKP_SECTION_DUMP || (p->seen >> type) != 0)
                return bad(why, why_len, -EBADMSG, "section of type %u after sections %#x", type, p->seen);
        p->seen |= 1u << type;
        p->section = type;
        p->section_flags = flags;
        p->file_offset = 0;
        if (type == KDKP_SECTION_DUMP) {
                if (length != KDKP_SECTION_TO_END)
                        return bad(why, why_len, -EBADMSG, "dump section of length %llu", (unsigned long long)length);
                p->state = KDKP_PARSE_FLAT;
                p->remaining = FLAT_HEADER_SIZE;
                return 0;
        }
        if (type == KDKP_SECTION_CRASH_JSON && length > CRASH_JSON_MAX)
                return bad(why, why_len, -EFBIG, "crash.json of %llu bytes (cap %u)", (unsigned long long)length, CRASH_JSON_MAX);
        if (length > lim->max_meta_bytes - p->meta_bytes)
                return bad(why, why_len, -EFBIG, "file sections of %llu more bytes (cap %llu)", (unsigned long long)length,
                           (unsigned long long)lim->max_meta_bytes);
        p->meta_bytes += length;
        p->remaining = length;
        p->state = KDKP_PARSE_FILE;
        return 0;
}

static int record_begin(struct kdkp_parser *p, const struct kdkp_limits *lim, char *why, size_t why_len) {
        uint64_t offset, size;
        int r = flat_parse_record(p->hdr, &offset, &size, why, why_len);

        if (r < 0)
                return r;
        if (r == 0) {
                p->state = KDKP_PARSE_END;
                return 0;
        }
        if (offset + size > lim->max_dump_bytes)
                return bad(why, why_len, -EFBIG, "a record reaches offset %llu, past the cap of %llu bytes",
                           (unsigned long long)(offset + size), (unsigned long long)lim->max_dump_bytes);
        /* Records may rewrite a region (the bitmaps, the header at the end),
         * but not without bound. */
        if (p->payload_bytes + size > 2 * lim->max_dump_bytes)
                return bad(why, why_len, -EFBIG, "records of %llu bytes in all, over twice the cap of %llu",
                           (unsigned long long)(p->payload_bytes + size), (unsigned long long)lim->max_dump_bytes);
        p->dest = offset;
        p->remaining = size;
        p->payload_bytes += size;
        if (offset + size > p->end_offset)
                p->end_offset = offset + size;
        p->state = KDKP_PARSE_PAYLOAD;
        return 0;
}

/* Collects up to want header bytes; returns how many of buf it took. */
static size_t collect(struct kdkp_parser *p, const uint8_t *buf, size_t len, uint32_t want) {
        size_t n = want - p->got < len ? want - p->got : len;

        memcpy(p->hdr + p->got, buf, n);
        p->got += (uint32_t)n;
        return n;
}

static int flat_header_byte_check(struct kdkp_parser *p, char *why, size_t why_len) {
        uint8_t header[FLAT_HEADER_SIZE] = { 0 };

        memcpy(header, p->hdr, sizeof(p->hdr));
        return flat_check_header(header, sizeof(header), why, why_len);
}

/* One step: consumes some of buf and returns how much, or a negative errno. */
static ssize_t step(struct kdkp_parser *p, const uint8_t *buf, size_t len, const struct kdkp_limits *lim,
                    const struct kdkp_sink *sink, char *why, size_t why_len) {
        size_t n;
        int r = 0;

        switch (p->state) {
        case KDKP_PARSE_SECTION:
        case KDKP_PARSE_RECORD:
                n = collect(p, buf, len, 16);
                if (p->got == 16) {
                        p->got = 0;
                        r = p->state == KDKP_PARSE_SECTION ? section_begin(p, lim, why, why_len)
                                                           : record_begin(p, lim, why, why_len);
                }
                break;
        case KDKP_PARSE_FILE:
                n = p->remaining < len ? (size_t)p->remaining : len;
                if (n > 0)
                        r = sink->file(sink->userdata, p->section, buf, n, p->file_offset);
                p->file_offset += n;
                p->remaining -= n;
                if (r == 0 && p->remaining == 0) {
                        r = sink->file_done(sink->userdata, p->section, p->section_flags);
                        p->state = KDKP_PARSE_SECTION;
                }
                break;
        case KDKP_PARSE_FLAT:
                n = p->remaining < len ? (size_t)p->remaining : len;
                if (p->got < sizeof(p->hdr))
                        collect(p, buf, n, sizeof(p->hdr));
                p->remaining -= n;
                r = p->remaining == 0 ? flat_header_byte_check(p, why, why_len) : 0;
                if (p->remaining == 0) {
                        p->got = 0;
                        p->state = KDKP_PARSE_RECORD;
                }
                break;
        case KDKP_PARSE_PAYLOAD:
                n = p->remaining < len ? (size_t)p->remaining : len;
                r = sink->dump(sink->userdata, buf, n, p->dest);
                p->dest += n;
                p->remaining -= n;
                if (p->remaining == 0)
                        p->state = KDKP_PARSE_RECORD;
                break;
        default:
                return bad(why, why_len, -EBADMSG, "%zu bytes after the end record", len);
        }
        if (r < 0)
                return r;
        p->offset += n;
        return (ssize_t)n;
}

/* Empty file sections complete at once: their header is all there is. */
static int empty_section(struct kdkp_parser *p, const struct kdkp_sink *sink) {
        if (p->state != KDKP_PARSE_FILE || p->remaining != 0)
                return 0;
        p->state = KDKP_PARSE_SECTION;
        return sink->file_done(sink->userdata, p->section, p->section_flags);
}

int kdkp_parser_feed(struct kdkp_parser *p, const uint8_t *buf, size_t len, const struct kdkp_limits *lim,
                     const struct kdkp_sink *sink, char *why, size_t why_len) {
        while (len > 0) {
                ssize_t n = step(p, buf, len, lim, sink, why, why_len);
                int r;

                if (n < 0)
                        return (int)n;
                r = empty_section(p, sink);
                if (r < 0)
                        return r;
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

void kdkp_chain_init(struct kdkp_chain *c, const uint8_t stream_key[32], const uint8_t dump_id[16]) {
        static const char label[] = "kdumpkit stream v3";
        crypto_generichash_state st;

        crypto_generichash_init(&st, stream_key, 32, 32);
        crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label) - 1);
        crypto_generichash_update(&st, dump_id, 16);
        crypto_generichash_final(&st, c->master, 32);
        memset(c->h, 0, sizeof(c->h));
        c->offset = 0;
}

void kdkp_chain_done(struct kdkp_chain *c) {
        sodium_memzero(c, sizeof(*c));
}

static XXH3_state_t *segment_state(struct kdkp_chain *c) {
        return (XXH3_state_t *)(((uintptr_t)c->state + 63) & ~(uintptr_t)63);
}

/* Segment i (from 1) is the stream's bytes [(i-1)·SEG, i·SEG). */
static void segment_begin(struct kdkp_chain *c) {
        (void)XXH3_128bits_reset(segment_state(c));
}

/* h[i] = BLAKE2b-128(h[i-1] ‖ XXH3-128(segment i), key = k[i]). */
static void segment_end(struct kdkp_chain *c) {
        uint8_t key[32], in[2 * KDKP_CHAIN_TAG];
        XXH128_canonical_t x;

        XXH128_canonicalFromHash(&x, XXH3_128bits_digest(segment_state(c)));
        crypto_kdf_derive_from_key(key, sizeof(key), (c->offset - 1) / KDKP_SEG + 1, "kdkt-seg", c->master);
        memcpy(in, c->h, KDKP_CHAIN_TAG);
        memcpy(in + KDKP_CHAIN_TAG, x.digest, sizeof(x.digest));
        crypto_generichash(c->h, KDKP_CHAIN_TAG, in, sizeof(in), key, sizeof(key));
        memset(c->h + KDKP_CHAIN_TAG, 0, sizeof(c->h) - KDKP_CHAIN_TAG);
        sodium_memzero(key, sizeof(key));
}

void kdkp_chain_resume(struct kdkp_chain *c, uint64_t offset, const uint8_t h[32]) {
        memcpy(c->h, h, 32);
        c->offset = offset;
}

void kdkp_chain_update(struct kdkp_chain *c, const uint8_t *buf, size_t len) {
        while (len > 0) {
                size_t in_seg = (size_t)(c->offset % KDKP_SEG), n = KDKP_SEG - in_seg;

                if (n > len)
                        n = len;
                if (in_seg == 0)
                        segment_begin(c);
                (void)XXH3_128bits_update(segment_state(c), buf, n);
                c->offset += n;
                buf += n;
                len -= n;
                if (c->offset % KDKP_SEG == 0)
                        segment_end(c);
        }
}

void kdkp_chain_final(struct kdkp_chain *c, uint8_t digest[32]) {
        crypto_generichash_state st;
        uint8_t len[8];

        if (c->offset % KDKP_SEG != 0)
                segment_end(c);
        put_le64(len, c->offset);
        crypto_generichash_init(&st, c->master, 32, 32);
        crypto_generichash_update(&st, c->h, KDKP_CHAIN_TAG);
        crypto_generichash_update(&st, len, 8);
        crypto_generichash_final(&st, digest, 32);
        kdkp_chain_done(c);
}
