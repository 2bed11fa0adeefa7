/* Fuzz target for lib/kallsyms' name expansion: the input is a token index
 * (512 bytes), a length byte n and n*16 bytes of token table, then the
 * compressed names, expanded until they run out. */
#include <string.h>

#include "kallsyms.h"
#include "unaligned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint16_t index[256];
        size_t tokens_len, at = 0;
        char out[128];

        if (size < 513)
                return 0;
        for (int i = 0; i < 256; i++)
                index[i] = le16(data + 2 * i);
        tokens_len = (size_t)data[512] * 16;
        if (size - 513 < tokens_len)
                return 0;
        for (int i = 0; i < 1 << 16; i++)
                if (kallsyms_expand(data + 513 + tokens_len, size - 513 - tokens_len, &at, (const char *)data + 513,
                                    tokens_len, index, out, sizeof(out)) < 0)
                        break;
        return 0;
}
