/* Kernel virtual addresses → physical, by walking the crashed kernel's own
 * page tables as VMCOREINFO describes them. This is the one place that knows
 * an architecture's paging; today that is x86_64 (4- and 5-level). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "vmcore.h"

struct kvaddr;

/* Sets up translation for v. Returns -EOPNOTSUPP for an architecture we do
 * not walk, or -ENOENT when VMCOREINFO lacks an entry; either way missing
 * (missing_len bytes) names what is lacking. */
int kvaddr_new(struct vmcore *v, struct kvaddr **ret, char *missing, size_t missing_len);

struct kvaddr *kvaddr_free(struct kvaddr *k);

/* Translates vaddr. *ret_span is how many bytes from vaddr on stay
 * physically contiguous (to the end of the mapping page). Returns 0, -ENOENT
 * when not mapped or a page table has no data in the vmcore, or -errno. */
int kvaddr_translate(struct kvaddr *k, uint64_t vaddr, uint64_t *ret_paddr, uint64_t *ret_span);

/* Reads len bytes at vaddr, across as many mappings as it spans. */
int kvaddr_read(struct kvaddr *k, uint64_t vaddr, void *buf, size_t len);
