/* The dump pipeline: a vmcore in, a kdump-compressed file out, with the
 * bitmaps made in bounded cycles and pages compressed one at a time. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "output.h"
#include "pagefilter.h"
#include "vmcore.h"

/* The dump levels of makedumpfile's -d bitmask. */
#define DUMP_LEVEL_ZERO 1
#define DUMP_LEVEL_CACHE 2
#define DUMP_LEVEL_CACHE_PRIVATE 4
#define DUMP_LEVEL_USER 8
#define DUMP_LEVEL_FREE 16
#define DUMP_LEVEL_MAX 31

/* Called once the first pass knows how many pages the dump keeps (of
 * ram_pages with data), before any page is written. */
typedef void (*dump_plan_func)(uint64_t keep_pages, uint64_t ram_pages, uint32_t page_size, void *userdata);

struct dump_options {
        int dump_level;
        enum codec_kind codec;
        /* Walks mem_map for the levels above 1 and for hardware-poisoned and
         * offline pages; NULL copies every page with data. */
        struct pagefilter *filter;
        /* Compression threads; 1 compresses in the calling thread. */
        unsigned threads;
        dump_plan_func plan;    /* may be NULL */
        void *plan_userdata;
        /* -E from a kdump-compressed input: its loads (lib/elflayout.h),
         * as an ELF input's come from its program headers. */
        const struct elfcore_load *elf_loads;
        size_t n_elf_loads;
};

struct dump_stats {
        uint64_t ram_pages;     /* pfns with data in the vmcore */
        uint64_t dump_pages;    /* of those, the ones the dump keeps */
        uint64_t zero_pages;    /* stored once, shared (level 1) */
        uint64_t written_pages; /* pages with their own stored data */
        uint64_t raw_pages;     /* of those, stored uncompressed */
        uint64_t data_bytes;
        struct filter_counts excluded;
        /* The input page the dump stopped at, when reading it failed. */
        int input_error;
        uint64_t input_error_pfn;
};

/* Progress callback: pages done of total. May be NULL. */
typedef void (*dump_progress_func)(uint64_t done, uint64_t total, void *userdata);

/* Writes v to out as a kdump-compressed dump. On -ENOSPC the header is marked
 * incomplete and what was written stays readable. Returns 0 or a negative
 * errno; *ret_stats is filled either way. */
/* Writes v to out as an ELF64 core (-E): one PT_LOAD per run of kept pages,
 * excluded pages after a run as p_memsz beyond p_filesz. The loads split
 * are v's program headers, or o->elf_loads for a kdump-compressed v.
 * Returns 0 or a negative errno. */
int dump_elf(struct vmcore *v, const struct dump_options *o, struct output *out, dump_progress_func progress,
             void *userdata, struct dump_stats *ret_stats);

int dump_kdump(struct vmcore *v, const struct dump_options *o, struct output *out,
               dump_progress_func progress, void *userdata, struct dump_stats *ret_stats);
