/* vmcore → kdump-compressed. */
#include <errno.h>
#include <stdio.h>

#include "cleanup.h"
#include "compressor.h"
#include "dumpcycle.h"
#include "dumper.h"
#include "kdumpfile.h"

DEFINE_CLEANUP_FUNC(struct codec, codec_free);
DEFINE_CLEANUP_FUNC(struct kdump_writer, kdump_writer_free);
DEFINE_CLEANUP_FUNC(struct compressor, compressor_free);

/* The second pass reuses the first pass's dumpable bitmap, one bit per pfn,
 * when it takes at most this much (128 GiB of 4 KiB pages); past that, each
 * cycle's bitmap is made again, so memory stays flat. Making it again read
 * mem_map a second time: 3% of the instructions of a -d 31 dump of the
 * lab's 6.1 vmcore. */
#define KEPT_BITMAP_MAX (4u << 20)

/* The kernel's utsname, read from init_uts_ns; VMCOREINFO's OSRELEASE and
 * the ELF machine where memory cannot be read. */
static void read_utsname(struct vmcore *v, char uts[6][UTS_FIELD_SIZE]) {
        const struct vmcoreinfo *vi = vmcore_vmcoreinfo(v);
        uint64_t sym;
        int64_t off;

        memset(uts, 0, 6 * UTS_FIELD_SIZE);
        if (vmcore_utsname(v, 0)) {
                for (int i = 0; i < 6; i++)
                        snprintf(uts[i], UTS_FIELD_SIZE, "%s", vmcore_utsname(v, i));
                return;
        }
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

/* The first pass: both bitmaps, cycle by cycle, and the pages to dump. With
 * kept, each cycle's dumpable bitmap is also kept there for the second pass. */
static int write_bitmaps(struct vmcore *v, struct pagefilter *f, struct kdump_writer *w, struct cycle_buffers *b,
                         uint8_t *kept, struct dump_stats *st) {
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
                if (kept)
                        memcpy(kept + base / 8, b->dumpable, (end - base + 7) / 8);
        }
        return 0;
}

struct page_sink {
        struct kdump_writer *w;
        struct dump_stats *st;
        dump_progress_func progress;
        void *userdata;
        uint64_t done;
};

/* One finished page into the file, in pfn order. */
static int store_page(void *userdata, bool zero, const uint8_t *data, uint32_t size, uint32_t flags) {
        struct page_sink *s = userdata;
        int r;

        if (zero) {
                s->st->zero_pages++;
                r = kdump_writer_put_zero_page(s->w);
        } else {
                s->st->written_pages++;
                s->st->raw_pages += flags == 0;
                s->st->data_bytes += size;
                r = kdump_writer_put_page(s->w, data, size, flags);
        }
        if (s->progress && (++s->done & 0x3fff) == 0)
                s->progress(s->done, s->st->dump_pages, s->userdata);
        return r;
}

static int write_page(struct page_sink *s, struct codec *c, const struct dump_options *o, const uint8_t *page,
                      uint32_t page_size) {
        const uint8_t *data;
        uint32_t size;
        int flags;

        if ((o->dump_level & DUMP_LEVEL_ZERO) && page_is_zero(page, page_size))
                return store_page(s, true, NULL, 0, 0);
        flags = codec_compress(c, page, &data, &size);
        if (flags < 0)
                return flags;
        return store_page(s, false, data, size, (uint32_t)flags);
}

static int unreadable(struct dump_stats *st, int error, uint64_t pfn) {
        st->input_error = error;
        st->input_error_pfn = pfn;
        return error;
}

/* An error of the workers, if any: a page they could not read is named as
 * one the caller could not. */
static int pool_error(struct compressor *pool, struct dump_stats *st, int error) {
        uint64_t pfn;

        return pool && error < 0 && compressor_read_failed(pool, &pfn) ? unreadable(st, error, pfn) : error;
}

/* Hands the page at pfn on: compressed here, or queued for the workers. A
 * page in a hole of a sparse vmcore file is zero without being read: 5.3 of
 * the 7.7 GiB of the lab's 8 GiB vmcore. */
static int dump_one(struct vmcore *v, struct page_sink *s, struct codec *c, struct compressor *pool,
                    const struct dump_options *o, uint64_t pfn) {
        bool hole = (o->dump_level & DUMP_LEVEL_ZERO) && vmcore_page_in_hole(v, pfn);
        const uint8_t *page;
        int r;

        if (pool)
                return compressor_add(pool, pfn, hole);
        if (hole)
                return store_page(s, true, NULL, 0, 0);
        r = vmcore_page(v, pfn, &page);
        if (r < 0)
                return unreadable(s->st, r, pfn);
        return write_page(s, c, o, page, vmcore_page_size(v));
}

/* The dumpable bitmap of the cycle at base in the second pass: kept from the
 * first, or made again. */
static int cycle_dumpable(struct vmcore *v, const struct dump_options *o, struct cycle_buffers *b, const uint8_t *kept,
                          uint64_t base, uint64_t end, const uint8_t **ret) {
        struct filter_counts again = {};
        uint64_t data, count;
        int r;

        if (kept) {
                *ret = kept + base / 8;
                return 0;
        }
        r = cycle_bitmaps(v, o->filter, base, end, b->valid, b->dumpable, &again, &data, &count);
        *ret = b->dumpable;
        return r;
}

/* The second pass: the pages the bitmaps keep, cycle by cycle. */
static int write_pages(struct vmcore *v, struct kdump_writer *w, struct codec *c, const struct dump_options *o,
                       struct cycle_buffers *b, const uint8_t *kept, dump_progress_func progress, void *userdata,
                       struct dump_stats *st) {
        _cleanup_(compressor_freep) struct compressor *pool = NULL;
        struct page_sink s = { .w = w, .st = st, .progress = progress, .userdata = userdata };
        uint64_t max = vmcore_max_pfn(v);
        int r;

        if (o->threads > 1 && (r = compressor_new(v, o->codec, o->threads, o->dump_level & DUMP_LEVEL_ZERO,
                                                  store_page, &s, &pool)) < 0)
                return r;
        if (o->filter && !kept)
                pagefilter_rewind(o->filter);
        for (uint64_t base = 0; base < max; base += CYCLE_PFNS) {
                uint64_t end = base + CYCLE_PFNS < max ? base + CYCLE_PFNS : max;
                const uint8_t *dumpable;

                if ((r = cycle_dumpable(v, o, b, kept, base, end, &dumpable)) < 0)
                        return r;
                for (uint64_t pfn = base; pfn < end; pfn++) {
                        uint8_t byte = dumpable[(pfn - base) / 8];

                        if (!byte) {
                                pfn |= 7;
                                continue;
                        }
                        if ((byte & (1u << ((pfn - base) % 8))) && (r = dump_one(v, &s, c, pool, o, pfn)) < 0)
                                return pool_error(pool, st, r);
                }
        }
        if (pool && (r = compressor_flush(pool)) < 0)
                return pool_error(pool, st, r);
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
        _cleanup_free_ uint8_t *kept = NULL;
        uint64_t kept_bytes = (vmcore_max_pfn(v) + 7) / 8;
        struct dump_stats st = {};
        int r;

        fill_params(v, o, &p);
        /* Without it the second pass makes the bitmaps again: slower, not wrong. */
        if (kept_bytes <= KEPT_BITMAP_MAX)
                kept = malloc(kept_bytes);
        if ((r = cycle_buffers_init(&b)) < 0 || (r = codec_new(o->codec, p.block_size, &c)) < 0 ||
            (r = kdump_writer_new(out, &p, &w)) < 0 || (r = write_bitmaps(v, o->filter, w, &b, kept, &st)) < 0 ||
            (r = kdump_writer_begin_pages(w, st.dump_pages, o->dump_level & DUMP_LEVEL_ZERO)) < 0)
                goto done;
        if (o->plan)
                o->plan(st.dump_pages, st.ram_pages, p.block_size, o->plan_userdata);
        r = write_pages(v, w, c, o, &b, kept, progress, userdata, &st);
        /* Whatever was written stays readable; a short dump says so in its header. */
        int r2 = kdump_writer_finish(w, r < 0);
        if (r == 0)
                r = r2;
done:
        *ret_stats = st;
        return r;
}
