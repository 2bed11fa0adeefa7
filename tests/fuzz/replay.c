/* Feeds every file under the given paths to LLVMFuzzerTestOneInput, the way
 * libFuzzer would replay a corpus. Prints "N passed, 0 failed": a crash or a
 * sanitizer report ends the run instead. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "io.h"

/* Corpus files are small; a larger one is a mistake. */
#define REPLAY_FILE_MAX (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        ssize_t n;

        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t)st.st_size > REPLAY_FILE_MAX)
                return -EFBIG;
        /* An exact-size heap copy, so ASan sees any read past the input. */
        buf = malloc(st.st_size ? (size_t)st.st_size : 1);
        if (!buf)
                return -ENOMEM;
        n = read_full(fd, buf, (size_t)st.st_size);
        if (n < 0)
                return (int)n;
        LLVMFuzzerTestOneInput(buf, (size_t)n);
        return 0;
}

static int replay_path(const char *path, unsigned *count) {
        struct stat st;
        DIR *d;
        struct dirent *e;
        int r = 0;

        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode)) {
                r = replay_file(path);
                if (r == 0)
                        (*count)++;
                return r;
        }
        d = opendir(path);
        if (!d)
                return -errno;
        while (r == 0 && (e = readdir(d))) {
                char sub[4096];

                if (e->d_name[0] == '.')
                        continue;
                snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
                r = replay_path(sub, count);
        }
        closedir(d);
        return r;
}

int main(int argc, char **argv) {
        unsigned count = 0;

        for (int i = 1; i < argc; i++) {
                int r = replay_path(argv[i], &count);
                if (r < 0) {
                        fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(-r));
                        return 1;
                }
        }
        if (count == 0) {
                fprintf(stderr, "replay: no corpus files found\n");
                return 1;
        }
        printf("%u passed, 0 failed\n", count);
        return 0;
}
