/* A vmcore opened for reading: /proc/vmcore or an ELF64 vmcore file. Pages
 * are addressed by pfn and read through mmap windows, with read() as the
 * fallback where mmap fails. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "elfcore.h"
#include "vmcoreinfo.h"

struct vmcore;

/* A run of pfns with file data: [start_pfn, end_pfn) maps to file bytes from
 * offset on. Pfns in [end_pfn, memsz_end_pfn) are RAM without data. */
struct vmcore_range {
        uint64_t start_pfn;
        uint64_t end_pfn;
        uint64_t memsz_end_pfn;
        uint64_t offset;
};

/* Opens path: an ELF vmcore, or a kdump-compressed file. On failure returns a negative errno and writes a one-line
 * reason into why (why_len bytes): -ENOEXEC not ELF, -EPROTONOSUPPORT a dump
 * format we cannot read as a vmcore (named in why), -EBADMSG malformed
 * headers or notes, -EIO a PT_LOAD past the end of the file. A VMCOREINFO
 * that does not parse is not an error: vmcore_vmcoreinfo() is then NULL and
 * vmcore_vmcoreinfo_problem() says why. */
int vmcore_open(const char *path, struct vmcore **ret, char *why, size_t why_len);

/* A second handle on v's file (through /proc/self/fd), with its own
 * window, for another thread: a handle's window is not shared. It reads
 * with pread, a little past what is asked, and never maps the file. */
int vmcore_reopen(const struct vmcore *v, struct vmcore **ret);

struct vmcore *vmcore_free(struct vmcore *v);

/* The kernel's page size: PAGESIZE from VMCOREINFO, else 4096. */
uint32_t vmcore_page_size(const struct vmcore *v);

/* One past the highest pfn of any PT_LOAD. */
uint64_t vmcore_max_pfn(const struct vmcore *v);

/* The disjoint pfn ranges with data, sorted. Overlapping PT_LOADs (x86_64
 * maps the kernel image twice) are merged: the first one in file order wins. */
const struct vmcore_range *vmcore_ranges(const struct vmcore *v, size_t *ret_count);

/* The whole PT_NOTE segment, and what it holds. */
const uint8_t *vmcore_notes(const struct vmcore *v, size_t *ret_size);
const struct elfcore_notes_info *vmcore_notes_info(const struct vmcore *v);

/* The parsed VMCOREINFO, or NULL when absent or damaged. */
const struct vmcoreinfo *vmcore_vmcoreinfo(const struct vmcore *v);
const char *vmcore_vmcoreinfo_problem(const struct vmcore *v);

const struct elfcore_headers *vmcore_headers(const struct vmcore *v);

/* Points *ret at the bytes of page pfn, valid until the next call on v.
 * Returns 0, -ENOENT for a pfn without file data, or a negative errno. */
int vmcore_page(struct vmcore *v, uint64_t pfn, const uint8_t **ret);

/* True when the bytes of page pfn lie in a hole of the file, so that they
 * are zero without being read: a vmcore saved as a sparse file, as the
 * crash lab saves them. False where that is not known (/proc/vmcore has no
 * holes, a kdump input, lseek failing). Not for several threads at once. */
bool vmcore_page_in_hole(struct vmcore *v, uint64_t pfn);

/* Reads the pages pfns[0..n) into buf (n pages) with pread(), so that it
 * is safe from several threads at once. Returns 0, -ENOENT for a pfn without
 * data, or a negative errno. */
int vmcore_pread_pages(struct vmcore *v, const uint64_t *pfns, size_t n, uint8_t *buf);

/* Points *ret at len bytes (at most 2 MiB) of the file at offset, valid
 * until the next call on v. Returns 0 or a negative errno. */
int vmcore_read_at(struct vmcore *v, uint64_t offset, size_t len, const uint8_t **ret);

/* Reads len bytes of physical memory at paddr. Returns 0, -ENOENT where a
 * page has no data in the vmcore, or a negative errno. */
int vmcore_read_paddr(struct vmcore *v, uint64_t paddr, void *buf, size_t len);

/* A kdump-compressed input (re-filtering, converting): its dump level, and
 * the utsname its header records (field 0..5), NULL for an ELF vmcore.
 * Pages of a kdump input are read in one thread only. */
bool vmcore_is_kdump(const struct vmcore *v);
int vmcore_kdump_level(const struct vmcore *v);
/* The kdump header's status word (compression and incomplete bits), 0 for ELF. */
uint32_t vmcore_kdump_status(const struct vmcore *v);
const char *vmcore_utsname(const struct vmcore *v, int field);

/* Reads len bytes at a kernel virtual address inside the kernel image or
 * the direct map, translated through the PT_LOAD headers. Returns 0,
 * -ENOENT if unmapped or without data, or a negative errno. */
int vmcore_read_vaddr(struct vmcore *v, uint64_t vaddr, void *buf, size_t len);
