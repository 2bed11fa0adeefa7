/* A greedy LZO1X encoder for pages (see lzoenc.h for the stream it writes).
 *
 * Why not liblzo's lzo1x_1_compress: it was 68% of dumptool's time on the
 * lab's 6.1 vmcore at -d 31 with lzo. This encoder finds its matches the
 * same greedy way (one hash probe a position, a stride that grows over
 * bytes that do not repeat), but tries the last match's distance first,
 * clears an 8 KiB table per page instead of a 32 KiB dictionary, and gives
 * up on a page as soon as its stream could no longer be shorter. Over the
 * pages of that dump: 0.55-0.63x liblzo's time, 1.036x its size. Most of
 * what is left is mispredicted branches, one or two a match (a page holds
 * about 180), which no greedy LZ77 parse avoids. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lzmatch.h"
#include "lzoenc.h"

#define HASH_BITS 12
#define MIN_MATCH 4
/* The stride over a run of literals grows by SKIP_NUMERATOR every 32 bytes
 * without a match. lzo1x_1 grows it by 1; more gives up sooner on bytes
 * that do not repeat, and the repeated-distance matches pay for most of it.
 * Over the lab's 6.1 -d 31 pages, against liblzo: 1: 0.95x the time, 0.945x
 * the size; 2: 0.82x, 0.975x; 3: 0.66x, 1.009x; 4: 0.55-0.63x, 1.036x;
 * 5: 0.52x, 1.053x. The pages' share of a dump is what counts: at 4, the
 * lzo dumps of bench/run (6.1, 6.12 and 8 GiB vmcores, -d 31 and -d 1; not
 * 6.12 at -d 31, where makedumpfile keeps the free pages) are 0.88-1.001x
 * makedumpfile's size, against 0.87-0.998x at 3 and up to 1.004x at 5. -l
 * is the fast codec; -c and -z are the small ones. */
#define SKIP_NUMERATOR 4
#define SKIP_SHIFT 5
#define M2_MAX_LENGTH 8
#define M2_MAX_DISTANCE 2048
#define M3_MARKER 0x20
/* The first instruction may carry a run of up to 238 literals in one byte,
 * 17 + the run's length. */
#define FIRST_RUN_BIAS 17
#define FIRST_RUN_MAX 238

/* Offsets into the page being encoded, cleared for each page (8 KiB, a
 * quarter of liblzo's): then every candidate lies before the position, and
 * the probe needs no second, unpredictable test for a stale entry. */
struct lzoenc {
        uint16_t table[1u << HASH_BITS];
};

int lzoenc_new(struct lzoenc **ret) {
        struct lzoenc *e = calloc(1, sizeof(*e));

        if (!e)
                return -ENOMEM;
        *ret = e;
        return 0;
}

struct lzoenc *lzoenc_free(struct lzoenc *e) {
        free(e);
        return NULL;
}

struct stream {
        uint8_t *op;
        /* Where the stream stops being shorter than the input. */
        uint8_t *end;
        /* The byte of the last match whose low two bits count the 0-3
         * literals after it; NULL before the first instruction. */
        uint8_t *tail;
};

/* A length past what an instruction's own bits hold: a zero byte for each
 * 255, then the rest (1-255). */
static inline void put_extra(struct stream *s, size_t r) {
        for (; r > 255; r -= 255)
                *s->op++ = 0;
        *s->op++ = (uint8_t)r;
}

static inline bool put_literals(struct stream *s, const uint8_t *src, size_t len) {
        if (len == 0)
                return true;
        if ((size_t)(s->end - s->op) < len + 2 + len / 255)
                return false;
        if (!s->tail && len <= FIRST_RUN_MAX)
                *s->op++ = (uint8_t)(FIRST_RUN_BIAS + len);
        else if (s->tail && len <= 3)
                *s->tail |= (uint8_t)len;
        else if (len <= 18)
                *s->op++ = (uint8_t)(len - 3);
        else {
                *s->op++ = 0;
                put_extra(s, len - 18);
        }
        memcpy(s->op, src, len);
        s->op += len;
        return true;
}

static inline bool put_match(struct stream *s, size_t distance, size_t len) {
        size_t d = distance - 1;

        if ((size_t)(s->end - s->op) < 4 + len / 255)
                return false;
        if (len <= M2_MAX_LENGTH && distance <= M2_MAX_DISTANCE) {
                s->tail = s->op;
                *s->op++ = (uint8_t)(((len - 1) << 5) | ((d & 7) << 2));
                *s->op++ = (uint8_t)(d >> 3);
                return true;
        }
        if (len - 2 <= 31)
                *s->op++ = (uint8_t)(M3_MARKER | (len - 2));
        else {
                *s->op++ = M3_MARKER;
                put_extra(s, len - 2 - 31);
        }
        s->tail = s->op;
        *s->op++ = (uint8_t)(d << 2);
        *s->op++ = (uint8_t)(d >> 6);
        return true;
}

size_t lzoenc_compress(struct lzoenc *e, const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
        const uint8_t *end = in + n, *anchor = in, *ip = in + 1;
        struct stream s = { .op = out };

        if (n == 0 || n > LZOENC_MAX_INPUT)
                return 0;
        s.end = out + (cap < n - 1 ? cap : n - 1);
        if (n >= MIN_MATCH) {
                const uint8_t *last = end - MIN_MATCH;

                memset(e->table, 0, sizeof(e->table));
                while (ip <= last) {
                        uint32_t v = lzmatch_load32(ip), h = lzmatch_hash4(v, HASH_BITS);
                        const uint8_t *cand = in + e->table[h];
                        size_t len, distance;

                        e->table[h] = (uint16_t)(ip - in);
                        if (lzmatch_load32(cand) != v) {
                                ip += 1 + (((size_t)(ip - anchor) * SKIP_NUMERATOR) >> SKIP_SHIFT);
                                continue;
                        }
                        while (ip > anchor && cand > in && ip[-1] == cand[-1]) {
                                ip--;
                                cand--;
                        }
                        len = MIN_MATCH + lzmatch_common_length(ip + MIN_MATCH, cand + MIN_MATCH, end);
                        distance = (size_t)(ip - cand);
                        if (!put_literals(&s, anchor, (size_t)(ip - anchor)) || !put_match(&s, distance, len))
                                return 0;
                        ip += len;
                        anchor = ip;
                        /* Arrays of pointers repeat their upper bytes at one
                         * distance, a byte apart: a match, a literal, a
                         * match... Trying the last distance first finds
                         * them without the table (at lzo1x_1's stride: 0.945x
                         * liblzo's size, not 0.981x). */
                        while (ip + 1 <= last && lzmatch_load32(ip + 1) == lzmatch_load32(ip + 1 - distance)) {
                                len = MIN_MATCH + lzmatch_common_length(ip + 1 + MIN_MATCH, ip + 1 + MIN_MATCH - distance, end);
                                if (!put_literals(&s, anchor, 1) || !put_match(&s, distance, len))
                                        return 0;
                                ip += 1 + len;
                                anchor = ip;
                        }
                        /* The position two back goes in too: 0.4% of size. */
                        if (ip <= last)
                                e->table[lzmatch_hash4(lzmatch_load32(ip - 2), HASH_BITS)] = (uint16_t)(ip - 2 - in);
                }
        }
        if (!put_literals(&s, anchor, (size_t)(end - anchor)) || s.end - s.op < 3)
                return 0;
        /* The end: an M4 instruction with distance 0. */
        *s.op++ = 0x11;
        *s.op++ = 0;
        *s.op++ = 0;
        return (size_t)(s.op - out);
}
