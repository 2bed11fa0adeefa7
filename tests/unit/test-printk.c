/* lib/printk's walker and makedumpfile's line format, on the rings in the
 * printk fuzz corpus (made by hand: records with caller ids, an embedded
 * newline, bytes above 0x7f, a block that wraps). */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "cleanup.h"
#include "harness.h"
#include "io.h"
#include "printk.h"

static const struct printk_layout layout = {
        .prb_size = 88, .desc_ring = 0, .text_data_ring = 48,
        .count_bits = 0, .descs = 8, .infos = 16, .head_id = 24, .tail_id = 32,
        .desc_size = 24, .state_var = 0, .text_blk_lpos = 8, .lpos_begin = 0, .lpos_next = 8,
        .info_size = 88, .seq = 0, .ts_nsec = 8, .text_len = 16, .caller_id = 20,
        .size_bits = 0, .data = 8, .counter = 0,
};

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
        ring.desc_count = 1ull << buf[0];
        ring.text_size = 1ull << buf[1];
        ring.prb = buf + 2;
        ring.descs = ring.prb + 88;
        ring.infos = ring.descs + ring.desc_count * 24;
        ring.text = ring.infos + ring.desc_count * 88;
        memset(c, 0, sizeof(*c));
        ASSERT_EQ_INT(printk_ring_walk(&layout, &ring, collect, c), 0);
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
