/* lib/directio: whatever the offsets and lengths of the writes, the file
 * ends up holding exactly the bytes written, last write wins, and nothing
 * past the highest byte. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "directio.h"
#include "harness.h"
#include "io.h"

#define FILE_MAX (8u << 20)

DEFINE_CLEANUP_FUNC(struct direct_writer, direct_writer_free);

static uint8_t want[FILE_MAX], got[FILE_MAX], chunk[FILE_MAX];

static int open_scratch(const char *name) {
        char path[4096];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", harness_tmpdir(), name);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        return fd;
}

static struct direct_writer *writer(int fd) {
        struct direct_writer *w = NULL;
        int r = direct_writer_new(fd, &w);

        if (r == -EOPNOTSUPP)
                SKIP("the file system of the scratch directory takes no O_DIRECT");
        ASSERT_EQ_INT(r, 0);
        return w;
}

static void put(struct direct_writer *w, uint64_t offset, size_t len, uint64_t *high) {
        for (size_t i = 0; i < len; i++)
                chunk[i] = (uint8_t)rand();
        memcpy(want + offset, chunk, len);
        ASSERT_EQ_INT(direct_writer_write(w, chunk, len, offset), 0);
        if (offset + len > *high)
                *high = offset + len;
}

static void check_file(int fd, uint64_t high) {
        struct stat st;

        ASSERT_EQ_INT(fstat(fd, &st), 0);
        ASSERT_EQ_U64((uint64_t)st.st_size, high);
        /* Read through the page cache: a reader does not use O_DIRECT. */
        {
                char path[64];
                _cleanup_close_ int rfd = -1;

                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                rfd = open(path, O_RDONLY | O_CLOEXEC);
                ASSERT_TRUE(rfd >= 0);
                ASSERT_EQ_INT(read_full(rfd, got, high), (ssize_t)high);
        }
        for (uint64_t i = 0; i < high; i++)
                if (got[i] != want[i])
                        harness_fail(__FILE__, __LINE__, "byte %llu is 0x%02x, written 0x%02x", (unsigned long long)i,
                                     got[i], want[i]);
}

/* The kdump writer's pattern: a header, a rewrite of it, two streams that
 * meet in one block (descriptors up to an odd offset, data from there),
 * written in turns. */
TEST(two_streams_meeting_in_a_block) {
        _cleanup_close_ int fd = open_scratch("streams");
        _cleanup_(direct_writer_freep) struct direct_writer *w = writer(fd);
        uint64_t high = 0, desc = 3 * 4096, desc_end = desc + 24 * 5000, data = desc_end;

        srand(1);
        memset(want, 0, sizeof(want));
        put(w, 0, 464, &high);
        put(w, 4096, 700, &high);
        while (desc < desc_end) {
                for (int k = 0; k < 40; k++) {
                        size_t n = 1 + (size_t)rand() % 8000;

                        put(w, data, n, &high);
                        data += n;
                }
                size_t n = desc_end - desc < 24 * 700 ? desc_end - desc : 24 * 700;
                put(w, desc, n, &high);
                desc += n;
        }
        put(w, 0, 8, &high);    /* the header again */
        ASSERT_EQ_INT(direct_writer_finish(w), 0);
        check_file(fd, high);
}

/* Writes anywhere, of any length, overlapping earlier ones. */
TEST(random_writes) {
        _cleanup_close_ int fd = open_scratch("random");
        _cleanup_(direct_writer_freep) struct direct_writer *w = writer(fd);
        uint64_t high = 0;

        srand(2);
        memset(want, 0, sizeof(want));
        for (int i = 0; i < 3000; i++) {
                size_t len = 1 + (size_t)rand() % (rand() % 8 ? 5000 : 300000);
                uint64_t offset = (uint64_t)rand() % (FILE_MAX - len);

                /* Half continue the last write, as streams do. */
                if (i % 2 && high + len < FILE_MAX)
                        offset = high;
                put(w, offset, len, &high);
        }
        ASSERT_EQ_INT(direct_writer_finish(w), 0);
        check_file(fd, high);
}

/* What is still gathered at free is written too (a dump that stops on a
 * bad input page still keeps its pages). */
TEST(free_writes_what_is_gathered) {
        _cleanup_close_ int fd = open_scratch("free");
        struct direct_writer *w = writer(fd);
        uint64_t high = 0;

        srand(3);
        memset(want, 0, sizeof(want));
        put(w, 100, 5000, &high);
        put(w, 5100, 77, &high);
        direct_writer_free(w);
        check_file(fd, high);
}
