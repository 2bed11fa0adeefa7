/* The pre-5.10 kernel log: struct printk_log records in log_buf. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "caps.h"
#include "cleanup.h"
#include "logbuf.h"
#include "unaligned.h"

static int64_t get(const struct vmcoreinfo *vi, const char *name, char *missing, size_t len) {
        char full[96];
        int64_t v;

        snprintf(full, sizeof(full), "printk_log.%s", name);
        if (vmcoreinfo_number(vi, "OFFSET", full, &v) == 0 && v >= 0 && v < PRINTK_STRUCT_MAX)
                return v;
        if (missing) {
                snprintf(full, sizeof(full), "OFFSET(printk_log.%s)", name);
                vmcoreinfo_add_missing(missing, len, full);
        }
        return -1;
}

static int layout_init(const struct vmcoreinfo *vi, struct logbuf_layout *l, char *missing, size_t len) {
        missing[0] = 0;
        if (vmcoreinfo_number(vi, "SIZE", "printk_log", &l->record_size) < 0 || l->record_size <= 0 ||
            l->record_size > PRINTK_STRUCT_MAX)
                vmcoreinfo_add_missing(missing, len, "SIZE(printk_log)");
        l->ts_nsec = get(vi, "ts_nsec", missing, len);
        l->len = get(vi, "len", missing, len);
        l->text_len = get(vi, "text_len", missing, len);
        l->caller_id = get(vi, "caller_id", NULL, 0);
        if (!missing[0] && (l->ts_nsec + 8 > l->record_size || l->len + 2 > l->record_size ||
                            l->text_len + 2 > l->record_size || l->caller_id + 4 > l->record_size)) {
                snprintf(missing, len, "a SIZE(printk_log) that holds its fields");
        }
        return missing[0] ? -ENOENT : 0;
}

int logbuf_walk(const struct logbuf_layout *l, const uint8_t *buf, uint32_t buf_len, uint32_t first, uint32_t next,
                printk_visit visit, void *userdata) {
        uint64_t size = (uint64_t)l->record_size, seq = 0;
        uint32_t idx = first;

        if (first >= buf_len || next > buf_len)
                return -EBADMSG;
        /* Each step either wraps once or moves past a record of at least
         * size bytes, so this bounds a walk over a damaged buffer. */
        for (uint64_t steps = 0; idx != next; steps++) {
                const uint8_t *rec = buf + idx;
                struct printk_record r = { .seq = seq };
                uint32_t len;
                int e;

                if (steps > 2 * (buf_len / size + 1))
                        return -EBADMSG;
                if (idx + size > buf_len || (len = le16(rec + l->len)) == 0) {
                        if (idx == 0)
                                return -EBADMSG;
                        idx = 0;
                        continue;
                }
                r.text_len = le16(rec + l->text_len);
                if (len < size || idx + (uint64_t)len > buf_len || size + r.text_len > len)
                        return -EBADMSG;
                r.ts_nsec = le64(rec + l->ts_nsec);
                r.text = (const char *)rec + size;
                r.has_caller_id = l->caller_id >= 0;
                r.caller_id = r.has_caller_id ? le32(rec + l->caller_id) : 0;
                if ((e = visit(&r, userdata)) != 0)
                        return e;
                seq++;
                idx += len;
        }
        return 0;
}

static int read_u32(struct kvaddr *k, const struct vmcoreinfo *vi, const char *symbol, uint32_t *ret) {
        uint64_t addr;
        uint8_t b[4];
        int r;

        if ((r = vmcoreinfo_symbol(vi, symbol, &addr)) < 0 || (r = kvaddr_read(k, addr, b, sizeof(b))) < 0)
                return r;
        *ret = le32(b);
        return 0;
}

int logbuf_read(struct vmcore *v, struct kvaddr *k, printk_visit visit, void *userdata, char *why, size_t why_len) {
        const struct vmcoreinfo *vi = vmcore_vmcoreinfo(v);
        _cleanup_free_ uint8_t *buf = NULL;
        struct logbuf_layout l;
        uint32_t len, first, next;
        uint64_t pointer, at;
        char missing[512];
        int r;

        if (layout_init(vi, &l, missing, sizeof(missing)) < 0) {
                snprintf(why, why_len, "VMCOREINFO has neither SYMBOL(prb) nor all of %s", missing);
                return -ENOENT;
        }
        /* log_buf is a pointer (to __log_buf, or to memory log_buf_len=
         * had allocated); the indexes are u32. */
        if (vmcoreinfo_symbol(vi, "log_buf", &at) < 0 || kvaddr_read(k, at, &pointer, 8) < 0 ||
            read_u32(k, vi, "log_buf_len", &len) < 0 || read_u32(k, vi, "log_first_idx", &first) < 0 ||
            read_u32(k, vi, "log_next_idx", &next) < 0) {
                snprintf(why, why_len, "log_buf and its indexes are not in this dump");
                return -ENOENT;
        }
        if (len == 0 || len > PRINTK_TEXT_MAX) {
                snprintf(why, why_len, "log_buf_len is %u", len);
                return -EBADMSG;
        }
        if (!(buf = malloc(len)))
                return -ENOMEM;
        if ((r = kvaddr_read(k, le64((uint8_t *)&pointer), buf, len)) < 0) {
                snprintf(why, why_len, "log_buf (%u bytes) is not in this dump: its pages were left out", len);
                return r;
        }
        r = logbuf_walk(&l, buf, len, first, next, visit, userdata);
        if (r == -EBADMSG)
                snprintf(why, why_len, "log_buf is damaged");
        return r;
}
