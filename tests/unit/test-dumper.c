/* lib/dumper and lib/vmcore over a made-up sparse ELF vmcore: pages in holes
 * of the file count as zero without being read, one and two threads write
 * the same file, and every page reads back as it was. The compressor hands
 * pages on in pfn order with any number of threads, and stops at the first
 * error of its sink. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cleanup.h"
#include "compressor.h"
#include "dumper.h"
#include "elf-vmcore.h"
#include "harness.h"
#include "io.h"
#include "output.h"
#include "vmcore.h"

#define PAGE 4096u
#define NPAGES 1024u
#define LOAD_AT ELF_VMCORE_LOAD_AT

DEFINE_CLEANUP_FUNC(struct vmcore, vmcore_free);
DEFINE_CLEANUP_FUNC(struct output, output_free);
DEFINE_CLEANUP_FUNC(struct compressor, compressor_free);

/* Page i of the made-up machine: a hole in the file (i % 4 == 0), zeros
 * written out (1), text (2), random bytes (3). Runs of each kind are a few
 * pages long, so that holes and data alternate within a job of pages. */
static unsigned kind(unsigned pfn) {
        return (pfn / 3) % 4;
}

static void fill(uint8_t *page, unsigned pfn) {
        memset(page, 0, PAGE);
        if (kind(pfn) == 2)
                for (unsigned i = 0; i + 16 <= PAGE; i += 16)
                        snprintf((char *)page + i, 16, "pfn %5u @%4u", pfn, i);
        if (kind(pfn) == 3) {
                srand(pfn);
                for (unsigned i = 0; i < PAGE; i++)
                        page[i] = (uint8_t)rand();
        }
}

/* Writes the vmcore; false when the file system keeps no holes. */
static bool make_vmcore(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        static uint8_t page[PAGE];

        ASSERT_TRUE(fd >= 0);
        elf_vmcore_headers(fd, "PAGESIZE=4096\n", NPAGES * PAGE);
        ASSERT_EQ_INT(ftruncate(fd, LOAD_AT + NPAGES * PAGE), 0);
        for (unsigned pfn = 0; pfn < NPAGES; pfn++) {
                if (kind(pfn) == 0)
                        continue;
                fill(page, pfn);
                ASSERT_EQ_INT(pwrite_full(fd, page, PAGE, LOAD_AT + (uint64_t)pfn * PAGE), 0);
        }
        ASSERT_EQ_INT(fsync(fd), 0);
        return lseek(fd, LOAD_AT, SEEK_HOLE) == LOAD_AT;
}

static struct vmcore *open_vmcore(const char *path) {
        struct vmcore *v = NULL;
        char why[256];

        ASSERT_EQ_INT(vmcore_open(path, &v, why, sizeof(why)), 0);
        return v;
}

TEST(pages_in_holes) {
        char path[4096];

        snprintf(path, sizeof(path), "%s/vmcore", harness_tmpdir());
        if (!make_vmcore(path))
                SKIP("the file system of the scratch directory keeps no holes");
        _cleanup_(vmcore_freep) struct vmcore *v = open_vmcore(path);
        for (unsigned pfn = 0; pfn < NPAGES; pfn++)
                if (vmcore_page_in_hole(v, pfn) != (kind(pfn) == 0))
                        harness_fail(__FILE__, __LINE__, "pfn %u (kind %u): in a hole is %d", pfn, kind(pfn),
                                     vmcore_page_in_hole(v, pfn));
        /* Past the data, and asked out of order. */
        ASSERT_TRUE(!vmcore_page_in_hole(v, NPAGES));
        ASSERT_TRUE(vmcore_page_in_hole(v, 0));
        ASSERT_TRUE(!vmcore_page_in_hole(v, 3));
}

/* Dumps path at -d 1 (lzo) with threads into out; returns the stats. */
static struct dump_stats dump(const char *path, const char *out, unsigned threads) {
        _cleanup_(vmcore_freep) struct vmcore *v = open_vmcore(path);
        _cleanup_close_ int fd = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        _cleanup_(output_freep) struct output *o = NULL;   /* freed before fd is closed */
        struct dump_options opt = { .dump_level = DUMP_LEVEL_ZERO, .codec = CODEC_LZO, .threads = threads };
        struct dump_stats st;

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ_INT(output_new_file(fd, &o), 0);
        ASSERT_EQ_INT(dump_kdump(v, &opt, o, NULL, NULL, &st), 0);
        ASSERT_EQ_INT(output_finish(o), 0);
        return st;
}

static void check_pages(const char *dumpfile) {
        _cleanup_(vmcore_freep) struct vmcore *v = open_vmcore(dumpfile);
        static uint8_t want[PAGE];

        for (unsigned pfn = 0; pfn < NPAGES; pfn++) {
                const uint8_t *got;

                ASSERT_EQ_INT(vmcore_page(v, pfn, &got), 0);
                fill(want, pfn);
                if (memcmp(got, want, PAGE) != 0)
                        harness_fail(__FILE__, __LINE__, "%s: pfn %u (kind %u) differs", dumpfile, pfn, kind(pfn));
        }
}

static void read_all(const char *path, uint8_t *buf, size_t len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

        ASSERT_EQ_INT(read_full(fd, buf, len), (ssize_t)len);
}

TEST(one_and_two_threads) {
        char path[4096], one[4096], two[4096];
        struct dump_stats a, b;
        unsigned zero = 0, random = 0;

        snprintf(path, sizeof(path), "%s/vmcore", harness_tmpdir());
        snprintf(one, sizeof(one), "%s/one", harness_tmpdir());
        snprintf(two, sizeof(two), "%s/two", harness_tmpdir());
        make_vmcore(path);
        a = dump(path, one, 1);
        b = dump(path, two, 2);
        for (unsigned pfn = 0; pfn < NPAGES; pfn++) {
                zero += kind(pfn) <= 1;
                random += kind(pfn) == 3;
        }
        ASSERT_EQ_U64(a.zero_pages, zero);
        ASSERT_EQ_U64(b.zero_pages, zero);
        ASSERT_EQ_U64(a.written_pages, NPAGES - zero);
        ASSERT_EQ_U64(a.raw_pages, random);
        ASSERT_EQ_U64(b.data_bytes, a.data_bytes);
        {
                static uint8_t x[2 << 20], y[2 << 20];
                _cleanup_close_ int fd = open(one, O_RDONLY | O_CLOEXEC);
                off_t size = lseek(fd, 0, SEEK_END);

                ASSERT_TRUE(size > 0 && (size_t)size <= sizeof(x));
                read_all(one, x, (size_t)size);
                read_all(two, y, (size_t)size);
                ASSERT_MEMEQ(x, y, (size_t)size);
        }
        check_pages(one);
        check_pages(two);
}

/* What a sink saw of one page. */
struct seen {
        bool zero;
        uint32_t size, flags;
        uint64_t hash;
};

struct recorder {
        struct seen seen[NPAGES];
        unsigned n, fail_at;       /* the call that fails; NPAGES for none */
};

static uint64_t fnv(const uint8_t *p, size_t n) {
        uint64_t h = 0xcbf29ce484222325ull;

        for (size_t i = 0; i < n; i++)
                h = (h ^ p[i]) * 0x100000001b3ull;
        return h;
}

static int record(void *userdata, bool zero, const uint8_t *data, uint32_t size, uint32_t flags) {
        struct recorder *r = userdata;

        if (r->n >= NPAGES)
                return -E2BIG;
        r->seen[r->n] = (struct seen) { zero, size, flags, data ? fnv(data, size) : 0 };
        return r->n++ == r->fail_at ? -EIO : 0;
}

/* Runs every pfn of path through a compressor of threads; returns the
 * first error of compressor_add or compressor_flush. */
static int run_pool(struct vmcore *v, unsigned threads, struct recorder *rec) {
        _cleanup_(compressor_freep) struct compressor *c = NULL;
        int r;

        ASSERT_EQ_INT(compressor_new(v, CODEC_LZO, threads, true, record, rec, &c), 0);
        for (unsigned pfn = 0; pfn < NPAGES; pfn++)
                if ((r = compressor_add(c, pfn, vmcore_page_in_hole(v, pfn))) < 0)
                        return r;
        return compressor_flush(c);
}

TEST(compressor_keeps_order) {
        char path[4096];
        static struct recorder one, many;
        static uint8_t page[PAGE];

        snprintf(path, sizeof(path), "%s/vmcore", harness_tmpdir());
        make_vmcore(path);
        _cleanup_(vmcore_freep) struct vmcore *v = open_vmcore(path);
        one.fail_at = NPAGES;
        ASSERT_EQ_INT(run_pool(v, 1, &one), 0);
        ASSERT_EQ_INT(one.n, NPAGES);
        for (unsigned pfn = 0; pfn < NPAGES; pfn++) {
                fill(page, pfn);
                if (one.seen[pfn].zero != (kind(pfn) <= 1))
                        harness_fail(__FILE__, __LINE__, "pfn %u (kind %u): zero is %d", pfn, kind(pfn),
                                     one.seen[pfn].zero);
                if (kind(pfn) == 3 && (one.seen[pfn].flags != 0 || one.seen[pfn].hash != fnv(page, PAGE)))
                        harness_fail(__FILE__, __LINE__, "pfn %u: random bytes not handed on raw", pfn);
                if (kind(pfn) == 2 && (one.seen[pfn].flags == 0 || one.seen[pfn].size >= PAGE))
                        harness_fail(__FILE__, __LINE__, "pfn %u: text not compressed", pfn);
        }
        for (unsigned threads = 2; threads <= 8; threads *= 2) {
                memset(&many, 0, sizeof(many));
                many.fail_at = NPAGES;
                ASSERT_EQ_INT(run_pool(v, threads, &many), 0);
                ASSERT_EQ_INT(many.n, NPAGES);
                ASSERT_MEMEQ(many.seen, one.seen, sizeof(one.seen));
        }
}

TEST(compressor_stops_at_sink_error) {
        char path[4096];
        static struct recorder rec;

        snprintf(path, sizeof(path), "%s/vmcore", harness_tmpdir());
        make_vmcore(path);
        _cleanup_(vmcore_freep) struct vmcore *v = open_vmcore(path);
        /* Early, in the middle of a job, and on the last page. */
        static const unsigned fail_at[] = { 0, 300, NPAGES - 1 };
        for (unsigned threads = 1; threads <= 8; threads *= 2)
                for (size_t i = 0; i < sizeof(fail_at) / sizeof(fail_at[0]); i++) {
                        memset(&rec, 0, sizeof(rec));
                        rec.fail_at = fail_at[i];
                        ASSERT_EQ_INT(run_pool(v, threads, &rec), -EIO);
                        /* Nothing is handed on after the failing page. */
                        ASSERT_EQ_INT(rec.n, fail_at[i] + 1);
                }
}

/* A vmcore cut short after it was opened (as a page of /proc/vmcore that
 * fails with EIO): with any number of threads the pages before the first
 * unreadable one are handed on, in order and as in a whole run, nothing
 * after it, and the error names it; dump_kdump reports it as the
 * single-threaded path does. Cut inside a job, in a page of zeros, and in
 * the last page. */
TEST(unreadable_page_is_named) {
        char path[4096], out[4096];
        static struct recorder whole, rec;
        static bool hole[NPAGES];
        static const unsigned cut_at[] = { 7, 303, NPAGES - 1 };

        snprintf(path, sizeof(path), "%s/vmcore", harness_tmpdir());
        snprintf(out, sizeof(out), "%s/cut.kdump", harness_tmpdir());
        for (size_t i = 0; i < sizeof(cut_at) / sizeof(cut_at[0]); i++)
                for (unsigned threads = 1; threads <= 8; threads *= 2) {
                        make_vmcore(path);
                        _cleanup_(vmcore_freep) struct vmcore *v = open_vmcore(path);
                        _cleanup_(compressor_freep) struct compressor *c = NULL;
                        uint64_t pfn = 0;
                        int r = 0;

                        memset(&whole, 0, sizeof(whole));
                        whole.fail_at = NPAGES;
                        ASSERT_EQ_INT(run_pool(v, threads, &whole), 0);
                        for (unsigned p = 0; p < NPAGES; p++)
                                hole[p] = vmcore_page_in_hole(v, p);
                        ASSERT_TRUE(!hole[cut_at[i]]);
                        ASSERT_EQ_INT(truncate(path, LOAD_AT + (off_t)cut_at[i] * PAGE + 100), 0);
                        memset(&rec, 0, sizeof(rec));
                        rec.fail_at = NPAGES;
                        ASSERT_EQ_INT(compressor_new(v, CODEC_LZO, threads, true, record, &rec, &c), 0);
                        for (unsigned p = 0; p < NPAGES && r == 0; p++)
                                r = compressor_add(c, p, hole[p]);
                        if (r == 0)
                                r = compressor_flush(c);
                        ASSERT_EQ_INT(r, -EIO);
                        ASSERT_TRUE(compressor_read_failed(c, &pfn));
                        ASSERT_EQ_INT(pfn, cut_at[i]);
                        ASSERT_EQ_INT(rec.n, cut_at[i]);
                        ASSERT_MEMEQ(rec.seen, whole.seen, sizeof(rec.seen[0]) * cut_at[i]);
                        /* The sink failing (with the same errno) before the
                         * cut is the sink's error, not a read's. */
                        c = compressor_free(c);
                        memset(&rec, 0, sizeof(rec));
                        rec.fail_at = cut_at[i] / 2;
                        ASSERT_EQ_INT(compressor_new(v, CODEC_LZO, threads, true, record, &rec, &c), 0);
                        r = 0;
                        for (unsigned p = 0; p < NPAGES && r == 0; p++)
                                r = compressor_add(c, p, hole[p]);
                        if (r == 0)
                                r = compressor_flush(c);
                        ASSERT_EQ_INT(r, -EIO);
                        ASSERT_TRUE(!compressor_read_failed(c, &pfn));
                        ASSERT_EQ_INT(rec.n, cut_at[i] / 2 + 1);
                }
        /* Through dump_kdump, two threads. */
        make_vmcore(path);
        _cleanup_(vmcore_freep) struct vmcore *v = open_vmcore(path);
        ASSERT_EQ_INT(truncate(path, LOAD_AT + (off_t)(NPAGES - 1) * PAGE + 100), 0);
        _cleanup_close_ int fd = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        _cleanup_(output_freep) struct output *o = NULL;
        struct dump_options opt = { .dump_level = DUMP_LEVEL_ZERO, .codec = CODEC_LZO, .threads = 2 };
        struct dump_stats st;

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ_INT(output_new_file(fd, &o), 0);
        ASSERT_EQ_INT(dump_kdump(v, &opt, o, NULL, NULL, &st), -EIO);
        ASSERT_EQ_INT(st.input_error, -EIO);
        ASSERT_EQ_INT(st.input_error_pfn, NPAGES - 1);
        ASSERT_EQ_INT(st.zero_pages + st.written_pages, NPAGES - 1);
}

/* A reopened handle reads with pread, only a little past what is asked: it
 * must give the same bytes as the first, at any offset and length. */
TEST(reopened_handle_reads_the_same) {
        char path[4096];
        static uint8_t a[1u << 20], b[1u << 20];
        static const struct { uint64_t paddr; size_t len; } reads[] = {
                { 0, 1 }, { 4095, 2 }, { 65535, 3 }, { 65536 - 100, 65536 + 200 }, { 3 * PAGE + 7, 1u << 20 },
                { (NPAGES - 1) * PAGE, PAGE }, { NPAGES * PAGE - 1, 1 }, { 100, 1u << 20 }, { 0, 64u << 10 },
        };

        snprintf(path, sizeof(path), "%s/vmcore", harness_tmpdir());
        make_vmcore(path);
        _cleanup_(vmcore_freep) struct vmcore *v = open_vmcore(path);
        _cleanup_(vmcore_freep) struct vmcore *second = NULL;
        ASSERT_EQ_INT(vmcore_reopen(v, &second), 0);
        for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
                memset(a, 1, reads[i].len);
                memset(b, 2, reads[i].len);
                ASSERT_EQ_INT(vmcore_read_paddr(v, reads[i].paddr, a, reads[i].len), 0);
                ASSERT_EQ_INT(vmcore_read_paddr(second, reads[i].paddr, b, reads[i].len), 0);
                ASSERT_MEMEQ(a, b, reads[i].len);
        }
        /* Past the end, as the first handle says. */
        ASSERT_TRUE(vmcore_read_paddr(second, NPAGES * PAGE - 1, b, 2) < 0);
        for (unsigned pfn = NPAGES; pfn-- > 0;) {
                const uint8_t *got;

                ASSERT_EQ_INT(vmcore_page(second, pfn, &got), 0);
                fill(a, pfn);
                if (memcmp(got, a, PAGE) != 0)
                        harness_fail(__FILE__, __LINE__, "pfn %u differs through the second handle", pfn);
        }
}
