/* The program headers a kdump-compressed dump gets when it is written as
 * ELF (-E): those /proc/vmcore gave the capture kernel, rebuilt from what
 * the file holds, since the kdump format keeps the notes and the RAM bitmap
 * but not the PT_LOADs. x86_64 only, as the page-table walk is. */
#pragma once

#include <stddef.h>

#include "elfcore.h"
#include "vmcore.h"

/* At most this many loads: a RAM run each, and the kernel image. */
#define ELF_LAYOUT_LOADS_MAX 65533u

/* The loads of v, a kdump-compressed input, into a new array *ret (free()
 * it): the kernel image at its link-time address when VMCOREINFO and
 * kallsyms place it, then each run of RAM at its direct-map address. Pages
 * the file does not hold lie inside the loads; the ELF writer leaves them
 * out. Returns 0, or a negative errno with a one-line reason in why. */
int elf_layout_from_kdump(struct vmcore *v, struct elfcore_load **ret, size_t *ret_count, char *why, size_t why_len);
