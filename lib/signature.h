/* The crash signature: why a kernel died, taken from its log alone, and a
 * hash of it that names the same bug on any host, boot, memory size or
 * KASLR offset. The rules are in man/dumptool.8 (CRASH SIGNATURE); a
 * change to what the hash covers must change SIGNATURE_VERSION. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bumped whenever the hash input changes, so that kdumpd never groups
 * hashes of two different rule sets together. */
#define SIGNATURE_VERSION 1
/* Call-trace frames the hash covers. */
#define SIGNATURE_FRAMES 8

struct signature {
        char *panic;            /* the panic message, "Kernel panic - not syncing: " removed */
        char *header;           /* the BUG/Oops/WARNING line that opened the oops */
        char *rip;              /* "func+0x16/0x20 [mod]" of the kernel RIP: line */
        bool rip_from_kallsyms; /* rip was resolved from the CPU's saved registers */
        char *function;         /* rip without offset, clone suffix or module */
        char *frames[SIGNATURE_FRAMES];
        size_t n_frames;
        char *taint;            /* the taint letters, "" for "Not tainted", NULL if unknown */
        char *modules;          /* "Modules linked in:" as printed, NULL if not printed */
        char *comm;             /* the task the CPU:/PID: line names */
        int64_t pid, cpu;       /* -1 when unknown */
        char *reason;           /* normalised: what the hash covers besides the frames */
        uint8_t hash[32];       /* SHA-256, set by signature_finish() */
};

/* Parses a kernel log as `dumptool dmesg` prints it (or as dmesg(1) does;
 * the "[    8.843495] " and "[      T1] " columns are optional) from
 * text[0..len), at most SIGNATURE_LOG_MAX bytes of it (the end counts).
 * Pure. Returns 0 with *ret set (free with signature_free), even when the
 * log holds no panic; -ENOMEM. */
int signature_parse(const char *text, size_t len, struct signature **ret);
struct signature *signature_free(struct signature *s);

/* Records a RIP resolved elsewhere (from kallsyms, when the log has none):
 * "func+0xoff/0xsize". Returns 0 or -ENOMEM. */
int signature_set_rip(struct signature *s, const char *rip);

/* Computes reason and hash from what was parsed. Call once, last. Returns 0
 * or -ENOMEM. */
int signature_finish(struct signature *s);

/* The hash as 64 lowercase hex digits and a NUL. */
void signature_hex(const struct signature *s, char out[65]);

/* The normalisation the hash applies to a line, in place: symbol offsets
 * ("+0x16/0x20") removed, each number (decimal or hex, 0x or not) made "N",
 * runs of blanks made one space. Exposed for tests. */
void signature_normalize(char *line);
