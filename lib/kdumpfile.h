/* Writing the kdump-compressed format ("KDUMP   ", header version 6) that
 * crash, drgn (libkdumpfile) and makedumpfile read. The layout is described
 * in docs/formats.md. Memory stays bounded: bitmaps arrive in chunks, and
 * descriptors and page data are buffered in small blocks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "output.h"

#define KDUMP_SIGNATURE "KDUMP   "
#define KDUMP_HEADER_VERSION 6
#define KDUMP_STATUS_INCOMPLETE 0x08u
#define UTS_FIELD_SIZE 65

struct kdump_params {
        char utsname[6][UTS_FIELD_SIZE];  /* sysname, nodename, release, version, machine, domainname */
        int64_t crash_time;
        uint32_t status;                /* the compression bit: KDUMP_FLAG_ZLIB, _LZO or _ZSTD */
        uint32_t block_size;            /* the kernel's page size */
        uint64_t max_mapnr;
        uint32_t nr_cpus;
        uint64_t phys_base;
        int32_t dump_level;
        const uint8_t *notes;           /* the whole PT_NOTE segment, copied verbatim */
        size_t notes_size;
        bool has_vmcoreinfo;
        size_t vmcoreinfo_offset;       /* within notes */
        size_t vmcoreinfo_size;
};

struct kdump_writer;

/* Writes the headers and notes. Returns 0 or a negative errno. */
int kdump_writer_new(struct output *out, const struct kdump_params *p, struct kdump_writer **ret);

/* The bitmaps for pfns [start_pfn, start_pfn + 8 * n_bytes): bit i of byte
 * j is pfn start_pfn + 8 j + i. valid is RAM, dumpable the pages written.
 * start_pfn must be a multiple of 8. */
int kdump_writer_put_bitmaps(struct kdump_writer *w, uint64_t start_pfn, const uint8_t *valid,
                             const uint8_t *dumpable, size_t n_bytes);

/* After the bitmaps: the number of dumpable pages, which fixes where the
 * descriptor table ends and the data begins. With share_zero, one zero page
 * is stored first and kdump_writer_put_zero_page() points at it. */
int kdump_writer_begin_pages(struct kdump_writer *w, uint64_t n_dumpable, bool share_zero);

/* The next dumpable page, in pfn order: its stored bytes and descriptor flags. */
int kdump_writer_put_page(struct kdump_writer *w, const uint8_t *data, uint32_t size, uint32_t flags);
int kdump_writer_put_zero_page(struct kdump_writer *w);

/* Flushes everything; with incomplete, sets the header's incomplete bit.
 * Returns 0 or a negative errno. */
int kdump_writer_finish(struct kdump_writer *w, bool incomplete);

/* Sets the incomplete bit in the header of the kdump-compressed file on fd
 * (a dump rebuilt from a stream that stopped early). Returns 0,
 * -EPROTONOSUPPORT if fd holds no kdump header, or a negative errno. */
int kdump_mark_incomplete(int fd);

/* Pages written so far. */
uint64_t kdump_writer_pages(const struct kdump_writer *w);

struct kdump_writer *kdump_writer_free(struct kdump_writer *w);
