/* Fuzz target for lib/vmcoreinfo: parse, then look up every kind of key. */
#include "vmcoreinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct vmcoreinfo *vi = NULL;
        uint64_t sym;
        int64_t n;

        if (vmcoreinfo_parse(data, size, &vi, NULL) < 0)
                return 0;
        (void)vmcoreinfo_get(vi, "OSRELEASE");
        (void)vmcoreinfo_symbol(vi, "init_uts_ns", &sym);
        (void)vmcoreinfo_number(vi, "OFFSET", "page.flags", &n);
        (void)vmcoreinfo_number(vi, "NUMBER", "PAGE_BUDDY_MAPCOUNT_VALUE", &n);
        (void)vmcoreinfo_decimal(vi, "PAGESIZE", &n);
        vmcoreinfo_free(vi);
        return 0;
}
