/* The on-disk structs of the kdump-compressed format, after makedumpfile's
 * diskdump_mod.h for LP64 (the only layout x86_64 crash reads); all fields
 * little-endian. The file: this header at 0, the sub header at block_size,
 * two bitmaps (RAM, then dumped pages), one page_desc per dumped page, then
 * the page data. */
#pragma once

#include <assert.h>
#include <stdint.h>

#include "kdumpfile.h"

struct disk_dump_header {
        char signature[8];
        int32_t header_version;
        char utsname[6][UTS_FIELD_SIZE];
        uint8_t pad[6];
        int64_t tv_sec;
        int64_t tv_usec;
        uint32_t status;
        int32_t block_size;
        int32_t sub_hdr_size;
        uint32_t bitmap_blocks;
        uint32_t max_mapnr;
        uint32_t total_ram_blocks;
        uint32_t device_blocks;
        uint32_t written_blocks;
        uint32_t current_cpu;
        int32_t nr_cpus;
} __attribute__((packed));
static_assert(sizeof(struct disk_dump_header) == 464, "disk_dump_header is 464 bytes on LP64");

struct kdump_sub_header {
        uint64_t phys_base;
        int32_t dump_level;
        int32_t split;
        uint64_t start_pfn;
        uint64_t end_pfn;
        uint64_t offset_vmcoreinfo;
        uint64_t size_vmcoreinfo;
        uint64_t offset_note;
        uint64_t size_note;
        uint64_t offset_eraseinfo;
        uint64_t size_eraseinfo;
        uint64_t start_pfn_64;
        uint64_t end_pfn_64;
        uint64_t max_mapnr_64;
} __attribute__((packed));
static_assert(sizeof(struct kdump_sub_header) == 104, "kdump_sub_header is 104 bytes on LP64");

struct page_desc {
        int64_t offset;
        uint32_t size;
        uint32_t flags;
        uint64_t page_flags;
} __attribute__((packed));
static_assert(sizeof(struct page_desc) == 24, "page_desc is 24 bytes");
