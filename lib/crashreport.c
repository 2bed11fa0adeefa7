/* The crash report: utsname, log, signature, kallsyms and modules. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "caps.h"
#include "cleanup.h"
#include "crashreport.h"
#include "dmesg.h"
#include "elfcore.h"
#include "json.h"
#include "kallsyms.h"
#include "kvaddr.h"
#include "unaligned.h"

/* struct elf_prstatus on x86_64 (include/linux/elfcore.h): pr_pid at 32,
 * pr_reg (struct user_regs_struct) at 112, whose rip is the 17th word. */
#define PRSTATUS_SIZE_X86_64 336
#define PRSTATUS_PID 32
#define PRSTATUS_RIP (112 + 16 * 8)
#define NT_PRSTATUS 1
/* struct module: enum module_state state, then struct list_head list,
 * then char name[MODULE_NAME_LEN]; unchanged since 2.6. */
#define MODULE_LIST_OFFSET 8
#define MODULE_NAME_OFFSET 24
#define MODULE_NAME_LEN 56

DEFINE_CLEANUP_FUNC(struct kvaddr, kvaddr_free);
DEFINE_CLEANUP_FUNC(struct kallsyms, kallsyms_free);

static void copy_field(char dst[UTS_LEN], const char *src) {
        snprintf(dst, UTS_LEN, "%s", src ? src : "");
}

/* From the kdump header when there is one, else from init_uts_ns, else the
 * release VMCOREINFO carries. */
static void read_utsname(struct vmcore *v, struct kvaddr *k, struct crash_report *r) {
        const struct vmcoreinfo *vi = vmcore_vmcoreinfo(v);
        char uts[6][UTS_LEN];
        uint64_t ns;
        int64_t name;

        if (vmcore_is_kdump(v)) {
                copy_field(r->nodename, vmcore_utsname(v, 1));
                copy_field(r->release, vmcore_utsname(v, 2));
                copy_field(r->version, vmcore_utsname(v, 3));
                copy_field(r->machine, vmcore_utsname(v, 4));
                return;
        }
        if (vi && k && vmcoreinfo_symbol(vi, "init_uts_ns", &ns) == 0 &&
            vmcoreinfo_number(vi, "OFFSET", "uts_namespace.name", &name) == 0 && name >= 0 && name < 4096 &&
            kvaddr_read(k, ns + (uint64_t)name, uts, sizeof(uts)) == 0) {
                for (int i = 0; i < 6; i++)
                        uts[i][UTS_LEN - 1] = 0;
                copy_field(r->nodename, uts[1]);
                copy_field(r->release, uts[2]);
                copy_field(r->version, uts[3]);
                copy_field(r->machine, uts[4]);
                return;
        }
        copy_field(r->release, vi ? vmcoreinfo_get(vi, "OSRELEASE") : NULL);
}

static int read_log(struct vmcore *v, struct crash_report *r) {
        FILE *f = open_memstream(&r->log, &r->log_len);
        long n;

        if (!f)
                return -ENOMEM;
        n = dmesg_write(v, f, r->log_problem, sizeof(r->log_problem));
        if (fclose(f) != 0)
                n = -ENOMEM;
        if (n < 0) {
                free(r->log);
                r->log = NULL;
                r->log_len = 0;
                return n == -ENOMEM ? -ENOMEM : 0;
        }
        r->log_records = n;
        return signature_parse(r->log, r->log_len, &r->signature);
}

struct prstatus_pick {
        const uint8_t *notes;
        int64_t pid, cpu;
        long index;
        uint64_t rip;
        bool found;
};

/* The CPU that crashed: the one running the PID the log's CPU: line
 * names; for PID 0 (idle runs on each CPU), the note at the CPU's index. */
static int pick_prstatus(const struct elfcore_note *n, void *userdata) {
        struct prstatus_pick *p = userdata;
        const uint8_t *d = p->notes + n->desc_offset;

        if (strcmp(n->name, "CORE") != 0 || n->type != NT_PRSTATUS || n->desc_size < PRSTATUS_SIZE_X86_64)
                return 0;
        if ((int64_t)le32(d + PRSTATUS_PID) == p->pid && (p->pid != 0 || p->index == p->cpu)) {
                p->rip = le64(d + PRSTATUS_RIP);
                p->found = true;
                return 1;
        }
        p->index++;
        return 0;
}

static int rip_from_kallsyms(struct vmcore *v, const struct kallsyms *ks, struct crash_report *r) {
        struct prstatus_pick p = { .pid = r->signature->pid, .cpu = r->signature->cpu };
        char name[FRAME_NAME_MAX + 64];
        size_t len;

        p.notes = vmcore_notes(v, &len);
        if (p.pid < 0 || !p.notes || vmcore_headers(v)->machine != 62) {
                snprintf(r->kallsyms_problem, sizeof(r->kallsyms_problem), "no saved registers for the crashed task");
                return 0;
        }
        elfcore_notes_walk(p.notes, len, pick_prstatus, &p);
        if (!p.found || kallsyms_lookup(ks, p.rip, name, sizeof(name)) < 0) {
                snprintf(r->kallsyms_problem, sizeof(r->kallsyms_problem),
                         p.found ? "the crashed CPU's RIP is outside kallsyms" : "no saved registers for PID %lld",
                         (long long)p.pid);
                return 0;
        }
        return signature_set_rip(r->signature, name);
}

static int add_module(struct crash_report *r, const char *name, size_t len) {
        char **more = realloc(r->modules, (r->n_modules + 1) * sizeof(*more));

        if (!more)
                return -ENOMEM;
        r->modules = more;
        if (!(more[r->n_modules] = strndup(name, len)))
                return -ENOMEM;
        r->n_modules++;
        return 0;
}

/* Walks the kernel's `modules` list: each struct module hangs on it by
 * its list member. */
static int modules_from_kallsyms(struct kvaddr *k, const struct kallsyms *ks, struct crash_report *r) {
        uint64_t head, node;
        int e;

        if (kallsyms_address(ks, "modules", &head) < 0 || kvaddr_read(k, head, &node, 8) < 0)
                return 0;
        for (unsigned i = 0; (node = le64((uint8_t *)&node)) != head; i++) {
                char name[MODULE_NAME_LEN + 1] = "";

                if (i >= MODULES_MAX || kvaddr_read(k, node - MODULE_LIST_OFFSET + MODULE_NAME_OFFSET, name,
                                                    MODULE_NAME_LEN) < 0)
                        return 0;
                if ((e = add_module(r, name, strnlen(name, MODULE_NAME_LEN))) < 0)
                        return e;
                if (kvaddr_read(k, node, &node, 8) < 0)
                        return 0;
        }
        r->modules_source = "kallsyms";
        return 0;
}

static int modules_from_log(struct crash_report *r) {
        const char *p = r->signature ? r->signature->modules : NULL;
        int e;

        if (!p)
                return 0;
        while (*p) {
                size_t n = strcspn(p, " ");

                /* "virtio_blk(E)" / "[last unloaded: x]": the name only */
                if (n && *p != '[' && (e = add_module(r, p, strcspn(p, " ("))) < 0)
                        return e;
                if (*p == '[')
                        break;
                p += n;
                p += strspn(p, " ");
        }
        r->modules_source = "log";
        return 0;
}

/* kallsyms names a RIP the log lacks, and lists modules the log did not. */
static int use_kallsyms(struct vmcore *v, struct kvaddr *k, struct crash_report *r) {
        _cleanup_(kallsyms_freep) struct kallsyms *ks = NULL;
        const struct vmcoreinfo *vi = vmcore_vmcoreinfo(v);
        int e;

        if (!vi || !k)
                return 0;
        if ((e = kallsyms_new(k, vi, &ks, r->kallsyms_problem, sizeof(r->kallsyms_problem))) < 0)
                return e == -ENOMEM ? e : 0;
        if (r->signature && !r->signature->rip && (e = rip_from_kallsyms(v, ks, r)) < 0)
                return e;
        if (!r->modules_source && (e = modules_from_kallsyms(k, ks, r)) < 0)
                return e;
        return 0;
}

int crash_report_new(struct vmcore *v, struct crash_report **ret) {
        _cleanup_(kvaddr_freep) struct kvaddr *k = NULL;
        const struct vmcoreinfo *vi = vmcore_vmcoreinfo(v);
        struct crash_report *r = calloc(1, sizeof(*r));
        char missing[256];
        int e;

        if (!r)
                return -ENOMEM;
        r->crash_time = -1;
        if (vi)
                vmcoreinfo_decimal(vi, "CRASHTIME", &r->crash_time);
        r->cpus = vmcore_notes_info(v)->n_prstatus;
        if (kvaddr_new(v, &k, missing, sizeof(missing)) < 0)
                k = NULL;
        read_utsname(v, k, r);
        if ((e = read_log(v, r)) < 0 || (e = modules_from_log(r)) < 0 || (e = use_kallsyms(v, k, r)) < 0 ||
            (r->signature && (e = signature_finish(r->signature)) < 0)) {
                crash_report_free(r);
                return e;
        }
        *ret = r;
        return 0;
}

struct crash_report *crash_report_free(struct crash_report *r) {
        if (!r)
                return NULL;
        free(r->log);
        signature_free(r->signature);
        for (size_t i = 0; i < r->n_modules; i++)
                free(r->modules[i]);
        free(r->modules);
        free(r);
        return NULL;
}

const char *crash_report_reason(const struct crash_report *r) {
        const struct signature *s = r->signature;

        if (!s)
                return NULL;
        return s->panic ? s->panic : s->header;
}

static void json_strings(FILE *f, const char *key, char *const *v, size_t n, const char *after) {
        fprintf(f, "\"%s\": [", key);
        for (size_t i = 0; i < n; i++) {
                json_string(f, v[i]);
                fputs(i + 1 < n ? ", " : "", f);
        }
        fprintf(f, "]%s", after);
}

static void json_signature(const struct signature *s, FILE *f) {
        char hex[65];

        signature_hex(s, hex);
        json_field_string(f, "panic", s->panic, ",\n  ");
        json_field_string(f, "header", s->header, ",\n  ");
        json_field_string(f, "rip", s->rip, ",\n  ");
        json_field_string(f, "rip_source", s->rip ? (s->rip_from_kallsyms ? "kallsyms" : "log") : NULL, ",\n  ");
        json_field_string(f, "function", s->function, ",\n  ");
        json_strings(f, "frames", s->frames, s->n_frames, ",\n  ");
        json_field_string(f, "taint", s->taint, ",\n  ");
        json_field_string(f, "comm", s->comm, ",\n  ");
        fprintf(f, "\"pid\": %lld,\n  \"cpu\": %lld,\n  ", (long long)s->pid, (long long)s->cpu);
        json_field_string(f, "reason_normalized", s->reason, ",\n  ");
        fprintf(f, "\"signature_version\": %d,\n  ", SIGNATURE_VERSION);
        json_field_string(f, "signature", hex, ",\n  ");
}

int crash_report_json(const struct crash_report *r, FILE *f) {
        char when[32] = "";
        time_t t = (time_t)r->crash_time;
        struct tm tm;

        if (r->crash_time >= 0 && gmtime_r(&t, &tm))
                strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        fputs("{\n  ", f);
        json_field_string(f, "release", r->release[0] ? r->release : NULL, ",\n  ");
        json_field_string(f, "version", r->version[0] ? r->version : NULL, ",\n  ");
        json_field_string(f, "machine", r->machine[0] ? r->machine : NULL, ",\n  ");
        json_field_string(f, "hostname", r->nodename[0] ? r->nodename : NULL, ",\n  ");
        fprintf(f, "\"crash_time\": %lld,\n  ", (long long)r->crash_time);
        json_field_string(f, "crash_time_utc", when[0] ? when : NULL, ",\n  ");
        fprintf(f, "\"cpus\": %u,\n  ", r->cpus);
        json_field_string(f, "reason", crash_report_reason(r), ",\n  ");
        if (r->signature)
                json_signature(r->signature, f);
        json_strings(f, "modules", r->modules, r->n_modules, ",\n  ");
        json_field_string(f, "modules_source", r->modules_source, ",\n  ");
        fprintf(f, "\"log_records\": %ld,\n  ", r->log_records);
        json_field_string(f, "log_problem", r->log ? NULL : r->log_problem, ",\n  ");
        json_field_string(f, "kallsyms_problem", r->kallsyms_problem[0] ? r->kallsyms_problem : NULL, "\n}\n");
        return ferror(f) ? -EIO : 0;
}

static int save_one(int dirfd, const char *name, const struct crash_report *r, bool json, char *why, size_t why_len) {
        char tmp[64];
        FILE *f;
        int fd, e = 0;

        snprintf(tmp, sizeof(tmp), "%s-incomplete", name);
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || !(f = fdopen(fd, "w"))) {
                e = -errno;
                if (fd >= 0)
                        close(fd);
                snprintf(why, why_len, "%s: %s", tmp, strerror(-e));
                return e;
        }
        if (json)
                e = crash_report_json(r, f);
        else if (fwrite(r->log, 1, r->log_len, f) != r->log_len)
                e = -EIO;
        if (fflush(f) != 0 || fsync(fd) < 0)
                e = e ? e : -errno;
        if (fclose(f) != 0 && e == 0)
                e = -errno;
        if (e == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                e = -errno;
        if (e < 0)
                snprintf(why, why_len, "%s: %s", tmp, strerror(-e));
        return e;
}

int crash_report_save(const struct crash_report *r, int dirfd, char *why, size_t why_len) {
        int e = r->log ? save_one(dirfd, "vmcore-dmesg.txt", r, false, why, why_len) : 0;

        if (e == 0)
                e = save_one(dirfd, "crash.json", r, true, why, why_len);
        if (e == 0 && fsync(dirfd) < 0)
                e = -errno;
        return e;
}
