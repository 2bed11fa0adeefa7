/* What a dump says about the crash, without a vmlinux: the kernel's
 * utsname, the crash time, the CPUs, the kernel log, the crash signature
 * (lib/signature) completed from kallsyms, and the loaded modules. It is
 * what dumptool saves as vmcore-dmesg.txt and crash.json before a dump,
 * and what `dumptool info` prints. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "signature.h"
#include "vmcore.h"

#define UTS_LEN 65

struct crash_report {
        char release[UTS_LEN], version[UTS_LEN], machine[UTS_LEN], nodename[UTS_LEN];
        int64_t crash_time;             /* CRASHTIME (seconds since the epoch), -1 if unknown */
        unsigned cpus;                  /* CPUs with saved registers (NT_PRSTATUS) */
        char *log;                      /* the log as `dumptool dmesg` prints it; NULL if unreadable */
        size_t log_len;
        long log_records;
        char log_problem[256];          /* why log is NULL */
        struct signature *signature;    /* from the log; NULL when the log is unreadable */
        char **modules;                 /* from the log's "Modules linked in:", else the module list */
        size_t n_modules;
        const char *modules_source;     /* "log", "kallsyms" or NULL */
        char kallsyms_problem[256];     /* why kallsyms could not help, "" if it did or was not needed */
};

/* Gathers what v holds. Never fails for want of pages: each part that
 * cannot be read is left empty with its reason. Returns 0 or -ENOMEM. */
int crash_report_new(struct vmcore *v, struct crash_report **ret);
struct crash_report *crash_report_free(struct crash_report *r);

/* A one-line reason: the oops header and panic message, as read. */
const char *crash_report_reason(const struct crash_report *r);

/* Writes crash.json (docs in man/dumptool.8). Returns 0 or -EIO. */
int crash_report_json(const struct crash_report *r, FILE *f);

/* Saves vmcore-dmesg.txt (when the log was read) and crash.json into the
 * directory dirfd, each through NAME-incomplete, fsync and rename, so that
 * a crash mid-way never leaves a partial file under the final name. Returns
 * 0, or a negative errno with the file's name in why. */
int crash_report_save(const struct crash_report *r, int dirfd, char *why, size_t why_len);
