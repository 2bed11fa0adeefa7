/* The kdump-compressed writer. Struct layouts follow makedumpfile's
 * diskdump_mod.h for LP64 (the only layout x86_64 crash reads). */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stddef.h>

#include "io.h"
#include "kdumpfile.h"
#include "kdumpformat.h"

/* Descriptors and data are flushed in blocks of this size, as makedumpfile
 * does (page_size << block_order 4), so a flattened stream has few records. */
#define FLUSH_SIZE (64u << 10)
/* Descriptors for a direct output, which gathers page data straight into
 * its batches: each descriptor flush ends the data batch being filled, so
 * more of them at a time means fewer, fuller writes. On the lab's 6.1
 * vmcore at -d 31 (lzo, two threads): 45 writes instead of 63, and a page
 * pass of 59 ms instead of 67 (medians of 10; 256 KiB: 62, 1 MiB: 60). */
#define DIRECT_DESC_FLUSH (512u << 10)

struct kdump_writer {
        struct output *out;
        struct disk_dump_header header;
        uint32_t block_size;
        uint64_t bitmap1_offset;
        uint64_t bitmap2_offset;
        uint64_t desc_offset;           /* where the next descriptor goes */
        uint64_t data_offset;           /* where the next data byte goes */
        uint64_t desc_end;
        struct page_desc zero_desc;
        uint64_t pages;
        uint8_t *desc_buf, *data_buf;
        size_t desc_len, data_len;
        /* Page data goes straight to the output, which gathers it: one
         * copy of every byte fewer (2.4 GB for a -d 1 dump of the lab's
         * 8 GiB vmcore). */
        bool direct_data;
        size_t desc_cap;                /* desc_buf's size */
};

struct kdump_writer *kdump_writer_free(struct kdump_writer *w) {
        if (w) {
                free(w->desc_buf);
                free(w->data_buf);
                free(w);
        }
        return NULL;
}

static uint64_t div_round_up(uint64_t a, uint64_t b) {
        return (a + b - 1) / b;
}

static void fill_header(struct kdump_writer *w, const struct kdump_params *p, uint32_t sub_blocks,
                        uint64_t bitmap_half_blocks) {
        struct disk_dump_header *h = &w->header;

        memcpy(h->signature, KDUMP_SIGNATURE, 8);
        h->header_version = (int32_t)htole32(KDUMP_HEADER_VERSION);
        memcpy(h->utsname, p->utsname, sizeof(h->utsname));
        h->tv_sec = (int64_t)htole64((uint64_t)p->crash_time);
        h->status = htole32(p->status);
        h->block_size = (int32_t)htole32(p->block_size);
        h->sub_hdr_size = (int32_t)htole32(sub_blocks);
        h->bitmap_blocks = htole32((uint32_t)(2 * bitmap_half_blocks));
        h->max_mapnr = htole32(p->max_mapnr > UINT32_MAX ? UINT32_MAX : (uint32_t)p->max_mapnr);
        h->nr_cpus = (int32_t)htole32(p->nr_cpus);
}

static int write_sub_header(struct kdump_writer *w, const struct kdump_params *p) {
        uint64_t note_at = w->block_size + sizeof(struct kdump_sub_header);
        struct kdump_sub_header s = {
                .phys_base = htole64(p->phys_base),
                .dump_level = (int32_t)htole32((uint32_t)p->dump_level),
                .offset_note = htole64(note_at),
                .size_note = htole64(p->notes_size),
                .max_mapnr_64 = htole64(p->max_mapnr),
        };
        int r;

        if (p->has_vmcoreinfo) {
                s.offset_vmcoreinfo = htole64(note_at + p->vmcoreinfo_offset);
                s.size_vmcoreinfo = htole64(p->vmcoreinfo_size);
        }
        r = output_write(w->out, &s, sizeof(s), w->block_size);
        if (r == 0)
                r = output_write(w->out, p->notes, p->notes_size, note_at);
        return r;
}

int kdump_writer_new(struct output *out, const struct kdump_params *p, struct kdump_writer **ret) {
        struct kdump_writer *w;
        uint64_t sub_blocks, half;
        int r;

        if (p->block_size < 4096 || p->block_size > 65536 || p->max_mapnr == 0)
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->out = out;
        w->direct_data = output_gathers(out);
        w->block_size = p->block_size;
        sub_blocks = div_round_up(sizeof(struct kdump_sub_header) + p->notes_size, p->block_size);
        half = div_round_up(div_round_up(p->max_mapnr, 8), p->block_size);
        w->bitmap1_offset = (1 + sub_blocks) * p->block_size;
        w->bitmap2_offset = w->bitmap1_offset + half * p->block_size;
        w->desc_offset = w->bitmap2_offset + half * p->block_size;
        fill_header(w, p, (uint32_t)sub_blocks, half);
        w->desc_cap = w->direct_data ? DIRECT_DESC_FLUSH : FLUSH_SIZE;
        w->desc_buf = malloc(w->desc_cap);
        w->data_buf = malloc(FLUSH_SIZE + p->block_size);
        r = w->desc_buf && w->data_buf ? 0 : -ENOMEM;
        if (r == 0)
                r = output_write(out, &w->header, sizeof(w->header), 0);
        if (r == 0)
                r = write_sub_header(w, p);
        if (r < 0) {
                kdump_writer_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

int kdump_writer_put_bitmaps(struct kdump_writer *w, uint64_t start_pfn, const uint8_t *valid,
                             const uint8_t *dumpable, size_t n_bytes) {
        int r;

        if (start_pfn % 8)
                return -EINVAL;
        r = output_write(w->out, valid, n_bytes, w->bitmap1_offset + start_pfn / 8);
        if (r == 0)
                r = output_write(w->out, dumpable, n_bytes, w->bitmap2_offset + start_pfn / 8);
        return r;
}

static int flush_data(struct kdump_writer *w) {
        int r;

        if (w->data_len == 0)
                return 0;
        r = output_write(w->out, w->data_buf, w->data_len, w->data_offset - w->data_len);
        if (r == 0)
                w->data_len = 0;
        return r;
}

/* Descriptors go out only after the data they point at. */
static int flush_descs(struct kdump_writer *w) {
        int r = flush_data(w);

        if (r < 0 || w->desc_len == 0)
                return r;
        r = output_write(w->out, w->desc_buf, w->desc_len, w->desc_offset - w->desc_len);
        if (r == 0)
                w->desc_len = 0;
        return r;
}

static int append_data(struct kdump_writer *w, const uint8_t *data, uint32_t size) {
        int r = 0;

        if (w->direct_data) {
                r = output_write(w->out, data, size, w->data_offset);
                if (r == 0)
                        w->data_offset += size;
                return r;
        }
        if (w->data_len + size > FLUSH_SIZE)
                r = flush_data(w);
        if (r < 0)
                return r;
        memcpy(w->data_buf + w->data_len, data, size);
        w->data_len += size;
        w->data_offset += size;
        return 0;
}

static int append_desc(struct kdump_writer *w, const struct page_desc *d) {
        int r = 0;

        if (w->desc_offset + sizeof(*d) > w->desc_end)
                return -ERANGE; /* more pages than begin_pages() announced */
        if (w->desc_len + sizeof(*d) > w->desc_cap)
                r = flush_descs(w);
        if (r < 0)
                return r;
        memcpy(w->desc_buf + w->desc_len, d, sizeof(*d));
        w->desc_len += sizeof(*d);
        w->desc_offset += sizeof(*d);
        w->pages++;
        return 0;
}

int kdump_writer_begin_pages(struct kdump_writer *w, uint64_t n_dumpable, bool share_zero) {
        w->desc_end = w->desc_offset + n_dumpable * sizeof(struct page_desc);
        w->data_offset = w->desc_end;
        if (!share_zero)
                return 0;
        w->zero_desc = (struct page_desc) {
                .offset = (int64_t)htole64(w->data_offset),
                .size = htole32(w->block_size),
        };
        memset(w->data_buf, 0, w->block_size);
        return append_data(w, w->data_buf, w->block_size);
}

int kdump_writer_put_page(struct kdump_writer *w, const uint8_t *data, uint32_t size, uint32_t flags) {
        struct page_desc d = {
                .offset = (int64_t)htole64(w->data_offset),
                .size = htole32(size),
                .flags = htole32(flags),
        };
        int r;

        if (size == 0 || size > w->block_size)
                return -EINVAL;
        r = append_data(w, data, size);
        return r < 0 ? r : append_desc(w, &d);
}

int kdump_writer_put_zero_page(struct kdump_writer *w) {
        if (w->zero_desc.size == 0)
                return -EINVAL;
        return append_desc(w, &w->zero_desc);
}

int kdump_writer_finish(struct kdump_writer *w, bool incomplete) {
        int r = flush_descs(w);

        /* A direct writer fails late: its error must be known before the
         * header says whether the dump is whole. */
        if (r == 0)
                r = output_flush(w->out);
        if (r < 0 || incomplete) {
                /* Rewriting the first block in place needs no new disk space. */
                w->header.status |= htole32(KDUMP_STATUS_INCOMPLETE);
                int r2 = output_write(w->out, &w->header, sizeof(w->header), 0);
                return r < 0 ? r : r2;
        }
        return 0;
}

uint64_t kdump_writer_pages(const struct kdump_writer *w) {
        return w->pages;
}

int kdump_mark_incomplete(int fd) {
        struct disk_dump_header h;
        uint32_t status;
        int r = pread_exact(fd, &h, sizeof(h), 0);

        if (r < 0)
                return r;
        if (memcmp(h.signature, KDUMP_SIGNATURE, sizeof(h.signature)) != 0)
                return -EPROTONOSUPPORT;
        status = h.status | htole32(KDUMP_STATUS_INCOMPLETE);
        return pwrite_full(fd, &status, sizeof(status), offsetof(struct disk_dump_header, status));
}
