/* /proc/vmcore's PT_LOADs for an x86_64 kernel, as kexec_file_load's
 * crash_prepare_elf64_headers() and kexec-tools make them: one for the
 * kernel image, p_vaddr _text, p_paddr __pa_symbol(_text), _end - _text
 * long; then one per System RAM range, p_vaddr PAGE_OFFSET + p_paddr.
 * crash takes phys_base from the image's load; drgn reads the direct map
 * through the RAM loads' p_vaddr, so PAGE_OFFSET must be the crashed
 * kernel's own (randomised with CONFIG_RANDOMIZE_MEMORY). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cleanup.h"
#include "elflayout.h"
#include "kallsyms.h"
#include "kvaddr.h"

#define X86_64_START_KERNEL_MAP 0xffffffff80000000ull
/* PAGE_OFFSET without memory randomisation: __PAGE_OFFSET_BASE_L4 since
 * 4.20 (commit d52888aa2753), __PAGE_OFFSET_BASE_L5 with 5-level paging. */
#define X86_64_PAGE_OFFSET_L4 0xffff888000000000ull
#define X86_64_PAGE_OFFSET_L5 0xff11000000000000ull

DEFINE_CLEANUP_FUNC(struct kvaddr, kvaddr_free);
DEFINE_CLEANUP_FUNC(struct kallsyms, kallsyms_free);

/* page_offset_base where the kernel has it (CONFIG_RANDOMIZE_MEMORY, on in
 * Debian's kernels), else the fixed base. */
static uint64_t page_offset(struct kvaddr *k, const struct kallsyms *ks, const struct vmcoreinfo *vi) {
        int64_t l5 = 0;
        uint64_t sym, value;

        if (ks && kallsyms_address(ks, "page_offset_base", &sym) == 0 && kvaddr_read(k, sym, &value, 8) == 0)
                return value;
        (void)vmcoreinfo_number(vi, "NUMBER", "pgtable_l5_enabled", &l5);
        return l5 ? X86_64_PAGE_OFFSET_L5 : X86_64_PAGE_OFFSET_L4;
}

/* The kernel image's load, when _text and _end are known. */
static bool image_load(const struct kallsyms *ks, const struct vmcoreinfo *vi, struct elfcore_load *l) {
        uint64_t text, end;
        int64_t phys_base;

        if (!ks || kallsyms_address(ks, "_text", &text) < 0 || kallsyms_address(ks, "_end", &end) < 0 || end <= text ||
            text < X86_64_START_KERNEL_MAP || vmcoreinfo_number(vi, "NUMBER", "phys_base", &phys_base) < 0)
                return false;
        *l = (struct elfcore_load){ .vaddr = text, .paddr = text - X86_64_START_KERNEL_MAP + (uint64_t)phys_base,
                                    .filesz = end - text, .memsz = end - text };
        return true;
}

int elf_layout_from_kdump(struct vmcore *v, struct elfcore_load **ret, size_t *ret_count, char *why, size_t why_len) {
        _cleanup_(kvaddr_freep) struct kvaddr *k = NULL;
        _cleanup_(kallsyms_freep) struct kallsyms *ks = NULL;
        const struct vmcoreinfo *vi = vmcore_vmcoreinfo(v);
        size_t n_ranges, n = 0;
        const struct vmcore_range *r = vmcore_ranges(v, &n_ranges);
        uint64_t ps = vmcore_page_size(v), base;
        struct elfcore_load *loads;
        char missing[256], problem[256];

        if (kvaddr_new(v, &k, missing, sizeof(missing)) < 0) {
                snprintf(why, why_len, "its ELF program headers cannot be rebuilt without %s", missing);
                return -EOPNOTSUPP;
        }
        (void)kallsyms_new(k, vi, &ks, problem, sizeof(problem));
        base = page_offset(k, ks, vi);
        loads = calloc(n_ranges + 1, sizeof(*loads));
        if (!loads)
                return -ENOMEM;
        if (image_load(ks, vi, &loads[n]))
                n++;
        /* kdump_ranges() splits RAM where the data stops and starts again;
         * a load is a whole run of RAM. */
        for (size_t i = 0; i < n_ranges; i++) {
                struct elfcore_load *last = n ? &loads[n - 1] : NULL;
                uint64_t start = r[i].start_pfn * ps, end = r[i].memsz_end_pfn * ps;

                if (last && last->vaddr == base + last->paddr && last->paddr + last->memsz == start) {
                        last->filesz = last->memsz = end - last->paddr;
                        continue;
                }
                if (n == ELF_LAYOUT_LOADS_MAX) {
                        free(loads);
                        snprintf(why, why_len, "more than %u runs of RAM", ELF_LAYOUT_LOADS_MAX);
                        return -E2BIG;
                }
                loads[n++] = (struct elfcore_load){ .vaddr = base + start, .paddr = start, .filesz = end - start,
                                                    .memsz = end - start };
        }
        *ret = loads;
        *ret_count = n;
        return 0;
}
