/* Page classification over mem_map, after makedumpfile's
 * __exclude_unnecessary_pages(), with the struct page layout taken from
 * VMCOREINFO for every kernel from 5.10 on. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "caps.h"
#include "cleanup.h"
#include "dumper.h"
#include "kvaddr.h"
#include "pagefilter.h"
#include "unaligned.h"

/* struct pages read at a time; a power of two, so that a compound head (whose
 * pfn is aligned to its order) is never the last page of a batch. */
#define BATCH_PAGES 512u
#define NO_VALUE INT64_MIN
/* section_mem_map's low bits are flags: SECTION_MARKED_PRESENT is bit 0, and
 * up to bit 5 is used (SECTION_IS_VMEMMAP_PREINIT, 6.15). The encoded map is
 * at least 64-byte aligned, so masking 6 bits is safe on every kernel. */
#define SECTION_MARKED_PRESENT 1ull
#define SECTION_MAP_MASK (~0x3full)
#define PAGE_MAPPING_ANON 1ull

enum page_class { PAGE_KEEP, PAGE_CACHE, PAGE_CACHE_PRIVATE, PAGE_USER, PAGE_FREE, PAGE_HWPOISON, PAGE_OFFLINE };

/* Where struct page keeps what we test, and the values that mark a type. A
 * field or value the kernel does not export is NO_VALUE. */
struct page_layout {
        int64_t size;
        int64_t flags, mapping, mapcount, private, compound_head;
        int64_t pg_lru, pg_private, pg_swapcache, pg_swapbacked, pg_slab, pg_hwpoison, pg_hugetlb, head_mask;
        int64_t buddy, slab, hugetlb, offline, unaccepted;
        /* Compound order and destructor in page[1] before 6.6. */
        int64_t order_off, dtor_off, hugetlb_dtor;
        int64_t free_area_len;
        /* 6.12 (commit 4ffca5a96678, "mm: support only one page_type per
         * page") keeps the type in the top byte of page_type/_mapcount, and
         * the low 24 bits may carry data: compare the top byte only. */
        bool type_top_byte;
};

struct pagefilter {
        struct vmcore *vmcore;
        struct kvaddr *kvaddr;
        struct page_layout l;
        int level;
        uint32_t page_size;
        uint64_t max_pfn;
        /* SPARSEMEM */
        uint64_t mem_section, section_roots, sections_per_root, pfn_section_shift;
        int64_t mem_section_size, section_mem_map_off;
        bool extreme;
        /* The struct mem_sections of one root, read whole: reading a
         * section's entry alone moved the vmcore's window from mem_map to
         * them and back for every section. */
        uint8_t *root_buf;
        uint64_t root_buf_nr;           /* the root it holds; section_roots when none */
        /* pfns below skip_until were decided by an earlier block; those in
         * [pending_from, skip_until) are still to be cleared, as pending. */
        uint64_t skip_until, pending_from;
        enum page_class pending;
        uint8_t *batch;
};

DEFINE_CLEANUP_FUNC(struct pagefilter, pagefilter_free);

struct pagefilter *pagefilter_free(struct pagefilter *f) {
        if (!f)
                return NULL;
        kvaddr_free(f->kvaddr);
        free(f->root_buf);
        free(f->batch);
        free(f);
        return NULL;
}

void pagefilter_rewind(struct pagefilter *f) {
        f->skip_until = f->pending_from = 0;
}

static int64_t get(const struct vmcoreinfo *vi, const char *kind, const char *name) {
        int64_t v;

        return vmcoreinfo_number(vi, kind, name, &v) == 0 ? v : NO_VALUE;
}

static void read_layout(const struct vmcoreinfo *vi, struct page_layout *l) {
        int64_t order, dtor;

        l->size = get(vi, "SIZE", "page");
        l->flags = get(vi, "OFFSET", "page.flags");
        l->mapping = get(vi, "OFFSET", "page.mapping");
        l->mapcount = get(vi, "OFFSET", "page._mapcount");
        l->private = get(vi, "OFFSET", "page.private");
        l->compound_head = get(vi, "OFFSET", "page.compound_head");
        /* 7.1 renamed compound_head to compound_info (commit d50569612c29);
         * bit 0 still marks a tail page. */
        if (l->compound_head == NO_VALUE)
                l->compound_head = get(vi, "OFFSET", "page.compound_info");
        l->pg_lru = get(vi, "NUMBER", "PG_lru");
        l->pg_private = get(vi, "NUMBER", "PG_private");
        l->pg_swapcache = get(vi, "NUMBER", "PG_swapcache");
        l->pg_swapbacked = get(vi, "NUMBER", "PG_swapbacked");
        l->pg_slab = get(vi, "NUMBER", "PG_slab");
        l->pg_hwpoison = get(vi, "NUMBER", "PG_hwpoison");
        l->pg_hugetlb = get(vi, "NUMBER", "PG_hugetlb");
        l->head_mask = get(vi, "NUMBER", "PG_head_mask");
        l->buddy = get(vi, "NUMBER", "PAGE_BUDDY_MAPCOUNT_VALUE");
        /* 6.10 made slab a page type (commit 46df8e73a4a3); before, PG_slab. */
        l->slab = get(vi, "NUMBER", "PAGE_SLAB_MAPCOUNT_VALUE");
        /* 6.9 made hugetlb a page type (commit d99e3140a4d3). */
        l->hugetlb = get(vi, "NUMBER", "PAGE_HUGETLB_MAPCOUNT_VALUE");
        l->offline = get(vi, "NUMBER", "PAGE_OFFLINE_MAPCOUNT_VALUE");
        /* 6.16 exports unaccepted memory (commit 3d0e3df2ee0b). */
        l->unaccepted = get(vi, "NUMBER", "PAGE_UNACCEPTED_MAPCOUNT_VALUE");
        l->hugetlb_dtor = get(vi, "NUMBER", "HUGETLB_PAGE_DTOR");
        l->free_area_len = get(vi, "LENGTH", "zone.free_area");
        l->order_off = l->dtor_off = NO_VALUE;
        /* 4.16–6.2: bytes in page[1]; 6.3–6.5: the folio's, offsets from the
         * head page, so minus one struct page. */
        if ((order = get(vi, "OFFSET", "page.compound_order")) != NO_VALUE)
                l->order_off = order;
        else if ((order = get(vi, "OFFSET", "folio._folio_order")) != NO_VALUE && l->size != NO_VALUE)
                l->order_off = order - l->size;
        if ((dtor = get(vi, "OFFSET", "page.compound_dtor")) != NO_VALUE)
                l->dtor_off = dtor;
        else if ((dtor = get(vi, "OFFSET", "folio._folio_dtor")) != NO_VALUE && l->size != NO_VALUE)
                l->dtor_off = dtor - l->size;
        l->type_top_byte = l->buddy != NO_VALUE && (l->buddy & 0xffffff) == 0;
}

/* A field of width bytes at off must lie inside struct page. */
static bool field_ok(const struct page_layout *l, int64_t off, int64_t width) {
        return off != NO_VALUE && off >= 0 && off + width <= l->size;
}

static bool bit_ok(int64_t bit) {
        return bit != NO_VALUE && bit >= 0 && bit < 64;
}

/* Names what the walk itself and level need and the layout lacks. */
static void check_layout(const struct page_layout *l, int level, char *missing, size_t len) {
        bool cache = level & (DUMP_LEVEL_CACHE | DUMP_LEVEL_CACHE_PRIVATE);

        if (l->size == NO_VALUE || l->size < 16 || l->size > STRUCT_PAGE_SIZE_MAX)
                vmcoreinfo_add_missing(missing, len, "SIZE(page)");
        if (!field_ok(l, l->flags, 8))
                vmcoreinfo_add_missing(missing, len, "OFFSET(page.flags)");
        if ((cache || (level & DUMP_LEVEL_USER)) && !field_ok(l, l->mapping, 8))
                vmcoreinfo_add_missing(missing, len, "OFFSET(page.mapping)");
        if ((cache || (level & DUMP_LEVEL_USER)) && !bit_ok(l->pg_slab) &&
            (l->slab == NO_VALUE || !field_ok(l, l->mapcount, 4)))
                vmcoreinfo_add_missing(missing, len, "NUMBER(PG_slab) or NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)");
        if (cache && !bit_ok(l->pg_lru))
                vmcoreinfo_add_missing(missing, len, "NUMBER(PG_lru)");
        if (cache && !bit_ok(l->pg_private))
                vmcoreinfo_add_missing(missing, len, "NUMBER(PG_private)");
        if (cache && !bit_ok(l->pg_swapcache))
                vmcoreinfo_add_missing(missing, len, "NUMBER(PG_swapcache)");
        if (level & DUMP_LEVEL_FREE) {
                if (!field_ok(l, l->mapcount, 4))
                        vmcoreinfo_add_missing(missing, len, "OFFSET(page._mapcount)");
                if (!field_ok(l, l->private, 8))
                        vmcoreinfo_add_missing(missing, len, "OFFSET(page.private)");
                if (l->buddy == NO_VALUE)
                        vmcoreinfo_add_missing(missing, len, "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)");
                if (l->free_area_len == NO_VALUE || l->free_area_len < 1 || l->free_area_len > 63)
                        vmcoreinfo_add_missing(missing, len, "LENGTH(zone.free_area)");
        }
}

/* Optional parts of the layout that are malformed are dropped, so that a
 * page is kept rather than judged on a bad offset. */
static void drop_bad_optional(struct page_layout *l) {
        if (!field_ok(l, l->mapping, 8))
                l->mapping = NO_VALUE;
        if (!field_ok(l, l->mapcount, 4))
                l->mapcount = l->buddy = l->slab = l->hugetlb = l->offline = l->unaccepted = NO_VALUE;
        if (!field_ok(l, l->private, 8))
                l->private = NO_VALUE;
        if (!field_ok(l, l->compound_head, 8))
                l->compound_head = NO_VALUE;
        if (!field_ok(l, l->order_off, 1))
                l->order_off = NO_VALUE;
        if (!field_ok(l, l->dtor_off, 1))
                l->dtor_off = NO_VALUE;
        if (l->head_mask == 0)
                l->head_mask = NO_VALUE;
        if (!bit_ok(l->pg_swapbacked))
                l->pg_swapbacked = NO_VALUE;
        if (!bit_ok(l->pg_slab))
                l->pg_slab = NO_VALUE;
        if (!bit_ok(l->pg_hwpoison))
                l->pg_hwpoison = NO_VALUE;
        if (!bit_ok(l->pg_hugetlb))
                l->pg_hugetlb = NO_VALUE;
}

static int setup_sparsemem(struct pagefilter *f, const struct vmcoreinfo *vi, char *missing, size_t len) {
        int64_t bits = get(vi, "NUMBER", "SECTION_SIZE_BITS"), roots = get(vi, "LENGTH", "mem_section");
        int64_t phys_bits = get(vi, "NUMBER", "MAX_PHYSMEM_BITS");
        unsigned page_shift = (unsigned)__builtin_ctz(f->page_size);

        f->mem_section_size = get(vi, "SIZE", "mem_section");
        f->section_mem_map_off = get(vi, "OFFSET", "mem_section.section_mem_map");
        if (vmcoreinfo_symbol(vi, "mem_section", &f->mem_section) < 0)
                vmcoreinfo_add_missing(missing, len, "SYMBOL(mem_section) (only SPARSEMEM is walked)");
        if (roots == NO_VALUE || roots < 1)
                vmcoreinfo_add_missing(missing, len, "LENGTH(mem_section)");
        if (f->mem_section_size == NO_VALUE || f->mem_section_size < 8 || f->mem_section_size > MEM_SECTION_SIZE_MAX)
                vmcoreinfo_add_missing(missing, len, "SIZE(mem_section)");
        if (f->section_mem_map_off == NO_VALUE || f->section_mem_map_off < 0 ||
            f->section_mem_map_off + 8 > f->mem_section_size)
                vmcoreinfo_add_missing(missing, len, "OFFSET(mem_section.section_mem_map)");
        if (bits == NO_VALUE || bits <= page_shift || bits >= 48)
                vmcoreinfo_add_missing(missing, len, "NUMBER(SECTION_SIZE_BITS)");
        if (missing[0])
                return -ENOENT;
        f->section_roots = (uint64_t)roots;
        f->pfn_section_shift = (uint64_t)bits - page_shift;
        /* SPARSEMEM_EXTREME (every x86_64 distribution kernel) has fewer roots
         * than sections: each root points to a page of struct mem_section. */
        f->extreme = phys_bits == NO_VALUE || phys_bits <= bits || phys_bits > 64 ||
                     (uint64_t)roots < (1ull << (phys_bits - bits));
        f->sections_per_root = f->extreme ? f->page_size / (uint64_t)f->mem_section_size : 1;
        f->root_buf_nr = f->section_roots;
        f->root_buf = malloc(f->sections_per_root * (size_t)f->mem_section_size);
        return f->root_buf ? 0 : -ENOMEM;
}

int pagefilter_new(struct vmcore *v, int level, struct pagefilter **ret, char *missing, size_t missing_len) {
        const struct vmcoreinfo *vi = vmcore_vmcoreinfo(v);
        _cleanup_(pagefilter_freep) struct pagefilter *f = NULL;
        int r;

        missing[0] = 0;
        if (!vi) {
                snprintf(missing, missing_len, "VMCOREINFO");
                return -ENOENT;
        }
        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->vmcore = v;
        f->level = level;
        f->page_size = vmcore_page_size(v);
        f->max_pfn = vmcore_max_pfn(v);
        r = kvaddr_new(v, &f->kvaddr, missing, missing_len);
        if (r < 0)
                return r;
        read_layout(vi, &f->l);
        check_layout(&f->l, level, missing, missing_len);
        if (missing[0])
                return -ENOENT;
        drop_bad_optional(&f->l);
        r = setup_sparsemem(f, vi, missing, missing_len);
        if (r < 0)
                return r;
        f->batch = malloc(BATCH_PAGES * (size_t)f->l.size);
        if (!f->batch)
                return -ENOMEM;
        *ret = TAKE_PTR(f);
        return 0;
}

/* Where root's struct mem_sections start, or -ENOENT when it has none. */
static int root_address(struct pagefilter *f, uint64_t root, uint64_t *ret) {
        int r;

        if (root >= f->section_roots)
                return -ENOENT;
        /* Without SPARSEMEM_EXTREME, mem_section is the array itself. */
        *ret = f->mem_section + root * (uint64_t)f->mem_section_size;
        if (!f->extreme)
                return 0;
        r = kvaddr_read(f->kvaddr, f->mem_section + root * 8, ret, sizeof(*ret));
        if (r < 0)
                return r;
        return *ret ? 0 : -ENOENT;
}

/* Section nr's section_mem_map, from its root read whole; where the whole
 * root cannot be read, from the section's own entry. */
static int section_entry(struct pagefilter *f, uint64_t nr, uint64_t *ret) {
        uint64_t root = nr / f->sections_per_root, base;
        size_t at = (size_t)(nr % f->sections_per_root) * (size_t)f->mem_section_size;
        int r;

        if (root != f->root_buf_nr) {
                if ((r = root_address(f, root, &base)) < 0)
                        return r;
                /* A read that fails part way leaves root_buf holding no root. */
                f->root_buf_nr = f->section_roots;
                if (kvaddr_read(f->kvaddr, base, f->root_buf, f->sections_per_root * (size_t)f->mem_section_size) < 0)
                        return kvaddr_read(f->kvaddr, base + at + (uint64_t)f->section_mem_map_off, ret, sizeof(*ret));
                f->root_buf_nr = root;
        }
        *ret = le64(f->root_buf + at + f->section_mem_map_off);
        return 0;
}

/* The virtual address of section nr's first struct page, or -ENOENT when the
 * section is absent (a hole, or memory hot-removed). */
static int section_mem_map(struct pagefilter *f, uint64_t nr, uint64_t *ret) {
        uint64_t map;
        int r = section_entry(f, nr, &map);

        if (r < 0)
                return r;
        if (!(map & SECTION_MARKED_PRESENT))
                return -ENOENT;
        /* The kernel stores mem_map minus the section's first pfn
         * (sparse_encode_mem_map()). */
        *ret = (map & SECTION_MAP_MASK) + (nr << f->pfn_section_shift) * (uint64_t)f->l.size;
        return 0;
}

static bool flag(uint64_t flags, int64_t bit) {
        return bit != NO_VALUE && (flags >> bit) & 1;
}

static bool is_type(const struct page_layout *l, int32_t mapcount, int64_t value) {
        if (value == NO_VALUE)
                return false;
        if (l->type_top_byte)
                return ((uint32_t)mapcount >> 24) == ((uint32_t)value >> 24);
        return mapcount == (int32_t)value;
}

static bool is_slab(const struct page_layout *l, uint64_t flags, int32_t mapcount) {
        return is_type(l, mapcount, l->slab) || flag(flags, l->pg_slab);
}

/* PG_lru, or swap cache: PG_swapcache counts only with PG_swapbacked since
 * 4.10 (commit 6326fec1122c), where the bit is shared. */
static bool is_cache(const struct page_layout *l, uint64_t flags) {
        return flag(flags, l->pg_lru) ||
               (flag(flags, l->pg_swapcache) && (l->pg_swapbacked == NO_VALUE || flag(flags, l->pg_swapbacked)));
}

/* A compound head's order and whether it is hugetlb, from page[1]. */
static unsigned compound_order(const struct page_layout *l, const uint8_t *head, const uint8_t *next, uint64_t pfn,
                               bool *ret_hugetlb) {
        int32_t mapcount = l->mapcount != NO_VALUE ? (int32_t)le32(head + l->mapcount) : 0;
        unsigned order = 0;

        *ret_hugetlb = false;
        if (l->hugetlb != NO_VALUE || l->pg_hugetlb != NO_VALUE) {
                /* 6.6 on: the order is the low byte of folio->_flags_1. */
                uint64_t flags1 = le64(next + l->flags);

                order = flags1 & 0xff;
                *ret_hugetlb = l->hugetlb != NO_VALUE ? is_type(l, mapcount, l->hugetlb) : flag(flags1, l->pg_hugetlb);
        } else {
                if (l->order_off != NO_VALUE)
                        order = next[l->order_off];
                if (l->dtor_off != NO_VALUE && l->hugetlb_dtor != NO_VALUE)
                        *ret_hugetlb = next[l->dtor_off] == l->hugetlb_dtor;
        }
        if (order >= 64 || (pfn & ((1ull << order) - 1)))
                order = 0;
        return order;
}

/* Decides one page; *nr is how many pfns the decision covers. next is the
 * following struct page, or NULL when it is not at hand. */
static enum page_class classify(const struct pagefilter *f, const uint8_t *pg, const uint8_t *next, uint64_t pfn,
                                uint64_t *nr, struct filter_counts *c) {
        const struct page_layout *l = &f->l;
        uint64_t flags = le64(pg + l->flags);
        uint64_t mapping = l->mapping != NO_VALUE ? le64(pg + l->mapping) : 0;
        int32_t mapcount = l->mapcount != NO_VALUE ? (int32_t)le32(pg + l->mapcount) : 0;
        bool hugetlb = false, slab = is_slab(l, flags, mapcount), anon, cache;
        unsigned order = 0;

        if (l->head_mask != NO_VALUE && (flags & (uint64_t)l->head_mask) && next)
                order = compound_order(l, pg, next, pfn, &hugetlb);
        *nr = 1ull << order;
        /* A tail page: its head decided the whole folio. */
        if (l->compound_head != NO_VALUE && (le64(pg + l->compound_head) & 1))
                return PAGE_KEEP;
        if ((f->level & DUMP_LEVEL_FREE) && !slab && is_type(l, mapcount, l->buddy)) {
                uint64_t buddy_order = le64(pg + l->private);

                if (buddy_order >= (uint64_t)l->free_area_len) {
                        c->bad_buddy_order++;
                        *nr = 1;
                        return PAGE_KEEP;
                }
                *nr = 1ull << buddy_order;
                return PAGE_FREE;
        }
        /* Unaccepted memory sits on its list in MAX_PAGE_ORDER blocks. */
        if ((f->level & DUMP_LEVEL_FREE) && is_type(l, mapcount, l->unaccepted)) {
                *nr = 1ull << (l->free_area_len - 1);
                return PAGE_FREE;
        }
        anon = (mapping & PAGE_MAPPING_ANON) && !slab;
        cache = is_cache(l, flags) && !anon;
        if ((f->level & DUMP_LEVEL_CACHE) && cache && !flag(flags, l->pg_private))
                return PAGE_CACHE;
        if ((f->level & DUMP_LEVEL_CACHE_PRIVATE) && cache)
                return flag(flags, l->pg_private) ? PAGE_CACHE_PRIVATE : PAGE_CACHE;
        if ((f->level & DUMP_LEVEL_USER) && (anon || hugetlb))
                return PAGE_USER;
        if (flag(flags, l->pg_hwpoison))
                return PAGE_HWPOISON;
        if (!slab && is_type(l, mapcount, l->offline))
                return PAGE_OFFLINE;
        return PAGE_KEEP;
}

static uint64_t *counter(struct filter_counts *c, enum page_class cls) {
        switch (cls) {
        case PAGE_CACHE: return &c->cache;
        case PAGE_CACHE_PRIVATE: return &c->cache_private;
        case PAGE_USER: return &c->user;
        case PAGE_FREE: return &c->free;
        case PAGE_HWPOISON: return &c->hwpoison;
        default: return &c->offline;
        }
}

/* Clears [from, to) ∩ [base, end) and counts the bits that were set. */
static void clear_range(uint8_t *bm, uint64_t base, uint64_t end, uint64_t from, uint64_t to, uint64_t *count) {
        if (from < base)
                from = base;
        if (to > end)
                to = end;
        for (uint64_t pfn = from; pfn < to; pfn++) {
                uint8_t *byte = &bm[(pfn - base) / 8], bit = (uint8_t)(1u << ((pfn - base) % 8));

                if (*byte & bit) {
                        *byte &= (uint8_t)~bit;
                        (*count)++;
                }
        }
}

static bool has_data(const uint8_t *bm, uint64_t base, uint64_t pfn) {
        return bm[(pfn - base) / 8] & (1u << ((pfn - base) % 8));
}

/* Reads the struct pages of [pfn, pfn + n) into f->batch. Where the whole
 * batch cannot be read, each page is tried alone and *ok marks which were. */
static void read_batch(struct pagefilter *f, uint64_t map, uint64_t n, bool *ok) {
        size_t size = (size_t)f->l.size;

        if (kvaddr_read(f->kvaddr, map, f->batch, n * size) == 0) {
                for (uint64_t i = 0; i < n; i++)
                        ok[i] = true;
                return;
        }
        for (uint64_t i = 0; i < n; i++)
                ok[i] = kvaddr_read(f->kvaddr, map + i * size, f->batch + i * size, size) == 0;
}

/* Walks the pfns [from, to) of one section, whose struct pages start at map
 * (the section's first pfn is first_pfn). */
static void walk_section(struct pagefilter *f, uint64_t map, uint64_t first_pfn, uint64_t from, uint64_t to,
                         uint64_t base, uint64_t end, uint8_t *dumpable, struct filter_counts *c) {
        bool ok[BATCH_PAGES];
        size_t size = (size_t)f->l.size;

        for (uint64_t batch = from & ~(uint64_t)(BATCH_PAGES - 1); batch < to; batch += BATCH_PAGES) {
                uint64_t lo = batch > from ? batch : from, hi = batch + BATCH_PAGES < to ? batch + BATCH_PAGES : to;
                bool read = false;

                for (uint64_t pfn = lo; pfn < hi; pfn++) {
                        uint64_t i = pfn - batch, nr;
                        enum page_class cls;

                        if (pfn < f->skip_until || !has_data(dumpable, base, pfn))
                                continue;
                        if (!read) {
                                read_batch(f, map + (batch - first_pfn) * size, hi - batch, ok);
                                read = true;
                        }
                        if (!ok[i]) {
                                c->unreadable++;
                                continue;
                        }
                        cls = classify(f, f->batch + i * size,
                                       i + 1 < hi - batch && ok[i + 1] ? f->batch + (i + 1) * size : NULL, pfn, &nr, c);
                        if (cls == PAGE_KEEP)
                                continue;
                        clear_range(dumpable, base, end, pfn, pfn + nr, counter(c, cls));
                        f->skip_until = pfn + nr;
                        f->pending_from = end;
                        f->pending = cls;
                }
        }
}

int pagefilter_cycle(struct pagefilter *f, uint64_t base, uint64_t end, uint8_t *dumpable, struct filter_counts *c) {
        if (end > f->max_pfn)
                end = f->max_pfn;
        /* The rest of a block that began in an earlier cycle. */
        if (f->pending_from < f->skip_until)
                clear_range(dumpable, base, end, f->pending_from, f->skip_until, counter(c, f->pending));
        f->pending_from = end;
        for (uint64_t nr = base >> f->pfn_section_shift; base < end && (nr << f->pfn_section_shift) < end; nr++) {
                uint64_t first = nr << f->pfn_section_shift, last = (nr + 1) << f->pfn_section_shift, map;
                uint64_t from = first > base ? first : base, to = last < end ? last : end;

                if (section_mem_map(f, nr, &map) < 0)
                        continue;
                walk_section(f, map, first, from, to, base, end, dumpable, c);
        }
        return 0;
}
