/* lib/vmcoreinfo and lib/elfcore on the notes of a real 6.1 vmcore (the
 * fuzz seed corpus, taken from the crash lab) and on hand-made damage. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "cleanup.h"
#include "elfcore.h"
#include "harness.h"
#include "io.h"
#include "vmcoreinfo.h"

static size_t load(const char *name, uint8_t *buf, size_t cap) {
        char path[4096];
        _cleanup_close_ int fd = -1;
        ssize_t n;

        snprintf(path, sizeof(path), "%s/%s", CORPUS_DIR, name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        n = read_full(fd, buf, cap);
        ASSERT_TRUE(n > 0);
        return (size_t)n;
}

static struct vmcoreinfo *parse_text(const char *s) {
        struct vmcoreinfo *vi = NULL;

        ASSERT_EQ_INT(vmcoreinfo_parse((const uint8_t *)s, strlen(s), &vi, NULL), 0);
        return vi;
}

TEST(real_vmcoreinfo_of_6_1) {
        static uint8_t buf[65536];
        size_t n = load("vmcoreinfo/bookworm-6.1", buf, sizeof(buf));
        struct vmcoreinfo *vi = NULL;
        uint64_t sym = 0;
        int64_t v = 0;

        ASSERT_EQ_INT(vmcoreinfo_parse(buf, n, &vi, NULL), 0);
        ASSERT_STREQ(vmcoreinfo_get(vi, "OSRELEASE"), "6.1.0-56-cloud-amd64");
        ASSERT_EQ_INT(vmcoreinfo_decimal(vi, "PAGESIZE", &v), 0);
        ASSERT_EQ_INT(v, 4096);
        ASSERT_EQ_INT(vmcoreinfo_symbol(vi, "init_uts_ns", &sym), 0);
        ASSERT_TRUE(sym >= 0xffffffff80000000ull);
        ASSERT_EQ_INT(vmcoreinfo_number(vi, "SIZE", "page", &v), 0);
        ASSERT_EQ_INT(v, 64);
        /* 6.1 still has the -128-style mapcount values (before 6.12's PGTY_ << 24). */
        ASSERT_EQ_INT(vmcoreinfo_number(vi, "NUMBER", "PAGE_BUDDY_MAPCOUNT_VALUE", &v), 0);
        ASSERT_EQ_INT(v, -129);
        ASSERT_EQ_INT(vmcoreinfo_number(vi, "OFFSET", "no.such", &v), -ENOENT);
        vmcoreinfo_free(vi);
}

TEST(numbers_decimal_hex_negative) {
        struct vmcoreinfo *vi = parse_text("NUMBER(a)=-128\nNUMBER(b)=0x10\nNUMBER(c)=1f\nSYMBOL(d)=zz\nLENGTH(e)=\n");
        int64_t v = 0;
        uint64_t u = 0;

        ASSERT_EQ_INT(vmcoreinfo_number(vi, "NUMBER", "a", &v), 0);
        ASSERT_EQ_INT(v, -128);
        ASSERT_EQ_INT(vmcoreinfo_number(vi, "NUMBER", "b", &v), 0);
        ASSERT_EQ_INT(v, 16);
        /* decimal leaves trailing characters, so it is read as hex, as makedumpfile does */
        ASSERT_EQ_INT(vmcoreinfo_number(vi, "NUMBER", "c", &v), 0);
        ASSERT_EQ_INT(v, 31);
        ASSERT_EQ_INT(vmcoreinfo_symbol(vi, "d", &u), -EBADMSG);
        ASSERT_EQ_INT(vmcoreinfo_number(vi, "LENGTH", "e", &v), -EBADMSG);
        vmcoreinfo_free(vi);
}

TEST(damage_is_named_by_line) {
        static const char text[] = "OSRELEASE=6.1\nPAGESIZE=4096\n\x01\x02garbage\n";
        struct vmcoreinfo *vi = NULL;
        unsigned line = 0;

        ASSERT_EQ_INT(vmcoreinfo_parse((const uint8_t *)text, sizeof(text) - 1, &vi, &line), -EBADMSG);
        ASSERT_EQ_INT(line, 3);
        ASSERT_EQ_INT(vmcoreinfo_parse((const uint8_t *)"A=1\nnoequals\n", 13, &vi, &line), -EBADMSG);
        ASSERT_EQ_INT(line, 2);
        ASSERT_TRUE(vi == NULL);
}

TEST(nul_padding_allowed_nul_inside_not) {
        struct vmcoreinfo *vi = NULL;

        ASSERT_EQ_INT(vmcoreinfo_parse((const uint8_t *)"A=1\n\0\0\0", 7, &vi, NULL), 0);
        ASSERT_STREQ(vmcoreinfo_get(vi, "A"), "1");
        vmcoreinfo_free(vi);
        vi = NULL;
        ASSERT_EQ_INT(vmcoreinfo_parse((const uint8_t *)"A=1\0B=2\n", 8, &vi, NULL), -EBADMSG);
}

TEST(real_notes_of_6_1) {
        static uint8_t buf[65536];
        size_t n = load("elfcore-notes/bookworm-6.1", buf, sizeof(buf));
        struct elfcore_notes_info info;

        ASSERT_EQ_INT(elfcore_notes_info(buf, n, &info), 0);
        ASSERT_EQ_INT(info.n_prstatus, 2); /* the lab guest has 2 CPUs */
        ASSERT_TRUE(info.has_vmcoreinfo);
        ASSERT_TRUE(memcmp(buf + info.vmcoreinfo_offset, "OSRELEASE=", 10) == 0);
        /* Cut inside the first note: malformed, never a read past the end. */
        ASSERT_EQ_INT(elfcore_notes_info(buf, 40, &info), -EBADMSG);
}

TEST(real_headers_of_6_1) {
        static uint8_t buf[65536];
        size_t n = load("elfcore-headers/bookworm-6.1", buf, sizeof(buf));
        struct elfcore_headers h;

        ASSERT_EQ_INT(elfcore_headers_size(buf, n), (intmax_t)n);
        ASSERT_EQ_INT(elfcore_parse_headers(buf, n, &h), 0);
        ASSERT_EQ_INT(h.machine, 62);
        ASSERT_TRUE(h.n_loads >= 2);
        ASSERT_TRUE(h.note_size > 0);
        elfcore_headers_done(&h);
        ASSERT_EQ_INT(elfcore_parse_headers(buf, n - 1, &h), -EBADMSG);
        ASSERT_EQ_INT(elfcore_headers_size((const uint8_t *)"KDUMP   ", 8), -ENOEXEC);
        buf[4] = 1; /* ELFCLASS32 */
        ASSERT_EQ_INT(elfcore_headers_size(buf, n), -EPROTONOSUPPORT);
}
