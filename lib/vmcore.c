/* Reading ELF vmcores: headers, notes, the pfn map, and pages. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "caps.h"
#include "cleanup.h"
#include "io.h"
#include "kdumpread.h"
#include "vmcore.h"

/* Pages are read through windows of this size: large enough that the cost of
 * mmap is spread over many pages, small enough for a capture kernel. */
#define VMCORE_WINDOW (4u << 20)
#define DEFAULT_PAGE_SIZE 4096u
/* A second handle serves another thread's scattered reads (the report's log
 * records, task structs and symbols) beside the first pass. Through mmap,
 * each move of its window unmapped 4 MiB while the first pass ran on the
 * other CPU: a TLB shootdown, an IPI that exits to the hypervisor in a
 * guest. Read only what is asked, and a little more: the report took 5.7 ms
 * instead of 9.0 on the lab's 6.1 vmcore (median of 20), and the first pass
 * beside it 10.8 instead of 11.7. */
#define REOPEN_READ_AHEAD (64u << 10)

struct vmcore {
        int fd;
        uint64_t file_size;
        struct elfcore_headers headers;
        struct vmcore_range *ranges;
        size_t n_ranges;
        uint64_t max_pfn;
        uint32_t page_size;
        uint8_t *notes;
        size_t notes_size;
        struct elfcore_notes_info notes_info;
        struct vmcoreinfo *vmcoreinfo;
        char vmcoreinfo_problem[128];
        /* The current window: an mmap of the file, or a read() buffer. */
        uint8_t *window;
        uint64_t window_offset;
        size_t window_size;
        bool use_read;
        /* In read mode, each read brings in a whole window, or, if this is
         * not 0, what is asked and at least this much (see vmcore_reopen). */
        size_t read_ahead;
        /* The extent of the file (lseek SEEK_DATA/SEEK_HOLE) that held the
         * last page asked about: [extent_start, extent_end), a hole or data. */
        uint64_t extent_start, extent_end;
        bool extent_is_hole;
        bool holes_unknown;     /* lseek failed: every page counts as data */
        uint8_t *page_buf;
        /* A kdump input's page in page_buf, decompressed once for the ELF
         * writer's zero test and its copy (and a kvaddr read's pieces). */
        uint64_t page_buf_pfn;
        bool page_buf_valid;
        /* A kdump-compressed input, read through its descriptors. */
        struct kdump_reader *kdump;
};

struct vmcore *vmcore_free(struct vmcore *v) {
        if (!v)
                return NULL;
        if (v->window && !v->use_read)
                munmap(v->window, v->window_size);
        else
                free(v->window);
        free(v->page_buf);
        kdump_reader_free(v->kdump);
        elfcore_headers_done(&v->headers);
        free(v->ranges);
        free(v->notes);
        vmcoreinfo_free(v->vmcoreinfo);
        if (v->fd >= 0)
                close(v->fd);
        free(v);
        return NULL;
}

DEFINE_CLEANUP_FUNC(struct vmcore, vmcore_free);

/* Names the dump formats we recognise but do not read as a vmcore. */
static int foreign_format(const uint8_t *head, size_t len, char *why, size_t why_len) {
        if (len >= 8 && memcmp(head, "DISKDUMP", 8) == 0) {
                snprintf(why, why_len, "an old diskdump file, not a vmcore or a kdump-compressed file");
                return -EPROTONOSUPPORT;
        }
        if (len >= 12 && memcmp(head, "makedumpfile", 12) == 0) {
                snprintf(why, why_len, "a flattened dump stream; rebuild it first with dumptool -R");
                return -EPROTONOSUPPORT;
        }
        return 0;
}

static int read_headers(struct vmcore *v, char *why, size_t why_len) {
        uint8_t head[64] = {};
        _cleanup_free_ uint8_t *buf = NULL;
        ssize_t n = pread(v->fd, head, sizeof(head), 0);
        int64_t need;
        int r;

        if (n < 0)
                return -errno;
        if (n == 0) {
                snprintf(why, why_len, "the file is empty");
                return -ENOEXEC;
        }
        if ((r = foreign_format(head, (size_t)n, why, why_len)) < 0)
                return r;
        need = elfcore_headers_size(head, (size_t)n);
        if (need == -ENOEXEC)
                snprintf(why, why_len, "not an ELF file");
        else if (need == -EPROTONOSUPPORT)
                snprintf(why, why_len, "not a 64-bit little-endian ELF core");
        else if (need < 0)
                snprintf(why, why_len, "malformed ELF header");
        if (need < 0)
                return (int)need;
        buf = malloc((size_t)need);
        if (!buf)
                return -ENOMEM;
        if (pread_exact(v->fd, buf, (size_t)need, 0) < 0) {
                snprintf(why, why_len, "the program headers are cut off (file of %llu bytes)",
                         (unsigned long long)v->file_size);
                return -EBADMSG;
        }
        r = elfcore_parse_headers(buf, (size_t)need, &v->headers);
        if (r < 0)
                snprintf(why, why_len, "malformed program headers");
        return r;
}

static int check_loads_in_file(struct vmcore *v, char *why, size_t why_len) {
        for (uint32_t i = 0; i < v->headers.n_loads; i++) {
                const struct elfcore_load *l = &v->headers.loads[i];

                if (l->offset + l->filesz > v->file_size) {
                        snprintf(why, why_len,
                                 "PT_LOAD %u (physical 0x%llx-0x%llx) ends at byte %llu, past the end of the file at %llu: truncated",
                                 i, (unsigned long long)l->paddr, (unsigned long long)(l->paddr + l->memsz),
                                 (unsigned long long)(l->offset + l->filesz), (unsigned long long)v->file_size);
                        return -EIO;
                }
        }
        return 0;
}

static int read_notes(struct vmcore *v, char *why, size_t why_len) {
        int r;

        if (v->headers.note_size == 0) {
                snprintf(why, why_len, "no PT_NOTE segment");
                return -EBADMSG;
        }
        if (v->headers.note_offset + v->headers.note_size > v->file_size) {
                snprintf(why, why_len, "the PT_NOTE segment reaches past the end of the file");
                return -EIO;
        }
        v->notes_size = v->headers.note_size;
        v->notes = malloc(v->notes_size);
        if (!v->notes)
                return -ENOMEM;
        r = pread_exact(v->fd, v->notes, v->notes_size, v->headers.note_offset);
        if (r < 0)
                return r;
        r = elfcore_notes_info(v->notes, v->notes_size, &v->notes_info);
        if (r < 0)
                snprintf(why, why_len, "malformed ELF notes");
        return r;
}

static void load_vmcoreinfo(struct vmcore *v) {
        const struct elfcore_notes_info *ni = &v->notes_info;
        unsigned bad_line = 0;
        int64_t page_size;
        int r;

        v->page_size = DEFAULT_PAGE_SIZE;
        if (!ni->has_vmcoreinfo) {
                snprintf(v->vmcoreinfo_problem, sizeof(v->vmcoreinfo_problem), "no VMCOREINFO note");
                return;
        }
        r = vmcoreinfo_parse(v->notes + ni->vmcoreinfo_offset, ni->vmcoreinfo_size, &v->vmcoreinfo, &bad_line);
        if (r < 0) {
                snprintf(v->vmcoreinfo_problem, sizeof(v->vmcoreinfo_problem),
                         r == -EBADMSG ? "VMCOREINFO is damaged at line %u" : "VMCOREINFO is too large", bad_line);
                return;
        }
        r = vmcoreinfo_decimal(v->vmcoreinfo, "PAGESIZE", &page_size);
        if (r == 0 && page_size >= 4096 && page_size <= 65536 && (page_size & (page_size - 1)) == 0)
                v->page_size = (uint32_t)page_size;
        else
                snprintf(v->vmcoreinfo_problem, sizeof(v->vmcoreinfo_problem),
                         "VMCOREINFO has no valid PAGESIZE; assuming 4096");
}

static int compare_range(const void *a, const void *b) {
        const struct vmcore_range *x = a, *y = b;

        return x->start_pfn < y->start_pfn ? -1 : x->start_pfn > y->start_pfn;
}

/* Turns the PT_LOADs into disjoint pfn ranges. Partial pages at either end
 * of a segment are left out: no page of a real vmcore is split that way. */
static int build_ranges(struct vmcore *v) {
        uint64_t ps = v->page_size;
        size_t n = 0;

        v->ranges = calloc(v->headers.n_loads + 1, sizeof(*v->ranges));
        if (!v->ranges)
                return -ENOMEM;
        for (uint32_t i = 0; i < v->headers.n_loads; i++) {
                const struct elfcore_load *l = &v->headers.loads[i];
                uint64_t start = (l->paddr + ps - 1) / ps, data_end = (l->paddr + l->filesz) / ps;
                uint64_t mem_end = (l->paddr + l->memsz) / ps;

                if (mem_end <= start)
                        continue;
                v->ranges[n++] = (struct vmcore_range) {
                        .start_pfn = start,
                        .end_pfn = data_end > start ? data_end : start,
                        .memsz_end_pfn = mem_end,
                        .offset = l->offset + (start * ps - l->paddr),
                };
        }
        qsort(v->ranges, n, sizeof(*v->ranges), compare_range);
        /* Clip each range to start where the one before it ended. */
        size_t out = 0;
        for (size_t i = 0; i < n; i++) {
                struct vmcore_range r = v->ranges[i];
                uint64_t prev_end = out ? v->ranges[out - 1].memsz_end_pfn : 0;

                if (out && r.start_pfn < prev_end) {
                        if (r.memsz_end_pfn <= prev_end)
                                continue;
                        r.offset += (prev_end - r.start_pfn) * ps;
                        r.end_pfn = r.end_pfn > prev_end ? r.end_pfn : prev_end;
                        r.start_pfn = prev_end;
                }
                v->ranges[out++] = r;
                if (r.memsz_end_pfn > v->max_pfn)
                        v->max_pfn = r.memsz_end_pfn;
        }
        v->n_ranges = out;
        return 0;
}

static bool is_kdump(int fd) {
        char sig[8];

        return pread(fd, sig, sizeof(sig), 0) == sizeof(sig) && memcmp(sig, KDUMP_SIGNATURE, sizeof(sig)) == 0;
}

/* The pfn ranges of a kdump input: runs of RAM (first bitmap) whose pages
 * are in the dump (second bitmap), each range starting with its data. */
static int kdump_ranges(struct vmcore *v) {
        const struct kdump_info *ki = kdump_reader_info(v->kdump);
        uint8_t ram[4096], dumped[4096];
        size_t cap = 0;

        for (uint64_t byte = 0; byte < (ki->max_mapnr + 7) / 8; byte += sizeof(ram)) {
                size_t len = (ki->max_mapnr + 7) / 8 - byte < sizeof(ram) ? (size_t)((ki->max_mapnr + 7) / 8 - byte) : sizeof(ram);
                int r;

                if ((r = kdump_reader_bitmap(v->kdump, 0, byte, ram, len)) < 0 ||
                    (r = kdump_reader_bitmap(v->kdump, 1, byte, dumped, len)) < 0)
                        return r;
                for (uint64_t pfn = byte * 8; pfn < (byte + len) * 8 && pfn < ki->max_mapnr; pfn++) {
                        size_t i = (size_t)(pfn - byte * 8);
                        bool is_ram = ram[i / 8] & (1u << (i % 8)), has = dumped[i / 8] & (1u << (i % 8));
                        struct vmcore_range *last = v->n_ranges ? &v->ranges[v->n_ranges - 1] : NULL;

                        if (!is_ram && !has)
                                continue;
                        /* Extend the last range: more data right after its
                         * data, or RAM without data after it. */
                        if (last && last->memsz_end_pfn == pfn && (!has || last->end_pfn == pfn)) {
                                last->memsz_end_pfn++;
                                last->end_pfn += has;
                                continue;
                        }
                        if (v->n_ranges == cap) {
                                struct vmcore_range *n;

                                cap = cap ? cap * 2 : 256;
                                if (cap > KDUMP_RANGES_MAX || !(n = realloc(v->ranges, cap * sizeof(*n))))
                                        return cap > KDUMP_RANGES_MAX ? -E2BIG : -ENOMEM;
                                v->ranges = n;
                        }
                        v->ranges[v->n_ranges++] = (struct vmcore_range){ pfn, pfn + has, pfn + 1, 0 };
                }
        }
        v->max_pfn = ki->max_mapnr;
        return 0;
}

static int open_kdump(struct vmcore *v, char *why, size_t why_len) {
        const struct kdump_info *ki;
        int r = kdump_reader_open(v->fd, v->file_size, &v->kdump, why, why_len);

        if (r < 0)
                return r;
        ki = kdump_reader_info(v->kdump);
        v->headers.machine = strcmp(ki->utsname[4], "x86_64") == 0 ? 62 : 0;
        v->headers.note_offset = ki->note_offset;
        v->headers.note_size = ki->note_size;
        if ((r = read_notes(v, why, why_len)) < 0)
                return r;
        load_vmcoreinfo(v);
        v->page_size = ki->block_size;
        if (!(v->page_buf = malloc(v->page_size)))
                return -ENOMEM;
        r = kdump_ranges(v);
        if (r < 0)
                snprintf(why, why_len, "reading the kdump bitmaps: %s", strerror(-r));
        return r;
}

int vmcore_open(const char *path, struct vmcore **ret, char *why, size_t why_len) {
        _cleanup_(vmcore_freep) struct vmcore *v = calloc(1, sizeof(*v));
        struct stat st;
        int r;

        if (!v)
                return -ENOMEM;
        why[0] = 0;
        v->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (v->fd < 0 || fstat(v->fd, &st) < 0)
                return -errno;
        v->file_size = (uint64_t)st.st_size;
        if (is_kdump(v->fd)) {
                if ((r = open_kdump(v, why, why_len)) < 0)
                        return r;
                *ret = TAKE_PTR(v);
                return 0;
        }
        if ((r = read_headers(v, why, why_len)) < 0 || (r = check_loads_in_file(v, why, why_len)) < 0 ||
            (r = read_notes(v, why, why_len)) < 0)
                return r;
        load_vmcoreinfo(v);
        v->page_buf = malloc(v->page_size);
        if (!v->page_buf)
                return -ENOMEM;
        r = build_ranges(v);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

int vmcore_reopen(const struct vmcore *v, struct vmcore **ret) {
        char path[64], why[256];

        struct vmcore *second;
        int r;

        snprintf(path, sizeof(path), "/proc/self/fd/%d", v->fd);
        if ((r = vmcore_open(path, &second, why, sizeof(why))) < 0)
                return r;
        if (second->window && !second->use_read)
                munmap(second->window, second->window_size);
        else
                free(second->window);
        second->window = NULL;
        second->window_size = 0;
        second->use_read = true;
        second->read_ahead = REOPEN_READ_AHEAD;
        *ret = second;
        return 0;
}

uint32_t vmcore_page_size(const struct vmcore *v) {
        return v->page_size;
}

uint64_t vmcore_max_pfn(const struct vmcore *v) {
        return v->max_pfn;
}

const struct vmcore_range *vmcore_ranges(const struct vmcore *v, size_t *ret_count) {
        *ret_count = v->n_ranges;
        return v->ranges;
}

const uint8_t *vmcore_notes(const struct vmcore *v, size_t *ret_size) {
        *ret_size = v->notes_size;
        return v->notes;
}

const struct elfcore_notes_info *vmcore_notes_info(const struct vmcore *v) {
        return &v->notes_info;
}

const struct vmcoreinfo *vmcore_vmcoreinfo(const struct vmcore *v) {
        return v->vmcoreinfo;
}

const char *vmcore_vmcoreinfo_problem(const struct vmcore *v) {
        return v->vmcoreinfo_problem[0] ? v->vmcoreinfo_problem : NULL;
}

const struct elfcore_headers *vmcore_headers(const struct vmcore *v) {
        return &v->headers;
}

static const struct vmcore_range *find_range(const struct vmcore *v, uint64_t pfn) {
        size_t lo = 0, hi = v->n_ranges;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (pfn < v->ranges[mid].start_pfn)
                        hi = mid;
                else if (pfn >= v->ranges[mid].memsz_end_pfn)
                        lo = mid + 1;
                else
                        return &v->ranges[mid];
        }
        return NULL;
}

/* Moves the window so that it holds [offset, offset + len). */
static int map_window(struct vmcore *v, uint64_t offset, size_t len) {
        uint64_t start = offset & ~(uint64_t)(VMCORE_WINDOW - 1);
        size_t size = VMCORE_WINDOW;
        int r;

        /* A page that straddles the aligned window gets a window of its own,
         * starting at the host page that holds it (mmap's alignment). */
        if (offset + len > start + size)
                start = offset & ~(uint64_t)4095;

        if (start + size > v->file_size)
                size = (size_t)(v->file_size - start);
        if (offset + len > start + size)
                return -EIO;
        if (!v->use_read) {
                void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, v->fd, (off_t)start);

                if (p != MAP_FAILED) {
                        if (v->window)
                                munmap(v->window, v->window_size);
                        v->window = p;
                        v->window_offset = start;
                        v->window_size = size;
                        return 0;
                }
                /* Some files (a pipe, /proc/vmcore before 3.11) cannot be mapped. */
                if (v->window)
                        munmap(v->window, v->window_size);
                v->window = NULL;
                v->use_read = true;
        }
        if (!v->window && !(v->window = malloc(VMCORE_WINDOW)))
                return -ENOMEM;
        v->window_size = 0;
        if (v->read_ahead) {
                start = offset & ~(uint64_t)4095;
                size = (size_t)(((offset + len + 4095) & ~(uint64_t)4095) - start);
                if (size < v->read_ahead)
                        size = v->read_ahead;
                if (start + size > v->file_size)
                        size = (size_t)(v->file_size - start);
        }
        r = pread_exact(v->fd, v->window, size, start);
        if (r < 0)
                return r;
        v->window_offset = start;
        v->window_size = size;
        return 0;
}

static int read_file(struct vmcore *v, uint64_t offset, size_t len, const uint8_t **ret) {
        int r;

        if (len > VMCORE_WINDOW / 2)
                return -EINVAL;
        if (!v->window || offset < v->window_offset || offset + len > v->window_offset + v->window_size) {
                r = map_window(v, offset, len);
                if (r < 0)
                        return r;
        }
        *ret = v->window + (offset - v->window_offset);
        return 0;
}

int vmcore_page(struct vmcore *v, uint64_t pfn, const uint8_t **ret) {
        const struct vmcore_range *r = find_range(v, pfn);

        if (v->kdump) {
                int e = 0;

                if (!v->page_buf_valid || v->page_buf_pfn != pfn) {
                        e = r && pfn < r->end_pfn ? kdump_reader_page(v->kdump, pfn, v->page_buf) : -ENOENT;
                        v->page_buf_valid = e == 0;
                        v->page_buf_pfn = pfn;
                }
                *ret = v->page_buf;
                return e;
        }
        if (!r || pfn >= r->end_pfn)
                return -ENOENT;
        return read_file(v, r->offset + (pfn - r->start_pfn) * v->page_size, v->page_size, ret);
}

/* The extent of the file at offset: a hole up to the next data, or data up
 * to the next hole. A file system without holes (and /proc/vmcore, through
 * default_llseek) reports data to the end of the file. */
static void find_extent(struct vmcore *v, uint64_t offset) {
        off_t data = lseek(v->fd, (off_t)offset, SEEK_DATA), hole;

        v->extent_start = offset;
        if (data < 0 && errno == ENXIO) {
                v->extent_end = v->file_size;
                v->extent_is_hole = true;
                return;
        }
        if (data < 0) {
                v->holes_unknown = true;
                return;
        }
        if ((uint64_t)data > offset) {
                v->extent_end = (uint64_t)data;
                v->extent_is_hole = true;
                return;
        }
        hole = lseek(v->fd, data, SEEK_HOLE);
        if (hole < 0 || (uint64_t)hole <= offset) {
                v->holes_unknown = true;
                return;
        }
        v->extent_end = (uint64_t)hole;
        v->extent_is_hole = false;
}

bool vmcore_page_in_hole(struct vmcore *v, uint64_t pfn) {
        const struct vmcore_range *r;
        uint64_t offset;

        if (v->kdump || v->holes_unknown || !(r = find_range(v, pfn)) || pfn >= r->end_pfn)
                return false;
        offset = r->offset + (pfn - r->start_pfn) * v->page_size;
        if (offset < v->extent_start || offset >= v->extent_end)
                find_extent(v, offset);
        return !v->holes_unknown && v->extent_is_hole && offset + v->page_size <= v->extent_end;
}

bool vmcore_is_kdump(const struct vmcore *v) {
        return v->kdump != NULL;
}

int vmcore_kdump_level(const struct vmcore *v) {
        return v->kdump ? kdump_reader_info(v->kdump)->dump_level : 0;
}

uint32_t vmcore_kdump_status(const struct vmcore *v) {
        return v->kdump ? kdump_reader_info(v->kdump)->status : 0;
}

const char *vmcore_utsname(const struct vmcore *v, int field) {
        return v->kdump && field >= 0 && field < 6 ? kdump_reader_info(v->kdump)->utsname[field] : NULL;
}

int vmcore_read_vaddr(struct vmcore *v, uint64_t vaddr, void *buf, size_t len) {
        for (uint32_t i = 0; i < v->headers.n_loads; i++) {
                const struct elfcore_load *l = &v->headers.loads[i];
                const uint8_t *p;
                int r;

                if (vaddr < l->vaddr || vaddr - l->vaddr >= l->filesz || len > l->filesz - (vaddr - l->vaddr))
                        continue;
                r = read_file(v, l->offset + (vaddr - l->vaddr), len, &p);
                if (r < 0)
                        return r;
                memcpy(buf, p, len);
                return 0;
        }
        return -ENOENT;
}

/* Physical reads from a kdump input: page by page through the descriptors. */
static int kdump_read_paddr(struct vmcore *v, uint64_t paddr, uint8_t *out, size_t len) {
        while (len > 0) {
                const uint8_t *page;
                uint64_t in_page = paddr % v->page_size;
                size_t n = v->page_size - in_page < len ? (size_t)(v->page_size - in_page) : len;
                int r = vmcore_page(v, paddr / v->page_size, &page);

                if (r < 0)
                        return r;
                memcpy(out, page + in_page, n);
                out += n;
                paddr += n;
                len -= n;
        }
        return 0;
}

int vmcore_read_paddr(struct vmcore *v, uint64_t paddr, void *buf, size_t len) {
        uint8_t *out = buf;

        if (v->kdump)
                return kdump_read_paddr(v, paddr, out, len);
        while (len > 0) {
                uint64_t pfn = paddr / v->page_size, in_page = paddr % v->page_size;
                const struct vmcore_range *r = find_range(v, pfn);
                uint64_t avail;
                size_t n;
                const uint8_t *p;
                int ret;

                if (!r || pfn >= r->end_pfn)
                        return -ENOENT;
                /* Read up to the end of the range's data, a window at a time. */
                avail = (r->end_pfn - pfn) * v->page_size - in_page;
                n = len < avail ? len : (size_t)avail;
                if (n > VMCORE_WINDOW / 2)
                        n = VMCORE_WINDOW / 2;
                ret = read_file(v, r->offset + (pfn - r->start_pfn) * v->page_size + in_page, n, &p);
                if (ret < 0)
                        return ret;
                memcpy(out, p, n);
                out += n;
                paddr += n;
                len -= n;
        }
        return 0;
}

int vmcore_pread_pages(struct vmcore *v, const uint64_t *pfns, size_t n, uint8_t *buf) {
        size_t i = 0;

        if (v->kdump)
                return -EOPNOTSUPP; /* one decompression context: not thread-safe */
        while (i < n) {
                const struct vmcore_range *r = find_range(v, pfns[i]);
                size_t run = 1;
                int ret;

                if (!r || pfns[i] >= r->end_pfn)
                        return -ENOENT;
                /* Consecutive pfns of one range are one read. */
                while (i + run < n && pfns[i + run] == pfns[i] + run && pfns[i + run] < r->end_pfn)
                        run++;
                ret = pread_exact(v->fd, buf + i * v->page_size, run * v->page_size,
                                  r->offset + (pfns[i] - r->start_pfn) * v->page_size);
                if (ret < 0)
                        return ret;
                i += run;
        }
        return 0;
}

int vmcore_read_at(struct vmcore *v, uint64_t offset, size_t len, const uint8_t **ret) {
        if (v->kdump)
                return -EOPNOTSUPP;
        return read_file(v, offset, len, ret);
}
