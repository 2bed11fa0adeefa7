/* The page filter: decides from VMCOREINFO alone, by reading each struct
 * page of the crashed kernel's mem_map, which pages a dump level leaves out
 * (cache, user data, free) and which no dump should hold (hardware-poisoned
 * and logically offline pages). A page it cannot classify is kept. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "vmcore.h"

struct pagefilter;

/* Pages left out, by category, as makedumpfile's report counts them. */
struct filter_counts {
        uint64_t cache;
        uint64_t cache_private;
        uint64_t user;
        uint64_t free;
        uint64_t hwpoison;
        uint64_t offline;
        uint64_t bad_buddy_order; /* buddy pages kept: order out of range */
        uint64_t unreadable;      /* pfns kept: their struct page has no data */
};

/* Prepares to filter v at dump level (makedumpfile's -d bits). Returns 0,
 * or -ENOENT / -EOPNOTSUPP / -EBADMSG with missing (missing_len bytes)
 * naming the VMCOREINFO entries (or the architecture) that the level needs
 * and the vmcore lacks. */
int pagefilter_new(struct vmcore *v, int level, struct pagefilter **ret, char *missing, size_t missing_len);

struct pagefilter *pagefilter_free(struct pagefilter *f);

/* Starts a new pass over the pfns from 0. */
void pagefilter_rewind(struct pagefilter *f);

/* Clears the bits of pfns in [base, end) that are left out; bit i of
 * dumpable stands for pfn base + i and is set for pfns with data. Cycles are
 * given in increasing order; an excluded block that runs past end is carried
 * into the next cycle. Counts only bits it clears. */
int pagefilter_cycle(struct pagefilter *f, uint64_t base, uint64_t end, uint8_t *dumpable, struct filter_counts *c);
