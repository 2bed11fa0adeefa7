/* Fuzz target for lib/flattened: the stream goes in through a memfd and is
 * rebuilt into another, as dumptool -R does with stdin and a file. */
#include <sys/mman.h>
#include <unistd.h>

#include "cleanup.h"
#include "flattened.h"
#include "io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_close_ int in = memfd_create("flat-in", MFD_CLOEXEC);
        _cleanup_close_ int out = memfd_create("flat-out", MFD_CLOEXEC);
        struct flat_stats st;
        char why[256];

        if (in < 0 || out < 0 || write_full(in, data, size) < 0 || lseek(in, 0, SEEK_SET) < 0)
                abort();
        (void)flat_rebuild(in, out, &st, why, sizeof(why));
        return 0;
}
