/* Fuzz target for lib/size: any bytes, parsed and, when valid, formatted
 * back; the round trip must give the same value. */
#include <stdlib.h>

#include "size.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char buf[SIZE_STRING_MAX];
        uint64_t v, back;

        if (size_parse((const char *)data, size, &v) < 0)
                return 0;
        size_format(v, buf, sizeof(buf));
        if (size_parse(buf, strlen(buf), &back) < 0 || back != v)
                abort();
        return 0;
}
