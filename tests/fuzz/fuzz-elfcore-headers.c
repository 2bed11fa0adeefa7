/* Fuzz target for lib/elfcore's header parser. */
#include "elfcore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct elfcore_headers h;

        if (elfcore_headers_size(data, size) < 0)
                return 0;
        if (elfcore_parse_headers(data, size, &h) == 0)
                elfcore_headers_done(&h);
        return 0;
}
