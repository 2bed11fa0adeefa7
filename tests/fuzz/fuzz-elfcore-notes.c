/* Fuzz target for lib/elfcore's note walker, and VMCOREINFO inside it. */
#include "elfcore.h"
#include "vmcoreinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct elfcore_notes_info info;
        struct vmcoreinfo *vi = NULL;

        if (elfcore_notes_info(data, size, &info) < 0 || !info.has_vmcoreinfo)
                return 0;
        if (vmcoreinfo_parse(data + info.vmcoreinfo_offset, info.vmcoreinfo_size, &vi, NULL) == 0)
                vmcoreinfo_free(vi);
        return 0;
}
