/* Little-endian loads from byte buffers at any alignment: the fields of ELF
 * headers, struct page and the printk ring as a dump holds them. */
#pragma once

#include <stdint.h>

static inline uint16_t le16(const uint8_t *p) {
        return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le32(const uint8_t *p) {
        return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16;
}

static inline uint64_t le64(const uint8_t *p) {
        return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Little-endian stores, for our own wire and disk formats (KDKP). */
static inline void put_le16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v) {
        put_le16(p, (uint16_t)v);
        put_le16(p + 2, (uint16_t)(v >> 16));
}

static inline void put_le64(uint8_t *p, uint64_t v) {
        put_le32(p, (uint32_t)v);
        put_le32(p + 4, (uint32_t)(v >> 32));
}
