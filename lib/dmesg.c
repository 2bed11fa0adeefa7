/* The kernel log of a dump through lib/printk. */
#include <errno.h>

#include "cleanup.h"
#include "dmesg.h"
#include "kvaddr.h"
#include "printk.h"

#define LINE_BUFFER 4096

struct sink {
        FILE *out;
        long records;
};

DEFINE_CLEANUP_FUNC(struct kvaddr, kvaddr_free);

static int emit(const struct printk_record *r, void *userdata) {
        struct sink *s = userdata;
        char line[LINE_BUFFER];
        size_t n = printk_format(r, line, sizeof(line));
        _cleanup_free_ char *big = NULL;

        /* A record longer than the buffer (with escapes) is formatted again
         * into one of its size. */
        if (n > sizeof(line)) {
                if (!(big = malloc(n)))
                        return -ENOMEM;
                printk_format(r, big, n);
        }
        if (fwrite(big ? big : line, 1, n, s->out) != n)
                return -errno;
        s->records++;
        return 0;
}

long dmesg_write(struct vmcore *v, FILE *out, char *why, size_t why_len) {
        _cleanup_(kvaddr_freep) struct kvaddr *k = NULL;
        struct sink s = { .out = out };
        char missing[256];
        int r = kvaddr_new(v, &k, missing, sizeof(missing));

        if (r < 0) {
                snprintf(why, why_len, "kernel addresses cannot be translated: %s is missing", missing);
                return r;
        }
        r = printk_read(v, k, emit, &s, why, why_len);
        if (r < 0 && !why[0])
                snprintf(why, why_len, "writing the log: %s", strerror(-r));
        return r < 0 ? r : s.records;
}
