/* The kernel log of kernels before 5.10: the log_buf array of struct
 * printk_log records (3.11, commit 62e32ac3505a, to 5.9), found and laid out
 * by VMCOREINFO. Records are handed to the same visitor as lib/printk's. */
#pragma once

#include <stdint.h>

#include "printk.h"

struct logbuf_layout {
        int64_t record_size;            /* SIZE(printk_log) */
        int64_t ts_nsec, len, text_len;
        int64_t caller_id;              /* -1 without CONFIG_PRINTK_CALLER (5.1+) */
};

/* Walks the records of buf[0..buf_len) from first to next (byte indexes),
 * as the kernel's log_from_idx()/log_next() do: a record whose len is 0, or
 * that would not fit before the end, means the rest is at index 0. Pure.
 * Returns 0, the first non-zero result of visit, or -EBADMSG for a record
 * whose lengths make no sense. */
int logbuf_walk(const struct logbuf_layout *l, const uint8_t *buf, uint32_t buf_len, uint32_t first, uint32_t next,
                printk_visit visit, void *userdata);

/* Reads log_buf out of v and walks it. Returns 0, or a negative errno with
 * a one-line reason in why: -ENOENT for missing VMCOREINFO entries or pages
 * left out of the dump, -EBADMSG for a damaged buffer. */
int logbuf_read(struct vmcore *v, struct kvaddr *k, printk_visit visit, void *userdata, char *why, size_t why_len);
