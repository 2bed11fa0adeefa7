/* Dump directories, the index, hooks and retention: the parent's work. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "kdkp.h"
#include "store.h"

struct store {
        const struct kdumpd_config *c;
        int root;
        struct dump_index *index;
};

/* The files of a dump directory, in the order of the fds passed (PS_FD_*). */
static const char *const incomplete_names[PS_FDS] = {
        "crash.json-incomplete", "vmcore-dmesg.txt-incomplete", "vmcore-incomplete", "vmcore-incomplete.state",
};
static const char *const all_names[] = {
        "crash.json-incomplete", "vmcore-dmesg.txt-incomplete", "vmcore-incomplete", "vmcore-incomplete.state",
        "crash.json", "vmcore-dmesg.txt", "log", "vmcore",
};

int store_new(const struct kdumpd_config *c, struct store **ret, char *why, size_t why_len) {
        struct store *s = calloc(1, sizeof(*s));
        int e;

        if (!s)
                return -ENOMEM;
        s->c = c;
        if (mkdir(c->dump_dir, 0700) < 0 && errno != EEXIST) {
                e = -errno;
                snprintf(why, why_len, "%s: %s", c->dump_dir, strerror(errno));
                free(s);
                return e;
        }
        s->root = open(c->dump_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->root < 0) {
                e = -errno;
                snprintf(why, why_len, "%s: %s", c->dump_dir, strerror(errno));
                free(s);
                return e;
        }
        e = dump_index_open(c->index, &s->index);
        if (e < 0) {
                snprintf(why, why_len, "%s: %s", c->index, strerror(-e));
                store_free(s);
                return e;
        }
        *ret = s;
        return 0;
}

struct store *store_free(struct store *s) {
        if (!s)
                return NULL;
        dump_index_free(s->index);
        if (s->root >= 0)
                close(s->root);
        free(s);
        return NULL;
}

struct dump_index *store_index(struct store *s) {
        return s->index;
}

/* A row whose directory is gone: someone removed the dump by hand. The
 * index follows the disk, and the name is free again. */
static void say_forgotten(const struct dump_record *r) {
        fprintf(stderr, "kdumpd: index: dump %lld's directory %s was removed; forgetting it\n", (long long)r->id, r->dir);
}

static void forget_if_gone(struct store *s, const char *dir) {
        struct dump_record r;

        if (dump_index_find_dir(s->index, dir, &r) == 0) {
                say_forgotten(&r);
                dump_index_remove(s->index, r.id);
        }
}

/* <ip>-<YYYY-MM-DD-HH:MM:SS>, then -2, -3, ... if taken (§10.2). Both
 * parts come from the server: the address it saw and its clock. */
static int make_dir(struct store *s, const char *ip, char *dir, size_t len) {
        char stamp[32];
        time_t now = time(NULL);
        struct tm tm;

        localtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%d-%H:%M:%S", &tm);
        for (int i = 1; i < 1000; i++) {
                if (i == 1)
                        snprintf(dir, len, "%.40s-%.19s", ip, stamp);
                else
                        snprintf(dir, len, "%.40s-%.19s-%d", ip, stamp, i);
                if (mkdirat(s->root, dir, 0700) == 0) {
                        forget_if_gone(s, dir);
                        return 0;
                }
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

static int open_files(struct store *s, const char *dir, bool create, int fds[PS_FDS]) {
        _cleanup_close_ int d = openat(s->root, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (d < 0)
                return -errno;
        for (int i = 0; i < PS_FDS; i++) {
                fds[i] = openat(d, incomplete_names[i], O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0600);
                if (fds[i] < 0 && !create && errno == ENOENT) /* a file section already complete */
                        fds[i] = openat(d, "/dev/null", O_RDWR | O_CLOEXEC);
                if (fds[i] < 0) {
                        int e = -errno;
                        while (i-- > 0)
                                close(fds[i]);
                        return e;
                }
        }
        return PS_FDS;
}

/* Free bytes on the dump filesystem; UINT64_MAX when it cannot be told. */
static uint64_t free_bytes(const struct store *s) {
        struct statvfs sv;

        return fstatvfs(s->root, &sv) == 0 ? (uint64_t)sv.f_bavail * sv.f_frsize : UINT64_MAX;
}

/* pending: bytes of files already removed that are still held open. */
static bool low_on_space(const struct store *s, uint64_t pending) {
        uint64_t n = free_bytes(s);

        return n != UINT64_MAX && n + pending < s->c->min_free;
}

#define DAY_SECONDS 86400

/* More than max_dumps_per_host new dumps of this host in the last day,
 * this one counted (it is recorded first). */
static bool over_daily_cap(struct store *s, const struct dump_record *r) {
        int64_t n;

        return s->c->max_dumps_per_host &&
               dump_index_count_recent(s->index, r->key_name, r->host, r->received - DAY_SECONDS, &n) == 0 &&
               n > (int64_t)s->c->max_dumps_per_host;
}

/* Why a new dump may send only its file sections, 0 if it may send all. */
static uint32_t refusal(struct store *s, const struct dump_record *r) {
        if (low_on_space(s, 0))
                return KDKP_E_DISK_FULL;
        return over_daily_cap(s, r) ? KDKP_E_RATE_LIMIT : 0;
}

static int admit(struct store *s, struct ps_msg *m, int fds[PS_FDS]) {
        struct dump_record r = { 0 };
        int e = dump_index_find_dump_id(s->index, m->key_name, m->dump_id, &r);

        m->type = PS_ADMITTED;
        if (e == 0 && strcmp(r.status, "complete") == 0) {
                m->status = PS_DONE_ALREADY;
                m->id = r.id;
                snprintf(m->dir, sizeof(m->dir), "%.64s", r.dir);
                return 0;
        }
        /* A resume is refused again when it was refused before, or now
         * below min_free: a new session must not be a way around it. */
        if (e == 0 && (strcmp(r.status, "receiving") == 0 || strcmp(r.status, "incomplete") == 0 ||
                       strcmp(r.status, "refused") == 0)) {
                e = open_files(s, r.dir, false, fds);
                if (e < 0)
                        goto refuse;
                m->id = r.id;
                snprintf(m->dir, sizeof(m->dir), "%.64s", r.dir);
                m->code = low_on_space(s, 0) ? KDKP_E_DISK_FULL : strcmp(r.status, "refused") == 0 ? KDKP_E_RATE_LIMIT : 0;
                m->status = m->code ? PS_META_ONLY : PS_RESUME;
                snprintf(r.status, sizeof(r.status), "%s", m->code ? "refused" : "receiving");
                dump_index_update(s->index, &r);
                return e;
        }
        if (make_dir(s, m->ip, m->dir, sizeof(m->dir)) < 0 || (e = open_files(s, m->dir, true, fds)) < 0)
                goto refuse;
        memset(&r, 0, sizeof(r));
        snprintf(r.host, sizeof(r.host), "%s", m->host);
        snprintf(r.ip, sizeof(r.ip), "%s", m->ip);
        snprintf(r.key_name, sizeof(r.key_name), "%s", m->key_name);
        snprintf(r.dump_id, sizeof(r.dump_id), "%s", m->dump_id);
        snprintf(r.dir, sizeof(r.dir), "%s", m->dir);
        snprintf(r.release, sizeof(r.release), "%s", m->release);
        snprintf(r.machine, sizeof(r.machine), "%s", m->machine);
        r.crash_time = m->crash_time;
        r.received = time(NULL);
        /* Below min_free, or past max_dumps_per_host in a day (a machine in
         * a crash loop), the dump is refused, but its crash.json and log (a
         * few KiB, out of the reserve) are kept: why it crashed is what
         * matters most (docs/protocol.md §4.4, REFUSED). The row says
         * "refused" until they are in, so that a resume is refused too. */
        dump_index_admission(s->index, r.key_name, r.host, r.received);
        m->code = refusal(s, &r);
        m->status = m->code ? PS_META_ONLY : PS_NEW;
        snprintf(r.status, sizeof(r.status), "%s", m->code ? "refused" : "receiving");
        if (dump_index_add(s->index, &r) < 0) {
                for (int i = 0; i < PS_FDS; i++)
                        close(fds[i]);
                goto refuse;
        }
        m->id = r.id;
        return PS_FDS;
refuse:
        m->status = PS_REFUSE;
        m->code = KDKP_E_INTERNAL;
        return 0;
}

/* A complete file section takes its final name: the data first, then its
 * name; the log also gets netdump's name, "log", as a hard link. A file
 * already renamed (a resume sent the section again) is left as it is.
 * Returns whether it was named now. */
static bool name_section(int d, bool log) {
        const char *from = incomplete_names[log ? PS_FD_LOG : PS_FD_JSON], *to = log ? "vmcore-dmesg.txt" : "crash.json";
        _cleanup_close_ int f = d < 0 ? -1 : openat(d, from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

        if (f < 0 || fdatasync(f) < 0 || renameat(d, from, d, to) < 0 || fsync(d) < 0)
                return false;
        if (log)
                (void)linkat(d, to, d, "log", 0);
        return true;
}

/* The network child does not wait for this (no reply): 10-30 ms of fsync
 * here must not stall its sessions. */
static int file_done(struct store *s, struct ps_msg *m) {
        _cleanup_close_ int d = openat(s->root, m->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        bool log = m->section == KDKP_SECTION_LOG;
        struct dump_record r;

        m->type = PS_NO_REPLY;
        if (!name_section(d, log))
                return 0;
        if (log && dump_index_get(s->index, m->id, &r) == 0) {
                snprintf(r.reason, sizeof(r.reason), "%s", m->reason);
                snprintf(r.signature, sizeof(r.signature), "%s", m->signature);
                dump_index_update(s->index, &r);
        }
        return 0;
}

static void run_hook(struct store *s, const struct dump_record *r) {
        char path[CONFIG_PATH_MAX + 80];
        pid_t pid;

        if (!s->c->hook[0])
                return;
        pid = fork();
        if (pid != 0)
                return;
        /* Values go in the environment, never in a command line (§10.3). */
        snprintf(path, sizeof(path), "%s/%.64s", s->c->dump_dir, r->dir);
        setenv("KDUMPD_DIR", path, 1);
        setenv("KDUMPD_STATUS", r->status, 1);
        setenv("KDUMPD_HOST", r->host, 1);
        setenv("KDUMPD_IP", r->ip, 1);
        setenv("KDUMPD_RELEASE", r->release, 1);
        setenv("KDUMPD_REASON", r->reason, 1);
        setenv("KDUMPD_SIGNATURE", r->signature, 1);
        snprintf(path, sizeof(path), "%lld", (long long)r->id);
        setenv("KDUMPD_ID", path, 1);
        snprintf(path, sizeof(path), "%lld", (long long)r->size);
        setenv("KDUMPD_SIZE", path, 1);
        execl(s->c->hook, s->c->hook, (char *)NULL);
        _exit(127);
}

void store_reap(struct store *s) {
        (void)s;
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
}

/* Returns the bytes the removed files held (each file once: log and
 * vmcore-dmesg.txt are one file). */
static uint64_t remove_dir(struct store *s, const char *dir) {
        _cleanup_close_ int d = openat(s->root, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        uint64_t bytes = 0;

        if (d < 0)
                return 0;
        for (size_t i = 0; i < sizeof(all_names) / sizeof(all_names[0]); i++) {
                struct stat st;
                bool last = fstatat(d, all_names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_nlink == 1;

                if (unlinkat(d, all_names[i], 0) == 0 && last)
                        bytes += (uint64_t)st.st_blocks * 512;
        }
        (void)unlinkat(s->root, dir, AT_REMOVEDIR);
        return bytes;
}

struct retention {
        struct store *s;
        const char *host;
        int64_t keep_id;        /* the dump just stored: never removed */
        int64_t n_host[2], total, remove_id;   /* n_host[files_only] */
        uint64_t pending;
        char remove_dir[256];
        int pass;
};

/* Whether retention may remove a dump: not while it is received, nor while
 * an unfinished one may still be resumed (resume_keep from when it stopped). */
static bool removable(const struct store *s, const struct dump_record *r) {
        if (strcmp(r->status, "receiving") == 0)
                return false;
        if (strcmp(r->status, "incomplete") != 0 && strcmp(r->status, "refused") != 0)
                return true;
        return r->finished && r->finished + (int64_t)s->c->resume_keep <= time(NULL);
}

/* crash.json and the log only: kept per host apart from the vmcores, so
 * that a crash loop's refused dumps do not push its real ones out. */
static bool files_only(const struct dump_record *r) {
        return strcmp(r->status, "meta-only") == 0 || strcmp(r->status, "refused") == 0;
}

static int count_cb(const struct dump_record *r, void *userdata) {
        struct retention *t = userdata;

        if (!removable(t->s, r))
                return 0;
        if (strcmp(r->host, t->host) == 0)
                t->n_host[files_only(r)]++;
        t->total += r->size;
        return 0;
}

/* The oldest finished dump that a rule says must go. */
static int pick_cb(const struct dump_record *r, void *userdata) {
        struct retention *t = userdata;
        const struct kdumpd_config *c = t->s->c;
        bool over_host = c->keep_per_host && strcmp(r->host, t->host) == 0 &&
                         t->n_host[files_only(r)] > (int64_t)c->keep_per_host;
        bool over_total = c->max_total_size && t->total > (int64_t)c->max_total_size;

        if (!removable(t->s, r) || r->id == t->keep_id || !(over_host || over_total || low_on_space(t->s, t->pending)))
                return 0;
        t->remove_id = r->id;
        snprintf(t->remove_dir, sizeof(t->remove_dir), "%s", r->dir);
        return -ECANCELED;
}

#define PRUNE_BATCH 256u

struct prune {
        struct store *s;
        int64_t ids[PRUNE_BATCH];
        size_t n;
};

static int prune_cb(const struct dump_record *r, void *userdata) {
        struct prune *p = userdata;
        struct stat st;

        if (fstatat(p->s->root, r->dir, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT) {
                say_forgotten(r);
                p->ids[p->n++] = r->id;
        }
        return p->n == PRUNE_BATCH ? -ECANCELED : 0;
}

/* Rows of dumps removed by hand go, so that list, stats and retention see
 * what is on disk. */
static void prune_missing(struct store *s) {
        struct prune p = { .s = s };
        int e;

        do {
                p.n = 0;
                e = dump_index_foreach(s->index, NULL, 0, prune_cb, &p);
                for (size_t i = 0; i < p.n; i++)
                        dump_index_remove(s->index, p.ids[i]);
        } while (e == -ECANCELED);
}

/* After each dump: keep N per host, a total size, and free space; oldest
 * first, index and disk together, and never the dump just stored (as
 * systemd-coredump's vacuum keeps the newest file): when min_free cannot be
 * met at all, the crash that just came in is still the one to look at. A removed file that someone holds open
 * (crash reading an old vmcore) keeps its blocks until it is closed: that
 * space counts as given back, or min_free would remove every dump. */
static void retention(struct store *s, const char *host, int64_t keep_id) {
        uint64_t pending = 0;

        prune_missing(s);
        for (int round = 0; round < 10000; round++) {
                struct retention t = { .s = s, .host = host, .keep_id = keep_id, .pending = pending };
                uint64_t before, after, held, freed;

                if (dump_index_foreach(s->index, NULL, 0, count_cb, &t) < 0)
                        return;
                if (dump_index_foreach(s->index, NULL, 0, pick_cb, &t) != -ECANCELED)
                        return;
                fprintf(stderr, "kdumpd: retention: removing %s\n", t.remove_dir);
                before = free_bytes(s);
                held = remove_dir(s, t.remove_dir);
                after = free_bytes(s);
                freed = after > before && after != UINT64_MAX ? after - before : 0;
                if (held > freed)
                        pending += held - freed;
                dump_index_remove(s->index, t.remove_id);
        }
}

static int finish(struct store *s, struct ps_msg *m) {
        _cleanup_close_ int d = openat(s->root, m->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct dump_record r;
        bool complete = strcmp(m->dump_status, "complete") == 0;

        m->type = PS_OK;
        /* The child names the outcome; only these may reach the index. */
        if (!complete && strcmp(m->dump_status, "failed") != 0 && strcmp(m->dump_status, "hash-mismatch") != 0 &&
            strcmp(m->dump_status, "meta-only") != 0)
                snprintf(m->dump_status, sizeof(m->dump_status), "failed");
        if (d < 0 || dump_index_get(s->index, m->id, &r) < 0) {
                m->type = PS_FINISH; /* not OK */
                return 0;
        }
        if (complete && (renameat(d, "vmcore-incomplete", d, "vmcore") < 0 || fsync(d) < 0)) {
                m->type = PS_FINISH;
                return 0;
        }
        /* Only the file sections came: there is no dump to keep. */
        if (strcmp(m->dump_status, "meta-only") == 0)
                (void)unlinkat(d, "vmcore-incomplete", 0);
        (void)unlinkat(d, "vmcore-incomplete.state", 0);
        /* A file section whose naming was lost (kdumpd killed before the
         * parent got to it, its commit already past it) is named now; the
         * child sends the reason and signature again for it. */
        name_section(d, false);
        name_section(d, true);
        if (!r.reason[0] && m->reason[0]) {
                snprintf(r.reason, sizeof(r.reason), "%s", m->reason);
                snprintf(r.signature, sizeof(r.signature), "%s", m->signature);
        }
        snprintf(r.status, sizeof(r.status), "%s", m->dump_status);
        r.size = (int64_t)m->size;
        r.finished = time(NULL);
        if (dump_index_update(s->index, &r) < 0)
                m->type = PS_FINISH;
        run_hook(s, &r);
        if (complete || strcmp(m->dump_status, "meta-only") == 0)
                retention(s, r.host, r.id);
        return 0;
}

/* A session ended before its dump did: incomplete, since now, until its
 * client comes back (admit makes it receiving again). */
static int paused(struct store *s, struct ps_msg *m) {
        struct dump_record r;

        m->type = PS_OK;
        if (dump_index_get(s->index, m->id, &r) < 0 ||
            (strcmp(r.status, "receiving") != 0 && strcmp(r.status, "refused") != 0))
                return 0;
        if (strcmp(r.status, "receiving") == 0)
                snprintf(r.status, sizeof(r.status), "incomplete");
        r.finished = time(NULL);
        dump_index_update(s->index, &r);
        return 0;
}

int store_handle(struct store *s, struct ps_msg *m, int fds[PS_FDS]) {
        switch (m->type) {
        case PS_PAUSED:
                return paused(s, m);
        case PS_ADMIT:
                return admit(s, m, fds);
        case PS_FILE_DONE:
                return file_done(s, m);
        case PS_FINISH:
                return finish(s, m);
        default:
                m->type = PS_FINISH;
                return 0;
        }
}
