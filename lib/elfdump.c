/* vmcore → ELF (-E). Each source PT_LOAD is split where the filter leaves
 * pages out: a run of kept pages becomes one PT_LOAD, and the excluded pages
 * after it become its p_memsz beyond p_filesz, which readers see as zeros.
 * A first pass counts the segments, so the program headers can be placed
 * before the data; where more than ELF_SEGMENTS_MAX would be needed, the
 * shortest gaps are kept as data instead (keeping a page never loses one). */
#include <assert.h>
#include <elf.h>
#include <endian.h>
#include <errno.h>

#include "cleanup.h"
#include "dumpcycle.h"
#include "dumper.h"

/* e_phnum is 16 bits and 0xffff means PN_XNUM, which not every reader
 * follows; one header is the PT_NOTE. */
#define ELF_SEGMENTS_MAX 65534u
#define WRITE_BUFFER (1u << 20)
#define PHDR_BUFFER 1024u

static_assert(sizeof(Elf64_Ehdr) == 64, "Elf64_Ehdr is 64 bytes");
static_assert(sizeof(Elf64_Phdr) == 56, "Elf64_Phdr is 56 bytes");

/* Visits the pfns of one load in order with whether each is kept. */
typedef int (*page_visit)(void *ud, uint64_t pfn, bool kept);

struct elf_pass {
        struct vmcore *v;
        const struct dump_options *o;
        const struct elfcore_load *loads;
        size_t n_loads;
        struct cycle_buffers *b;
        struct filter_counts *counts;
        struct dump_stats *st;
        bool counting;          /* the first pass: fill st's page counts */
};

static int walk_load(struct elf_pass *p, const struct elfcore_load *l, page_visit visit, void *ud) {
        uint32_t ps = vmcore_page_size(p->v);
        uint64_t lo = l->paddr / ps, hi = (l->paddr + l->filesz) / ps, data, count;
        int r;

        if (p->o->filter)
                pagefilter_rewind(p->o->filter);
        for (uint64_t base = lo; base < hi; base += CYCLE_PFNS) {
                uint64_t end = base + CYCLE_PFNS < hi ? base + CYCLE_PFNS : hi;

                r = cycle_bitmaps(p->v, p->o->filter, base, end, p->b->valid, p->b->dumpable, p->counts, &data, &count);
                if (r < 0)
                        return r;
                if (p->counting)
                        p->st->ram_pages += data;
                for (uint64_t pfn = base; pfn < end; pfn++) {
                        bool kept = p->b->dumpable[(pfn - base) / 8] & (1u << ((pfn - base) % 8));
                        const uint8_t *page;

                        /* Zero pages are holes in an ELF dump: they must be
                         * known before the headers are written. */
                        if (kept && (p->o->dump_level & DUMP_LEVEL_ZERO) && vmcore_page(p->v, pfn, &page) == 0 &&
                            page_is_zero(page, ps)) {
                                kept = false;
                                p->st->zero_pages += p->counting;
                        }
                        if ((r = visit(ud, pfn, kept)) < 0)
                                return r;
                }
        }
        return 0;
}

/* The first pass: segments, and the gaps between them by size class
 * (gap_hist[k]: gaps of 2^(k-1)+1 .. 2^k pages). */
struct elf_count {
        uint64_t segments, gap_hist[65], gap, kept, zero;
        bool in_run, had_run;
};

static int count_page(void *ud, uint64_t pfn, bool kept) {
        struct elf_count *c = ud;

        (void)pfn;
        if (kept) {
                c->kept++;
                if (!c->in_run) {
                        if (c->had_run)
                                c->gap_hist[64 - __builtin_clzll(c->gap) - (c->gap == (c->gap & -c->gap))]++;
                        c->segments++;
                        c->in_run = c->had_run = true;
                        c->gap = 0;
                }
        } else {
                c->in_run = false;
                c->gap += c->had_run;
        }
        return 0;
}

/* The largest gap (in pages) to keep as data so that the segments fit, and
 * how many segments there are then. */
static uint64_t merge_threshold(const struct elf_count *c, uint64_t *ret_segments) {
        uint64_t segments = c->segments;

        *ret_segments = segments;
        if (segments <= ELF_SEGMENTS_MAX)
                return 0;
        for (unsigned k = 0; k < 64; k++) {
                segments -= c->gap_hist[k];
                *ret_segments = segments;
                if (segments <= ELF_SEGMENTS_MAX)
                        return 1ull << k;
        }
        return UINT64_MAX;
}

/* The second pass: data streamed from data_offset on, headers as they close. */
struct elf_writer {
        struct elf_pass *p;
        struct output *out;
        const struct elfcore_load *load;
        uint64_t merge_gap;
        uint8_t *buf;
        size_t buf_len;
        uint64_t buf_offset;    /* file offset of buf[0] */
        Elf64_Phdr phdrs[PHDR_BUFFER];
        unsigned n_phdrs;
        uint64_t phdr_offset;   /* where phdrs[0] goes */
        /* The open segment: pages [seg_pfn, data_end) written, then a gap. */
        bool open;
        uint64_t seg_pfn, seg_file_offset, data_end, gap;
        dump_progress_func progress;
        void *userdata;
};

static int flush_data(struct elf_writer *w) {
        int r = output_write(w->out, w->buf, w->buf_len, w->buf_offset);

        w->buf_offset += w->buf_len;
        w->buf_len = 0;
        return r;
}

static int flush_phdrs(struct elf_writer *w) {
        size_t len = w->n_phdrs * sizeof(Elf64_Phdr);
        int r = w->n_phdrs ? output_write(w->out, w->phdrs, len, w->phdr_offset) : 0;

        w->phdr_offset += len;
        w->n_phdrs = 0;
        return r;
}

static int append(struct elf_writer *w, const uint8_t *data, size_t len) {
        int r;

        while (len > 0) {
                size_t n = WRITE_BUFFER - w->buf_len < len ? WRITE_BUFFER - w->buf_len : len;

                memcpy(w->buf + w->buf_len, data, n);
                w->buf_len += n;
                data += n;
                len -= n;
                if (w->buf_len == WRITE_BUFFER && (r = flush_data(w)) < 0)
                        return r;
        }
        return 0;
}

/* The bytes of pfn that lie inside the load's file data: straight from an
 * ELF input's file, or out of a kdump input's page. */
static int append_page(struct elf_writer *w, uint64_t pfn) {
        uint32_t ps = vmcore_page_size(w->p->v);
        const struct elfcore_load *l = w->load;
        uint64_t from = pfn * ps > l->paddr ? pfn * ps : l->paddr;
        uint64_t to = (pfn + 1) * ps < l->paddr + l->filesz ? (pfn + 1) * ps : l->paddr + l->filesz;
        const uint8_t *data;
        int r;

        if (vmcore_is_kdump(w->p->v)) {
                r = vmcore_page(w->p->v, pfn, &data);
                data += from - pfn * ps;
        } else {
                r = vmcore_read_at(w->p->v, l->offset + (from - l->paddr), (size_t)(to - from), &data);
        }
        if (r < 0)
                return r;
        w->p->st->written_pages++;
        w->p->st->data_bytes += to - from;
        if (w->progress && (w->p->st->written_pages & 0x3fff) == 0)
                w->progress(w->p->st->written_pages, w->p->st->dump_pages, w->userdata);
        return append(w, data, (size_t)(to - from));
}

static int close_segment(struct elf_writer *w, uint64_t mem_end) {
        uint32_t ps = vmcore_page_size(w->p->v);
        const struct elfcore_load *l = w->load;
        uint64_t start = w->seg_pfn * ps > l->paddr ? w->seg_pfn * ps : l->paddr;
        uint64_t data_end = w->data_end * ps < l->paddr + l->filesz ? w->data_end * ps : l->paddr + l->filesz;
        Elf64_Phdr *ph = &w->phdrs[w->n_phdrs++];

        *ph = (Elf64_Phdr){
                .p_type = htole32(PT_LOAD),
                .p_flags = htole32(PF_R | PF_W | PF_X),
                .p_offset = htole64(w->seg_file_offset),
                .p_vaddr = htole64(l->vaddr + (start - l->paddr)),
                .p_paddr = htole64(start),
                .p_filesz = htole64(data_end - start),
                .p_memsz = htole64((mem_end > data_end ? mem_end : data_end) - start),
        };
        w->open = false;
        return w->n_phdrs == PHDR_BUFFER ? flush_phdrs(w) : 0;
}

static int write_page_visit(void *ud, uint64_t pfn, bool kept) {
        struct elf_writer *w = ud;
        uint32_t ps = vmcore_page_size(w->p->v);
        int r;

        if (!kept) {
                w->gap += w->open;
                return 0;
        }
        if (w->open && w->gap > w->merge_gap && (r = close_segment(w, pfn * ps)) < 0)
                return r;
        if (w->open) {
                /* A short gap inside the segment: its pages are kept as data. */
                for (uint64_t g = w->data_end; g < pfn; g++)
                        if ((r = append_page(w, g)) < 0)
                                return r;
        } else {
                w->open = true;
                w->seg_pfn = pfn;
                w->seg_file_offset = w->buf_offset + w->buf_len;
        }
        w->gap = 0;
        w->data_end = pfn + 1;
        return append_page(w, pfn);
}

static int write_headers(struct elf_writer *w, struct vmcore *v, uint64_t n_loads, uint64_t notes_offset) {
        size_t notes_size;
        const uint8_t *notes = vmcore_notes(v, &notes_size);
        Elf64_Ehdr eh = {
                .e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT },
                .e_type = htole16(ET_CORE),
                .e_machine = htole16(vmcore_headers(v)->machine),
                .e_version = htole32(EV_CURRENT),
                .e_phoff = htole64(sizeof(Elf64_Ehdr)),
                .e_ehsize = htole16(sizeof(Elf64_Ehdr)),
                .e_phentsize = htole16(sizeof(Elf64_Phdr)),
                .e_phnum = htole16((uint16_t)(n_loads + 1)),
        };
        Elf64_Phdr note = {
                .p_type = htole32(PT_NOTE),
                .p_offset = htole64(notes_offset),
                .p_filesz = htole64(notes_size),
                .p_memsz = htole64(notes_size),
        };
        int r;

        if ((r = output_write(w->out, &eh, sizeof(eh), 0)) < 0 ||
            (r = output_write(w->out, &note, sizeof(note), sizeof(eh))) < 0)
                return r;
        return notes_size ? output_write(w->out, notes, notes_size, notes_offset) : 0;
}

static int count_pass(struct elf_pass *p, struct elf_count *c) {
        int r;

        for (size_t i = 0; i < p->n_loads; i++) {
                c->in_run = c->had_run = false;
                c->gap = 0;
                if ((r = walk_load(p, &p->loads[i], count_page, c)) < 0)
                        return r;
        }
        return 0;
}

static int write_pass(struct elf_pass *p, struct elf_writer *w) {
        int r;

        for (size_t i = 0; i < p->n_loads; i++) {
                w->load = &p->loads[i];
                if ((r = walk_load(p, w->load, write_page_visit, w)) < 0)
                        return r;
                if (w->open && (r = close_segment(w, w->load->paddr + w->load->memsz)) < 0)
                        return r;
        }
        if ((r = flush_data(w)) < 0)
                return r;
        return flush_phdrs(w);
}

int dump_elf(struct vmcore *v, const struct dump_options *o, struct output *out, dump_progress_func progress,
             void *userdata, struct dump_stats *ret_stats) {
        _cleanup_(cycle_buffers_done) struct cycle_buffers b = {};
        _cleanup_free_ struct elf_writer *w = calloc(1, sizeof(*w));
        _cleanup_free_ uint8_t *buf = malloc(WRITE_BUFFER);
        struct dump_stats st = {};
        struct filter_counts again = {};
        struct elf_pass p = { .v = v, .o = o, .b = &b, .counts = &st.excluded, .st = &st, .counting = true,
                              .loads = vmcore_is_kdump(v) ? o->elf_loads : vmcore_headers(v)->loads,
                              .n_loads = vmcore_is_kdump(v) ? o->n_elf_loads : vmcore_headers(v)->n_loads };
        struct elf_count c = {};
        size_t notes_size;
        uint64_t headers, segments, merge_gap;
        int r;

        if (!w || !buf || (r = cycle_buffers_init(&b)) < 0) {
                r = -ENOMEM;
                goto done;
        }
        if ((r = count_pass(&p, &c)) < 0)
                goto done;
        st.dump_pages = c.kept + st.zero_pages;
        merge_gap = merge_threshold(&c, &segments);
        if (merge_gap == UINT64_MAX) {
                r = -E2BIG;
                goto done;
        }
        if (o->plan)
                o->plan(c.kept, st.ram_pages, vmcore_page_size(v), o->plan_userdata);
        vmcore_notes(v, &notes_size);
        headers = sizeof(Elf64_Ehdr) + (segments + 1) * sizeof(Elf64_Phdr);
        *w = (struct elf_writer){ .p = &p, .out = out, .merge_gap = merge_gap, .buf = buf,
                                  .buf_offset = headers + notes_size, .phdr_offset = sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr),
                                  .progress = progress, .userdata = userdata };
        p.counts = &again;
        p.counting = false;
        /* The headers first, so that a dump cut short by a full disk still
         * opens: program headers not yet written read as PT_NULL. */
        if ((r = write_headers(w, v, segments, headers)) < 0)
                goto done;
        r = write_pass(&p, w);
        if (r < 0)
                (void)flush_phdrs(w);
        else if ((w->phdr_offset - sizeof(Elf64_Ehdr)) / sizeof(Elf64_Phdr) != segments + 1)
                r = -EIO; /* the two passes disagree: a bug, never a silent short dump */
        if (progress && r == 0)
                progress(st.dump_pages, st.dump_pages, userdata);
done:
        *ret_stats = st;
        return r;
}
