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

bool dump_level_supported(int level) {
        return level >= 0 && level <= DUMP_LEVEL_ZERO;
}

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

/* One cycle's bitmaps: valid = RAM, dumpable = RAM with data. Returns the
 * number of dumpable pages. */
static uint64_t cycle_bitmaps(struct vmcore *v, uint64_t base, uint64_t end, uint8_t *valid, uint8_t *dumpable) {
        size_t n_ranges;
        const struct vmcore_range *r = vmcore_ranges(v, &n_ranges);
        uint64_t count = 0;

        memset(valid, 0, CYCLE_PFNS / 8);
        memset(dumpable, 0, CYCLE_PFNS / 8);
        for (size_t i = 0; i < n_ranges; i++) {
                uint64_t lo = r[i].start_pfn > base ? r[i].start_pfn : base;
                uint64_t mem_hi = r[i].memsz_end_pfn < end ? r[i].memsz_end_pfn : end;
                uint64_t data_hi = r[i].end_pfn < end ? r[i].end_pfn : end;

                if (lo < mem_hi)
                        set_bits(valid, base, lo, mem_hi);
                if (lo < data_hi) {
                        set_bits(dumpable, base, lo, data_hi);
                        count += data_hi - lo;
                }
        }
        return count;
}

static int write_bitmaps(struct vmcore *v, struct kdump_writer *w, uint64_t *ret_dumpable) {
        _cleanup_free_ uint8_t *valid = malloc(CYCLE_PFNS / 8), *dumpable = malloc(CYCLE_PFNS / 8);
        uint64_t max = vmcore_max_pfn(v), total = 0;
        int r;

        if (!valid || !dumpable)
                return -ENOMEM;
        for (uint64_t base = 0; base < max; base += CYCLE_PFNS) {
                uint64_t end = base + CYCLE_PFNS < max ? base + CYCLE_PFNS : max;

                total += cycle_bitmaps(v, base, end, valid, dumpable);
                r = kdump_writer_put_bitmaps(w, base, valid, dumpable, (end - base + 7) / 8);
                if (r < 0)
                        return r;
        }
        *ret_dumpable = total;
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

static int write_pages(struct vmcore *v, struct kdump_writer *w, struct codec *c, const struct dump_options *o,
                       dump_progress_func progress, void *userdata, struct dump_stats *st) {
        size_t n_ranges;
        const struct vmcore_range *ranges = vmcore_ranges(v, &n_ranges);
        uint32_t page_size = vmcore_page_size(v);
        uint64_t done = 0;

        for (size_t i = 0; i < n_ranges; i++) {
                for (uint64_t pfn = ranges[i].start_pfn; pfn < ranges[i].end_pfn; pfn++) {
                        const uint8_t *page;
                        int r = vmcore_page(v, pfn, &page);

                        if (r == 0)
                                r = write_page(w, c, o, page, page_size, st);
                        if (r < 0)
                                return r;
                        if (progress && (++done & 0x3fff) == 0)
                                progress(done, st->ram_pages, userdata);
                }
        }
        if (progress)
                progress(st->ram_pages, st->ram_pages, userdata);
        return 0;
}

int dump_kdump(struct vmcore *v, const struct dump_options *o, struct output *out,
               dump_progress_func progress, void *userdata, struct dump_stats *ret_stats) {
        _cleanup_(codec_freep) struct codec *c = NULL;
        _cleanup_(kdump_writer_freep) struct kdump_writer *w = NULL;
        struct kdump_params p = {};
        struct dump_stats st = {};
        uint64_t dumpable;
        int r;

        if (!dump_level_supported(o->dump_level))
                return -EOPNOTSUPP;
        fill_params(v, o, &p);
        if ((r = codec_new(o->codec, p.block_size, &c)) < 0 || (r = kdump_writer_new(out, &p, &w)) < 0 ||
            (r = write_bitmaps(v, w, &dumpable)) < 0 ||
            (r = kdump_writer_begin_pages(w, dumpable, o->dump_level & DUMP_LEVEL_ZERO)) < 0)
                goto done;
        st.ram_pages = dumpable;
        r = write_pages(v, w, c, o, progress, userdata, &st);
        /* Whatever was written stays readable; a short dump says so in its header. */
        int r2 = kdump_writer_finish(w, r < 0);
        if (r == 0)
                r = r2;
done:
        *ret_stats = st;
        return r;
}
