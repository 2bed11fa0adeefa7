/* lib/printk's walker and makedumpfile's line format, on the rings in the
 * printk fuzz corpus (made by hand: records with caller ids, an embedded
 * newline, bytes above 0x7f, a block that wraps). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "cleanup.h"
#include "harness.h"
#include "io.h"
#include "logbuf.h"
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

/* A pre-5.10 log_buf whose oldest record sits near the end: after it, a
 * zero length sends the walk to index 0 (log_next() in kernel/printk). */
static int collect_text(const struct printk_record *r, void *userdata) {
        char *out = userdata;
        size_t at = strlen(out);

        snprintf(out + at, 256 - at, "%.*s|%llu|%u;", (int)r->text_len, r->text, (unsigned long long)r->ts_nsec,
                 r->caller_id);
        return 0;
}

static size_t put_record(uint8_t *at, uint64_t ts, const char *text, uint32_t caller) {
        size_t n = (24 + strlen(text) + 7) / 8 * 8;

        memset(at, 0, n);
        memcpy(at, &ts, 8);
        at[8] = (uint8_t)n;
        at[10] = (uint8_t)strlen(text);
        memcpy(at + 16, &caller, 4);
        memcpy(at + 24, text, strlen(text));
        return n;
}

TEST(logbuf_wraps) {
        static const struct logbuf_layout l = { .record_size = 24, .ts_nsec = 0, .len = 8, .text_len = 10, .caller_id = 16 };
        uint8_t buf[256] = { 0 };
        char out[256] = "";
        size_t second = put_record(buf, 7, "after", 2);

        put_record(buf + 200, 5, "before", 1);
        ASSERT_EQ_INT(logbuf_walk(&l, buf, sizeof(buf), 200, (uint32_t)second, collect_text, out), 0);
        ASSERT_STREQ(out, "before|5|1;after|7|2;");
        /* a record claiming to run past the buffer */
        buf[8] = 250;
        ASSERT_EQ_INT(logbuf_walk(&l, buf, sizeof(buf), 0, 8, collect_text, out), -EBADMSG);
}
