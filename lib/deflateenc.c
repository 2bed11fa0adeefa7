/* A deflate encoder for pages (see deflateenc.h for the stream it writes).
 *
 * Three steps a page: a greedy parse into sequences (a literal run, then a
 * match) that counts the symbols as it goes; code lengths from the counts
 * (Moffat and Katajainen's in-place Huffman, then limited to deflate's 15
 * and 7 bits); and the block, written with whichever of its own codes and
 * the fixed ones is shorter. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <libdeflate.h>

#include "deflateenc.h"
#include "lzmatch.h"

#define HASH_BITS 11
#define BUCKET 2
/* Deflate's shortest match, 3 bytes, and not lzoenc's 4: in arrays of
 * 32-bit words that share their upper bytes, a 3-byte match at distance 4
 * costs a few bits against three literals' 18 or more. Against zlib's level
 * 1, pages of the lab's 6.1 vmcore at -d 31: 4 bytes, 1.025x the size; 3,
 * 1.002x. */
#define MIN_MATCH 3
#define MATCH_MASK 0xffffffu
/* The stride over bytes that do not repeat grows by SKIP_NUMERATOR every
 * 2^SKIP_SHIFT of them, as in lzoenc. Literals cost less here (their codes
 * fit the page), so the stride grows more slowly. */
#define SKIP_NUMERATOR 1
#define SKIP_SHIFT 5

#define DEFLATE_MIN_LENGTH 3
#define DEFLATE_MAX_LENGTH 258
#define END_OF_BLOCK 256
#define FIRST_LENGTH_SYMBOL 257
#define LITLEN_SYMBOLS 286
#define DIST_SYMBOLS 30
#define PRECODE_SYMBOLS 19
#define MAX_CODE_BITS 15
#define MAX_PRECODE_BITS 7
/* The fixed code has 288 literal/length symbols: 286 and 287 never occur,
 * but their lengths place the 9-bit codes. */
#define FIXED_LITLEN_SYMBOLS 288
#define SYMBOLS_MAX FIXED_LITLEN_SYMBOLS
/* The code lengths the header carries: literal/length, then distance. */
#define LENGTHS_MAX (LITLEN_SYMBOLS + DIST_SYMBOLS)
/* A Huffman code over weights that sum to W is at most about
 * log_phi(W) deep: 22 for a 32 KiB page's 32769 literal/length symbols. */
#define HUFFMAN_DEPTH_MAX 32
#define FIXED_CHECK_BITS (8 * 1024)
#define ZLIB_HEADER_SIZE 2
#define ADLER32_SIZE 4

/* A literal run, then a match (length 0: the last run, with none). */
struct sequence {
        uint16_t literals;
        uint16_t length;
        uint16_t distance;
};

/* One Huffman code: lengths, and codes bit-reversed for the LSB-first
 * stream. */
struct code {
        uint8_t len[SYMBOLS_MAX];
        uint16_t bits[SYMBOLS_MAX];
};

/* The header's code lengths, run-length coded with symbols 16-18. */
struct precoded {
        uint8_t symbol[LENGTHS_MAX];
        uint8_t extra[LENGTHS_MAX];
        unsigned n, n_lit, n_dist, n_precode;
};

struct deflateenc {
        uint16_t table[1u << HASH_BITS][BUCKET];
        /* Each match takes at least MIN_MATCH bytes. */
        struct sequence seq[DEFLATEENC_MAX_INPUT / MIN_MATCH + 2];
        size_t n_seq;
        uint32_t litlen_freq[LITLEN_SYMBOLS];
        uint32_t dist_freq[DIST_SYMBOLS];
        struct code litlen, dist, precode;
        struct precoded header;
        /* The fixed codes, made once. */
        struct code fixed_litlen, fixed_dist;
};

/* The order in which the header gives the precode's lengths (RFC 1951 3.2.7). */
static const uint8_t precode_order[PRECODE_SYMBOLS] = { 16, 17, 18, 0, 8, 7, 9, 6, 10, 5,
                                                         11, 4, 12, 3, 13, 2, 14, 1, 15 };

static inline unsigned log2_floor(uint32_t x) {
        return 31u - (unsigned)__builtin_clz(x);
}

/* The length symbol of a match of len bytes (3-258), its extra bits and
 * their value. */
static inline unsigned length_symbol(unsigned len, unsigned *ret_extra_bits, unsigned *ret_extra) {
        unsigned x = len - DEFLATE_MIN_LENGTH, nb;

        *ret_extra_bits = *ret_extra = 0;
        if (x == DEFLATE_MAX_LENGTH - DEFLATE_MIN_LENGTH)
                return 285;
        if (x < 8)
                return FIRST_LENGTH_SYMBOL + x;
        nb = log2_floor(x);
        *ret_extra_bits = nb - 2;
        *ret_extra = x & ((1u << (nb - 2)) - 1);
        return FIRST_LENGTH_SYMBOL + 4 * (nb - 1) + ((x >> (nb - 2)) & 3);
}

/* The distance symbol of a match distance back (1-32768), its extra bits
 * and their value. */
static inline unsigned distance_symbol(unsigned distance, unsigned *ret_extra_bits, unsigned *ret_extra) {
        unsigned x = distance - 1, nb;

        *ret_extra_bits = *ret_extra = 0;
        if (x < 4)
                return x;
        nb = log2_floor(x);
        *ret_extra_bits = nb - 1;
        *ret_extra = x & ((1u << (nb - 1)) - 1);
        return 2 * nb + ((x >> (nb - 1)) & 1);
}

/* A match longer than deflate's 258 goes out in pieces, none shorter than 3. */
static inline unsigned next_piece(unsigned len) {
        if (len <= DEFLATE_MAX_LENGTH)
                return len;
        return len - DEFLATE_MAX_LENGTH >= DEFLATE_MIN_LENGTH ? DEFLATE_MAX_LENGTH : len - DEFLATE_MIN_LENGTH;
}

static void add_sequence(struct deflateenc *e, const uint8_t *literals, size_t n_literals, size_t len,
                         size_t distance) {
        unsigned extra_bits, extra, d;

        for (size_t i = 0; i < n_literals; i++)
                e->litlen_freq[literals[i]]++;
        e->seq[e->n_seq++] = (struct sequence){ (uint16_t)n_literals, (uint16_t)len, (uint16_t)distance };
        if (len == 0)
                return;
        d = distance_symbol((unsigned)distance, &extra_bits, &extra);
        for (unsigned left = (unsigned)len, piece; left > 0; left -= piece) {
                piece = next_piece(left);
                e->litlen_freq[length_symbol(piece, &extra_bits, &extra)]++;
                e->dist_freq[d]++;
        }
}

static inline uint16_t *bucket_of(struct deflateenc *e, const uint8_t *p) {
        return e->table[lzmatch_hash4(lzmatch_load32(p) & MATCH_MASK, HASH_BITS)];
}

/* A position goes in front of its bucket; the older entry stays behind it. */
static inline void insert(uint16_t *bucket, size_t position) {
        bucket[1] = bucket[0];
        bucket[0] = (uint16_t)position;
}

/* The greedy parse: one bucket of two candidates a position, the longer
 * match taken; the last match's distance tried first after each match
 * (arrays of pointers), as in lzoenc. */
static void parse(struct deflateenc *e, const uint8_t *in, size_t n) {
        const uint8_t *end = in + n, *anchor = in, *ip = in + 1;

        e->n_seq = 0;
        memset(e->litlen_freq, 0, sizeof(e->litlen_freq));
        memset(e->dist_freq, 0, sizeof(e->dist_freq));
        if (n >= 4) {
                const uint8_t *last = end - 4;

                memset(e->table, 0, sizeof(e->table));
                while (ip <= last) {
                        uint32_t v = lzmatch_load32(ip) & MATCH_MASK;
                        uint16_t *bucket = bucket_of(e, ip);
                        const uint8_t *cand = in + bucket[0], *other = in + bucket[1];
                        size_t len, distance;

                        insert(bucket, (size_t)(ip - in));
                        if ((lzmatch_load32(cand) & MATCH_MASK) != v) {
                                if ((lzmatch_load32(other) & MATCH_MASK) != v) {
                                        ip += 1 + (((size_t)(ip - anchor) * SKIP_NUMERATOR) >> SKIP_SHIFT);
                                        continue;
                                }
                                cand = other;
                        } else if (other != cand && (lzmatch_load32(other) & MATCH_MASK) == v &&
                                   lzmatch_common_length(ip + MIN_MATCH, other + MIN_MATCH, end) >
                                           lzmatch_common_length(ip + MIN_MATCH, cand + MIN_MATCH, end))
                                cand = other;
                        while (ip > anchor && cand > in && ip[-1] == cand[-1]) {
                                ip--;
                                cand--;
                        }
                        len = MIN_MATCH + lzmatch_common_length(ip + MIN_MATCH, cand + MIN_MATCH, end);
                        distance = (size_t)(ip - cand);
                        add_sequence(e, anchor, (size_t)(ip - anchor), len, distance);
                        ip += len;
                        anchor = ip;
                        while (ip + 1 <= last &&
                               ((lzmatch_load32(ip + 1) ^ lzmatch_load32(ip + 1 - distance)) & MATCH_MASK) == 0) {
                                len = MIN_MATCH + lzmatch_common_length(ip + 1 + MIN_MATCH, ip + 1 + MIN_MATCH - distance,
                                                                        end);
                                add_sequence(e, anchor, 1, len, distance);
                                ip += 1 + len;
                                anchor = ip;
                        }
                        if (ip <= last)
                                insert(bucket_of(e, ip - 2), (size_t)(ip - 2 - in));
                }
        }
        add_sequence(e, anchor, (size_t)(end - anchor), 0, 0);
        e->litlen_freq[END_OF_BLOCK]++;
}

/* Sorts keys[0..n) (frequency << 9 | symbol, frequencies below 2^16)
 * ascending by frequency: a radix sort, 8 bits a pass, and one pass when
 * every frequency is below 256 (most codes of a page). */
static void sort_by_frequency(uint32_t *keys, uint32_t *tmp, unsigned n, uint32_t max_freq) {
        for (unsigned shift = 9; shift < 25 && (max_freq >> (shift - 9)) > 0; shift += 8) {
                unsigned count[256] = {}, at = 0;

                for (unsigned i = 0; i < n; i++)
                        count[(keys[i] >> shift) & 0xff]++;
                for (unsigned b = 0; b < 256; b++) {
                        unsigned c = count[b];
                        count[b] = at;
                        at += c;
                }
                for (unsigned i = 0; i < n; i++)
                        tmp[count[(keys[i] >> shift) & 0xff]++] = keys[i];
                memcpy(keys, tmp, n * sizeof(*keys));
        }
}

/* Moffat and Katajainen, "In-place calculation of minimum-redundancy
 * codes" (1995): a[0..n) (n >= 2) holds frequencies in ascending order and
 * receives the code lengths, longest first. */
static void huffman_lengths(uint32_t *a, unsigned n) {
        unsigned root = 0, leaf = 2, next, avail, used, depth;

        a[0] += a[1];
        for (next = 1; next < n - 1; next++) {
                if (leaf >= n || a[root] < a[leaf]) {
                        a[next] = a[root];
                        a[root++] = next;
                } else
                        a[next] = a[leaf++];
                if (leaf >= n || (root < next && a[root] < a[leaf])) {
                        a[next] += a[root];
                        a[root++] = next;
                } else
                        a[next] += a[leaf++];
        }
        a[n - 2] = 0;
        for (int i = (int)n - 3; i >= 0; i--)
                a[i] = a[a[i]] + 1;
        avail = 1;
        used = depth = 0;
        int r = (int)n - 2, at = (int)n - 1;
        while (avail > 0) {
                while (r >= 0 && a[r] == depth) {
                        used++;
                        r--;
                }
                while (avail > used) {
                        a[at--] = depth;
                        avail--;
                }
                avail = 2 * used;
                depth++;
                used = 0;
        }
}

/* Counts of lengths longer than max_bits are made max_bits, then leaves
 * move down until the code is complete again (zlib's method): each move
 * takes one unit of 2^-max_bits off the Kraft sum. */
static void limit_lengths(unsigned *count, unsigned longest, unsigned max_bits) {
        uint32_t kraft = 0;

        for (unsigned l = max_bits + 1; l <= longest; l++) {
                count[max_bits] += count[l];
                count[l] = 0;
        }
        for (unsigned l = 1; l <= max_bits; l++)
                kraft += count[l] << (max_bits - l);
        while (kraft > (1u << max_bits)) {
                unsigned l = max_bits - 1;

                while (count[l] == 0)
                        l--;
                count[l]--;
                count[l + 1] += 2;
                count[max_bits]--;
                kraft--;
        }
}

static inline uint16_t reverse_bits(uint32_t x, unsigned len) {
        x = ((x & 0x5555) << 1) | ((x >> 1) & 0x5555);
        x = ((x & 0x3333) << 2) | ((x >> 2) & 0x3333);
        x = ((x & 0x0f0f) << 4) | ((x >> 4) & 0x0f0f);
        x = ((x & 0x00ff) << 8) | ((x >> 8) & 0x00ff);
        return (uint16_t)(x >> (16 - len));
}

/* Canonical codes from lengths (RFC 1951 3.2.2). */
static void assign_codes(struct code *c, unsigned n, unsigned max_bits) {
        unsigned count[MAX_CODE_BITS + 1] = {}, next[MAX_CODE_BITS + 2];

        for (unsigned s = 0; s < n; s++)
                count[c->len[s]]++;
        count[0] = 0;
        next[1] = 0;
        for (unsigned l = 1; l <= max_bits; l++)
                next[l + 1] = (next[l] + count[l]) << 1;
        for (unsigned s = 0; s < n; s++)
                if (c->len[s])
                        c->bits[s] = reverse_bits(next[c->len[s]]++, c->len[s]);
}

/* A code for freq[0..n), no length over max_bits. A code with fewer than
 * two symbols gets two of length 1, so that every decoder takes it. */
static void build_code(struct code *c, const uint32_t *freq, unsigned n, unsigned max_bits) {
        uint32_t keys[SYMBOLS_MAX], tmp[SYMBOLS_MAX];
        unsigned count[HUFFMAN_DEPTH_MAX + 1] = {}, used = 0, at = 0;
        uint32_t max_freq = 0;

        memset(c->len, 0, n);
        for (unsigned s = 0; s < n; s++)
                if (freq[s]) {
                        keys[used++] = freq[s] << 9 | s;
                        max_freq = freq[s] > max_freq ? freq[s] : max_freq;
                }
        if (used < 2) {
                unsigned s = used ? keys[0] & 0x1ff : 0;
                c->len[s] = 1;
                c->len[s == 0 ? 1 : 0] = 1;
                assign_codes(c, n, max_bits);
                return;
        }
        sort_by_frequency(keys, tmp, used, max_freq);
        for (unsigned i = 0; i < used; i++)
                tmp[i] = keys[i] >> 9;
        huffman_lengths(tmp, used);
        for (unsigned i = 0; i < used; i++)
                count[tmp[i]]++;
        if (tmp[0] > max_bits)
                limit_lengths(count, tmp[0], max_bits);
        /* The rarest symbols take the longest lengths. */
        for (unsigned l = max_bits; l >= 1; l--)
                for (unsigned k = 0; k < count[l]; k++)
                        c->len[keys[at++] & 0x1ff] = (uint8_t)l;
        assign_codes(c, n, max_bits);
}

static void precode_put(struct precoded *h, uint32_t *freq, unsigned symbol, unsigned extra) {
        h->symbol[h->n] = (uint8_t)symbol;
        h->extra[h->n++] = (uint8_t)extra;
        freq[symbol]++;
}

/* The run-length coding of the header's lengths (RFC 1951 3.2.7): 16
 * repeats the last length 3-6 times, 17 gives 3-10 zeros, 18 11-138. */
static void precode_lengths(struct precoded *h, const uint8_t *lens, unsigned n, uint32_t *freq) {
        h->n = 0;
        for (unsigned i = 0, run; i < n; i += run) {
                unsigned left;

                for (run = 1; i + run < n && lens[i + run] == lens[i]; run++)
                        ;
                left = run;
                if (lens[i] == 0) {
                        for (unsigned r; left >= 11; left -= r) {
                                r = left < 138 ? left : 138;
                                precode_put(h, freq, 18, r - 11);
                        }
                        if (left >= 3) {
                                precode_put(h, freq, 17, left - 3);
                                left = 0;
                        }
                } else {
                        precode_put(h, freq, lens[i], 0);
                        for (left--; left >= 3;) {
                                unsigned r = left < 6 ? left : 6;
                                precode_put(h, freq, 16, r - 3);
                                left -= r;
                        }
                }
                for (; left > 0; left--)
                        precode_put(h, freq, lens[i], 0);
        }
}

static const uint8_t precode_extra_bits[PRECODE_SYMBOLS] = { [16] = 2, [17] = 3, [18] = 7 };

static inline unsigned litlen_extra_bits(unsigned s) {
        return s >= 265 && s < 285 ? (s - 261) / 4 : 0;
}

static inline unsigned dist_extra_bits(unsigned d) {
        return d < 4 ? 0 : d / 2 - 1;
}

/* The body's size in bits with these lengths. */
static uint64_t symbol_bits(const uint32_t *litlen_freq, const uint8_t *litlen_len, const uint32_t *dist_freq,
                            const uint8_t *dist_len) {
        uint64_t bits = 0;

        for (unsigned s = 0; s < LITLEN_SYMBOLS; s++)
                bits += (uint64_t)litlen_freq[s] * (litlen_len[s] + litlen_extra_bits(s));
        for (unsigned d = 0; d < DIST_SYMBOLS; d++)
                bits += (uint64_t)dist_freq[d] * (dist_len[d] + dist_extra_bits(d));
        return bits;
}

/* The block's codes and header; returns its size in bits with them. */
static uint64_t dynamic_block_bits(struct deflateenc *e) {
        struct precoded *h = &e->header;
        uint8_t lens[LENGTHS_MAX];
        uint32_t freq[PRECODE_SYMBOLS] = {};
        uint64_t bits = 3 + 5 + 5 + 4;

        build_code(&e->litlen, e->litlen_freq, LITLEN_SYMBOLS, MAX_CODE_BITS);
        build_code(&e->dist, e->dist_freq, DIST_SYMBOLS, MAX_CODE_BITS);
        for (h->n_lit = LITLEN_SYMBOLS; e->litlen.len[h->n_lit - 1] == 0; h->n_lit--)
                ;
        for (h->n_dist = DIST_SYMBOLS; h->n_dist > 1 && e->dist.len[h->n_dist - 1] == 0; h->n_dist--)
                ;
        memcpy(lens, e->litlen.len, h->n_lit);
        memcpy(lens + h->n_lit, e->dist.len, h->n_dist);
        precode_lengths(h, lens, h->n_lit + h->n_dist, freq);
        build_code(&e->precode, freq, PRECODE_SYMBOLS, MAX_PRECODE_BITS);
        for (h->n_precode = PRECODE_SYMBOLS; h->n_precode > 4 && e->precode.len[precode_order[h->n_precode - 1]] == 0;
             h->n_precode--)
                ;
        bits += 3 * h->n_precode;
        for (unsigned i = 0; i < h->n; i++)
                bits += e->precode.len[h->symbol[i]] + precode_extra_bits[h->symbol[i]];
        return bits + symbol_bits(e->litlen_freq, e->litlen.len, e->dist_freq, e->dist.len);
}

static inline unsigned fixed_litlen_length(unsigned s) {
        return s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
}

/* The fixed codes' lengths (RFC 1951 3.2.6). */
static void fixed_lengths(uint8_t *litlen, uint8_t *dist) {
        for (unsigned s = 0; s < FIXED_LITLEN_SYMBOLS; s++)
                litlen[s] = (uint8_t)fixed_litlen_length(s);
        memset(dist, 5, DIST_SYMBOLS);
}

int deflateenc_new(struct deflateenc **ret) {
        struct deflateenc *e = calloc(1, sizeof(*e));

        if (!e)
                return -ENOMEM;
        fixed_lengths(e->fixed_litlen.len, e->fixed_dist.len);
        assign_codes(&e->fixed_litlen, FIXED_LITLEN_SYMBOLS, MAX_CODE_BITS);
        assign_codes(&e->fixed_dist, DIST_SYMBOLS, MAX_CODE_BITS);
        *ret = e;
        return 0;
}

struct deflateenc *deflateenc_free(struct deflateenc *e) {
        free(e);
        return NULL;
}

/* Bits, least significant first, into a buffer whose length the caller
 * has already checked. */
struct bitwriter {
        uint64_t acc;
        unsigned n;
        uint8_t *op;
};

static inline void put_bits(struct bitwriter *w, uint32_t bits, unsigned count) {
        w->acc |= (uint64_t)bits << w->n;
        w->n += count;
        if (w->n >= 32) {
                for (int i = 0; i < 4; i++)
                        *w->op++ = (uint8_t)(w->acc >> (8 * i));
                w->acc >>= 32;
                w->n -= 32;
        }
}

static void flush_bits(struct bitwriter *w) {
        for (; w->n > 0; w->n = w->n > 8 ? w->n - 8 : 0) {
                *w->op++ = (uint8_t)w->acc;
                w->acc >>= 8;
        }
}

static void write_header(struct deflateenc *e, struct bitwriter *w) {
        const struct precoded *h = &e->header;

        put_bits(w, 1 | 2u << 1, 3);
        put_bits(w, h->n_lit - FIRST_LENGTH_SYMBOL, 5);
        put_bits(w, h->n_dist - 1, 5);
        put_bits(w, h->n_precode - 4, 4);
        for (unsigned i = 0; i < h->n_precode; i++)
                put_bits(w, e->precode.len[precode_order[i]], 3);
        for (unsigned i = 0; i < h->n; i++) {
                unsigned s = h->symbol[i];
                put_bits(w, e->precode.bits[s], e->precode.len[s]);
                put_bits(w, h->extra[i], precode_extra_bits[s]);
        }
}

static void write_match(const struct code *litlen, const struct code *dist, struct bitwriter *w, unsigned len,
                        unsigned distance) {
        unsigned dist_bits, dist_extra, d = distance_symbol(distance, &dist_bits, &dist_extra);

        for (unsigned piece; len > 0; len -= piece) {
                unsigned extra_bits, extra, s;

                piece = next_piece(len);
                s = length_symbol(piece, &extra_bits, &extra);
                put_bits(w, litlen->bits[s] | extra << litlen->len[s], litlen->len[s] + extra_bits);
                put_bits(w, dist->bits[d] | dist_extra << dist->len[d], dist->len[d] + dist_bits);
        }
}

static void write_body(const struct deflateenc *e, const struct code *litlen, const struct code *dist,
                       struct bitwriter *w, const uint8_t *in) {
        for (size_t i = 0; i < e->n_seq; i++) {
                const struct sequence *q = &e->seq[i];

                for (unsigned k = 0; k < q->literals; k++, in++)
                        put_bits(w, litlen->bits[*in], litlen->len[*in]);
                if (q->length)
                        write_match(litlen, dist, w, q->length, q->distance);
                in += q->length;
        }
        put_bits(w, litlen->bits[END_OF_BLOCK], litlen->len[END_OF_BLOCK]);
}

size_t deflateenc_compress(struct deflateenc *e, const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
        uint64_t dynamic_bits, fixed_bits;
        size_t limit = cap < n ? cap : n;
        struct bitwriter w = { .op = out };
        uint32_t adler;

        if (n == 0 || n > DEFLATEENC_MAX_INPUT)
                return 0;
        parse(e, in, n);
        dynamic_bits = dynamic_block_bits(e);
        /* The fixed codes win only where the block's own header (about 60
         * bytes) is a good part of it. */
        fixed_bits = UINT64_MAX;
        if (dynamic_bits < FIXED_CHECK_BITS)
                fixed_bits = 3 + symbol_bits(e->litlen_freq, e->fixed_litlen.len, e->dist_freq, e->fixed_dist.len);
        /* Whole bytes; nothing is written unless it fits. */
        if (ZLIB_HEADER_SIZE + ((dynamic_bits < fixed_bits ? dynamic_bits : fixed_bits) + 7) / 8 + ADLER32_SIZE >= limit)
                return 0;
        /* CMF 0x78: deflate, a 32 KiB window; FLG 0x01: the fastest
         * level, no dictionary, and 0x7801 % 31 == 0. */
        *w.op++ = 0x78;
        *w.op++ = 0x01;
        if (dynamic_bits <= fixed_bits) {
                write_header(e, &w);
                write_body(e, &e->litlen, &e->dist, &w, in);
        } else {
                put_bits(&w, 1 | 1u << 1, 3);
                write_body(e, &e->fixed_litlen, &e->fixed_dist, &w, in);
        }
        flush_bits(&w);
        adler = libdeflate_adler32(1, in, n);
        for (int i = 3; i >= 0; i--)
                *w.op++ = (uint8_t)(adler >> (8 * i));
        return (size_t)(w.op - out);
}
