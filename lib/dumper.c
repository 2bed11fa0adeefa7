/* vmcore → kdump-compressed. */
#include <errno.h>
#include <stdio.h>

#include "cleanup.h"
#include "dumper.h"
#include "kdumpfile.h"

/* Pfns per bitmap cycle: 64 KiB of each bitmap, 2 GiB of 4 KiB pages. */
#define CYCLE_PFNS (512u * 1024u)

DEFINE_CLEANUP_FUNC(struct codec, codec_free);
DEFINE_CLEANUP_FUNC(struct kdump_writer, kdump_writer_free);

static bool page_is_zero(const uint8_t *page, uint32_t size) {
        const uint64_t *w = (const uint64_t *)page;

        for (uint32_t i = 0; i < size / 8; i++)
                if (w[i])
                        return false;
        return true;
}

/* The kernel's utsname, read from init_uts_ns; VMCOREINFO's OSRELEASE and
 * the ELF machine where memory cannot be read. */
static void read_utsname(struct vmcore *v, char uts[6][UTS_FIELD_SIZE]) {
        const struct vmcoreinfo *vi = vmcore_vmcoreinfo(v);
        uint64_t sym;
        int64_t off;

        memset(uts, 0, 6 * UTS_FIELD_SIZE);
        if (vi && vmcoreinfo_symbol(vi, "init_uts_ns", &sym) == 0 &&
            vmcoreinfo_number(vi, "OFFSET", "uts_namespace.name", &off) == 0 &&
            vmcore_read_vaddr(v, sym + (uint64_t)off, uts, 6 * UTS_FIELD_SIZE) == 0) {
                for (int i = 0; i < 6; i++)
                        uts[i][UTS_FIELD_SIZE - 1] = 0;
                return;
        }
        snprintf(uts[0], UTS_FIELD_SIZE, "Linux");
        if (vi && vmcoreinfo_get(vi, "OSRELEASE"))
                snprintf(uts[2], UTS_FIELD_SIZE, "%s", vmcoreinfo_get(vi, "OSRELEASE"));
        snprintf(uts[4], UTS_FIELD_SIZE, "%s", vmcore_headers(v)->machine == 62 ? "x86_64" : "unknown");
}

static void fill_params(struct vmcore *v, const struct dump_options *o, struct kdump_params *p) {
        const struct vmcoreinfo *vi = vmcore_vmcoreinfo(v);
        const struct elfcore_notes_info *ni = vmcore_notes_info(v);
        int64_t n;

        read_utsname(v, p->utsname);
        if (vi && vmcoreinfo_decimal(vi, "CRASHTIME", &n) == 0)
                p->crash_time = n;
        if (vi && vmcoreinfo_number(vi, "NUMBER", "phys_base", &n) == 0)
                p->phys_base = (uint64_t)n;
        p->status = codec_flag(o->codec);
        p->block_size = vmcore_page_size(v);
        p->max_mapnr = vmcore_max_pfn(v);
        p->nr_cpus = ni->n_prstatus;
        p->dump_level = o->dump_level;
        p->notes = vmcore_notes(v, &p->notes_size);
        p->has_vmcoreinfo = ni->has_vmcoreinfo;
        p->vmcoreinfo_offset = ni->vmcoreinfo_offset;
        p->vmcoreinfo_size = ni->vmcoreinfo_size;
}

static void set_bits(uint8_t *bm, uint64_t base, uint64_t from, uint64_t to) {
        for (uint64_t pfn = from; pfn < to; pfn++)
                bm[(pfn - base) / 8] |= (uint8_t)(1u << ((pfn - base) % 8));
}

static uint64_t count_bits(const uint8_t *bm, size_t bytes) {
        uint64_t n = 0;

        for (size_t i = 0; i < bytes; i++)
                n += (uint64_t)__builtin_popcount(bm[i]);
        return n;
}

/* One cycle's bitmaps: valid = RAM, dumpable = RAM with data that the filter
 * keeps. Returns 0 or a negative errno; *ret_count is the dumpable pages. */
static int cycle_bitmaps(struct vmcore *v, struct pagefilter *f, uint64_t base, uint64_t end, uint8_t *valid,
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

struct cycle_buffers {
        uint8_t *valid;
        uint8_t *dumpable;
};

static void cycle_buffers_done(struct cycle_buffers *b) {
        free(b->valid);
        free(b->dumpable);
}

static int cycle_buffers_init(struct cycle_buffers *b) {
        b->valid = malloc(CYCLE_PFNS / 8);
        b->dumpable = malloc(CYCLE_PFNS / 8);
        return b->valid && b->dumpable ? 0 : -ENOMEM;
}

/* The first pass: both bitmaps, cycle by cycle, and the pages to dump. */
static int write_bitmaps(struct vmcore *v, struct pagefilter *f, struct kdump_writer *w, struct cycle_buffers *b,
                         struct dump_stats *st) {
        uint64_t max = vmcore_max_pfn(v), data, count;
        int r;

        if (f)
                pagefilter_rewind(f);
        for (uint64_t base = 0; base < max; base += CYCLE_PFNS) {
                uint64_t end = base + CYCLE_PFNS < max ? base + CYCLE_PFNS : max;

                r = cycle_bitmaps(v, f, base, end, b->valid, b->dumpable, &st->excluded, &data, &count);
                if (r < 0)
                        return r;
                st->ram_pages += data;
                st->dump_pages += count;
                r = kdump_writer_put_bitmaps(w, base, b->valid, b->dumpable, (end - base + 7) / 8);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int write_page(struct kdump_writer *w, struct codec *c, const struct dump_options *o,
                      const uint8_t *page, uint32_t page_size, struct dump_stats *st) {
        const uint8_t *data;
        uint32_t size;
        int flags;

        if ((o->dump_level & DUMP_LEVEL_ZERO) && page_is_zero(page, page_size)) {
                st->zero_pages++;
                return kdump_writer_put_zero_page(w);
        }
        flags = codec_compress(c, page, &data, &size);
        if (flags < 0)
                return flags;
        st->written_pages++;
        st->raw_pages += flags == 0;
        st->data_bytes += size;
        return kdump_writer_put_page(w, data, size, (uint32_t)flags);
}

/* The second pass: the same bitmaps again, and the pages they keep. */
static int write_pages(struct vmcore *v, struct kdump_writer *w, struct codec *c, const struct dump_options *o,
                       struct cycle_buffers *b, dump_progress_func progress, void *userdata, struct dump_stats *st) {
        uint64_t max = vmcore_max_pfn(v), done = 0, data, count;
        uint32_t page_size = vmcore_page_size(v);
        struct filter_counts again = {};
        int r;

        if (o->filter)
                pagefilter_rewind(o->filter);
        for (uint64_t base = 0; base < max; base += CYCLE_PFNS) {
                uint64_t end = base + CYCLE_PFNS < max ? base + CYCLE_PFNS : max;

                r = cycle_bitmaps(v, o->filter, base, end, b->valid, b->dumpable, &again, &data, &count);
                if (r < 0)
                        return r;
                for (uint64_t pfn = base; pfn < end; pfn++) {
                        const uint8_t *page;

                        if (!b->dumpable[(pfn - base) / 8]) {
                                pfn |= 7;
                                continue;
                        }
                        if (!(b->dumpable[(pfn - base) / 8] & (1u << ((pfn - base) % 8))))
                                continue;
                        r = vmcore_page(v, pfn, &page);
                        if (r == 0)
                                r = write_page(w, c, o, page, page_size, st);
                        if (r < 0)
                                return r;
                        if (progress && (++done & 0x3fff) == 0)
                                progress(done, st->dump_pages, userdata);
                }
        }
        if (progress)
                progress(st->dump_pages, st->dump_pages, userdata);
        return 0;
}

int dump_kdump(struct vmcore *v, const struct dump_options *o, struct output *out,
               dump_progress_func progress, void *userdata, struct dump_stats *ret_stats) {
        _cleanup_(codec_freep) struct codec *c = NULL;
        _cleanup_(kdump_writer_freep) struct kdump_writer *w = NULL;
        struct kdump_params p = {};
        _cleanup_(cycle_buffers_done) struct cycle_buffers b = {};
        struct dump_stats st = {};
        int r;

        fill_params(v, o, &p);
        if ((r = cycle_buffers_init(&b)) < 0 || (r = codec_new(o->codec, p.block_size, &c)) < 0 ||
            (r = kdump_writer_new(out, &p, &w)) < 0 || (r = write_bitmaps(v, o->filter, w, &b, &st)) < 0 ||
            (r = kdump_writer_begin_pages(w, st.dump_pages, o->dump_level & DUMP_LEVEL_ZERO)) < 0)
                goto done;
        r = write_pages(v, w, c, o, &b, progress, userdata, &st);
        /* Whatever was written stays readable; a short dump says so in its header. */
        int r2 = kdump_writer_finish(w, r < 0);
        if (r == 0)
                r = r2;
done:
        *ret_stats = st;
        return r;
}
