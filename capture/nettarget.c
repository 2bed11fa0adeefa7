/* The udp:// target: stream head, producer child, transfer. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "crashreport.h"
#include "kdkp.h"
#include "monotonic.h"
#include "nettarget.h"

DEFINE_CLEANUP_FUNC(struct crash_report, crash_report_free);

struct producer {
        pid_t pid;
        bool progress;
        struct stream_ring *ring;       /* the flattened dump, shared with the child */
        struct net_read_progress *read; /* MAP_SHARED with the child */
        uint64_t start_us;
};

/* The head: crash.json, the log (its end if it is too long), and the dump
 * section's header; the flattened stream follows (docs/protocol.md §5.1). */
static int build_head(const struct crash_report *r, char **ret, size_t *ret_len) {
        _cleanup_free_ char *json = NULL;
        size_t json_len = 0, log_len = r->log ? r->log_len : 0, n = 0;
        const char *log = r->log;
        uint16_t log_flags = 0;
        FILE *f = open_memstream(&json, &json_len);
        uint8_t *head;

        if (!f)
                return -ENOMEM;
        if (crash_report_json(r, f) < 0 || fclose(f) != 0)
                return -ENOMEM;
        if (log_len > NET_LOG_MAX) {
                const char *cut = memchr(log + log_len - NET_LOG_MAX, '\n', NET_LOG_MAX);
                size_t keep = cut ? (size_t)(log + log_len - cut - 1) : NET_LOG_MAX;
                log += log_len - keep;
                log_len = keep;
                log_flags = KDKP_SECTION_TRUNCATED;
        }
        head = malloc(3 * KDKP_SECTION_HDR + json_len + log_len);
        if (!head)
                return -ENOMEM;
        kdkp_section_put(head, KDKP_SECTION_CRASH_JSON, 0, json_len);
        memcpy(head + KDKP_SECTION_HDR, json, json_len);
        n = KDKP_SECTION_HDR + json_len;
        if (r->log) {
                kdkp_section_put(head + n, KDKP_SECTION_LOG, log_flags, log_len);
                memcpy(head + n + KDKP_SECTION_HDR, log, log_len);
                n += KDKP_SECTION_HDR + log_len;
        }
        kdkp_section_put(head + n, KDKP_SECTION_DUMP, 0, KDKP_SECTION_TO_END);
        *ret = (char *)head;
        *ret_len = n + KDKP_SECTION_HDR;
        return 0;
}

static void fill_meta(const struct crash_report *r, struct kdkp_init *m) {
        randombytes_buf(m->dump_id, sizeof(m->dump_id));
        m->crash_time = r->crash_time > 0 ? (uint64_t)r->crash_time : 0;
        snprintf(m->hostname, sizeof(m->hostname), "%s", r->nodename);
        snprintf(m->release, sizeof(m->release), "%s", r->release);
        snprintf(m->machine, sizeof(m->machine), "%.16s", r->machine);
        snprintf(m->tool, sizeof(m->tool), "dumptool %s", KDUMPKIT_VERSION);
}

static int source_done(void *userdata, char *why, size_t why_len) {
        struct producer *p = userdata;
        int status;

        if (waitpid(p->pid, &status, 0) < 0)
                return -errno;
        p->pid = 0;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        snprintf(why, why_len, "the dump could not be read to its end (see above); what was sent is kept by the server as incomplete");
        return -EIO;
}

/* One line: how much of the dump was read, how much of the stream the
 * server holds, the goodput, and an ETA from the stream's projected length. */
static void show(void *userdata, uint64_t acked, uint64_t produced, uint64_t retransmitted, int done) {
        struct producer *p = userdata;
        uint64_t pages = __atomic_load_n(&p->read->done, __ATOMIC_RELAXED);
        uint64_t total = __atomic_load_n(&p->read->total, __ATOMIC_RELAXED);
        double read = done ? 1.0 : total ? (double)pages / (double)total : 0.0;
        double seconds = (double)(now_us() - p->start_us) / 1e6, rate = seconds > 0 ? (double)acked / seconds : 0;
        double projected = read > 0.02 ? (double)produced / read : 0, eta = 0;

        if (!p->progress)
                return;
        if (projected > (double)acked && rate > 0)
                eta = (projected - (double)acked) / rate;
        fprintf(stderr, "\rdumptool: [%5.1f%% read] %8.1f MiB sent and acknowledged, %6.1f MiB/s, %5.1f MiB retransmitted, ETA %4.0fs%s",
                100.0 * read, (double)acked / (1 << 20), rate / (1 << 20), (double)retransmitted / (1 << 20), eta,
                done ? "\n" : " ");
}

static int start_producer(const struct net_target_options *o, struct producer *p) {
        int e = stream_ring_new(o->buffer, &p->ring);

        if (e < 0)
                return e;
        fflush(NULL);
        p->pid = fork();
        if (p->pid < 0)
                return -errno;
        if (p->pid == 0) {
                /* The sender's death must not leave the child waiting for room. */
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                stream_ring_become_writer(p->ring);
                _exit(o->produce(p->ring, p->read, o->userdata) < 0 ? 1 : 0);
        }
        stream_ring_become_reader(p->ring);
        return 0;
}

static void stop_producer(struct producer *p) {
        if (p->pid > 0) {
                kill(p->pid, SIGKILL);
                waitpid(p->pid, NULL, 0);
                p->pid = 0;
        }
        p->ring = stream_ring_free(p->ring);
        if (p->read && p->read != MAP_FAILED)
                munmap(p->read, sizeof(*p->read));
        p->read = NULL;
}

/* The report and the head are made while the producer already filters:
 * the first pass over the struct pages then overlaps them. */
static int send_with_producer(struct vmcore *v, const struct net_target_options *o, struct producer *p,
                              struct netsend_options *n, struct netsend_result *ret, char *reason, size_t reason_len,
                              char *why, size_t why_len) {
        _cleanup_(crash_report_freep) struct crash_report *r = NULL;
        _cleanup_free_ char *head = NULL;
        char hex[65] = "";
        int e;

        p->read = mmap(NULL, sizeof(*p->read), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p->read == MAP_FAILED) {
                snprintf(why, why_len, "%s", strerror(errno));
                return -errno;
        }
        p->start_us = now_us();
        e = start_producer(o, p);
        if (e < 0) {
                snprintf(why, why_len, "starting the dump: %s", strerror(-e));
                return e;
        }
        if (crash_report_new(v, &r) < 0 || build_head(r, &head, &n->head_len) < 0) {
                snprintf(why, why_len, "%s", strerror(ENOMEM));
                return -ENOMEM;
        }
        if (r->signature)
                signature_hex(r->signature, hex);
        snprintf(reason, reason_len, "%s%s%.12s", crash_report_reason(r) ? crash_report_reason(r) : "no panic message in the log",
                 hex[0] ? ", signature " : "", hex);
        fill_meta(r, &n->meta);
        n->head = (const uint8_t *)head;
        n->ring = p->ring;
        n->source_done = source_done;
        n->progress = show;
        n->userdata = p;
        return netsend_run(n, ret, why, why_len);
}

int net_target_send(struct vmcore *v, const struct net_target_options *o, struct netsend_result *ret, char *reason,
                    size_t reason_len, char *why, size_t why_len) {
        struct netsend_options n = { .url = o->url, .timeout_s = o->timeout_s, .buffer = o->buffer, .mtu = o->mtu };
        struct producer p = { .progress = o->progress };
        int e;

        e = netsend_read_key(o->secret_file, n.psk, why, why_len);
        if (e < 0)
                return e;
        e = send_with_producer(v, o, &p, &n, ret, reason, reason_len, why, why_len);
        sodium_memzero(n.psk, sizeof(n.psk));
        stop_producer(&p);
        return e;
}
