/* A lab capture program for mode (b): copies the head of /proc/vmcore (the
 * ELF header, program headers and the PT_NOTE segment, with the CPU notes
 * and VMCOREINFO) to a disk or over TCP to the host. It proves that a static
 * program of ours runs in the capture kernel and reaches both kinds of
 * target; the host checks what arrives.
 *   vmcore-probe [--vmcore PATH] (--out FILE | --tcp A.B.C.D:PORT) */
#include <arpa/inet.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "io.h"

/* /proc/vmcore's headers and notes fit easily; more means a broken core. */
#define PROBE_HEAD_MAX (16u << 20)
#define PROBE_PHNUM_MAX 4096u

static int head_size(int fd, size_t *ret) {
        Elf64_Ehdr eh;
        uint64_t end;

        if (pread_exact(fd, &eh, sizeof(eh), 0) < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
            eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
            eh.e_phnum > PROBE_PHNUM_MAX)
                return -EINVAL;
        end = eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);
        for (unsigned i = 0; i < eh.e_phnum; i++) {
                Elf64_Phdr ph;

                if (pread_exact(fd, &ph, sizeof(ph), eh.e_phoff + i * sizeof(ph)) < 0)
                        return -EIO;
                if (ph.p_type == PT_NOTE && ph.p_offset + ph.p_filesz > end)
                        end = ph.p_offset + ph.p_filesz;
        }
        if (end > PROBE_HEAD_MAX)
                return -EFBIG;
        *ret = (size_t)end;
        return 0;
}

static int open_tcp(const char *spec) {
        char host[64];
        const char *colon = strrchr(spec, ':');
        struct sockaddr_in sa = { .sin_family = AF_INET };
        int fd;

        if (!colon || (size_t)(colon - spec) >= sizeof(host))
                return -EINVAL;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = 0;
        sa.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
                return -EINVAL;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int main(int argc, char **argv) {
        const char *vmcore = "/proc/vmcore", *out = NULL, *tcp = NULL;
        _cleanup_close_ int in = -1, dst = -1;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0;
        int c, r;

        while ((c = getopt_long(argc, argv, "", (const struct option[]){
                        { "vmcore", required_argument, NULL, 'v' },
                        { "out", required_argument, NULL, 'o' },
                        { "tcp", required_argument, NULL, 't' }, {} }, NULL)) >= 0) {
                if (c == 'v') vmcore = optarg;
                else if (c == 'o') out = optarg;
                else if (c == 't') tcp = optarg;
                else return 2;
        }
        if (!out == !tcp) {
                fprintf(stderr, "usage: vmcore-probe [--vmcore PATH] (--out FILE | --tcp ADDR:PORT)\n");
                return 2;
        }
        in = open(vmcore, O_RDONLY | O_CLOEXEC);
        if (in < 0 || (r = head_size(in, &len)) < 0 || !(buf = malloc(len)) ||
            (r = pread_exact(in, buf, len, 0)) < 0) {
                fprintf(stderr, "vmcore-probe: %s: cannot read an ELF core head\n", vmcore);
                return 1;
        }
        dst = out ? open(out, O_WRONLY | O_CLOEXEC) : open_tcp(tcp);
        if (dst < 0 || (r = write_full(dst, buf, len)) < 0 || (out && fsync(dst) < 0)) {
                fprintf(stderr, "vmcore-probe: %s: %s\n", out ? out : tcp, strerror(dst < 0 ? -dst : -r));
                return 1;
        }
        printf("vmcore-probe: sent %zu bytes to %s\n", len, out ? out : tcp);
        return 0;
}
