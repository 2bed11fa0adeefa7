/* Fuzz target for lib/printk's record walker and formatter, over rings of
 * up to 64 descriptors and 4 KiB of text (the layout: printk-ring.h). */
#include "printk-ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int format(const struct printk_record *r, void *userdata) {
        char line[256];

        (void)userdata;
        printk_format(r, line, sizeof(line));
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct printk_ring ring;

        if (packed_ring(data, size, &ring) == 0)
                (void)printk_ring_walk(&packed_ring_layout, &ring, format, NULL);
        return 0;
}
