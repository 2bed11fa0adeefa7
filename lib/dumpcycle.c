/* The bitmaps of one cycle of pfns, shared by the kdump and ELF writers. */
#include <errno.h>

#include "dumpcycle.h"

/* Sets the bits of [from, to), whole bytes at a time: a cycle is 512K pfns,
 * and a bit at a time took about a millisecond of each. */
static void set_bits(uint8_t *bm, uint64_t base, uint64_t from, uint64_t to) {
        uint64_t i = from - base, n = to - base;

        for (; i < n && i % 8; i++)
                bm[i / 8] |= (uint8_t)(1u << (i % 8));
        if (n - i >= 8) {
                memset(bm + i / 8, 0xff, (size_t)((n - i) / 8));
                i += (n - i) & ~(uint64_t)7;
        }
        for (; i < n; i++)
                bm[i / 8] |= (uint8_t)(1u << (i % 8));
}

static uint64_t count_bits(const uint8_t *bm, size_t bytes) {
        uint64_t n = 0, word;
        size_t i = 0;

        for (; i + 8 <= bytes; i += 8) {
                memcpy(&word, bm + i, 8);
                n += (uint64_t)__builtin_popcountll(word);
        }
        for (; i < bytes; i++)
                n += (uint64_t)__builtin_popcount(bm[i]);
        return n;
}

/* One cycle's bitmaps: valid = RAM, dumpable = RAM with data that the filter
 * keeps. Returns 0 or a negative errno; *ret_count is the dumpable pages. */
int cycle_bitmaps(struct vmcore *v, struct pagefilter *f, uint64_t base, uint64_t end, uint8_t *valid,
                         uint8_t *dumpable, struct filter_counts *c, uint64_t *ret_data, uint64_t *ret_count) {
        size_t n_ranges;
        const struct vmcore_range *r = vmcore_ranges(v, &n_ranges);

        memset(valid, 0, CYCLE_PFNS / 8);
        memset(dumpable, 0, CYCLE_PFNS / 8);
        for (size_t i = 0; i < n_ranges; i++) {
                uint64_t lo = r[i].start_pfn > base ? r[i].start_pfn : base;
                uint64_t mem_hi = r[i].memsz_end_pfn < end ? r[i].memsz_end_pfn : end;
                uint64_t data_hi = r[i].end_pfn < end ? r[i].end_pfn : end;

                if (lo < mem_hi)
                        set_bits(valid, base, lo, mem_hi);
                if (lo < data_hi)
                        set_bits(dumpable, base, lo, data_hi);
        }
        *ret_data = count_bits(dumpable, (end - base + 7) / 8);
        if (f) {
                int ret = pagefilter_cycle(f, base, end, dumpable, c);

                if (ret < 0)
                        return ret;
        }
        *ret_count = count_bits(dumpable, (end - base + 7) / 8);
        return 0;
}

void cycle_buffers_done(struct cycle_buffers *b) {
        free(b->valid);
        free(b->dumpable);
}

int cycle_buffers_init(struct cycle_buffers *b) {
        b->valid = malloc(CYCLE_PFNS / 8);
        b->dumpable = malloc(CYCLE_PFNS / 8);
        return b->valid && b->dumpable ? 0 : -ENOMEM;
}

