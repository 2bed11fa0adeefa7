/* VMCOREINFO: the KEY=value text the kernel puts in its crash notes, which
 * tells a dump tool the layout of struct page, the page flags, the symbols of
 * the memory model and the printk ring, all without a vmlinux. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct vmcoreinfo;

/* Parses VMCOREINFO text from buf[0..len). Trailing NUL padding (notes are
 * padded to 4 bytes) is allowed; anything else must be KEY=value lines of at
 * most VMCOREINFO_LINE_MAX bytes of printable ASCII. On success sets *ret (free
 * with vmcoreinfo_free) and returns 0. On malformed input returns -EBADMSG
 * and, if ret_bad_line is not NULL, the 1-based number of the first bad line;
 * -E2BIG past VMCOREINFO_MAX or VMCOREINFO_ENTRIES_MAX; -ENOMEM. */
int vmcoreinfo_parse(const uint8_t *buf, size_t len, struct vmcoreinfo **ret, unsigned *ret_bad_line);

struct vmcoreinfo *vmcoreinfo_free(struct vmcoreinfo *vi);

/* The value of KEY exactly as written, e.g. vmcoreinfo_get(vi, "OSRELEASE")
 * or vmcoreinfo_get(vi, "OFFSET(page.flags)"); NULL when absent. The string
 * lives as long as vi. */
const char *vmcoreinfo_get(const struct vmcoreinfo *vi, const char *key);

/* SYMBOL(name): an address in hex. Returns 0, -ENOENT, or -EBADMSG. */
int vmcoreinfo_symbol(const struct vmcoreinfo *vi, const char *name, uint64_t *ret);

/* kind(name) for kind SIZE, OFFSET, LENGTH or NUMBER, e.g. ("OFFSET",
 * "page.flags"): decimal, or hex where decimal leaves trailing characters, as
 * makedumpfile reads them; NUMBER may be negative. Returns 0, -ENOENT, or
 * -EBADMSG. */
int vmcoreinfo_number(const struct vmcoreinfo *vi, const char *kind, const char *name, int64_t *ret);

/* A bare decimal key such as PAGESIZE or CRASHTIME. Returns 0, -ENOENT, -EBADMSG. */
int vmcoreinfo_decimal(const struct vmcoreinfo *vi, const char *key, int64_t *ret);

/* The number of entries parsed. */
unsigned vmcoreinfo_count(const struct vmcoreinfo *vi);

/* Appends name to missing, a comma-separated list of the entries a caller
 * needs and VMCOREINFO lacks (len bytes, always NUL-terminated). */
void vmcoreinfo_add_missing(char *missing, size_t len, const char *name);
