/* What the page encoders (lzoenc, deflateenc) share to find matches: loads
 * that need no alignment, the hash of four bytes, and a match's length. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t lzmatch_load32(const uint8_t *p) {
        uint32_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

static inline uint64_t lzmatch_load64(const uint8_t *p) {
        uint64_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

/* Knuth's multiplicative hash of four bytes, to bits bits. */
static inline uint32_t lzmatch_hash4(uint32_t v, unsigned bits) {
        return (v * 2654435761u) >> (32 - bits);
}

/* How many bytes from a on equal those from b (b < a), up to end. */
static inline size_t lzmatch_common_length(const uint8_t *a, const uint8_t *b, const uint8_t *end) {
        const uint8_t *start = a;

        while (a + 8 <= end) {
                uint64_t x = lzmatch_load64(a) ^ lzmatch_load64(b);

                if (x) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                        return (size_t)(a - start) + ((unsigned)__builtin_ctzll(x) >> 3);
#else
                        return (size_t)(a - start) + ((unsigned)__builtin_clzll(x) >> 3);
#endif
                }
                a += 8;
                b += 8;
        }
        while (a < end && *a == *b) {
                a++;
                b++;
        }
        return (size_t)(a - start);
}
