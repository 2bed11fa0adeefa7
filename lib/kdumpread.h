/* Reading kdump-compressed files (as makedumpfile and dumptool write them)
 * as a source of pages: for re-filtering to a higher level and for
 * converting between codecs. The bitmaps stay on disk; a rank table of one
 * count per 4096 pfns finds a page's descriptor. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kdumpfile.h"

struct kdump_reader;

struct kdump_info {
        uint32_t header_version;
        uint32_t block_size;    /* the page size */
        uint32_t status;
        uint64_t max_mapnr;
        int32_t dump_level;
        uint64_t phys_base;
        char utsname[6][UTS_FIELD_SIZE];
        uint64_t note_offset;   /* the ELF notes, as the vmcore's PT_NOTE */
        uint64_t note_size;
        uint64_t dumped_pages;
};

/* Reads the headers and builds the rank table. On failure returns a
 * negative errno with a one-line reason in why: -EBADMSG for a malformed
 * header, -EPROTONOSUPPORT for a kind we do not read (split, old header
 * versions, snappy), -EIO for a file cut short. */
int kdump_reader_open(int fd, uint64_t file_size, struct kdump_reader **ret, char *why, size_t why_len);

struct kdump_reader *kdump_reader_free(struct kdump_reader *r);

const struct kdump_info *kdump_reader_info(const struct kdump_reader *r);

/* Reads len bytes of the first (RAM) or second (dumped) bitmap at byte
 * offset from. Returns 0 or a negative errno. */
int kdump_reader_bitmap(struct kdump_reader *r, int which, uint64_t from, uint8_t *buf, size_t len);

/* Decompresses page pfn into buf (block_size bytes). Returns 0, -ENOENT when
 * the page is not in the dump, -EBADMSG for a bad descriptor or data. */
int kdump_reader_page(struct kdump_reader *r, uint64_t pfn, uint8_t *buf);
