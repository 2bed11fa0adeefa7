/* Fuzz target for lib/logbuf's walk over a pre-5.10 log_buf: the input's
 * first 8 bytes are log_first_idx and log_next_idx, the rest is the
 * buffer, laid out as 5.x's struct printk_log with caller ids. */
#include "logbuf.h"
#include "unaligned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct logbuf_layout layout = { .record_size = 24, .ts_nsec = 0, .len = 8, .text_len = 10, .caller_id = 16 };

static int format(const struct printk_record *r, void *userdata) {
        char line[256];

        (void)userdata;
        printk_format(r, line, sizeof(line));
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 8 || size - 8 > 1u << 20)
                return 0;
        (void)logbuf_walk(&layout, data + 8, (uint32_t)(size - 8), le32(data), le32(data + 4), format, NULL);
        return 0;
}
