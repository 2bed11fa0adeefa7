/* A printk ring packed into one buffer, as the printk fuzz corpus holds it:
 *   u8 count_bits (0-6), u8 size_bits (4-12), then the printk_ringbuffer
 *   (88 bytes), the descriptors (24 each), the infos (88 each), the text;
 * laid out as 6.1 and 6.12 lay it out (their VMCOREINFO). Shared by the
 * fuzz target and the unit test. */
#pragma once

#include "printk.h"

static const struct printk_layout packed_ring_layout = {
        .prb_size = 88, .desc_ring = 0, .text_data_ring = 48,
        .count_bits = 0, .descs = 8, .infos = 16, .head_id = 24, .tail_id = 32,
        .desc_size = 24, .state_var = 0, .text_blk_lpos = 8, .lpos_begin = 0, .lpos_next = 8,
        .info_size = 88, .seq = 0, .ts_nsec = 8, .text_len = 16, .caller_id = 20,
        .size_bits = 0, .data = 8, .counter = 0,
};

/* Points ring into data. Returns 0, or -1 when data is not such a ring. */
static inline int packed_ring(const uint8_t *data, size_t size, struct printk_ring *ring) {
        if (size < 2 || data[0] > 6 || data[1] < 4 || data[1] > 12)
                return -1;
        ring->desc_count = 1ull << data[0];
        ring->text_size = 1ull << data[1];
        if (size < 2 + 88 + ring->desc_count * (24 + 88) + ring->text_size)
                return -1;
        ring->prb = data + 2;
        ring->descs = ring->prb + 88;
        ring->infos = ring->descs + ring->desc_count * 24;
        ring->text = ring->infos + ring->desc_count * 88;
        return 0;
}
