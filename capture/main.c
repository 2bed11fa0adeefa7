/* dumptool: saves a vmcore as a kdump-compressed dump. Its options follow
 * makedumpfile's where they overlap, so that kdump-utils and Debian's
 * kdump-tools can call it in makedumpfile's place:
 *   dumptool [-c|-l|-z] [-d LEVEL] [-f] [--message-level N] VMCORE DUMPFILE
 *   dumptool -F [-c|-l|-z] [-d LEVEL] VMCORE > STREAM */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "crashreport.h"
#include "dmesg.h"
#include "info.h"
#include "dumper.h"
#include "elflayout.h"
#include "flattened.h"
#include "io.h"
#include "caps.h"
#include "kdumpfile.h"
#include "nettarget.h"
#include "output.h"
#include "vmcore.h"

/* makedumpfile's exit codes (makedumpfile.h): COMPLETED 0, FAILED 1. */
#define EXIT_COMPLETED 0
#define EXIT_FAILED 1
#define PATH_CAP 4096

struct args {
        struct dump_options dump;
        bool flattened;
        bool rebuild;
        bool elf;
        bool dmesg;             /* --dump-dmesg VMCORE FILE, or dmesg VMCORE (to stdout) */
        bool info;              /* info VMCORE [--json] */
        bool json;
        bool force;
        bool progress;
        const char *vmcore;
        const char *dumpfile;
        int flat_fd;            /* where -F writes: stdout */
        struct stream_ring *flat_ring; /* or, in the udp:// producer, the ring the sender reads */
        const char *secret;     /* --secret FILE, for udp:// */
        unsigned net_timeout;   /* --net-timeout S */
        size_t net_buffer;      /* --net-buffer BYTES */
        unsigned net_mtu;       /* --mtu BYTES; 0: the route's */
        struct net_read_progress *read_progress; /* in the udp:// producer: progress goes to the sender */
};

struct progress {
        struct timespec start;
        struct timespec last;
        uint32_t page_size;
};

DEFINE_CLEANUP_FUNC(struct vmcore, vmcore_free);
DEFINE_CLEANUP_FUNC(struct output, output_free);
DEFINE_CLEANUP_FUNC(struct pagefilter, pagefilter_free);
DEFINE_CLEANUP_FUNC(struct crash_report, crash_report_free);

/* makedumpfile's --message-level bits (makedumpfile.h ML_PRINT_*). */
#define MSG_PROGRESS 0x01
#define MSG_COMMON 0x02
#define MSG_ERROR 0x04
#define MSG_DEBUG 0x08
#define MSG_REPORT 0x10
#define MSG_DEFAULT (MSG_PROGRESS | MSG_COMMON | MSG_ERROR)

/* The one piece of global state: how much to say, from --message-level. */
static int message_level = MSG_DEFAULT;

static void say(int kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int kind, const char *fmt, ...) {
        va_list ap;

        if (!(message_level & kind))
                return;
        fputs("dumptool: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

#define fail(...) say(MSG_ERROR, __VA_ARGS__)
#define warn(...) say(MSG_COMMON, __VA_ARGS__)

static void usage(FILE *f) {
        fprintf(f, "usage: dumptool [-c|-l|-z|-E] [-d LEVEL] [-f] [--message-level N] [--progress] VMCORE DUMPFILE\n"
                   "       dumptool -F [-c|-l|-z] [-d LEVEL] VMCORE > STREAM\n"
                   "       dumptool [-c|-l|-z] [-d LEVEL] --secret KEYFILE [--net-timeout S] [--net-buffer MIB] [--mtu BYTES]\n"
                   "                VMCORE udp://HOST[:PORT]\n"
                   "       dumptool -R DUMPFILE < STREAM\n"
                   "       dumptool --dump-dmesg VMCORE LOGFILE | dumptool dmesg VMCORE\n"
                   "       dumptool info [--json] VMCORE\n"
                   "See dumptool(8).\n");
}

static int parse_number(const char *s, long min, long max, long *ret) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* "dumptool dmesg VMCORE": the log to stdout; "dumptool info [--json]
 * VMCORE": the report. */
static int parse_subcommand(int argc, char **argv, struct args *a) {
        bool info = strcmp(argv[1], "info") == 0;
        int at = 2;

        if (info && argc > at && strcmp(argv[at], "--json") == 0)
                a->json = true, at++;
        if (argc != at + 1) {
                usage(stderr);
                return -EINVAL;
        }
        a->dmesg = !info;
        a->info = info;
        a->vmcore = argv[at];
        return 0;
}

static bool is_subcommand(int argc, char **argv) {
        return argc > 1 && (strcmp(argv[1], "dmesg") == 0 || strcmp(argv[1], "info") == 0);
}

static bool is_network(const struct args *a) {
        return a->dumpfile && strncmp(a->dumpfile, "udp://", 6) == 0;
}

static int parse_args(int argc, char **argv, struct args *a) {
        static const struct option longopts[] = {
                { "message-level", required_argument, NULL, 'm' },
                { "num-threads", required_argument, NULL, 't' },
                { "dump-dmesg", no_argument, NULL, 'D' },
                { "progress", no_argument, NULL, 'p' },
                { "secret", required_argument, NULL, 'S' },
                { "net-timeout", required_argument, NULL, 'T' },
                { "net-buffer", required_argument, NULL, 'B' },
                { "mtu", required_argument, NULL, 'M' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        long n;
        int c;

        while ((c = getopt_long(argc, argv, "cld:zEFRfh", longopts, NULL)) >= 0) {
                switch (c) {
                case 'c': a->dump.codec = CODEC_ZLIB; break;
                case 'l': a->dump.codec = CODEC_LZO; break;
                case 'z': a->dump.codec = CODEC_ZSTD; break;
                case 'F': a->flattened = true; break;
                case 'R': a->rebuild = true; break;
                case 'E': a->elf = true; break;
                case 'f': a->force = true; break;
                case 'p': a->progress = true; break;
                case 'D': a->dmesg = true; break;
                case 'm':
                        if (parse_number(optarg, 0, 31, &n) < 0) {
                                fail("--message-level %s: a number from 0 to 31", optarg);
                                return -EINVAL;
                        }
                        message_level = (int)n;
                        break;
                case 't':
                        if (parse_number(optarg, 0, DUMP_THREADS_MAX, &n) < 0) {
                                fail("--num-threads %s: a number from 0 to %u", optarg, DUMP_THREADS_MAX);
                                return -EINVAL;
                        }
                        a->dump.threads = n ? (unsigned)n : 1;
                        break;
                case 'd':
                        if (parse_number(optarg, 0, DUMP_LEVEL_MAX, &n) < 0) {
                                fail("-d %s: the dump level is a number from 0 to 31", optarg);
                                return -EINVAL;
                        }
                        a->dump.dump_level = (int)n;
                        break;
                case 'S': a->secret = optarg; break;
                case 'T':
                        if (parse_number(optarg, 1, NET_TIMEOUT_MAX, &n) < 0) {
                                fail("--net-timeout %s: seconds, from 1 to %u", optarg, NET_TIMEOUT_MAX);
                                return -EINVAL;
                        }
                        a->net_timeout = (unsigned)n;
                        break;
                case 'B':
                        if (parse_number(optarg, NET_BUFFER_MIN >> 20, NET_BUFFER_MAX >> 20, &n) < 0) {
                                fail("--net-buffer %s: MiB, from %u to %u", optarg, NET_BUFFER_MIN >> 20, NET_BUFFER_MAX >> 20);
                                return -EINVAL;
                        }
                        a->net_buffer = (size_t)n << 20;
                        break;
                case 'M':
                        if (parse_number(optarg, NET_MTU_MIN, NET_MTU_MAX, &n) < 0) {
                                fail("--mtu %s: bytes, from %u to %u", optarg, NET_MTU_MIN, NET_MTU_MAX);
                                return -EINVAL;
                        }
                        a->net_mtu = (unsigned)n;
                        break;
                case 'h': usage(stdout); exit(EXIT_COMPLETED);
                default: usage(stderr); return -EINVAL;
                }
        }
        if (a->rebuild && a->flattened) {
                fail("-R reads a flattened stream; it cannot also write one (-F)");
                return -EINVAL;
        }
        if (a->dmesg && (a->flattened || a->rebuild || a->elf)) {
                fail("--dump-dmesg writes the kernel log only; it takes no -F, -R or -E");
                return -EINVAL;
        }
        if (argc - optind != (a->flattened || a->rebuild ? 1 : 2)) {
                usage(stderr);
                return -EINVAL;
        }
        a->vmcore = a->rebuild ? NULL : argv[optind];
        a->dumpfile = a->flattened ? NULL : argv[optind + (a->rebuild ? 0 : 1)];
        if (is_network(a) && (a->rebuild || a->elf || a->dmesg)) {
                fail("%s: a network target takes a kdump-compressed dump; no -R, -E or --dump-dmesg", a->dumpfile);
                return -EINVAL;
        }
        if (is_network(a) && !a->secret) {
                fail("%s: --secret FILE is required; there is no unauthenticated mode", a->dumpfile);
                return -EINVAL;
        }
        return 0;
}

static double seconds_since(const struct timespec *t) {
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* At most one line a second: percent, MB/s of pages read, ETA. */
static void show_progress(uint64_t done, uint64_t total, void *userdata) {
        struct progress *p = userdata;
        double elapsed = seconds_since(&p->start), rate;

        if (done < total && seconds_since(&p->last) < 1.0)
                return;
        clock_gettime(CLOCK_MONOTONIC, &p->last);
        rate = elapsed > 0 ? (double)done * p->page_size / elapsed / 1e6 : 0;
        fprintf(stderr, "\rdumptool: [%5.1f%%] %7.1f MB/s  ETA %4.0fs ", total ? 100.0 * (double)done / (double)total : 100.0,
                rate, done && done < total ? elapsed * (double)(total - done) / (double)done : 0.0);
        if (done == total)
                fputc('\n', stderr);
}

static void share_progress(uint64_t done, uint64_t total, void *userdata) {
        struct net_read_progress *p = userdata;

        __atomic_store_n(&p->total, total, __ATOMIC_RELAXED);
        __atomic_store_n(&p->done, done, __ATOMIC_RELAXED);
}

static void report_line(const char *what, uint64_t pages) {
        fprintf(stderr, "    %-24s: %12llu\n", what, (unsigned long long)pages);
}

/* makedumpfile's closing report, in pages, by category. */
static void report(const struct args *a, const struct dump_stats *st, uint64_t bytes) {
        const struct filter_counts *x = &st->excluded;

        if (!(message_level & MSG_REPORT))
                return;
        fprintf(stderr, "dumptool: dump level %d\n  Original pages            : %12llu\n  Excluded pages\n",
                a->dump.dump_level, (unsigned long long)st->ram_pages);
        report_line("Pages filled with zero", st->zero_pages);
        report_line("Non-private cache pages", x->cache);
        report_line("Private cache pages", x->cache_private);
        report_line("User process data pages", x->user);
        report_line("Free pages", x->free);
        report_line("Hwpoison pages", x->hwpoison);
        report_line("Offline pages", x->offline);
        fprintf(stderr, "  Remaining pages           : %12llu (%.1f%%; %llu stored uncompressed)\n",
                (unsigned long long)(st->dump_pages - st->zero_pages),
                st->ram_pages ? 100.0 * (double)(st->dump_pages - st->zero_pages) / (double)st->ram_pages : 0.0,
                (unsigned long long)st->raw_pages);
        if (x->unreadable || x->bad_buddy_order)
                fprintf(stderr, "  Kept, not classifiable    : %12llu (struct page unreadable: %llu, bad buddy order: %llu)\n",
                        (unsigned long long)(x->unreadable + x->bad_buddy_order), (unsigned long long)x->unreadable,
                        (unsigned long long)x->bad_buddy_order);
        fprintf(stderr, "  Page data %llu bytes; dump %llu bytes\n", (unsigned long long)st->data_bytes,
                (unsigned long long)bytes);
}

/* The kernel log and crash.json, saved on a thread of their own while the
 * first pass runs, when the dump has threads to spare. */
struct report_thread {
        const struct args *a;
        struct vmcore *v;       /* the thread's own handle */
        const char *dir;
        pthread_t thread;
        bool running;
};

/* Once the first pass knows what the dump keeps: the report is on disk (it
 * goes before the first page), and how much room the dump may need
 * (before compression) against the room there is. */
struct space_check {
        const char *dir;
        struct report_thread *report;
};

static void join_report(struct report_thread *t) {
        if (t->running)
                pthread_join(t->thread, NULL);
        t->running = false;
        t->v = vmcore_free(t->v);
}

static void check_space(uint64_t keep_pages, uint64_t ram_pages, uint32_t page_size, void *userdata) {
        const struct space_check *c = userdata;
        uint64_t need = keep_pages * page_size, free_bytes;
        struct statvfs sv;

        join_report(c->report);
        if (statvfs(c->dir, &sv) < 0)
                return;
        free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
        warn("the dump keeps %llu of %llu pages: at most %llu MiB before compression; %llu MiB free in %s",
             (unsigned long long)keep_pages, (unsigned long long)ram_pages, (unsigned long long)(need >> 20),
             (unsigned long long)(free_bytes >> 20), c->dir);
        if (need / 2 > free_bytes)
                warn("warning: %s may be too small for this dump; what fits is kept, marked incomplete", c->dir);
}

static int open_incomplete(const struct args *a, char *tmp, size_t tmp_len) {
        struct stat st;
        int fd;

        if (!a->force && lstat(a->dumpfile, &st) == 0) {
                fail("%s: already exists; use -f to overwrite it", a->dumpfile);
                return -EEXIST;
        }
        snprintf(tmp, tmp_len, "%s-incomplete", a->dumpfile);
        fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                fail("%s: %s", tmp, strerror(errno));
        return fd < 0 ? -errno : fd;
}

static char *dir_of(const char *path, char *buf, size_t len) {
        const char *slash = strrchr(path, '/');

        if (!slash)
                snprintf(buf, len, ".");
        else
                snprintf(buf, len, "%.*s", (int)(slash - path) ?: 1, path);
        return buf;
}

/* The kernel log and crash.json go beside the dump before its first page:
 * if the dump then fails, runs out of time or of room, why the machine
 * died is already on disk. Failing to save them stops nothing. */
static void save_report(const struct args *a, struct vmcore *v, const char *dir) {
        _cleanup_(crash_report_freep) struct crash_report *r = NULL;
        _cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char why[PATH_CAP + 64] = "", hex[65] = "";
        int e;

        if (dirfd < 0 || (e = crash_report_new(v, &r)) < 0 || (e = crash_report_save(r, dirfd, why, sizeof(why))) < 0) {
                warn("warning: %s: the kernel log and crash.json were not saved: %s", dir,
                     why[0] ? why : strerror(dirfd < 0 ? errno : -e));
                return;
        }
        if (!r->log)
                warn("warning: %s: %s; crash.json says what is known without it", a->vmcore, r->log_problem);
        if (r->signature)
                signature_hex(r->signature, hex);
        say(MSG_COMMON, "%s: %s%s%.12s; %s/crash.json", a->vmcore,
            crash_report_reason(r) ? crash_report_reason(r) : "no panic message in the log",
            hex[0] ? ", signature " : "", hex, dir);
}

static void *report_main(void *userdata) {
        struct report_thread *t = userdata;

        save_report(t->a, t->v, t->dir);
        return NULL;
}

/* With two or more threads, the report is read through a handle of its own
 * beside the first pass: on the lab's 6.1 vmcore at -d 31 they took about
 * 6 and 9 ms one after the other. With one thread, or where the thread or
 * the handle cannot be had, it is saved here and now. */
static void start_report(const struct args *a, struct vmcore *v, const char *dir, struct report_thread *t) {
        *t = (struct report_thread) { .a = a, .dir = dir };
        if (a->dump.threads > 1 && vmcore_reopen(v, &t->v) == 0 &&
            pthread_create(&t->thread, NULL, report_main, t) == 0) {
                t->running = true;
                return;
        }
        t->v = vmcore_free(t->v);
        save_report(a, v, dir);
}

static int dump(const struct args *a, struct vmcore *v) {
        char tmp[PATH_CAP], dir[PATH_CAP];
        _cleanup_close_ int fd = -1;
        _cleanup_(output_freep) struct output *out = NULL;
        struct progress prog = { .page_size = vmcore_page_size(v) };
        bool show = a->progress || ((message_level & MSG_PROGRESS) && isatty(STDERR_FILENO));
        struct dump_options opts = a->dump;
        _cleanup_(join_report) struct report_thread saver = {};
        struct space_check space = { dir, &saver };
        struct dump_stats st;
        int r;

        if (a->flattened) {
                r = a->flat_ring ? output_new_flattened_sink(stream_ring_write, a->flat_ring, &out)
                                 : output_new_flattened(a->flat_fd, &out);
        } else {
                start_report(a, v, dir_of(a->dumpfile, dir, sizeof(dir)), &saver);
                opts.plan = check_space;
                opts.plan_userdata = &space;
                fd = open_incomplete(a, tmp, sizeof(tmp));
                if (fd < 0)
                        return fd;
                r = output_new_file(fd, &out);
        }
        if (r < 0)
                return r;
        clock_gettime(CLOCK_MONOTONIC, &prog.start);
        prog.last = prog.start;
        if (a->read_progress)
                r = (a->elf ? dump_elf : dump_kdump)(v, &opts, out, share_progress, a->read_progress, &st);
        else
                r = (a->elf ? dump_elf : dump_kdump)(v, &opts, out, show ? show_progress : NULL, &prog, &st);
        if (r == 0)
                r = output_finish(out);
        if (r == 0 && fd >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r < 0 && st.input_error) {
                fail("%s: page 0x%llx cannot be read (%s); the %llu pages before it are kept in %s, marked incomplete",
                     a->vmcore, (unsigned long long)st.input_error_pfn, strerror(-st.input_error),
                     (unsigned long long)(st.zero_pages + st.written_pages), a->flattened ? "the stream" : tmp);
                return r;
        }
        if (r < 0) {
                fail("%s: %s%s", a->flattened ? "stdout" : tmp, strerror(-r),
                     r != -ENOSPC ? ""
                     : a->elf ? "; the pages written so far are kept under the -incomplete name"
                              : "; the pages written so far are kept, and the dump is marked incomplete");
                return r;
        }
        if (fd >= 0 && rename(tmp, a->dumpfile) < 0) {
                fail("rename %s to %s: %s", tmp, a->dumpfile, strerror(errno));
                return -errno;
        }
        report(a, &st, output_bytes(out));
        return 0;
}

struct producer_args {
        const struct args *a;
        struct vmcore *v;
};

/* In the child: the dump as a flattened stream into the ring. */
static int produce(struct stream_ring *ring, struct net_read_progress *progress, void *userdata) {
        const struct producer_args *p = userdata;
        struct args a = *p->a;

        a.flattened = true;
        a.flat_ring = ring;
        a.read_progress = progress;
        return dump(&a, p->v);
}

/* udp://HOST[:PORT]: the stream goes to kdumpd (docs/protocol.md). */
static int net_dump(const struct args *a, struct vmcore *v) {
        struct producer_args p = { a, v };
        struct net_target_options o = {
                .url = a->dumpfile, .secret_file = a->secret, .timeout_s = a->net_timeout, .buffer = a->net_buffer,
                .mtu = a->net_mtu,
                .progress = a->progress || ((message_level & MSG_PROGRESS) && isatty(STDERR_FILENO)),
                .produce = produce, .userdata = &p,
        };
        struct netsend_result res;
        char why[512] = "", reason[600] = "";
        int r = net_target_send(v, &o, &res, reason, sizeof(reason), why, sizeof(why));

        if (reason[0])
                say(MSG_COMMON, "%s: %s", a->vmcore, reason);
        if (r < 0) {
                fail("%s: failed: %s", a->dumpfile, why);
                return r;
        }
        say(MSG_COMMON, "%s: stored as %s (%.1f MiB in %.1f s, %.1f MiB/s, %.1f MiB retransmitted, %u resumes, "
            "%u deferrals, %u-byte datagrams, %u spurious timeouts undone)",
            a->dumpfile, res.dir, (double)res.length / (1 << 20), res.seconds,
            res.seconds > 0 ? (double)res.length / (1 << 20) / res.seconds : 0.0,
            (double)res.retransmitted / (1 << 20), res.resumes, res.deferrals, res.datagram, res.spurious_rtos);
        say(MSG_DEBUG, "%s: %u packets lost (%u window reductions), %u timeouts, %u tail probes; SRTT %.2f ms, "
            "smallest RTT %.2f ms, delivery rate %.1f MiB/s", a->dumpfile, res.losses, res.loss_events, res.rtos,
            res.tail_probes, res.srtt_ms, res.min_rtt_ms, res.bandwidth / (1 << 20));
        return 0;
}

/* -R: the flattened stream on stdin, rearranged into the file it stands for.
 * A stream that stops early leaves NAME-incomplete, with the kdump header's
 * incomplete bit set. */
static int rebuild(const struct args *a) {
        char tmp[PATH_CAP], why[256] = "";
        _cleanup_close_ int fd = open_incomplete(a, tmp, sizeof(tmp));
        struct flat_stats st;
        int r;

        if (fd < 0)
                return fd;
        r = flat_rebuild(STDIN_FILENO, fd, &st, why, sizeof(why));
        if (r == 0 && fsync(fd) < 0) {
                r = -errno;
                snprintf(why, sizeof(why), "fsync: %s", strerror(errno));
        }
        if (r < 0) {
                if (st.records && kdump_mark_incomplete(fd) == 0)
                        fail("%s: %s; the %llu records read are kept, marked incomplete", tmp, why,
                             (unsigned long long)st.records);
                else
                        fail("%s: %s", tmp, why);
                /* Nothing of the dump arrived: leave nothing behind. */
                if (!st.records)
                        unlink(tmp);
                return r;
        }
        if (rename(tmp, a->dumpfile) < 0) {
                fail("rename %s to %s: %s", tmp, a->dumpfile, strerror(errno));
                return -errno;
        }
        say(MSG_REPORT, "%s: rebuilt from %llu records, %llu bytes", a->dumpfile, (unsigned long long)st.records,
            (unsigned long long)st.end_offset);
        return 0;
}

/* Opens the input. A flattened file is first rebuilt into an unnamed file
 * (O_TMPFILE) beside the output, which disappears when dumptool exits. */
static int open_input(const struct args *a, struct vmcore **ret, int *tmp_fd, char *why, size_t why_len) {
        char head[sizeof(FLAT_SIGNATURE)] = "", dir[PATH_CAP], path[64];
        _cleanup_close_ int in = open(a->vmcore, O_RDONLY | O_CLOEXEC);
        struct flat_stats st;
        int r;

        why[0] = 0;
        if (in < 0 || read_full(in, head, sizeof(head)) != sizeof(head) || memcmp(head, FLAT_SIGNATURE, sizeof(head)) != 0)
                return vmcore_open(a->vmcore, ret, why, why_len);
        *tmp_fd = open(a->dumpfile ? dir_of(a->dumpfile, dir, sizeof(dir)) : "/var/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC,
                       0600);
        if (*tmp_fd < 0) {
                snprintf(why, why_len, "a flattened file, and no room to rebuild it: %s", strerror(errno));
                return -errno;
        }
        if (lseek(in, 0, SEEK_SET) < 0)
                return -errno;
        r = flat_rebuild(in, *tmp_fd, &st, why, why_len);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", *tmp_fd);
        return vmcore_open(path, ret, why, why_len);
}

/* The kernel log: to stdout, or to FILE through FILE-incomplete. */
static int write_dmesg(const struct args *a, struct vmcore *v) {
        char tmp[PATH_CAP], why[256] = "";
        _cleanup_close_ int fd = -1;
        FILE *out = stdout;
        long n;
        int r = 0;

        if (a->dumpfile) {
                if ((fd = open_incomplete(a, tmp, sizeof(tmp))) < 0)
                        return fd;
                if (!(out = fdopen(fd, "w")))
                        return -errno;
                fd = -1; /* the FILE owns it now */
        }
        n = dmesg_write(v, out, why, sizeof(why));
        if (fflush(out) != 0 || (a->dumpfile && fsync(fileno(out)) < 0)) {
                r = -errno;
                snprintf(why, sizeof(why), "writing the log: %s", strerror(errno));
        }
        if (a->dumpfile && fclose(out) != 0 && r == 0)
                r = -errno;
        if (n < 0 || r < 0) {
                fail("%s: %s", a->vmcore, why);
                return n < 0 ? (int)n : r;
        }
        if (a->dumpfile && rename(tmp, a->dumpfile) < 0) {
                fail("rename %s to %s: %s", tmp, a->dumpfile, strerror(errno));
                return -errno;
        }
        say(MSG_REPORT, "%s: %ld records of the kernel log", a->vmcore, n);
        return 0;
}

/* A kdump-compressed input: the new level adds to the one it was saved at,
 * as in makedumpfile; its pages are read in one thread. As ELF, it gets
 * the program headers /proc/vmcore had (lib/elflayout.h); they live as
 * long as the process. */
static int prepare_refilter(struct args *a, struct vmcore *v) {
        struct elfcore_load *loads;
        char why[256];
        int r;

        if (a->elf) {
                r = elf_layout_from_kdump(v, &loads, &a->dump.n_elf_loads, why, sizeof(why));
                if (r < 0) {
                        fail("%s: -E: %s", a->vmcore, r == -ENOMEM ? strerror(ENOMEM) : why);
                        return r;
                }
                a->dump.elf_loads = loads;
        }
        a->dump.dump_level |= vmcore_kdump_level(v);
        if (a->dump.threads > 1)
                say(MSG_COMMON, "note: %s is kdump-compressed; its pages are read in one thread", a->vmcore);
        a->dump.threads = 1;
        return 0;
}

/* The page filter for the level asked. Where VMCOREINFO lacks what the level
 * needs, the dump is still saved, at level 1, with a warning naming what is
 * missing; the filter for hardware-poisoned and offline pages is kept when it
 * can be had. */
static int setup_filter(struct args *a, struct vmcore *v, struct pagefilter **ret) {
        char missing[512];
        int r;

        if (!vmcore_vmcoreinfo(v))
                return 0;
        r = pagefilter_new(v, a->dump.dump_level, ret, missing, sizeof(missing));
        if (r == -ENOMEM) {
                fail("%s", strerror(ENOMEM));
                return r;
        }
        if (r < 0 && a->dump.dump_level > DUMP_LEVEL_ZERO) {
                warn("warning: %s: VMCOREINFO lacks %s, which dump level %d needs; saving at level 1 "
                     "(zero pages only)", a->vmcore, missing, a->dump.dump_level);
                a->dump.dump_level = DUMP_LEVEL_ZERO;
                r = pagefilter_new(v, a->dump.dump_level, ret, missing, sizeof(missing));
        }
        if (r < 0)
                say(MSG_DEBUG, "note: hardware-poisoned and offline pages cannot be found (%s); they are dumped", missing);
        return r == -ENOMEM ? r : 0;
}

int main(int argc, char **argv) {
        struct args a = { .dump.threads = 1, .flat_fd = STDOUT_FILENO, .net_timeout = NET_TIMEOUT_DEFAULT,
                          .net_buffer = NET_BUFFER_DEFAULT };
        _cleanup_(vmcore_freep) struct vmcore *v = NULL;
        _cleanup_(pagefilter_freep) struct pagefilter *filter = NULL;
        _cleanup_close_ int unflattened = -1;
        char why[256];
        int r;

        if ((is_subcommand(argc, argv) ? parse_subcommand(argc, argv, &a) : parse_args(argc, argv, &a)) < 0)
                return EXIT_FAILED;
        if (a.rebuild)
                return rebuild(&a) < 0 ? EXIT_FAILED : EXIT_COMPLETED;
        r = open_input(&a, &v, &unflattened, why, sizeof(why));
        if (r < 0) {
                fail("%s: %s", a.vmcore, why[0] ? why : strerror(-r));
                return EXIT_FAILED;
        }
        if (a.dmesg)
                return write_dmesg(&a, v) < 0 ? EXIT_FAILED : EXIT_COMPLETED;
        if (a.info) {
                r = info_print(v, a.vmcore, unflattened >= 0 ? "flattened" : vmcore_is_kdump(v) ? "kdump-compressed" : "elf",
                               a.json, why, sizeof(why));
                if (r < 0)
                        fail("%s: %s", a.vmcore, why);
                return r < 0 ? EXIT_FAILED : EXIT_COMPLETED;
        }
        if (vmcore_vmcoreinfo_problem(v) && a.dump.dump_level > DUMP_LEVEL_ZERO) {
                warn("warning: %s: %s; dump level %d needs it, saving at level 1 (zero pages only)",
                     a.vmcore, vmcore_vmcoreinfo_problem(v), a.dump.dump_level);
                a.dump.dump_level = DUMP_LEVEL_ZERO;
        }
        if (vmcore_is_kdump(v) && prepare_refilter(&a, v) < 0)
                return EXIT_FAILED;
        if (setup_filter(&a, v, &filter) < 0)
                return EXIT_FAILED;
        a.dump.filter = filter;
        if (is_network(&a))
                return net_dump(&a, v) < 0 ? EXIT_FAILED : EXIT_COMPLETED;
        return dump(&a, v) < 0 ? EXIT_FAILED : EXIT_COMPLETED;
}
