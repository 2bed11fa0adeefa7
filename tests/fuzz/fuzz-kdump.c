/* Fuzz target for lib/kdumpread through vmcore_open(): headers, bitmaps,
 * ranges, notes and VMCOREINFO, every page the input says it holds, and the
 * page filter (page-table walk, mem_section, struct page) over them. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cleanup.h"
#include "io.h"
#include "pagefilter.h"
#include "vmcore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

DEFINE_CLEANUP_FUNC(struct vmcore, vmcore_free);
DEFINE_CLEANUP_FUNC(struct pagefilter, pagefilter_free);

/* Runs the level-31 filter over the first pfns, as the dumper's cycles do. */
static void filter(struct vmcore *v) {
        _cleanup_(pagefilter_freep) struct pagefilter *f = NULL;
        uint8_t bits[512];
        struct filter_counts c = {};
        char missing[256];
        uint64_t end = vmcore_max_pfn(v) < 8 * sizeof(bits) ? vmcore_max_pfn(v) : 8 * sizeof(bits);

        if (pagefilter_new(v, 31, &f, missing, sizeof(missing)) < 0)
                return;
        memset(bits, 0xff, sizeof(bits));
        (void)pagefilter_cycle(f, 0, end, bits, &c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_close_ int fd = memfd_create("kdump-in", MFD_CLOEXEC);
        _cleanup_(vmcore_freep) struct vmcore *v = NULL;
        char path[64], why[256];
        const struct vmcore_range *r;
        size_t n;

        if (fd < 0 || write_full(fd, data, size) < 0)
                abort();
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (vmcore_open(path, &v, why, sizeof(why)) < 0)
                return 0;
        r = vmcore_ranges(v, &n);
        for (size_t i = 0; i < n; i++)
                for (uint64_t pfn = r[i].start_pfn; pfn < r[i].end_pfn; pfn++) {
                        const uint8_t *page;

                        (void)vmcore_page(v, pfn, &page);
                }
        filter(v);
        return 0;
}
