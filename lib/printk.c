/* The lockless printk ringbuffer (5.10, commit 896fbe20b4e2), read the way
 * makedumpfile's printk.c and the kernel's get_data() do. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>

#include "caps.h"
#include "cleanup.h"
#include "logbuf.h"
#include "printk.h"
#include "unaligned.h"

/* The top two bits of a descriptor's state_var are its state. */
#define DESC_FLAGS_SHIFT 62
#define DESC_ID_MASK (~(3ull << DESC_FLAGS_SHIFT))
#define DESC_COMMITTED 1u
#define DESC_FINALIZED 2u
#define CALLER_IS_CPU 0x80000000u
/* makedumpfile's PID_CHARS_DEFAULT: the width of the caller id column. */
#define CALLER_ID_WIDTH 8

static int64_t get(const struct vmcoreinfo *vi, const char *kind, const char *name, char *missing, size_t len) {
        int64_t v;

        if (vmcoreinfo_number(vi, kind, name, &v) == 0 && v >= 0 && v < PRINTK_STRUCT_MAX)
                return v;
        if (missing) {
                char full[128];

                snprintf(full, sizeof(full), "%s(%s)", kind, name);
                vmcoreinfo_add_missing(missing, len, full);
        }
        return -1;
}

int printk_layout_init(const struct vmcoreinfo *vi, struct printk_layout *l, char *missing, size_t missing_len) {
        missing[0] = 0;
        l->prb_size = get(vi, "SIZE", "printk_ringbuffer", missing, missing_len);
        l->desc_ring = get(vi, "OFFSET", "printk_ringbuffer.desc_ring", missing, missing_len);
        l->text_data_ring = get(vi, "OFFSET", "printk_ringbuffer.text_data_ring", missing, missing_len);
        l->count_bits = get(vi, "OFFSET", "prb_desc_ring.count_bits", missing, missing_len);
        l->descs = get(vi, "OFFSET", "prb_desc_ring.descs", missing, missing_len);
        l->infos = get(vi, "OFFSET", "prb_desc_ring.infos", missing, missing_len);
        l->head_id = get(vi, "OFFSET", "prb_desc_ring.head_id", missing, missing_len);
        l->tail_id = get(vi, "OFFSET", "prb_desc_ring.tail_id", missing, missing_len);
        l->desc_size = get(vi, "SIZE", "prb_desc", missing, missing_len);
        l->state_var = get(vi, "OFFSET", "prb_desc.state_var", missing, missing_len);
        l->text_blk_lpos = get(vi, "OFFSET", "prb_desc.text_blk_lpos", missing, missing_len);
        l->lpos_begin = get(vi, "OFFSET", "prb_data_blk_lpos.begin", missing, missing_len);
        l->lpos_next = get(vi, "OFFSET", "prb_data_blk_lpos.next", missing, missing_len);
        l->info_size = get(vi, "SIZE", "printk_info", missing, missing_len);
        l->seq = get(vi, "OFFSET", "printk_info.seq", missing, missing_len);
        l->ts_nsec = get(vi, "OFFSET", "printk_info.ts_nsec", missing, missing_len);
        l->text_len = get(vi, "OFFSET", "printk_info.text_len", missing, missing_len);
        l->size_bits = get(vi, "OFFSET", "prb_data_ring.size_bits", missing, missing_len);
        l->data = get(vi, "OFFSET", "prb_data_ring.data", missing, missing_len);
        /* Optional: caller ids (CONFIG_PRINTK_CALLER) and atomic_long_t's
         * counter, which is at 0 where not exported. */
        l->caller_id = get(vi, "OFFSET", "printk_info.caller_id", NULL, 0);
        l->counter = get(vi, "OFFSET", "atomic_long_t.counter", NULL, 0);
        if (l->counter < 0)
                l->counter = 0;
        return missing[0] ? -ENOENT : 0;
}

/* Each field of width bytes at off must lie inside a struct of size. */
static bool inside(int64_t off, int64_t width, int64_t size) {
        return off >= 0 && off + width <= size;
}

static bool layout_ok(const struct printk_layout *l) {
        return inside(l->desc_ring, l->tail_id + 8, l->prb_size) && inside(l->desc_ring, l->count_bits + 4, l->prb_size) &&
               inside(l->desc_ring, l->descs + 8, l->prb_size) && inside(l->desc_ring, l->infos + 8, l->prb_size) &&
               inside(l->desc_ring, l->head_id + l->counter + 8, l->prb_size) &&
               inside(l->desc_ring, l->tail_id + l->counter + 8, l->prb_size) &&
               inside(l->text_data_ring, l->size_bits + 4, l->prb_size) &&
               inside(l->text_data_ring, l->data + 8, l->prb_size) &&
               inside(l->state_var + l->counter, 8, l->desc_size) &&
               inside(l->text_blk_lpos + l->lpos_begin, 8, l->desc_size) &&
               inside(l->text_blk_lpos + l->lpos_next, 8, l->desc_size) && inside(l->ts_nsec, 8, l->info_size) &&
               inside(l->seq, 8, l->info_size) && inside(l->text_len, 2, l->info_size) &&
               (l->caller_id < 0 || inside(l->caller_id, 4, l->info_size));
}

/* One record: skipped (0) unless committed or finalized and with text. */
static int walk_one(const struct printk_layout *l, const struct printk_ring *ring, uint64_t id, printk_visit visit,
                    void *userdata) {
        uint64_t i = id % ring->desc_count, begin, next, state;
        const uint8_t *desc = ring->descs + i * (uint64_t)l->desc_size, *info = ring->infos + i * (uint64_t)l->info_size;
        uint64_t sv = le64(desc + l->state_var + l->counter);
        struct printk_record r = {};
        uint16_t text_len = le16(info + l->text_len);

        state = (sv >> DESC_FLAGS_SHIFT) & 3;
        if ((sv & DESC_ID_MASK) != id || (state != DESC_COMMITTED && state != DESC_FINALIZED))
                return 0;
        begin = le64(desc + l->text_blk_lpos + l->lpos_begin) % ring->text_size;
        next = le64(desc + l->text_blk_lpos + l->lpos_next) % ring->text_size;
        if (begin == next)
                return 0;       /* a data-less record */
        /* A block that wraps is stored whole at the start of the ring. */
        if (begin > next)
                begin = 0;
        begin += sizeof(uint64_t); /* the block's descriptor id */
        if (begin > next)
                return 0;
        r.text_len = next - begin < text_len ? next - begin : text_len;
        r.text = (const char *)ring->text + begin;
        r.seq = le64(info + l->seq);
        r.ts_nsec = le64(info + l->ts_nsec);
        r.has_caller_id = l->caller_id >= 0;
        r.caller_id = r.has_caller_id ? le32(info + l->caller_id) : 0;
        return visit(&r, userdata);
}

int printk_ring_walk(const struct printk_layout *l, const struct printk_ring *ring, printk_visit visit,
                     void *userdata) {
        const uint8_t *dr = ring->prb + l->desc_ring;
        uint64_t tail = le64(dr + l->tail_id + l->counter) & DESC_ID_MASK;
        uint64_t head = le64(dr + l->head_id + l->counter) & DESC_ID_MASK, id;
        int r;

        if (!layout_ok(l) || ring->desc_count == 0 || (ring->desc_count & (ring->desc_count - 1)) ||
            ring->text_size < 16 || (ring->text_size & (ring->text_size - 1)))
                return -EBADMSG;
        /* At most one lap of the descriptor ring: a damaged tail cannot make
         * the walk run for 2^62 ids. */
        for (id = tail; id != head && ((head - id) & DESC_ID_MASK) < ring->desc_count; id = (id + 1) & DESC_ID_MASK)
                if ((r = walk_one(l, ring, id, visit, userdata)) != 0)
                        return r;
        return walk_one(l, ring, head, visit, userdata);
}

struct ring_copy {
        uint8_t prb[PRINTK_STRUCT_MAX];
        uint8_t *descs, *infos, *text;
};

static void ring_copy_done(struct ring_copy *c) {
        free(c->descs);
        free(c->infos);
        free(c->text);
}

/* Reads len bytes at vaddr into a new buffer; names what failed in why. */
static int read_part(struct kvaddr *k, uint64_t vaddr, uint64_t len, const char *what, uint8_t **ret, char *why,
                     size_t why_len) {
        uint8_t *buf = malloc(len ? len : 1);
        int r;

        if (!buf)
                return -ENOMEM;
        r = kvaddr_read(k, vaddr, buf, len);
        if (r < 0) {
                free(buf);
                snprintf(why, why_len, "the printk ring's %s (%llu bytes at 0x%llx) %s", what, (unsigned long long)len,
                         (unsigned long long)vaddr,
                         r == -ENOENT ? "is not in this dump: its pages were left out or are unmapped" : strerror(-r));
                return r;
        }
        *ret = buf;
        return 0;
}

int printk_read(struct vmcore *v, struct kvaddr *k, printk_visit visit, void *userdata, char *why, size_t why_len) {
        const struct vmcoreinfo *vi = vmcore_vmcoreinfo(v);
        _cleanup_(ring_copy_done) struct ring_copy c = {};
        struct printk_layout l;
        struct printk_ring ring;
        uint64_t prb, count_bits, size_bits;
        char missing[512];
        int r;

        if (!vi) {
                snprintf(why, why_len, "no usable VMCOREINFO, so the kernel log cannot be found");
                return -ENOENT;
        }
        /* Kernels before 5.10 keep the log in log_buf. */
        if (vmcoreinfo_symbol(vi, "prb", &prb) < 0)
                return logbuf_read(v, k, visit, userdata, why, why_len);
        if (printk_layout_init(vi, &l, missing, sizeof(missing)) < 0) {
                snprintf(why, why_len, "VMCOREINFO lacks %s", missing);
                return -ENOENT;
        }
        if (!layout_ok(&l)) {
                snprintf(why, why_len, "VMCOREINFO describes a printk ring whose fields do not fit its structs");
                return -EBADMSG;
        }
        /* SYMBOL(prb) is the pointer variable; the ring is where it points. */
        if ((r = kvaddr_read(k, prb, &prb, sizeof(prb))) < 0 ||
            (r = kvaddr_read(k, prb, c.prb, (size_t)l.prb_size)) < 0) {
                snprintf(why, why_len, "the printk_ringbuffer at SYMBOL(prb) is not in this dump");
                return r;
        }
        count_bits = le32(c.prb + l.desc_ring + l.count_bits);
        size_bits = le32(c.prb + l.text_data_ring + l.size_bits);
        ring.desc_count = 1ull << (count_bits & 63);
        ring.text_size = 1ull << (size_bits & 63);
        if (count_bits >= 63 || size_bits >= 63 || ring.desc_count > PRINTK_DESCS_MAX || ring.text_size > PRINTK_TEXT_MAX ||
            ring.text_size < 16) {
                snprintf(why, why_len, "the printk ring claims 2^%llu descriptors and 2^%llu bytes of text",
                         (unsigned long long)count_bits, (unsigned long long)size_bits);
                return -EBADMSG;
        }
        if ((r = read_part(k, le64(c.prb + l.desc_ring + l.descs), ring.desc_count * (uint64_t)l.desc_size,
                           "descriptors", &c.descs, why, why_len)) < 0 ||
            (r = read_part(k, le64(c.prb + l.desc_ring + l.infos), ring.desc_count * (uint64_t)l.info_size,
                           "record infos", &c.infos, why, why_len)) < 0 ||
            (r = read_part(k, le64(c.prb + l.text_data_ring + l.data), ring.text_size, "text", &c.text, why,
                           why_len)) < 0)
                return r;
        ring.prb = c.prb;
        ring.descs = c.descs;
        ring.infos = c.infos;
        ring.text = c.text;
        r = printk_ring_walk(&l, &ring, visit, userdata);
        if (r == -EBADMSG)
                snprintf(why, why_len, "the printk ring is damaged");
        return r;
}

/* Appends, within out_len, and counts what it would need. */
static void put(char *out, size_t out_len, size_t *at, const char *s, size_t n) {
        if (*at < out_len)
                memcpy(out + *at, s, *at + n <= out_len ? n : out_len - *at);
        *at += n;
}

size_t printk_format(const struct printk_record *r, char *out, size_t out_len) {
        char head[64], esc[16];
        size_t at = 0, indent;
        int n;

        n = snprintf(head, sizeof(head), "[%5llu.%06llu] ", (unsigned long long)(r->ts_nsec / 1000000000),
                     (unsigned long long)(r->ts_nsec % 1000000000 / 1000));
        if (r->has_caller_id) {
                char cid[16];

                snprintf(cid, sizeof(cid), "%c%u", r->caller_id & CALLER_IS_CPU ? 'C' : 'T', r->caller_id & ~CALLER_IS_CPU);
                n += snprintf(head + n, sizeof(head) - (size_t)n, "[%*s] ", CALLER_ID_WIDTH, cid);
        }
        indent = (size_t)n;
        put(out, out_len, &at, head, indent);
        for (size_t i = 0; i < r->text_len; i++) {
                /* makedumpfile reads the text as (signed) char: a byte of
                 * 0x80 or more prints as \xffffffNN, and so here. */
                int c = (signed char)r->text[i];

                if (c == '\n') {
                        put(out, out_len, &at, "\n", 1);
                        for (size_t s = 0; s < indent; s++)
                                put(out, out_len, &at, " ", 1);
                } else if (c >= 0 && (isprint(c) || isspace(c))) {
                        char ch = (char)c;

                        put(out, out_len, &at, &ch, 1);
                } else {
                        n = snprintf(esc, sizeof(esc), "\\x%02x", c);
                        put(out, out_len, &at, esc, (size_t)n);
                }
        }
        put(out, out_len, &at, "\n", 1);
        return at;
}
