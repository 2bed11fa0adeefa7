/* x86_64 page-table walk over a vmcore. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kvaddr.h"

#define EM_X86_64 62
/* __START_KERNEL_map: the kernel image's virtual base on x86_64 (before KASLR,
 * which VMCOREINFO's symbols already include). */
#define X86_64_START_KERNEL_MAP 0xffffffff80000000ull
#define X86_64_PTE_PRESENT 0x1ull
#define X86_64_PTE_PSE 0x80ull
/* Bits 12..51 of an entry hold the physical frame (the architectural limit). */
#define X86_64_PTE_PFN_MASK 0x000ffffffffff000ull
/* Translations kept, the oldest replaced first. The first pass moves
 * between mem_section (direct map) and mem_map (vmemmap) every section;
 * with one translation kept, each move walked the tables again, and each
 * walk moved the vmcore's window over the page tables and back: 156
 * mappings of a 4 MiB window for the lab's 2 GiB 6.1 vmcore. */
#define KVADDR_CACHED 8u
/* Page-table pages kept whole: a walk for a new 2 MiB of mem_map still read
 * the top table (in the kernel image) and the PMD table (at the top of
 * RAM), each read moving the window away from mem_map and back, two
 * mappings a section. Four pages hold a walk's tables; the PMD table of
 * vmemmap covers the struct pages of 16 GiB of RAM. */
#define TABLES_CACHED 4u
#define TABLE_SIZE 4096u

struct kvaddr {
        struct vmcore *vmcore;
        uint64_t top_pgt_paddr;
        uint64_t sme_mask;
        int levels;
        /* Recent translations: [vbase, vbase + size) → pbase. */
        struct {
                uint64_t vbase, size, pbase;
        } cache[KVADDR_CACHED];
        unsigned next;                  /* the entry replaced next */
        struct {
                uint64_t paddr;
                bool valid;
                uint8_t data[TABLE_SIZE];
        } tables[TABLES_CACHED];
        unsigned next_table;
};

struct kvaddr *kvaddr_free(struct kvaddr *k) {
        free(k);
        return NULL;
}

int kvaddr_new(struct vmcore *v, struct kvaddr **ret, char *missing, size_t missing_len) {
        const struct vmcoreinfo *vi = vmcore_vmcoreinfo(v);
        struct kvaddr *k;
        uint64_t top;
        int64_t phys_base, l5 = 0, sme = 0;
        int r = 0;

        missing[0] = 0;
        if (vmcore_headers(v)->machine != EM_X86_64) {
                snprintf(missing, missing_len, "page-table walk for ELF machine %u", vmcore_headers(v)->machine);
                return -EOPNOTSUPP;
        }
        if (!vi) {
                snprintf(missing, missing_len, "VMCOREINFO");
                return -ENOENT;
        }
        /* init_top_pgt was init_level4_pgt before 4.13 (commit 65ade2f872b4). */
        if (vmcoreinfo_symbol(vi, "init_top_pgt", &top) < 0 && vmcoreinfo_symbol(vi, "init_level4_pgt", &top) < 0) {
                vmcoreinfo_add_missing(missing, missing_len, "SYMBOL(init_top_pgt)");
                r = -ENOENT;
        }
        if (vmcoreinfo_number(vi, "NUMBER", "phys_base", &phys_base) < 0) {
                vmcoreinfo_add_missing(missing, missing_len, "NUMBER(phys_base)");
                r = -ENOENT;
        }
        if (r < 0)
                return r;
        /* Both exported since 4.13 and 4.19; absent means 4-level and no SME. */
        (void)vmcoreinfo_number(vi, "NUMBER", "pgtable_l5_enabled", &l5);
        (void)vmcoreinfo_number(vi, "NUMBER", "sme_mask", &sme);
        if (top < X86_64_START_KERNEL_MAP) {
                snprintf(missing, missing_len, "a kernel-image SYMBOL(init_top_pgt)");
                return -ENOENT;
        }
        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        k->vmcore = v;
        k->top_pgt_paddr = top - X86_64_START_KERNEL_MAP + (uint64_t)phys_base;
        k->sme_mask = (uint64_t)sme;
        k->levels = l5 ? 5 : 4;
        *ret = k;
        return 0;
}

/* Sets *ret_paddr and *ret_span from a kept translation of vaddr, if any. */
static bool cached(const struct kvaddr *k, uint64_t vaddr, uint64_t *ret_paddr, uint64_t *ret_span) {
        for (unsigned i = 0; i < KVADDR_CACHED; i++) {
                uint64_t at = vaddr - k->cache[i].vbase;

                if (at < k->cache[i].size) {
                        *ret_paddr = k->cache[i].pbase + at;
                        *ret_span = k->cache[i].size - at;
                        return true;
                }
        }
        return false;
}

/* The entry at index of the page table at table, from a kept copy of the
 * table; where the whole table cannot be read, the entry alone. */
static int read_entry(struct kvaddr *k, uint64_t table, unsigned index, uint64_t *ret) {
        unsigned slot;

        for (unsigned i = 0; i < TABLES_CACHED; i++)
                if (k->tables[i].valid && k->tables[i].paddr == table) {
                        memcpy(ret, k->tables[i].data + index * 8, 8);
                        return 0;
                }
        slot = k->next_table++ % TABLES_CACHED;
        k->tables[slot].valid = false;
        if (vmcore_read_paddr(k->vmcore, table, k->tables[slot].data, TABLE_SIZE) < 0)
                return vmcore_read_paddr(k->vmcore, table + index * 8, ret, 8);
        k->tables[slot].paddr = table;
        k->tables[slot].valid = true;
        memcpy(ret, k->tables[slot].data + index * 8, 8);
        return 0;
}

int kvaddr_translate(struct kvaddr *k, uint64_t vaddr, uint64_t *ret_paddr, uint64_t *ret_span) {
        uint64_t table = k->top_pgt_paddr, entry = 0, size = 0;
        unsigned slot;

        if (cached(k, vaddr, ret_paddr, ret_span))
                return 0;
        for (int level = k->levels; level >= 1; level--) {
                unsigned shift = 12 + 9 * (unsigned)(level - 1);
                int r = read_entry(k, table, (unsigned)((vaddr >> shift) & 511), &entry);

                if (r < 0)
                        return r;
                entry &= ~k->sme_mask;
                if (!(entry & X86_64_PTE_PRESENT))
                        return -ENOENT;
                size = 1ull << shift;
                /* PSE marks a 1 GiB page at the PUD and a 2 MiB page at the PMD. */
                if (level == 1 || ((level == 2 || level == 3) && (entry & X86_64_PTE_PSE)))
                        break;
                table = entry & X86_64_PTE_PFN_MASK;
        }
        slot = k->next++ % KVADDR_CACHED;
        k->cache[slot].vbase = vaddr & ~(size - 1);
        k->cache[slot].size = size;
        k->cache[slot].pbase = entry & X86_64_PTE_PFN_MASK & ~(size - 1);
        *ret_paddr = k->cache[slot].pbase + (vaddr - k->cache[slot].vbase);
        *ret_span = size - (vaddr - k->cache[slot].vbase);
        return 0;
}

int kvaddr_read(struct kvaddr *k, uint64_t vaddr, void *buf, size_t len) {
        uint8_t *out = buf;

        while (len > 0) {
                uint64_t paddr, span;
                size_t n;
                int r = kvaddr_translate(k, vaddr, &paddr, &span);

                if (r < 0)
                        return r;
                n = len < span ? len : (size_t)span;
                r = vmcore_read_paddr(k->vmcore, paddr, out, n);
                if (r < 0)
                        return r;
                out += n;
                vaddr += n;
                len -= n;
        }
        return 0;
}
