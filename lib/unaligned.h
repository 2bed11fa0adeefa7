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
