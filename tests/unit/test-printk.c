/* lib/printk's walker and makedumpfile's line format, on the rings in the
 * printk fuzz corpus (made by hand: records with caller ids, an embedded
 * newline, bytes above 0x7f, a block that wraps). */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "cleanup.h"
#include "harness.h"
#include "io.h"
#include "printk-ring.h"

struct collected {
        char text[1024];
        size_t len;
        int records;
};

static int collect(const struct printk_record *r, void *userdata) {
        struct collected *c = userdata;

        c->len += printk_format(r, c->text + c->len, sizeof(c->text) - c->len);
        c->records++;
        return 0;
}

static void walk_seed(const char *name, struct collected *c) {
        static uint8_t buf[65536];
        char path[4096];
        _cleanup_close_ int fd = -1;
        struct printk_ring ring;
        ssize_t n;

        snprintf(path, sizeof(path), "%s/printk/%s", CORPUS_DIR, name);
        ASSERT_TRUE((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
        ASSERT_TRUE((n = read_full(fd, buf, sizeof(buf))) > 2);
        ASSERT_EQ_INT(packed_ring(buf, (size_t)n, &ring), 0);
        memset(c, 0, sizeof(*c));
        ASSERT_EQ_INT(printk_ring_walk(&packed_ring_layout, &ring, collect, c), 0);
}

TEST(format_as_makedumpfile) {
        struct collected c;

        walk_seed("three-records", &c);
        ASSERT_EQ_INT(c.records, 3);
        c.text[c.len] = 0;
        ASSERT_STREQ(c.text, "[    0.001000] [      T0] Linux version 6.1\n"
                             "[    0.002000] [      C1] line one\n"
                             "                          line two\n"
                             "[    0.003000] [      T7] bytes \\xffffffc3\\xffffffa9 \\x01\n");
}

TEST(wrapping_block_read_from_ring_start) {
        struct collected c;

        walk_seed("wrapping", &c);
        ASSERT_EQ_INT(c.records, 3);
        c.text[c.len] = 0;
        ASSERT_TRUE(strstr(c.text, "[      T3] wraps around the end\n") != NULL);
}

TEST(line_without_caller_id) {
        struct printk_record r = { .ts_nsec = 8843495123ull, .text = "hello", .text_len = 5 };
        char out[64];

        ASSERT_EQ_U64(printk_format(&r, out, sizeof(out)), strlen("[    8.843495] hello\n"));
        out[strlen("[    8.843495] hello\n")] = 0;
        ASSERT_STREQ(out, "[    8.843495] hello\n");
}
