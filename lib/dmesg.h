/* dumptool dmesg and --dump-dmesg: the kernel log of a dump, as text. */
#pragma once

#include <stdio.h>

#include "vmcore.h"

/* Writes the log of v to out in makedumpfile --dump-dmesg's format. Returns
 * the number of records written, or a negative errno with a one-line reason
 * in why. */
long dmesg_write(struct vmcore *v, FILE *out, char *why, size_t why_len);
