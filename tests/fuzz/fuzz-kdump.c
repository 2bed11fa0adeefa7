/* Fuzz target for lib/kdumpread through vmcore_open(): headers, bitmaps,
 * ranges, notes and VMCOREINFO, then every page the input says it holds. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cleanup.h"
#include "io.h"
#include "vmcore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

DEFINE_CLEANUP_FUNC(struct vmcore, vmcore_free);

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
        return 0;
}
