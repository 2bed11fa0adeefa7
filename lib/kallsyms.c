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

/* The table as the kernel keeps it: names stay compressed and addresses
 * stay offsets. A crash report names one RIP and finds one symbol, so
 * expanding and sorting every name first (77 million instructions on the
 * lab's 6.1 kernel, 5% of a whole -d 31 dump) is wasted; each question is a
 * pass over the table instead. */
struct kallsyms {
        size_t count;
        uint8_t *names;
        size_t names_len;
        char tokens[65536 + TOKEN_MAX];
        uint16_t token_index[256];
        int32_t *offsets;       /* host order */
        uint64_t relative_base;
        bool absolute_percpu;
};

DEFINE_CLEANUP_FUNC(struct kallsyms, kallsyms_free);

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
static void read_offsets(struct kallsyms *ks) {
        for (size_t i = 0; i < ks->count; i++) {
                ks->offsets[i] = (int32_t)le32((const uint8_t *)&ks->offsets[i]);
                ks->absolute_percpu |= ks->offsets[i] < 0;
        }
}

static uint64_t symbol_address(const struct kallsyms *ks, size_t i) {
        int64_t o = ks->offsets[i];

        if (!ks->absolute_percpu)
                return ks->relative_base + (uint32_t)o;
        return o >= 0 ? (uint64_t)o : ks->relative_base - 1 - (uint64_t)o;
}

/* Where the entry after the one at names[at] starts; -EBADMSG past the end.
 * The length is one byte, or two since 6.1 (commit 73bbb94466fd). */
static int next_name(const struct kallsyms *ks, size_t *at) {
        size_t i = *at, n;

        if (i >= ks->names_len)
                return -EBADMSG;
        n = ks->names[i++];
        if (n & 0x80) {
                if (i >= ks->names_len)
                        return -EBADMSG;
                n = (n & 0x7f) | ((size_t)ks->names[i++] << 7);
        }
        if (n > ks->names_len - i)
                return -EBADMSG;
        *at = i + n;
        return 0;
}

static int read_raw(struct kvaddr *k, const struct table *t, struct kallsyms *ks) {
        uint8_t index[512];
        size_t tokens_len = 0;
        int r;

        if ((r = kvaddr_read(k, t->token_index, index, sizeof(index))) < 0)
                return r;
        for (size_t i = 0; i < 256; i++) {
                ks->token_index[i] = le16(index + 2 * i);
                if ((size_t)ks->token_index[i] + TOKEN_MAX > tokens_len)
                        tokens_len = (size_t)ks->token_index[i] + TOKEN_MAX;
        }
        if ((r = kvaddr_read(k, t->token_table, ks->tokens, tokens_len)) < 0)
                return r;
        ks->names_len = names_span(t);
        if (!(ks->names = malloc(ks->names_len)) || !(ks->offsets = malloc(ks->count * 4)))
                return -ENOMEM;
        if ((r = kvaddr_read(k, t->names, ks->names, ks->names_len)) < 0 ||
            (r = kvaddr_read(k, t->offsets, ks->offsets, ks->count * 4)) < 0)
                return r;
        return 0;
}

/* Every entry must fit in the names (a token index past the table is
 * caught as each name is expanded). */
static int check_names(const struct kallsyms *ks, char *why, size_t why_len) {
        size_t at = 0;

        for (size_t i = 0; i < ks->count; i++)
                if (next_name(ks, &at) < 0) {
                        snprintf(why, why_len, "kallsyms name %zu of %zu is damaged", i, ks->count);
                        return -EBADMSG;
                }
        return 0;
}

int kallsyms_new(struct kvaddr *k, const struct vmcoreinfo *vi, struct kallsyms **ret, char *why, size_t why_len) {
        _cleanup_(kallsyms_freep) struct kallsyms *ks = NULL;
        struct table t;
        uint64_t base;
        uint32_t count;
        int r;

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
        if (!(ks = calloc(1, sizeof(*ks))))
                return -ENOMEM;
        ks->count = count;
        ks->relative_base = le64((uint8_t *)&base);
        if ((r = read_raw(k, &t, ks)) < 0) {
                if (r != -ENOMEM)
                        snprintf(why, why_len, "the kallsyms tables are not in this dump");
                return r == -ENOMEM ? r : -ENOENT;
        }
        if ((r = check_names(ks, why, why_len)) < 0)
                return r;
        read_offsets(ks);
        *ret = TAKE_PTR(ks);
        return 0;
}

struct kallsyms *kallsyms_free(struct kallsyms *ks) {
        if (ks) {
                free(ks->names);
                free(ks->offsets);
                free(ks);
        }
        return NULL;
}

/* Expands the name of symbol i into out. */
static int symbol_name(const struct kallsyms *ks, size_t i, char *out, size_t out_len) {
        size_t at = 0;

        for (size_t k = 0; k < i; k++)
                if (next_name(ks, &at) < 0)
                        return -EBADMSG;
        return kallsyms_expand(ks->names, ks->names_len, &at, ks->tokens, sizeof(ks->tokens), ks->token_index, out,
                               out_len);
}

/* The symbol at or below addr, as the kernel's get_symbol_pos() picks it:
 * of aliases (one address) the first in the table; its size reaches to the
 * next higher address. -ENOENT below the first symbol or past the last. */
int kallsyms_lookup(const struct kallsyms *ks, uint64_t addr, char *out, size_t out_len) {
        uint64_t best_addr = 0, next = UINT64_MAX;
        size_t best = SIZE_MAX;
        char name[FRAME_NAME_MAX + 1];

        for (size_t i = 0; i < ks->count; i++) {
                uint64_t a = symbol_address(ks, i);

                if (a <= addr && (best == SIZE_MAX || a > best_addr)) {
                        best = i;
                        best_addr = a;
                }
        }
        if (best == SIZE_MAX)
                return -ENOENT;
        for (size_t i = 0; i < ks->count; i++) {
                uint64_t a = symbol_address(ks, i);

                if (a > best_addr && a < next)
                        next = a;
        }
        if (next == UINT64_MAX || symbol_name(ks, best, name, sizeof(name)) < 0)
                return -ENOENT;    /* past the last symbol: no size to check against */
        snprintf(out, out_len, "%s+0x%llx/0x%llx", name, (unsigned long long)(addr - best_addr),
                 (unsigned long long)(next - best_addr));
        return 0;
}

/* Whether the entry at names[at] (checked by check_names()) expands to name,
 * compared as it expands: most entries differ in their first letters. */
static bool name_is(const struct kallsyms *ks, size_t at, const char *name) {
        size_t n = ks->names[at++], o = 0;
        bool type = true;

        if (n & 0x80)
                n = (n & 0x7f) | ((size_t)ks->names[at++] << 7);
        for (size_t k = 0; k < n; k++)
                for (size_t tok = ks->token_index[ks->names[at + k]]; tok < sizeof(ks->tokens) && ks->tokens[tok]; tok++) {
                        if (type) {
                                type = false;
                                continue;
                        }
                        if (name[o] != ks->tokens[tok])
                                return false;
                        o++;
                }
        return name[o] == 0;
}

int kallsyms_address(const struct kallsyms *ks, const char *name, uint64_t *ret) {
        size_t at = 0;

        for (size_t i = 0; i < ks->count; i++) {
                if (name_is(ks, at, name)) {
                        *ret = symbol_address(ks, i);
                        return 0;
                }
                if (next_name(ks, &at) < 0)
                        return -ENOENT;
        }
        return -ENOENT;
}
