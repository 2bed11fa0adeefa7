/* dumptool info: what a dump holds and why the kernel died. */
#pragma once

#include <stdbool.h>

#include "vmcore.h"

/* Prints the report on v (read from path; format names how it was stored:
 * "elf", "kdump-compressed" or "flattened") to stdout, as text or JSON.
 * Returns 0, or a negative errno with a one-line reason in why. */
int info_print(struct vmcore *v, const char *path, const char *format, bool json, char *why, size_t why_len);
