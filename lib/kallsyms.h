/* The crashed kernel's own symbol table (kallsyms), read through the
 * SYMBOL(kallsyms_*) entries VMCOREINFO has carried since 6.0 (commit
 * 5fd8fea935a1), so that addresses can be named without a vmlinux. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kvaddr.h"

struct kallsyms;

/* Reads the table (names stay compressed until asked for). Returns 0, or a negative errno with a
 * one-line reason in why: -ENOENT when VMCOREINFO lacks the entries or the
 * pages are not in the dump, -EBADMSG for a table that makes no sense. */
int kallsyms_new(struct kvaddr *k, const struct vmcoreinfo *vi, struct kallsyms **ret, char *why, size_t why_len);
struct kallsyms *kallsyms_free(struct kallsyms *ks);

/* Names addr as "func+0x16/0x20" into out (out_len bytes). Returns 0, or
 * -ENOENT when addr lies outside the table. */
int kallsyms_lookup(const struct kallsyms *ks, uint64_t addr, char *out, size_t out_len);

/* The address of the symbol called name. Returns 0 or -ENOENT. */
int kallsyms_address(const struct kallsyms *ks, const char *name, uint64_t *ret);

/* Expands one kallsyms_names entry at names[*at..len) into out (without
 * its type letter), moving *at past it. Pure, for the fuzz target. Returns
 * 0, or -EBADMSG when the entry runs past len or a token past tokens. */
int kallsyms_expand(const uint8_t *names, size_t len, size_t *at, const char *tokens, size_t tokens_len,
                    const uint16_t token_index[256], char *out, size_t out_len);
