/* The crash lab's guest workload: fills memory with known kinds of pages and
 * prints a manifest of what it made, so that page filtering can be checked
 * against numbers the lab knows rather than numbers it guesses.
 *
 * Every page it makes (except the zero pages) starts with a 16-byte tag:
 * an 8-byte kind magic ("KDLABANO", "KDLABTMP"; the host writes "KDLABFIL"
 * into the file-cache data) and the little-endian page index. A test can
 * count the tagged pages of each kind in a vmcore without knowing their pfns.
 *
 * It runs as a child of the first-stage /init inside the lab guest:
 *   workload --anon-mb N --zero-mb N --tmpfs-mb N --tmpfs-dir DIR
 *            [--file-cache PATH]
 * The anonymous and zero pages stay held by a child process ("kdlab-holder")
 * that lives until the crash. The manifest goes to stdout between the lines
 * KDLAB-MANIFEST-BEGIN and KDLAB-MANIFEST-END, as key=value lines. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE_SIZE_LAB 4096u
#define TAG_SIZE 16u
/* The guest has a few GiB at most; a larger request is a typo. */
#define MAX_MB 65536ul

struct options {
        unsigned long anon_mb;
        unsigned long zero_mb;
        unsigned long tmpfs_mb;
        const char *tmpfs_dir;
        const char *file_cache;
};

struct counts {
        uint64_t anon_pages;
        uint64_t zero_pages;
        uint64_t tmpfs_pages;
        uint64_t file_pages;
};

static uint64_t xorshift64(uint64_t *state) {
        uint64_t x = *state;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        return x;
}

/* A tagged page: magic, index, then incompressible filler seeded by both,
 * so that pages neither compress to nothing nor repeat one another. */
static void fill_page(uint8_t *page, const char magic[8], uint64_t index) {
        uint64_t state = index * 0x9E3779B97F4A7C15ull ^ 0x4B444C4142ull;

        memcpy(page, magic, 8);
        for (unsigned i = 0; i < 8; i++)
                page[8 + i] = (uint8_t)(index >> (8 * i));
        for (size_t off = TAG_SIZE; off < PAGE_SIZE_LAB; off += 8) {
                uint64_t v = xorshift64(&state) | 1;
                memcpy(page + off, &v, 8);
        }
}

static void *map_anon(size_t bytes) {
        void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        return p == MAP_FAILED ? NULL : p;
}

/* Runs in the holder child: makes anonymous data and zero-filled anonymous
 * pages, tells the parent it is done, and waits for the crash. */
static void hold_anonymous(const struct options *o, int done_fd) {
        size_t anon = o->anon_mb << 20, zero = o->zero_mb << 20;
        uint8_t *a = anon ? map_anon(anon) : NULL;
        volatile uint8_t *z = zero ? map_anon(zero) : NULL;

        prctl(PR_SET_NAME, "kdlab-holder", 0, 0, 0);
        if ((anon && !a) || (zero && !z)) {
                fprintf(stderr, "workload: mmap: %s\n", strerror(errno));
                _exit(1);
        }
        for (size_t off = 0; off < anon; off += PAGE_SIZE_LAB)
                fill_page(a + off, "KDLABANO", off / PAGE_SIZE_LAB);
        /* A write fault allocates a private zeroed page; a read would only
         * map the shared zero page, which is not what we want to count. */
        for (size_t off = 0; off < zero; off += PAGE_SIZE_LAB)
                z[off] = 0;
        if (write(done_fd, "k", 1) != 1)
                _exit(1);
        close(done_fd);
        for (;;)
                pause();
}

static int start_holder(const struct options *o) {
        int p[2];
        char c;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                close(p[0]);
                hold_anonymous(o, p[1]);
        }
        close(p[1]);
        if (read(p[0], &c, 1) != 1) {
                close(p[0]);
                return -EIO;
        }
        close(p[0]);
        return 0;
}

static int write_full(int fd, const void *buf, size_t len) {
        const uint8_t *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static int fill_tmpfs(const struct options *o, uint64_t *ret_pages) {
        char path[4096];
        uint8_t page[PAGE_SIZE_LAB];
        uint64_t pages = (o->tmpfs_mb << 20) / PAGE_SIZE_LAB;
        int fd, r = 0;

        snprintf(path, sizeof(path), "%s/kdlab-tmpfs.dat", o->tmpfs_dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        for (uint64_t i = 0; i < pages && r == 0; i++) {
                fill_page(page, "KDLABTMP", i);
                r = write_full(fd, page, sizeof(page));
        }
        close(fd);
        if (r == 0)
                *ret_pages = pages;
        return r;
}

static int read_file_cache(const char *path, uint64_t *ret_pages) {
        uint8_t buf[1 << 16];
        uint64_t bytes = 0;
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                bytes += (uint64_t)n;
        close(fd);
        if (n < 0)
                return -errno;
        *ret_pages = bytes / PAGE_SIZE_LAB;
        return 0;
}

/* Copies the /proc/meminfo lines the checks use into the manifest. */
static void print_meminfo(void) {
        static const char *const keys[] = { "MemTotal:", "MemFree:", "Cached:", "Shmem:", "AnonPages:", NULL };
        char line[256];
        FILE *f = fopen("/proc/meminfo", "re");

        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                for (unsigned i = 0; keys[i]; i++) {
                        unsigned long long kb;
                        size_t k = strlen(keys[i]);

                        if (strncmp(line, keys[i], k) == 0 && sscanf(line + k, "%llu", &kb) == 1)
                                printf("meminfo_%.*s_kb=%llu\n", (int)(k - 1), keys[i], kb);
                }
        }
        fclose(f);
}

static void print_manifest(const struct counts *c) {
        printf("KDLAB-MANIFEST-BEGIN\n");
        printf("page_size=%u\n", PAGE_SIZE_LAB);
        printf("anon_pages=%" PRIu64 "\n", c->anon_pages);
        printf("zero_pages=%" PRIu64 "\n", c->zero_pages);
        printf("tmpfs_pages=%" PRIu64 "\n", c->tmpfs_pages);
        printf("file_pages=%" PRIu64 "\n", c->file_pages);
        print_meminfo();
        printf("KDLAB-MANIFEST-END\n");
        fflush(stdout);
}

static int parse_mb(const char *s, unsigned long *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v > MAX_MB)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* --eat-memory: touch anonymous memory until the OOM killer comes, which
 * with vm.panic_on_oom=1 panics the kernel. Never returns. */
static _Noreturn void eat_memory(void) {
        const size_t chunk = 4u << 20;

        for (;;) {
                char *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

                if (p == MAP_FAILED) {
                        sleep(1);
                        continue;
                }
                for (size_t i = 0; i < chunk; i += PAGE_SIZE_LAB)
                        p[i] = 1;
        }
}

static int parse_args(int argc, char **argv, struct options *o) {
        static const struct option longopts[] = {
                { "anon-mb", required_argument, NULL, 'a' },
                { "zero-mb", required_argument, NULL, 'z' },
                { "tmpfs-mb", required_argument, NULL, 't' },
                { "tmpfs-dir", required_argument, NULL, 'd' },
                { "file-cache", required_argument, NULL, 'f' },
                { "eat-memory", no_argument, NULL, 'e' },
                {}
        };
        int c, r = 0;

        while ((c = getopt_long(argc, argv, "", longopts, NULL)) >= 0 && r == 0) {
                switch (c) {
                case 'a': r = parse_mb(optarg, &o->anon_mb); break;
                case 'z': r = parse_mb(optarg, &o->zero_mb); break;
                case 't': r = parse_mb(optarg, &o->tmpfs_mb); break;
                case 'd': o->tmpfs_dir = optarg; break;
                case 'f': o->file_cache = optarg; break;
                case 'e': eat_memory();
                default: r = -EINVAL;
                }
        }
        if (r == 0 && (optind != argc || (o->tmpfs_mb && !o->tmpfs_dir)))
                r = -EINVAL;
        return r;
}

int main(int argc, char **argv) {
        struct options o = {};
        struct counts c = {};
        int r;

        if (parse_args(argc, argv, &o) < 0) {
                fprintf(stderr, "usage: workload --anon-mb N --zero-mb N --tmpfs-mb N --tmpfs-dir DIR [--file-cache PATH]\n"
                                "       workload --eat-memory\n");
                return 2;
        }
        r = start_holder(&o);
        if (r < 0) {
                fprintf(stderr, "workload: holder: %s\n", strerror(-r));
                return 1;
        }
        c.anon_pages = (o.anon_mb << 20) / PAGE_SIZE_LAB;
        c.zero_pages = (o.zero_mb << 20) / PAGE_SIZE_LAB;
        if (o.tmpfs_mb && (r = fill_tmpfs(&o, &c.tmpfs_pages)) < 0) {
                fprintf(stderr, "workload: tmpfs: %s\n", strerror(-r));
                return 1;
        }
        if (o.file_cache && (r = read_file_cache(o.file_cache, &c.file_pages)) < 0) {
                fprintf(stderr, "workload: %s: %s\n", o.file_cache, strerror(-r));
                return 1;
        }
        print_manifest(&c);
        return 0;
}
