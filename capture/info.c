/* dumptool info: the dump's format and pages, what crash needs from it,
 * and the crash report (lib/crashreport). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "crashreport.h"
#include "dumpcycle.h"
#include "dumper.h"
#include "info.h"
#include "json.h"
#include "kallsyms.h"
#include "kdumpfile.h"
#include "kvaddr.h"
#include "pagefilter.h"

DEFINE_CLEANUP_FUNC(struct crash_report, crash_report_free);
DEFINE_CLEANUP_FUNC(struct pagefilter, pagefilter_free);
DEFINE_CLEANUP_FUNC(struct kvaddr, kvaddr_free);
DEFINE_CLEANUP_FUNC(struct kallsyms, kallsyms_free);

/* Dumped and left-out pages, each by what the page filter makes of them
 * (at levels 2|4|8|16; "other" is what it keeps: kernel data, or zero
 * pages for the left-out ones). */
struct page_census {
        uint64_t ram, dumped, left_out;
        struct filter_counts in_dump, out_of_dump;
        bool classified;
        char why_unclassified[256];
};

struct needs {
        int64_t kernel_image_pages, kernel_image_missing;       /* -1: unknown */
        bool page_tables;
        char page_tables_problem[256];
};

static uint64_t sum(const struct filter_counts *c) {
        return c->cache + c->cache_private + c->user + c->free + c->hwpoison + c->offline;
}

static void split(uint8_t *valid, uint8_t *data, size_t bytes) {
        for (size_t i = 0; i < bytes; i++)
                valid[i] &= (uint8_t)~data[i];   /* valid now holds the left-out pfns */
}

static int census(struct vmcore *v, struct page_census *pc) {
        _cleanup_(pagefilter_freep) struct pagefilter *in = NULL, *out = NULL;
        struct cycle_buffers b;
        int level = DUMP_LEVEL_CACHE | DUMP_LEVEL_CACHE_PRIVATE | DUMP_LEVEL_USER | DUMP_LEVEL_FREE;
        int r;

        pc->classified = vmcore_vmcoreinfo(v) &&
                         pagefilter_new(v, level, &in, pc->why_unclassified, sizeof(pc->why_unclassified)) == 0 &&
                         pagefilter_new(v, level, &out, pc->why_unclassified, sizeof(pc->why_unclassified)) == 0;
        if ((r = cycle_buffers_init(&b)) < 0)
                return r;
        for (uint64_t base = 0; base < vmcore_max_pfn(v); base += CYCLE_PFNS) {
                uint64_t end = base + CYCLE_PFNS < vmcore_max_pfn(v) ? base + CYCLE_PFNS : vmcore_max_pfn(v);
                uint64_t data, count;

                if ((r = cycle_bitmaps(v, NULL, base, end, b.valid, b.dumpable, NULL, &data, &count)) < 0)
                        break;
                for (uint64_t i = 0; i < end - base; i++)
                        pc->ram += (b.valid[i / 8] >> (i % 8)) & 1;
                pc->dumped += data;
                split(b.valid, b.dumpable, (size_t)((end - base + 7) / 8));
                if (pc->classified && ((r = pagefilter_cycle(in, base, end, b.dumpable, &pc->in_dump)) < 0 ||
                                       (r = pagefilter_cycle(out, base, end, b.valid, &pc->out_of_dump)) < 0))
                        break;
        }
        cycle_buffers_done(&b);
        pc->left_out = pc->ram - pc->dumped;
        return r < 0 ? r : 0;
}

/* The kernel image, _stext to _end, as crash reads it first. */
static void check_needs(struct vmcore *v, struct needs *n) {
        _cleanup_(kvaddr_freep) struct kvaddr *k = NULL;
        _cleanup_(kallsyms_freep) struct kallsyms *ks = NULL;
        const struct vmcoreinfo *vi = vmcore_vmcoreinfo(v);
        uint64_t start, end, paddr, span;
        char why[256];
        uint8_t byte;

        n->kernel_image_pages = n->kernel_image_missing = -1;
        if (!vi || kvaddr_new(v, &k, n->page_tables_problem, sizeof(n->page_tables_problem)) < 0)
                return;
        n->page_tables = true;
        if (vmcoreinfo_symbol(vi, "_stext", &start) < 0 || kallsyms_new(k, vi, &ks, why, sizeof(why)) < 0 ||
            kallsyms_address(ks, "_end", &end) < 0 || end <= start || end - start > (1ull << 32))
                return;
        n->kernel_image_pages = n->kernel_image_missing = 0;
        for (uint64_t a = start & ~4095ull; a < end; a += 4096) {
                n->kernel_image_pages++;
                if (kvaddr_translate(k, a, &paddr, &span) < 0 || vmcore_read_paddr(v, paddr, &byte, 1) < 0)
                        n->kernel_image_missing++;
        }
}

static const char *compression(struct vmcore *v) {
        uint32_t s = vmcore_kdump_status(v);

        if (!vmcore_is_kdump(v))
                return "none";
        return s & KDUMP_FLAG_ZSTD ? "zstd" : s & KDUMP_FLAG_LZO ? "lzo" : s & KDUMP_FLAG_ZLIB ? "zlib" : "none";
}

static bool complete(struct vmcore *v) {
        return !(vmcore_kdump_status(v) & KDUMP_STATUS_INCOMPLETE);
}

static void print_counts(const char *what, const struct filter_counts *c, uint64_t total) {
        printf("%-14s cache %llu, cache with private %llu, user %llu, free %llu, hwpoison %llu, offline %llu, "
               "other %llu\n", what, (unsigned long long)c->cache, (unsigned long long)c->cache_private,
               (unsigned long long)c->user, (unsigned long long)c->free, (unsigned long long)c->hwpoison,
               (unsigned long long)c->offline, (unsigned long long)(total - sum(c)));
}

static void print_text(struct vmcore *v, const char *path, const char *format, const struct crash_report *r,
                       const struct page_census *pc, const struct needs *n) {
        const struct signature *s = r->signature;
        char when[64] = "unknown", hex[65] = "";
        time_t t = (time_t)r->crash_time;
        struct tm tm;

        if (r->crash_time >= 0 && gmtime_r(&t, &tm))
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
        if (s)
                signature_hex(s, hex);
        printf("%-14s %s\n%-14s %s\n%-14s %s\n", "file:", path, "format:", format, "compression:", compression(v));
        printf("%-14s %s\n", "complete:", complete(v) ? "yes" : "no (the dump was cut short)");
        if (vmcore_is_kdump(v))
                printf("%-14s %d\n", "dump level:", vmcore_kdump_level(v));
        printf("%-14s %s\n%-14s %s\n%-14s %s\n%-14s %s\n", "release:", r->release, "version:", r->version,
               "machine:", r->machine, "hostname:", r->nodename);
        printf("%-14s %s\n%-14s %u\n", "crash time:", when, "cpus:", r->cpus);
        printf("%-14s %s\n", "reason:", crash_report_reason(r) ? crash_report_reason(r) : "unknown");
        if (s) {
                printf("%-14s %s%s\n", "rip:", s->rip ? s->rip : "unknown", s->rip_from_kallsyms ? " (kallsyms)" : "");
                printf("%-14s %s\n", "signature:", hex);
        }
        printf("%-14s %llu RAM, %llu dumped, %llu left out\n", "pages:", (unsigned long long)pc->ram,
               (unsigned long long)pc->dumped, (unsigned long long)pc->left_out);
        if (pc->classified) {
                print_counts("dumped:", &pc->in_dump, pc->dumped);
                print_counts("left out:", &pc->out_of_dump, pc->left_out);
        } else {
                printf("%-14s %s\n", "categories:", "unknown: VMCOREINFO lacks what the page filter needs");
        }
        printf("%-14s %s\n", "log:", r->log ? "present" : r->log_problem);
        printf("%-14s %s\n", "page tables:", n->page_tables ? "present" : n->page_tables_problem);
        if (n->kernel_image_pages >= 0)
                printf("%-14s %lld of %lld pages present\n", "kernel image:",
                       (long long)(n->kernel_image_pages - n->kernel_image_missing), (long long)n->kernel_image_pages);
        printf("%-14s %llu struct pages not in the dump\n", "mem_map:",
               (unsigned long long)(pc->in_dump.unreadable + pc->out_of_dump.unreadable));
}

static void json_counts(const char *key, const struct filter_counts *c, uint64_t total) {
        printf("\"%s\": {\"cache\": %llu, \"cache_private\": %llu, \"user\": %llu, \"free\": %llu, "
               "\"hwpoison\": %llu, \"offline\": %llu, \"other\": %llu}", key, (unsigned long long)c->cache,
               (unsigned long long)c->cache_private, (unsigned long long)c->user, (unsigned long long)c->free,
               (unsigned long long)c->hwpoison, (unsigned long long)c->offline, (unsigned long long)(total - sum(c)));
}

static void print_json(struct vmcore *v, const char *path, const char *format, const struct crash_report *r,
                       const struct page_census *pc, const struct needs *n) {
        printf("{\"file\": ");
        json_string(stdout, path);
        printf(", \"format\": \"%s\", \"compression\": \"%s\", \"complete\": %s, \"dump_level\": ", format,
               compression(v), complete(v) ? "true" : "false");
        printf(vmcore_is_kdump(v) ? "%d" : "null", vmcore_kdump_level(v));
        printf(",\n \"pages\": {\"ram\": %llu, \"dumped\": %llu, \"left_out\": %llu", (unsigned long long)pc->ram,
               (unsigned long long)pc->dumped, (unsigned long long)pc->left_out);
        if (pc->classified) {
                printf(", ");
                json_counts("dumped_by_category", &pc->in_dump, pc->dumped);
                printf(", ");
                json_counts("left_out_by_category", &pc->out_of_dump, pc->left_out);
        }
        printf("},\n \"crash_needs\": {\"log\": %s, \"page_tables\": %s, \"kernel_image_pages\": %lld, "
               "\"kernel_image_missing\": %lld, \"struct_pages_missing\": %llu},\n \"crash\": ",
               r->log ? "true" : "false", n->page_tables ? "true" : "false", (long long)n->kernel_image_pages,
               (long long)n->kernel_image_missing,
               (unsigned long long)(pc->in_dump.unreadable + pc->out_of_dump.unreadable));
        fflush(stdout);
        crash_report_json(r, stdout);
        printf("}\n");
}

int info_print(struct vmcore *v, const char *path, const char *format, bool json, char *why, size_t why_len) {
        _cleanup_(crash_report_freep) struct crash_report *r = NULL;
        struct page_census pc = {};
        struct needs n = {};
        int e;

        if ((e = crash_report_new(v, &r)) < 0 || (e = census(v, &pc)) < 0) {
                snprintf(why, why_len, "%s", strerror(-e));
                return e;
        }
        check_needs(v, &n);
        if (json)
                print_json(v, path, format, r, &pc, &n);
        else
                print_text(v, path, format, r, &pc, &n);
        return fflush(stdout) == 0 ? 0 : -errno;
}
