/* Printing the index. Every client-supplied string is printed with its
 * non-printable bytes made '?', so a hostile name cannot drive a terminal. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "dumplist.h"
#include "json.h"

static void printable(char *dst, size_t size, const char *src, size_t width) {
        size_t n = strlen(src);

        if (n > width)
                n = width;
        if (n >= size)
                n = size - 1;
        for (size_t i = 0; i < n; i++)
                dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
        dst[n] = '\0';
}

static const char *when(int64_t t, char *buf, size_t len) {
        time_t tt = (time_t)t;
        struct tm tm;

        if (!t || !localtime_r(&tt, &tm))
                return "-";
        strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
        return buf;
}

static const char *human(int64_t bytes, char *buf, size_t len) {
        static const char units[] = "BKMGTP";
        double v = (double)bytes;
        int u = 0;

        while (v >= 1024 && u < 5)
                v /= 1024, u++;
        snprintf(buf, len, u ? "%.1f%c" : "%.0f%c", v, units[u]);
        return buf;
}

struct list_ctx {
        FILE *out;
        bool json;
        unsigned n;
};

static void json_record(FILE *f, const struct dump_record *r) {
        fprintf(f, "{\"id\": %lld, ", (long long)r->id);
        json_field_string(f, "host", r->host, ", ");
        json_field_string(f, "ip", r->ip, ", ");
        json_field_string(f, "key", r->key_name, ", ");
        json_field_string(f, "dir", r->dir, ", ");
        json_field_string(f, "release", r->release, ", ");
        json_field_string(f, "machine", r->machine, ", ");
        json_field_string(f, "reason", r->reason, ", ");
        json_field_string(f, "signature", r->signature, ", ");
        json_field_string(f, "status", r->status, ", ");
        fprintf(f, "\"crash_time\": %lld, \"received\": %lld, \"finished\": %lld, \"size\": %lld}\n",
                (long long)r->crash_time, (long long)r->received, (long long)r->finished, (long long)r->size);
}

static int list_cb(const struct dump_record *r, void *userdata) {
        struct list_ctx *c = userdata;
        char t[32], sz[16], host[33], rel[41], reason[81];

        if (c->json) {
                json_record(c->out, r);
                return 0;
        }
        if (c->n++ == 0)
                fprintf(c->out, "%5s %-19s %-20s %-15s %-28s %-13s %7s %s\n", "ID", "TIME", "HOST", "IP", "RELEASE",
                        "STATUS", "SIZE", "REASON");
        printable(host, sizeof(host), r->host, 20);
        printable(rel, sizeof(rel), r->release, 28);
        printable(reason, sizeof(reason), r->reason[0] ? r->reason : "-", 80);
        fprintf(c->out, "%5lld %-19s %-20s %-15s %-28s %-13s %7s %s\n", (long long)r->id,
                when(r->received, t, sizeof(t)), host, r->ip, rel, r->status, human(r->size, sz, sizeof(sz)), reason);
        return 0;
}

int dump_list_print(struct dump_index *idx, FILE *out, const char *host, int64_t since, bool json) {
        struct list_ctx c = { out, json, 0 };
        int e = dump_index_foreach(idx, host, since, list_cb, &c);

        if (e == 0 && !json && c.n == 0)
                fprintf(out, "No dumps.\n");
        return e;
}

int dump_show_print(struct dump_index *idx, FILE *out, int64_t id, const char *dump_root) {
        static const char *const files[] = { "vmcore", "vmcore-incomplete", "vmcore-dmesg.txt", "log", "crash.json" };
        struct dump_record r;
        char buf[600], t[32], sz[16];
        _cleanup_close_ int root = -1;
        int e = dump_index_get(idx, id, &r);

        if (e < 0)
                return e;
        root = open(dump_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        fprintf(out, "           ID: %lld\n", (long long)r.id);
        printable(buf, sizeof(buf), r.host, 64);
        fprintf(out, "         Host: %s\n           IP: %s\n          Key: %s\n", buf, r.ip, r.key_name);
        printable(buf, sizeof(buf), r.release, 64);
        fprintf(out, "       Kernel: %s (%s)\n", buf, r.machine);
        printable(buf, sizeof(buf), r.reason[0] ? r.reason : "-", 511);
        fprintf(out, "       Reason: %s\n    Signature: %s\n", buf, r.signature[0] ? r.signature : "-");
        fprintf(out, "   Crash time: %s\n", when(r.crash_time, t, sizeof(t)));
        fprintf(out, "     Received: %s\n", when(r.received, t, sizeof(t)));
        fprintf(out, "     Finished: %s\n", when(r.finished, t, sizeof(t)));
        fprintf(out, "       Status: %s\n         Size: %s (%lld bytes)\n", r.status, human(r.size, sz, sizeof(sz)),
                (long long)r.size);
        fprintf(out, "      Dump ID: %s\n    Directory: %s/%s\n        Files:", r.dump_id, dump_root, r.dir);
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                struct stat st;
                snprintf(buf, sizeof(buf), "%s/%s", r.dir, files[i]);
                if (root >= 0 && fstatat(root, buf, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        fprintf(out, " %s", files[i]);
        }
        fputc('\n', out);
        return 0;
}

static int stats_cb(const struct dump_index_count *c, void *userdata) {
        FILE *out = userdata;
        char key[81], ex[81];

        printable(key, sizeof(key), c->key, 64);
        printable(ex, sizeof(ex), c->example, 80);
        fprintf(out, "  %6lld %6lld  %-64s %s\n", (long long)c->count, (long long)c->hosts, key, ex);
        return 0;
}

struct totals {
        int64_t dumps, complete, incomplete, failed;
};

static int totals_cb(const struct dump_record *r, void *userdata) {
        struct totals *t = userdata;

        t->dumps++;
        if (strcmp(r->status, "complete") == 0)
                t->complete++;
        else if (strcmp(r->status, "incomplete") == 0 || strcmp(r->status, "receiving") == 0)
                t->incomplete++;
        else
                t->failed++;
        return 0;
}

static int count_hosts(const struct dump_index_count *c, void *userdata) {
        (void)c;
        ++*(int64_t *)userdata;
        return 0;
}

int dump_stats_print(struct dump_index *idx, FILE *out) {
        static const struct {
                const char *by, *title;
        } sections[] = { { "signature", "By signature" }, { "release", "By kernel" }, { "host", "By host" } };
        struct totals t = { 0 };
        int64_t hosts = 0;
        int e;

        for (size_t i = 0; i < 3; i++) {
                fprintf(out, "%s:\n  %6s %6s  %-64s %s\n", sections[i].title, "DUMPS", "HOSTS", "KEY",
                        i == 0 ? "REASON" : "");
                if ((e = dump_index_stats(idx, sections[i].by, stats_cb, out)) < 0)
                        return e;
        }
        if ((e = dump_index_foreach(idx, NULL, 0, totals_cb, &t)) < 0 || (e = dump_index_stats(idx, "host", count_hosts, &hosts)) < 0)
                return e;
        fprintf(out, "%lld dumps (complete %lld, incomplete %lld, failed %lld) from %lld hosts\n", (long long)t.dumps,
                (long long)t.complete, (long long)t.incomplete, (long long)t.failed, (long long)hosts);
        return 0;
}
