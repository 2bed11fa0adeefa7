/* The kernel log in a dump: the lockless printk ringbuffer of 5.10 and later
 * (kernel/printk/printk_ringbuffer.h), found and laid out by VMCOREINFO. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvaddr.h"
#include "vmcore.h"

struct printk_record {
        uint64_t seq;
        uint64_t ts_nsec;
        uint32_t caller_id;     /* bit 31: a CPU number, else a task id */
        bool has_caller_id;     /* the kernel records caller ids (OFFSET(printk_info.caller_id)) */
        const char *text;       /* not NUL-terminated */
        size_t text_len;
};

/* Where the ring's parts sit, from VMCOREINFO. */
struct printk_layout {
        int64_t prb_size, desc_ring, text_data_ring;
        int64_t count_bits, descs, infos, head_id, tail_id;
        int64_t desc_size, state_var, text_blk_lpos, lpos_begin, lpos_next;
        int64_t info_size, seq, ts_nsec, text_len, caller_id;
        int64_t size_bits, data;
        int64_t counter;
};

/* The ring as read from a dump: the printk_ringbuffer struct and copies of
 * its descriptor, info and text arrays. */
struct printk_ring {
        const uint8_t *prb;
        const uint8_t *descs, *infos, *text;
        uint64_t desc_count;    /* a power of two */
        uint64_t text_size;     /* a power of two */
};

typedef int (*printk_visit)(const struct printk_record *r, void *userdata);

/* Fills l from VMCOREINFO. Returns 0, or -ENOENT naming the missing entries
 * in missing. Kernels before 5.10 have no ring: see lib/logbuf. */
int printk_layout_init(const struct vmcoreinfo *vi, struct printk_layout *l, char *missing, size_t missing_len);

/* Walks the finalized and committed records of ring from tail to head, as
 * makedumpfile does, calling visit for each. Pure: reads only ring. Returns
 * 0, the first non-zero result of visit, or -EBADMSG for a ring whose sizes
 * make no sense. */
int printk_ring_walk(const struct printk_layout *l, const struct printk_ring *ring, printk_visit visit,
                     void *userdata);

/* Reads the ring out of v and walks it. Returns 0, or a negative errno with
 * a one-line reason in why: -ENOENT for missing VMCOREINFO entries or pages
 * left out of the dump, -EBADMSG for a damaged ring. */
int printk_read(struct vmcore *v, struct kvaddr *k, printk_visit visit, void *userdata, char *why, size_t why_len);

/* Formats r as makedumpfile --dump-dmesg does: "[%5llu.%06lu] ", the caller
 * id column "[      T1] " when recorded, the text with non-printing bytes
 * as \xNN and embedded newlines indented, then a newline. Writes at most
 * out_len bytes; returns the length it needs. */
size_t printk_format(const struct printk_record *r, char *out, size_t out_len);
