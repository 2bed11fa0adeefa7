/* One cycle of pfns at a time: which are RAM, which have data, and which of
 * those the page filter keeps. Writers run the same cycles twice (to count,
 * then to write), so memory stays flat whatever the size of RAM. */
#pragma once

#include <stdint.h>

#include "pagefilter.h"
#include "vmcore.h"

/* Pfns per bitmap cycle: 64 KiB of each bitmap, 2 GiB of 4 KiB pages. */
#define CYCLE_PFNS (512u * 1024u)

struct cycle_buffers {
        uint8_t *valid;
        uint8_t *dumpable;
};

int cycle_buffers_init(struct cycle_buffers *b);
void cycle_buffers_done(struct cycle_buffers *b);

/* Fills b for pfns [base, end): valid = RAM, dumpable = RAM with data that
 * filter f (may be NULL) keeps; bit i is pfn base + i. *ret_data counts the
 * pfns with data, *ret_count those kept; c gathers what f left out. */
int cycle_bitmaps(struct vmcore *v, struct pagefilter *f, uint64_t base, uint64_t end, uint8_t *valid,
                  uint8_t *dumpable, struct filter_counts *c, uint64_t *ret_data, uint64_t *ret_count);
