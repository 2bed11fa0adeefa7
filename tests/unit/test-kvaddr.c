/* lib/kvaddr over a made-up x86_64 vmcore whose page tables map 64 scattered
 * 4 KiB pages through 28 tables, a 2 MiB page and a 1 GiB page: every read
 * in a shuffled order, three times over, returns the physical page the
 * tables name, however the kept translations and tables are replaced. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "cleanup.h"
#include "elf-vmcore.h"
#include "harness.h"
#include "io.h"
#include "kvaddr.h"
#include "vmcore.h"

#define PAGE 4096u
#define NPAGES 256u
#define KTEXT 0xffffffff80000000ull
#define PRESENT 0x1ull
#define PSE 0x80ull
#define TOP_PFN 1u
#define SMALL 64u       /* 4 KiB pages mapped one by one */
#define DATA_PFN 128u   /* where they are in physical memory */

DEFINE_CLEANUP_FUNC(struct vmcore, vmcore_free);
DEFINE_CLEANUP_FUNC(struct kvaddr, kvaddr_free);

static uint8_t mem[NPAGES * PAGE];
static unsigned next_table = TOP_PFN + 1;

static void set_entry(unsigned table_pfn, unsigned index, uint64_t value) {
        memcpy(mem + (size_t)table_pfn * PAGE + index * 8, &value, 8);
}

static uint64_t entry(unsigned table_pfn, unsigned index) {
        uint64_t v;

        memcpy(&v, mem + (size_t)table_pfn * PAGE + index * 8, 8);
        return v;
}

/* The table that entry index of table_pfn points at, made if need be. */
static unsigned table_at(unsigned table_pfn, unsigned index) {
        uint64_t e = entry(table_pfn, index);

        if (e & PRESENT)
                return (unsigned)(e >> 12);
        set_entry(table_pfn, index, (uint64_t)next_table * PAGE | PRESENT);
        return next_table++;
}

static unsigned idx(uint64_t vaddr, unsigned level) {
        return (unsigned)((vaddr >> (12 + 9 * (level - 1))) & 511);
}

/* Small page i: four PGD slots, two PUD and two PMD entries under each,
 * four PTEs in each table. */
static uint64_t small_vaddr(unsigned i) {
        uint64_t pgd = 300 + i / 16, pud = 7 + (i / 8) % 2, pmd = 100 + (i / 4) % 2, pte = 50 + 3 * (i % 4);

        return 0xffff000000000000ull | pgd << 39 | pud << 30 | pmd << 21 | pte << 12;
}

static void map_small(unsigned i) {
        uint64_t va = small_vaddr(i);
        unsigned pud = table_at(TOP_PFN, idx(va, 4)), pmd = table_at(pud, idx(va, 3)), pt = table_at(pmd, idx(va, 2));

        set_entry(pt, idx(va, 1), (uint64_t)(DATA_PFN + i) * PAGE | PRESENT);
}

/* A 2 MiB page and a 1 GiB page, both of physical 0. */
#define HUGE_2M 0xffffc90000000000ull
#define HUGE_1G 0xffffea0000000000ull

static void map_huge(void) {
        unsigned pud = table_at(TOP_PFN, idx(HUGE_2M, 4)), pmd = table_at(pud, idx(HUGE_2M, 3));

        set_entry(pmd, idx(HUGE_2M, 2), PSE | PRESENT);
        pud = table_at(TOP_PFN, idx(HUGE_1G, 4));
        set_entry(pud, idx(HUGE_1G, 3), PSE | PRESENT);
}

static void write_vmcore(const char *path) {
        char info[128];
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        ASSERT_TRUE(fd >= 0);
        snprintf(info, sizeof(info), "PAGESIZE=4096\nSYMBOL(init_top_pgt)=%llx\nNUMBER(phys_base)=0\n",
                 (unsigned long long)(KTEXT + TOP_PFN * PAGE));
        elf_vmcore_headers(fd, info, sizeof(mem));
        ASSERT_EQ_INT(pwrite_full(fd, mem, sizeof(mem), ELF_VMCORE_LOAD_AT), 0);
}

/* Each data page holds its own pfn in every 8 bytes, plus the offset. */
static uint64_t word(unsigned pfn, unsigned at) {
        return (uint64_t)pfn << 32 | at;
}

static struct kvaddr *machine(struct vmcore **ret_v) {
        char path[4096], why[256], missing[256];
        struct kvaddr *k = NULL;

        memset(mem, 0, sizeof(mem));
        next_table = TOP_PFN + 1;
        for (unsigned i = 0; i < SMALL; i++)
                map_small(i);
        map_huge();
        ASSERT_TRUE(next_table < DATA_PFN);
        for (unsigned pfn = DATA_PFN; pfn < NPAGES; pfn++)
                for (unsigned at = 0; at < PAGE; at += 8) {
                        uint64_t w = word(pfn, at);

                        memcpy(mem + (size_t)pfn * PAGE + at, &w, 8);
                }
        snprintf(path, sizeof(path), "%s/kvaddr.vmcore", harness_tmpdir());
        write_vmcore(path);
        ASSERT_EQ_INT(vmcore_open(path, ret_v, why, sizeof(why)), 0);
        ASSERT_EQ_INT(kvaddr_new(*ret_v, &k, missing, sizeof(missing)), 0);
        return k;
}

TEST(shuffled_reads_find_their_pages) {
        _cleanup_(vmcore_freep) struct vmcore *v = NULL;
        _cleanup_(kvaddr_freep) struct kvaddr *k = machine(&v);
        uint32_t seed = 1;

        /* 28 tables: more than the kept ones, as are the 64 translations. */
        ASSERT_EQ_INT(next_table - TOP_PFN - 1, 28 + 3);
        for (unsigned n = 0; n < 3 * SMALL; n++) {
                unsigned i, at;
                uint64_t got, paddr, span;

                seed = seed * 1103515245u + 12345u;
                i = (seed >> 8) % SMALL;
                at = ((seed >> 20) % (PAGE / 8)) * 8;
                ASSERT_EQ_INT(kvaddr_read(k, small_vaddr(i) + at, &got, 8), 0);
                ASSERT_EQ_U64(got, word(DATA_PFN + i, at));
                ASSERT_EQ_INT(kvaddr_translate(k, small_vaddr(i) + at, &paddr, &span), 0);
                ASSERT_EQ_U64(paddr, (uint64_t)(DATA_PFN + i) * PAGE + at);
                ASSERT_EQ_U64(span, PAGE - at);
                /* The huge pages between, through the same kept entries. */
                ASSERT_EQ_INT(kvaddr_read(k, HUGE_2M + (uint64_t)(DATA_PFN + i) * PAGE + at, &got, 8), 0);
                ASSERT_EQ_U64(got, word(DATA_PFN + i, at));
                ASSERT_EQ_INT(kvaddr_translate(k, HUGE_1G + (uint64_t)(DATA_PFN + i) * PAGE, &paddr, &span), 0);
                ASSERT_EQ_U64(span, (1ull << 30) - (uint64_t)(DATA_PFN + i) * PAGE);
        }
}

/* An address next to a mapped one, in a kept table, is still not mapped. */
TEST(unmapped_beside_mapped) {
        _cleanup_(vmcore_freep) struct vmcore *v = NULL;
        _cleanup_(kvaddr_freep) struct kvaddr *k = machine(&v);
        uint64_t got;

        ASSERT_EQ_INT(kvaddr_read(k, small_vaddr(5), &got, 8), 0);
        ASSERT_EQ_INT(kvaddr_read(k, small_vaddr(5) + PAGE, &got, 8), -ENOENT);
        ASSERT_EQ_INT(kvaddr_read(k, small_vaddr(5) + (2ull << 21), &got, 8), -ENOENT);
        ASSERT_EQ_INT(kvaddr_read(k, HUGE_2M + (2ull << 20), &got, 8), -ENOENT);
        /* A read across two small pages that are not contiguous. */
        ASSERT_EQ_INT(kvaddr_read(k, small_vaddr(4) + PAGE - 4, &got, 8), -ENOENT);
}
