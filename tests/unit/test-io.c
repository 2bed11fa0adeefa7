/* lib/io: whole-buffer reads and writes, including short files and pipes. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "harness.h"
#include "io.h"

static int temp_file(void) {
        char path[256];
        int fd;

        snprintf(path, sizeof(path), "%s/f", harness_tmpdir());
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        return fd;
}

TEST(write_then_read_back) {
        _cleanup_close_ int fd = temp_file();
        uint8_t out[10000], in[10000];

        for (size_t i = 0; i < sizeof(out); i++)
                out[i] = (uint8_t)(i * 7);
        ASSERT_EQ_INT(write_full(fd, out, sizeof(out)), 0);
        ASSERT_EQ_INT(pread_exact(fd, in, sizeof(in), 0), 0);
        ASSERT_MEMEQ(in, out, sizeof(out));
        ASSERT_EQ_INT(pread_exact(fd, in, 100, 9950), -EIO); /* past the end */
        ASSERT_EQ_INT(pwrite_full(fd, "abc", 3, 20000), 0);
        ASSERT_EQ_INT(pread_exact(fd, in, 3, 20000), 0);
        ASSERT_MEMEQ(in, "abc", 3);
}

TEST(read_full_stops_at_eof) {
        _cleanup_close_ int fd = temp_file();
        char buf[64];

        ASSERT_EQ_INT(write_full(fd, "hello", 5), 0);
        ASSERT_EQ_INT(lseek(fd, 0, SEEK_SET), 0);
        ASSERT_EQ_INT(read_full(fd, buf, sizeof(buf)), 5);
        ASSERT_EQ_INT(read_full(fd, buf, sizeof(buf)), 0);
}

/* A pipe delivers a large write in pieces; read_full must gather them. */
TEST(read_full_gathers_a_pipe) {
        int p[2];
        static uint8_t big[1 << 20], got[1 << 20];
        pid_t pid;
        int status;

        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (uint8_t)(i ^ (i >> 8));
        ASSERT_EQ_INT(pipe(p), 0);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                _exit(write_full(p[1], big, sizeof(big)) == 0 ? 0 : 1);
        }
        close(p[1]);
        ASSERT_EQ_INT(read_full(p[0], got, sizeof(got)), (intmax_t)sizeof(got));
        close(p[0]);
        ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
        ASSERT_EQ_INT(WEXITSTATUS(status), 0);
        ASSERT_MEMEQ(got, big, sizeof(big));
}

TEST(write_to_a_closed_pipe_is_an_error) {
        int p[2];

        ASSERT_EQ_INT(pipe2(p, O_CLOEXEC), 0);
        close(p[0]);
        signal(SIGPIPE, SIG_IGN);
        ASSERT_EQ_INT(write_full(p[1], "x", 1), -EPIPE);
        close(p[1]);
}

TEST(full_disk_reports_enospc) {
        _cleanup_close_ int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);

        if (fd < 0)
                SKIP("/dev/full is not available");
        ASSERT_EQ_INT(write_full(fd, "x", 1), -ENOSPC);
}
