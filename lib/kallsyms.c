/* kallsyms from a dump: the compressed names, their token table, and the
 * offsets that give each symbol's address (kernel/kallsyms.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "cleanup.h"
#include "kallsyms.h"
#include "unaligned.h"
#include "vmcoreinfo.h"

/* A token is a short string; scripts/kallsyms.c makes them from pairs. */
#define TOKEN_MAX 256

struct symbol {
        uint64_t address;
        uint32_t name;          /* offset into names */
};

struct kallsyms {
        struct symbol *symbols; /* sorted by address */
        size_t count;
        char *names;            /* NUL-separated */
};

/* What VMCOREINFO says about the table. */
struct table {
        uint64_t names, num_syms, token_table, token_index, offsets, relative_base;
};

static int read_table(const struct vmcoreinfo *vi, struct table *t, char *why, size_t why_len) {
        static const char *const names[] = { "kallsyms_names", "kallsyms_num_syms", "kallsyms_token_table",
                                              "kallsyms_token_index", "kallsyms_offsets", "kallsyms_relative_base" };
        uint64_t *fields[] = { &t->names, &t->num_syms, &t->token_table, &t->token_index, &t->offsets, &t->relative_base };
        char missing[256] = "";

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (vmcoreinfo_symbol(vi, names[i], fields[i]) < 0)
                        vmcoreinfo_add_missing(missing, sizeof(missing), names[i]);
        if (missing[0]) {
                /* Kernels before 6.0 and those without CONFIG_KALLSYMS. */
                snprintf(why, why_len, "VMCOREINFO lacks SYMBOL(%s)", missing);
                return -ENOENT;
        }
        return 0;
}

/* How far the names may run: to the next table part the kernel placed
 * after them, within KALLSYMS_NAMES_MAX. */
static size_t names_span(const struct table *t) {
        uint64_t next[] = { t->token_table, t->token_index, t->offsets, t->relative_base, t->num_syms };
        uint64_t end = t->names + KALLSYMS_NAMES_MAX;

        for (size_t i = 0; i < sizeof(next) / sizeof(next[0]); i++)
                if (next[i] > t->names && next[i] < end)
                        end = next[i];
        return (size_t)(end - t->names);
}

int kallsyms_expand(const uint8_t *names, size_t len, size_t *at, const char *tokens, size_t tokens_len,
                    const uint16_t token_index[256], char *out, size_t out_len) {
        size_t i = *at, n, o = 0;
        bool type = true;

        if (i >= len)
                return -EBADMSG;
        n = names[i++];
        /* Since 6.1 (commit 73bbb94466fd) a length over 127 takes two bytes. */
        if (n & 0x80) {
                if (i >= len)
                        return -EBADMSG;
                n = (n & 0x7f) | ((size_t)names[i++] << 7);
        }
        if (n > len - i)
                return -EBADMSG;
        for (size_t k = 0; k < n; k++) {
                size_t tok = token_index[names[i + k]];

                if (tok >= tokens_len)
                        return -EBADMSG;
                for (; tok < tokens_len && tokens[tok]; tok++) {
                        /* The first letter of a name is its type (t, T, d ...). */
                        if (type) {
                                type = false;
                                continue;
                        }
                        if (o + 1 < out_len)
                                out[o++] = tokens[tok];
                }
        }
        if (out_len)
                out[o] = 0;
        *at = i + n;
        return 0;
}

/* kallsyms_sym_address(): with CONFIG_KALLSYMS_ABSOLUTE_PERCPU (x86_64 SMP
 * until 6.15, commit 01157ddc58dc) an offset of 0 or more is an absolute
 * address (a per-CPU variable) and a negative one counts down from
 * relative_base - 1; without it, offsets are unsigned from relative_base.
 * Kernel text never lies 2 GiB past relative_base, so a negative offset
 * anywhere means the first scheme. */
static void set_addresses(struct symbol *s, int32_t *offsets, size_t count, uint64_t base) {
        bool absolute_percpu = false;

        for (size_t i = 0; i < count; i++) {
                offsets[i] = (int32_t)le32((const uint8_t *)&offsets[i]);
                absolute_percpu |= offsets[i] < 0;
        }
        for (size_t i = 0; i < count; i++) {
                int64_t o = offsets[i];

                if (!absolute_percpu)
                        s[i].address = base + (uint32_t)o;
                else
                        s[i].address = o >= 0 ? (uint64_t)o : base - 1 - (uint64_t)o;
        }
}

static int compare_address(const void *a, const void *b) {
        const struct symbol *x = a, *y = b;

        return x->address < y->address ? -1 : x->address > y->address;
}

struct raw {
        uint8_t *names;
        size_t names_len;
        char tokens[65536 + TOKEN_MAX];
        uint16_t token_index[256];
        int32_t *offsets;
};

static int read_raw(struct kvaddr *k, const struct table *t, uint64_t count, struct raw *raw) {
        uint8_t index[512];
        size_t tokens_len = 0;
        int r;

        if ((r = kvaddr_read(k, t->token_index, index, sizeof(index))) < 0)
                return r;
        for (size_t i = 0; i < 256; i++) {
                raw->token_index[i] = le16(index + 2 * i);
                if ((size_t)raw->token_index[i] + TOKEN_MAX > tokens_len)
                        tokens_len = (size_t)raw->token_index[i] + TOKEN_MAX;
        }
        if ((r = kvaddr_read(k, t->token_table, raw->tokens, tokens_len)) < 0)
                return r;
        raw->names_len = names_span(t);
        if (!(raw->names = malloc(raw->names_len)) || !(raw->offsets = malloc(count * 4)))
                return -ENOMEM;
        if ((r = kvaddr_read(k, t->names, raw->names, raw->names_len)) < 0 ||
            (r = kvaddr_read(k, t->offsets, raw->offsets, count * 4)) < 0)
                return r;
        return 0;
}

static int expand_all(struct kallsyms *ks, const struct raw *raw, char *why, size_t why_len) {
        size_t at = 0, used = 0, cap = raw->names_len * 2 + 1;
        char name[FRAME_NAME_MAX + 1];

        if (!(ks->names = malloc(cap)))
                return -ENOMEM;
        for (size_t i = 0; i < ks->count; i++) {
                size_t n;

                if (kallsyms_expand(raw->names, raw->names_len, &at, raw->tokens, sizeof(raw->tokens),
                                    raw->token_index, name, sizeof(name)) < 0) {
                        snprintf(why, why_len, "kallsyms name %zu of %zu is damaged", i, ks->count);
                        return -EBADMSG;
                }
                n = strlen(name) + 1;
                if (used + n > cap) {
                        char *more = realloc(ks->names, cap *= 2);

                        if (!more)
                                return -ENOMEM;
                        ks->names = more;
                }
                memcpy(ks->names + used, name, n);
                ks->symbols[i].name = (uint32_t)used;
                used += n;
        }
        return 0;
}

int kallsyms_new(struct kvaddr *k, const struct vmcoreinfo *vi, struct kallsyms **ret, char *why, size_t why_len) {
        _cleanup_free_ struct raw *raw = calloc(1, sizeof(*raw));
        struct kallsyms *ks;
        struct table t;
        uint64_t base;
        uint32_t count;
        int r;

        if (!raw)
                return -ENOMEM;
        if ((r = read_table(vi, &t, why, why_len)) < 0)
                return r;
        if (kvaddr_read(k, t.num_syms, &count, sizeof(count)) < 0 || kvaddr_read(k, t.relative_base, &base, 8) < 0) {
                snprintf(why, why_len, "the kallsyms tables are not in this dump");
                return -ENOENT;
        }
        count = le32((uint8_t *)&count);
        if (count == 0 || count > KALLSYMS_SYMS_MAX) {
                snprintf(why, why_len, "kallsyms_num_syms is %u", count);
                return -EBADMSG;
        }
        if (!(ks = calloc(1, sizeof(*ks))) || !(ks->symbols = calloc(count, sizeof(*ks->symbols)))) {
                kallsyms_free(ks);
                return -ENOMEM;
        }
        ks->count = count;
        if ((r = read_raw(k, &t, count, raw)) < 0 || (r = expand_all(ks, raw, why, why_len)) < 0) {
                if (r != -EBADMSG && r != -ENOMEM)
                        snprintf(why, why_len, "the kallsyms tables are not in this dump");
                free(raw->names);
                free(raw->offsets);
                kallsyms_free(ks);
                return r == -EBADMSG || r == -ENOMEM ? r : -ENOENT;
        }
        set_addresses(ks->symbols, raw->offsets, count, le64((uint8_t *)&base));
        free(raw->names);
        free(raw->offsets);
        qsort(ks->symbols, ks->count, sizeof(*ks->symbols), compare_address);
        *ret = ks;
        return 0;
}

struct kallsyms *kallsyms_free(struct kallsyms *ks) {
        if (ks) {
                free(ks->symbols);
                free(ks->names);
                free(ks);
        }
        return NULL;
}

int kallsyms_lookup(const struct kallsyms *ks, uint64_t addr, char *out, size_t out_len) {
        size_t lo = 0, hi = ks->count;
        uint64_t size;

        if (ks->count == 0 || addr < ks->symbols[0].address)
                return -ENOENT;
        while (hi - lo > 1) {
                size_t mid = lo + (hi - lo) / 2;

                if (ks->symbols[mid].address <= addr)
                        lo = mid;
                else
                        hi = mid;
        }
        /* Aliases share an address; the kernel names the first one. */
        while (lo > 0 && ks->symbols[lo - 1].address == ks->symbols[lo].address)
                lo--;
        hi = lo + 1;
        while (hi < ks->count && ks->symbols[hi].address == ks->symbols[lo].address)
                hi++;
        if (hi == ks->count)
                return -ENOENT;    /* past the last symbol: no size to check against */
        size = ks->symbols[hi].address - ks->symbols[lo].address;
        snprintf(out, out_len, "%s+0x%llx/0x%llx", ks->names + ks->symbols[lo].name,
                 (unsigned long long)(addr - ks->symbols[lo].address), (unsigned long long)size);
        return 0;
}

int kallsyms_address(const struct kallsyms *ks, const char *name, uint64_t *ret) {
        for (size_t i = 0; i < ks->count; i++)
                if (strcmp(ks->names + ks->symbols[i].name, name) == 0) {
                        *ret = ks->symbols[i].address;
                        return 0;
                }
        return -ENOENT;
}
