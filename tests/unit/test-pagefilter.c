/* lib/pagefilter over made-up machines whose struct pages follow each kernel
 * layout dumptool handles (tests/unit/gen-filter-cases.py writes them):
 * which pages every dump level leaves out, and what it refuses. */
#include <errno.h>
#include <stdio.h>

#include "cleanup.h"
#include "dumper.h"
#include "harness.h"
#include "pagefilter.h"
#include "vmcore.h"

#define NPAGES 64

DEFINE_CLEANUP_FUNC(struct vmcore, vmcore_free);
DEFINE_CLEANUP_FUNC(struct pagefilter, pagefilter_free);

static struct vmcore *open_case(const char *name) {
        char path[4096], why[256];
        struct vmcore *v = NULL;

        snprintf(path, sizeof(path), "%s/filter-%s.kdump", DATA_DIR, name);
        ASSERT_EQ_INT(vmcore_open(path, &v, why, sizeof(why)), 0);
        return v;
}

/* The pfns level leaves out, as a 64-bit mask. */
static uint64_t excluded(const char *name, int level) {
        _cleanup_(vmcore_freep) struct vmcore *v = open_case(name);
        _cleanup_(pagefilter_freep) struct pagefilter *f = NULL;
        struct filter_counts c = {};
        uint64_t bits = UINT64_MAX;
        char missing[256];

        ASSERT_EQ_INT(pagefilter_new(v, level, &f, missing, sizeof(missing)), 0);
        ASSERT_EQ_INT(pagefilter_cycle(f, 0, NPAGES, (uint8_t *)&bits, &c), 0);
        ASSERT_EQ_U64(c.bad_buddy_order, (uint64_t)(level & DUMP_LEVEL_FREE ? 1 : 0));
        return ~bits;
}

static uint64_t pfns(int from, int to) {
        return (to - from == 64 ? UINT64_MAX : ((1ull << (to - from)) - 1)) << from;
}

#define ALWAYS (pfns(28, 30))                                     /* hwpoison, offline */
#define CACHE (pfns(20, 21) | pfns(22, 23))                        /* file, swap cache */
#define CACHE_PRIVATE (CACHE | pfns(21, 22))
#define USER (pfns(19, 20) | pfns(24, 28))                         /* anon, THP, hugetlb */
#define FREE (pfns(16, 18))

static void check_levels(const char *name, bool unaccepted) {
        uint64_t free_pages = FREE | (unaccepted ? pfns(32, 36) : 0);

        ASSERT_EQ_U64(excluded(name, 1), ALWAYS);
        ASSERT_EQ_U64(excluded(name, 2), ALWAYS | CACHE);
        ASSERT_EQ_U64(excluded(name, 4), ALWAYS | CACHE_PRIVATE);
        ASSERT_EQ_U64(excluded(name, 8), ALWAYS | USER);
        ASSERT_EQ_U64(excluded(name, 16), ALWAYS | free_pages);
        ASSERT_EQ_U64(excluded(name, 31), ALWAYS | CACHE_PRIVATE | USER | free_pages);
}

/* PG_slab; hugetlb by compound_dtor. */
TEST(layout_6_1) { check_levels("6.1", false); }
/* Hugetlb a page type, order in folio->_flags_1. */
TEST(layout_6_9) { check_levels("6.9", false); }
/* Slab a page type: its aliased mapping must not make it "anonymous". */
TEST(layout_6_10) { check_levels("6.10", false); }
/* Types in the top byte; the buddy page carries low bits. */
TEST(layout_6_12) { check_levels("6.12", false); }
TEST(layout_6_16_unaccepted) { check_levels("6.16", true); }
TEST(layout_7_1_compound_info) { check_levels("7.1", true); }

TEST(missing_entry_is_named) {
        _cleanup_(vmcore_freep) struct vmcore *v = open_case("no-lru");
        _cleanup_(pagefilter_freep) struct pagefilter *f = NULL;
        char missing[256];

        ASSERT_EQ_INT(pagefilter_new(v, 31, &f, missing, sizeof(missing)), -ENOENT);
        ASSERT_STREQ(missing, "NUMBER(PG_lru)");
        ASSERT_EQ_INT(pagefilter_new(v, 24, &f, missing, sizeof(missing)), 0);
}

/* A block that runs past the cycle's end is finished in the next cycle. */
TEST(block_carried_across_cycles) {
        _cleanup_(vmcore_freep) struct vmcore *v = open_case("6.16");
        _cleanup_(pagefilter_freep) struct pagefilter *f = NULL;
        struct filter_counts c = {};
        uint8_t a = 0xff, b[7];
        char missing[256];

        memset(b, 0xff, sizeof(b));
        ASSERT_EQ_INT(pagefilter_new(v, 16, &f, missing, sizeof(missing)), 0);
        ASSERT_EQ_INT(pagefilter_cycle(f, 0, 8, &a, &c), 0);
        ASSERT_EQ_INT(pagefilter_cycle(f, 8, 16, &a, &c), 0);
        a = 0xff;
        /* pfns 16..33: the buddy pair, then unaccepted 32..35 split at 34. */
        ASSERT_EQ_INT(pagefilter_cycle(f, 16, 34, b, &c), 0);
        ASSERT_EQ_INT(b[0], 0xfc);
        ASSERT_EQ_INT(b[2] & 0x3, 0);
        ASSERT_EQ_INT(pagefilter_cycle(f, 34, 42, &a, &c), 0);
        ASSERT_EQ_INT(a, 0xfc);
        ASSERT_EQ_U64(c.free, 6);
}
