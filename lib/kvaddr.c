/* x86_64 page-table walk over a vmcore. */
#include <errno.h>
#include <stdio.h>

#include "kvaddr.h"

#define EM_X86_64 62
/* __START_KERNEL_map: the kernel image's virtual base on x86_64 (before KASLR,
 * which VMCOREINFO's symbols already include). */
#define X86_64_START_KERNEL_MAP 0xffffffff80000000ull
#define X86_64_PTE_PRESENT 0x1ull
#define X86_64_PTE_PSE 0x80ull
/* Bits 12..51 of an entry hold the physical frame (the architectural limit). */
#define X86_64_PTE_PFN_MASK 0x000ffffffffff000ull

struct kvaddr {
        struct vmcore *vmcore;
        uint64_t top_pgt_paddr;
        uint64_t sme_mask;
        int levels;
        /* The last translation: [vbase, vbase + size) → pbase. */
        uint64_t cache_vbase, cache_size, cache_pbase;
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

int kvaddr_translate(struct kvaddr *k, uint64_t vaddr, uint64_t *ret_paddr, uint64_t *ret_span) {
        uint64_t table = k->top_pgt_paddr, entry = 0, size = 0;

        if (k->cache_size && vaddr - k->cache_vbase < k->cache_size) {
                *ret_paddr = k->cache_pbase + (vaddr - k->cache_vbase);
                *ret_span = k->cache_size - (vaddr - k->cache_vbase);
                return 0;
        }
        for (int level = k->levels; level >= 1; level--) {
                unsigned shift = 12 + 9 * (unsigned)(level - 1);
                int r = vmcore_read_paddr(k->vmcore, table + ((vaddr >> shift) & 511) * 8, &entry, sizeof(entry));

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
        k->cache_vbase = vaddr & ~(size - 1);
        k->cache_size = size;
        k->cache_pbase = entry & X86_64_PTE_PFN_MASK & ~(size - 1);
        *ret_paddr = k->cache_pbase + (vaddr - k->cache_vbase);
        *ret_span = size - (vaddr - k->cache_vbase);
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
