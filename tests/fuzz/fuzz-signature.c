/* Fuzz target for lib/signature: any bytes as a kernel log, then the hash
 * and the normaliser on a copy of the input as one line. */
#include <stdlib.h>
#include <string.h>

#include "signature.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct signature *s;
        char *line;

        if (signature_parse((const char *)data, size, &s) == 0) {
                if (!s->rip)
                        (void)signature_set_rip(s, "func+0x1/0x2");
                (void)signature_finish(s);
                signature_free(s);
        }
        if ((line = malloc(size + 1))) {
                memcpy(line, data, size);
                line[size] = 0;
                signature_normalize(line);
                free(line);
        }
        return 0;
}
