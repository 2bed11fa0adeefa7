/* The network child. Sections refer to docs/protocol.md. It opens no paths:
 * every file it writes came from the parent as a descriptor. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "committer.h"
#include "io.h"
#include "kdkp.h"
#include "monotonic.h"
#include "kdkpstream.h"
#include "privsep.h"
#include "receiver.h"
#include "signature.h"
#include "unaligned.h"

#define RANGES_MAX 256u          /* out-of-order ranges held per session */
#define ACK_EVERY 8u
#define ACK_DELAY_US 2000u
#define COMMIT_INTERVAL_US 1000000u
#define LINGER_US 10000000u
#define HINT_RATE 10u            /* UNAUTH ERRORs a second */
#define HANDSHAKE_RATE 2000u     /* HELLOs and INITs a second */
#define STATE_SLOT COMMIT_SLOT_BYTES
#define STATE_MAGIC "KDKPSTAT"
/* 2: chain values of the stream digest v2 (Poly1305, §5.3); a slot of 1
 * holds a v1 value, so such a dump starts again from 0. */
#define STATE_VERSION 2
#define META_WINDOW (1u << 20)   /* reassembly for a session that sends only file sections (§6.3) */
#define DEFER_RETRY_MS 2000u
#define RATE_BURST_MIN 65536.0   /* the policer's bucket: max(10 ms of the cap, this) (§6.7) */
/* Consecutive dump bytes gathered per session before one pwrite: a write
 * per datagram (12.7 KiB, not page-aligned) made ext4 zero and look up each
 * page it began or ended in part, 34% of kdumpd's CPU on loopback. */
#define GATHER_BYTES (256u << 10)

/* A session admitted for its file sections only (§4.4): DEFERRED while
 * max_sessions are receiving dumps (the dump comes in a later session),
 * REFUSED when the dump filesystem is below min_free (it never comes). */
enum meta_mode { META_NONE, META_DEFERRED, META_REFUSED };

struct snapshot {
        uint64_t offset;
        struct kdkp_parser parser;
        uint8_t h[32];
};

struct receiver;

struct session {
        struct receiver *r;
        bool live, closed;
        enum meta_mode meta_mode;
        uint16_t meta_code;             /* why DEFERRED or REFUSED */
        uint16_t features;              /* agreed in the handshake; every packet carries them */
        uint64_t session_id, pn_out, closed_us, last_rx_us, last_commit_us;
        struct kdkp_session_keys keys;
        struct kdkp_replay replay;
        struct sockaddr_storage peer;
        socklen_t peer_len;
        const struct kdumpd_key *key;
        uint8_t dump_id[16];
        char identity[140];
        struct ps_msg meta;             /* what the parent knows of the dump */
        int fds[PS_FDS];
        uint8_t accept_pkt[KDKP_HDR + KDKP_ACCEPT_BODY + KDKP_TAG];
        size_t accept_len;

        struct kdkp_parser parser;
        struct kdkp_chain chain;
        struct snapshot snap;           /* at the last segment boundary parsed */
        uint64_t generation;
        bool commit_pending;            /* a job with the committer */
        uint64_t commit_asked;          /* the offset of the last commit asked for */
        uint8_t *win;                   /* [recv, recv + window) by offset modulo window */
        size_t window;
        uint64_t recv, commit, max_offset, resume_buffer;
        uint8_t *gather;                /* dump bytes [gather_off, + gather_len) not yet written */
        uint64_t gather_off;
        size_t gather_len;
        struct kdkp_range ranges[RANGES_MAX];
        unsigned n_ranges;

        uint64_t largest_pn, largest_pn_us;
        unsigned unacked;
        bool ack_now;

        bool fin;
        struct kdkp_fin fin_msg;
        bool finishing;                 /* the whole stream is in: the last sync runs */
        bool finish_wanted;             /* the last sync waits for room with the committer */
        bool result_ready;
        struct kdkp_result result;

        double tokens;
        uint64_t tokens_us;
};

struct receiver {
        const struct kdumpd_config *c;
        int sock, parent;
        uint8_t cookie_secret[32];
        struct session *sessions;
        size_t n_sessions;
        struct receiver_counters n;
        uint64_t rate_second, hints, handshakes;
        struct committer *committer;
        uint64_t *spent[2];             /* see spend() */
        size_t n_spent[2];
        uint64_t spent_since;
};

/* The peer's address as 16 bytes (IPv4 mapped) and its port, for cookies. */
static void peer_bytes(const struct sockaddr_storage *ss, uint8_t addr[16], uint16_t *port) {
        memset(addr, 0, 16);
        if (ss->ss_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
                addr[10] = addr[11] = 0xff;
                memcpy(addr + 12, &in->sin_addr, 4);
                *port = ntohs(in->sin_port);
        } else {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
                memcpy(addr, &in6->sin6_addr, 16);
                *port = ntohs(in6->sin6_port);
        }
}

static void peer_ip(const struct sockaddr_storage *ss, char *out, size_t len) {
        uint8_t addr[16];
        uint16_t port;

        peer_bytes(ss, addr, &port);
        if (ss->ss_family == AF_INET || IN6_IS_ADDR_V4MAPPED((struct in6_addr *)addr))
                inet_ntop(AF_INET, addr + 12, out, (socklen_t)len);
        else
                inet_ntop(AF_INET6, addr, out, (socklen_t)len);
}

static void send_to(struct receiver *r, const struct sockaddr_storage *to, socklen_t to_len, const uint8_t *buf,
                    size_t len) {
        (void)!sendto(r->sock, buf, len, 0, (const struct sockaddr *)to, to_len);
}

static void send_sealed(struct receiver *r, struct session *s, uint8_t type, const uint8_t *body, size_t len) {
        struct kdkp_header h = { .type = type, .features = s->features, .session_id = s->session_id, .pn = s->pn_out++ };
        uint8_t out[KDKP_MAX_DGRAM];
        size_t n = kdkp_seal(out, sizeof(out), s->keys.s2c, &h, body, len);

        if (n)
                send_to(r, &s->peer, s->peer_len, out, n);
}

static bool rate_ok(struct receiver *r, uint64_t *count, unsigned limit) {
        uint64_t second = now_us() / 1000000u;

        if (second != r->rate_second) {
                r->rate_second = second;
                r->hints = r->handshakes = 0;
        }
        return ++*count <= limit;
}

static void send_unauth_error(struct receiver *r, const struct sockaddr_storage *to, socklen_t to_len, unsigned code,
                              const uint8_t rc[32], const char *text) {
        struct kdkp_error m = { .code = (uint16_t)code };
        uint8_t out[512];
        size_t n;

        if (!rate_ok(r, &r->hints, HINT_RATE))
                return;
        memcpy(m.rc, rc, 32);
        snprintf(m.text, sizeof(m.text), "%s", text);
        n = kdkp_error_build_unauth(out, sizeof(out), &m);
        send_to(r, to, to_len, out, n);
}

/* HELLO: a CHALLENGE, and no state kept (§4.1). */
static void on_hello(struct receiver *r, const uint8_t *buf, size_t len, const struct sockaddr_storage *from,
                     socklen_t from_len) {
        struct kdkp_hello h;
        struct kdkp_challenge m = { 0 };
        const struct kdumpd_key *k;
        uint8_t out[256], addr[16];
        uint16_t port;
        char text[64], id[17];

        if (kdkp_hello_parse(buf, len, &h) < 0) {
                r->n.dropped_malformed++;
                return;
        }
        if (!rate_ok(r, &r->handshakes, HANDSHAKE_RATE))
                return;
        k = kdumpd_config_find_key(r->c, h.key_id);
        if (!k) {
                kdkp_key_id_hex(h.key_id, id);
                snprintf(text, sizeof(text), "unknown key id %s", id);
                r->n.dropped_auth++;
                send_unauth_error(r, from, from_len, KDKP_E_BAD_KEY, h.rc, text);
                return;
        }
        if (kdkp_hello_verify(buf, len, &k->psk) < 0) {
                r->n.dropped_auth++;
                return;
        }
        randombytes_buf(m.rs, 32);
        m.cookie_time = (uint32_t)time(NULL);
        peer_bytes(from, addr, &port);
        kdkp_cookie(m.cookie, r->cookie_secret, m.cookie_time, addr, port, h.key_id, h.rc, m.rs);
        /* The HELLO's own size is the session's base; larger frames only if
         * the client asks and has room for them (§6.7). */
        m.base_datagram = (uint16_t)len;
        m.max_datagram = (uint16_t)len;
        if ((h.features & KDKP_FEATURE_LARGE_FRAMES) && h.max_datagram > len) {
                m.features = KDKP_FEATURE_LARGE_FRAMES;
                m.max_datagram = (uint16_t)(h.max_datagram < r->c->max_datagram ? h.max_datagram : r->c->max_datagram);
        }
        send_to(r, from, from_len, out, kdkp_challenge_build(out, &k->psk, h.rc, &m));
}

static struct session *find_session(struct receiver *r, uint64_t session_id) {
        for (size_t i = 0; i < r->n_sessions; i++)
                if (r->sessions[i].live && r->sessions[i].session_id == session_id)
                        return &r->sessions[i];
        return NULL;
}

static struct session *find_dump(struct receiver *r, const struct kdumpd_key *k, const uint8_t dump_id[16]) {
        for (size_t i = 0; i < r->n_sessions; i++)
                if (r->sessions[i].live && r->sessions[i].key == k && memcmp(r->sessions[i].dump_id, dump_id, 16) == 0)
                        return &r->sessions[i];
        return NULL;
}

/* The state file (§8.1): two slots written alternately, each checksummed,
 * so a torn write can only damage the slot being written. */
static uint64_t state_slot(const struct session *s, uint8_t slot[STATE_SLOT], uint64_t generation) {
        static_assert(sizeof(struct kdkp_parser) <= 256, "the parser fits its place in a state slot");
        memset(slot, 0, STATE_SLOT);
        memcpy(slot, STATE_MAGIC, 8);
        put_le32(slot + 8, STATE_VERSION);
        put_le64(slot + 16, generation);
        memcpy(slot + 24, s->dump_id, 16);
        memcpy(slot + 40, s->key->psk.key_id, 8);
        put_le64(slot + 48, s->snap.offset);
        memcpy(slot + 56, s->snap.h, 32);
        memcpy(slot + 88, &s->snap.parser, sizeof(s->snap.parser));
        crypto_generichash(slot + STATE_SLOT - 32, 32, slot, STATE_SLOT - 32, NULL, 0);
        return (generation % 2) * STATE_SLOT;
}

static bool state_slot_valid(const uint8_t *slot, const struct session *s) {
        uint8_t sum[32];

        crypto_generichash(sum, 32, slot, STATE_SLOT - 32, NULL, 0);
        return memcmp(slot, STATE_MAGIC, 8) == 0 && le32(slot + 8) == STATE_VERSION && sodium_memcmp(sum, slot + STATE_SLOT - 32, 32) == 0 &&
               memcmp(slot + 24, s->dump_id, 16) == 0 && memcmp(slot + 40, s->key->psk.key_id, 8) == 0;
}

/* Loads the newer valid slot; a dump with none starts again from 0. */
static void state_load(struct session *s) {
        uint8_t slots[2 * STATE_SLOT];
        const uint8_t *best = NULL;

        if (pread_exact(s->fds[PS_FD_STATE], slots, sizeof(slots), 0) < 0)
                return;
        for (int i = 0; i < 2; i++) {
                const uint8_t *slot = slots + i * STATE_SLOT;
                if (state_slot_valid(slot, s) && (!best || le64(slot + 16) > le64(best + 16)))
                        best = slot;
        }
        if (!best)
                return;
        s->generation = le64(best + 16);
        s->snap.offset = le64(best + 48);
        memcpy(s->snap.h, best + 56, 32);
        memcpy(&s->snap.parser, best + 88, sizeof(s->snap.parser));
        s->parser = s->snap.parser;
        s->recv = s->commit = s->commit_asked = s->snap.offset;
        kdkp_chain_resume(&s->chain, s->snap.offset, s->snap.h);
}

static void reap_commits(struct receiver *r);

static int flush_gather(struct session *s) {
        int e = s->gather_len ? pwrite_full(s->fds[PS_FD_VMCORE], s->gather, s->gather_len, s->gather_off) : 0;

        s->gather_len = 0;
        return e;
}

/* A job for the committer: the data, then the state that says it is there
 * (§8.1), through duplicates of the session's descriptors. */
static int commit_job(struct session *s, enum commit_kind kind, struct commit_job *job) {
        static_assert(COMMIT_FILES == 4 && PS_FD_JSON + 1 == PS_FD_LOG && PS_FD_LOG + 1 == PS_FD_VMCORE &&
                      PS_FD_VMCORE + 1 == PS_FD_STATE, "a job's descriptors are the session's, in order");
        int e = flush_gather(s);

        if (e < 0)
                return e;
        *job = (struct commit_job){ .kind = kind, .session_id = s->session_id, .offset = s->snap.offset,
                                    .generation = s->generation + 1 };
        for (int i = 0; i < COMMIT_FILES; i++) {
                job->fds[i] = fcntl(s->fds[PS_FD_JSON + i], F_DUPFD_CLOEXEC, 0);
                if (job->fds[i] < 0) {
                        e = -errno;
                        while (i-- > 0)
                                close(job->fds[i]);
                        return e;
                }
        }
        /* The generation is spent only when the job is taken (the caller
         * then sets it), so that the slots keep alternating. */
        if (kind == COMMIT_STATE)
                job->slot_pos = state_slot(s, job->slot, job->generation);
        return 0;
}

/* Asks the committer to make the stream durable up to the last segment
 * boundary parsed; the ACKs say so once it has (commit_done). */
static int commit_async(struct session *s) {
        struct commit_job job;
        int e;

        if (s->commit_pending || s->finishing || s->snap.offset <= s->commit_asked)
                return 0;
        e = commit_job(s, COMMIT_STATE, &job);
        if (e < 0)
                return e;
        e = committer_submit(s->r->committer, &job);
        if (e == -EBUSY)
                return 0; /* the timer asks again */
        if (e < 0)
                return e;
        s->generation = job.generation;
        s->commit_pending = true;
        s->commit_asked = s->snap.offset;
        return 0;
}

/* A commit before a session ends or waits (shutdown, a newer session, idle):
 * done here, after this session's jobs still with the committer. */
static int commit(struct session *s) {
        struct commit_job job;
        int e;

        if (s->finishing || s->snap.offset <= s->commit)
                return 0;
        committer_wait(s->r->committer, s->session_id);
        reap_commits(s->r);
        if (!s->live || s->closed || s->finishing || s->snap.offset <= s->commit)
                return 0;
        e = commit_job(s, COMMIT_STATE, &job);
        if (e < 0 || (e = commit_job_run(&job)) < 0)
                return e;
        s->generation = job.generation;
        s->commit = s->commit_asked = s->snap.offset;
        s->last_commit_us = now_us();
        return 0;
}

static void close_files(struct session *s) {
        for (int i = 0; i < PS_FDS; i++)
                if (s->fds[i] >= 0) {
                        close(s->fds[i]);
                        s->fds[i] = -1;
                }
}

static void session_free(struct session *s) {
        close_files(s);
        free(s->win);
        free(s->gather);
        sodium_memzero(&s->keys, sizeof(s->keys));
        memset(s, 0, sizeof(*s));
        for (int i = 0; i < PS_FDS; i++)
                s->fds[i] = -1;
}

static int ask_parent(struct receiver *r, struct ps_msg *m, int fds[PS_FDS]) {
        int tmp[PS_FDS], e = ps_send(r->parent, m, NULL, 0);

        if (e < 0)
                return e;
        e = ps_recv(r->parent, m, fds ? fds : tmp);
        if (!fds)
                for (int i = 0; i < PS_FDS; i++)
                        if (tmp[i] >= 0)
                                close(tmp[i]);
        return e;
}

/* Client strings never reach a path or a log unfiltered (§10.3). */
static void sanitize(char *s, const char *allowed, const char *empty) {
        for (char *p = s; *p; p++)
                if (!strchr(allowed, *p) && !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
                        *p = '_';
        if (!*s)
                snprintf(s, 8, "%s", empty);
}

static struct session *new_slot(struct receiver *r) {
        for (size_t i = 0; i < r->n_sessions; i++)
                if (!r->sessions[i].live)
                        return &r->sessions[i];
        return NULL;
}

/* Sessions that receive a dump (meta false), or only file sections. */
static unsigned count_sessions(const struct receiver *r, bool meta) {
        unsigned n = 0;

        for (size_t i = 0; i < r->n_sessions; i++)
                n += r->sessions[i].live && !r->sessions[i].closed && (r->sessions[i].meta_mode != META_NONE) == meta;
        return n;
}

static unsigned count_identity(const struct receiver *r, const char *identity) {
        unsigned n = 0;

        for (size_t i = 0; i < r->n_sessions; i++)
                if (r->sessions[i].live && !r->sessions[i].closed && strcmp(r->sessions[i].identity, identity) == 0)
                        n++;
        return n;
}

static void refuse(struct receiver *r, const struct kdkp_session_keys *keys, const struct sockaddr_storage *to,
                   socklen_t to_len, unsigned code, uint32_t retry_ms, const char *text) {
        struct kdkp_header h = { .type = KDKP_ERROR, .session_id = keys->session_id };
        struct kdkp_error m = { .code = (uint16_t)code, .retry_after_ms = retry_ms,
                                .flags = retry_ms ? 0 : KDKP_ERROR_FATAL };
        uint8_t body[64 + KDKP_TEXT_MAX], out[512];
        size_t n;

        snprintf(m.text, sizeof(m.text), "%s", text);
        n = kdkp_seal(out, sizeof(out), keys->s2c, &h, body, kdkp_error_put(body, &m));
        send_to(r, to, to_len, out, n);
}

static void meta_of(struct ps_msg *m, const struct kdkp_init *in, const struct kdumpd_key *k,
                    const struct sockaddr_storage *from) {
        memset(m, 0, sizeof(*m));
        m->type = PS_ADMIT;
        snprintf(m->key_name, sizeof(m->key_name), "%s", k->name);
        sodium_bin2hex(m->dump_id, sizeof(m->dump_id), in->dump_id, 16);
        peer_ip(from, m->ip, sizeof(m->ip));
        snprintf(m->host, sizeof(m->host), "%s", in->hostname);
        sanitize(m->host, ".-", "unknown");
        /* A host key names its machine; only a fleet key's dumps go by the
         * name the client claims (§2). */
        if (!k->fleet)
                snprintf(m->host, sizeof(m->host), "%s", k->name);
        snprintf(m->release, sizeof(m->release), "%s", in->release);
        sanitize(m->release, "._+~-", "unknown");
        snprintf(m->machine, sizeof(m->machine), "%s", in->machine);
        sanitize(m->machine, "_", "unknown");
        m->crash_time = (int64_t)in->crash_time;
}

/* The session ends before its dump: the index says incomplete until the
 * client resumes it (or retention, resume_keep later, removes it). */
static void pause_dump(struct receiver *r, struct session *s) {
        struct ps_msg m = s->meta;

        (void)flush_gather(s); /* the file holds what was parsed, as the index says */
        m.type = PS_PAUSED;
        (void)ask_parent(r, &m, NULL);
}

static int sink_file(void *userdata, unsigned section, const uint8_t *buf, size_t len, uint64_t off) {
        struct session *s = userdata;

        return pwrite_full(s->fds[section == KDKP_SECTION_CRASH_JSON ? PS_FD_JSON : PS_FD_LOG], buf, len, off);
}

/* The log is whole: the signature is computed here, in the unprivileged
 * child, from the bytes as received; the parent only files the result. */
static void log_signature(struct session *s, struct ps_msg *m) {
        uint64_t len = s->parser.file_offset;
        _cleanup_free_ char *text = len ? malloc(len) : NULL;
        struct signature *sig = NULL;

        if (!text || pread_exact(s->fds[PS_FD_LOG], text, len, 0) < 0 || signature_parse(text, len, &sig) < 0 ||
            signature_finish(sig) < 0) {
                signature_free(sig);
                return;
        }
        if (sig->panic || sig->header) {
                signature_hex(sig, m->signature);
                snprintf(m->reason, sizeof(m->reason), "%s", sig->reason ? sig->reason : "");
        }
        signature_free(sig);
}

static int sink_file_done(void *userdata, unsigned section, uint32_t flags) {
        struct session *s = userdata;
        struct ps_msg m = s->meta;

        (void)flags;
        /* The parent syncs and renames it, and does not answer: the
         * sessions go on meanwhile. */
        m.type = PS_FILE_DONE;
        m.section = section;
        if (section == KDKP_SECTION_LOG) {
                log_signature(s, &m);
                /* again with PS_FINISH, should this message's work be lost */
                memcpy(s->meta.reason, m.reason, sizeof(m.reason));
                memcpy(s->meta.signature, m.signature, sizeof(m.signature));
        }
        return ps_send(s->r->parent, &m, NULL, 0);
}

static int sink_dump(void *userdata, const uint8_t *buf, size_t len, uint64_t off) {
        struct session *s = userdata;

        if (s->meta_mode != META_NONE)
                return -EPROTO; /* admitted for its file sections only */
        /* Written when a commit needs it (commit_job), or when it is full or
         * the next bytes do not follow; lost with the session otherwise,
         * which is past its commit point and sent again on resume. */
        if (s->gather_len && (off != s->gather_off + s->gather_len || len > GATHER_BYTES - s->gather_len)) {
                int e = flush_gather(s);
                if (e < 0)
                        return e;
        }
        if (len >= GATHER_BYTES)
                return pwrite_full(s->fds[PS_FD_VMCORE], buf, len, off);
        if (!s->gather && !(s->gather = malloc(GATHER_BYTES)))
                return -ENOMEM;
        if (!s->gather_len)
                s->gather_off = off;
        memcpy(s->gather + s->gather_len, buf, len);
        s->gather_len += len;
        return 0;
}

static const struct kdkp_sink sink_ops = { .file = sink_file, .file_done = sink_file_done, .dump = sink_dump };

static struct kdkp_limits limits_of(const struct receiver *r) {
        return (struct kdkp_limits){ .max_dump_bytes = r->c->max_dump_size, .max_meta_bytes = r->c->max_meta_size };
}

static uint64_t max_offset_of(const struct session *s) {
        uint64_t a = s->recv + s->window, b = s->commit + s->resume_buffer;


        return a < b ? a : b;
}

static void build_accept(struct receiver *r, struct session *s, uint16_t status) {
        struct kdkp_accept a = { .dump_status = status, .resume_offset = s->commit, .max_dump_bytes = r->c->max_dump_size,
                                 .max_meta_bytes = (uint32_t)r->c->max_meta_size, .max_ack_delay_us = ACK_DELAY_US,
                                 .max_datagram = (uint16_t)((s->features & KDKP_FEATURE_LARGE_FRAMES) ? r->c->max_datagram
                                                                                                   : KDKP_BASE_DGRAM),
                                 .idle_timeout_s = (uint16_t)r->c->idle_timeout };
        struct kdkp_header h = { .type = KDKP_ACCEPT, .features = s->features, .session_id = s->session_id, .pn = 0 };
        uint8_t body[KDKP_ACCEPT_BODY];

        if (status == KDKP_DEFERRED || status == KDKP_REFUSED) {
                a.code = s->meta_code;
                a.retry_after_ms = status == KDKP_DEFERRED ? DEFER_RETRY_MS : 0;
        }
        memcpy(a.resume_chain, s->snap.h, 32);
        s->max_offset = max_offset_of(s);
        a.max_offset = s->max_offset;
        snprintf(a.dir, sizeof(a.dir), "%s", s->meta.dir);
        s->accept_len = kdkp_seal(s->accept_pkt, sizeof(s->accept_pkt), s->keys.s2c, &h, body, kdkp_accept_put(body, &a));
        s->pn_out = 1;
}

/* An earlier session of this dump gives way to the new one (§8.2). */
static void supersede(struct receiver *r, struct session *old) {
        struct kdkp_error m = { .code = KDKP_E_SUPERSEDED, .retry_after_ms = 1000 };
        uint8_t body[64 + KDKP_TEXT_MAX];

        commit(old);
        snprintf(m.text, sizeof(m.text), "a newer session took over this dump");
        send_sealed(r, old, KDKP_ERROR, body, kdkp_error_put(body, &m));
        session_free(old);
}

static int admit(struct receiver *r, struct session *s, const struct kdkp_init *in, const struct sockaddr_storage *from,
                 bool defer) {
        struct ps_msg m;
        int e;

        meta_of(&m, in, s->key, from);
        e = ask_parent(r, &m, s->fds);
        if (e < 0 || m.type != PS_ADMITTED)
                return e < 0 ? e : -EIO;
        s->meta = m;
        if (m.status == PS_REFUSE || m.status == PS_DONE_ALREADY)
                return 0;
        for (int i = 0; i < PS_FDS; i++)
                if (s->fds[i] < 0)
                        return -EBADF;
        if (m.status == PS_META_ONLY) {
                s->meta_mode = META_REFUSED;
                s->meta_code = (uint16_t)m.code;
        } else if (defer) {
                s->meta_mode = META_DEFERRED;
                s->meta_code = KDKP_E_TOO_MANY_SESSIONS;
        }
        s->window = s->meta_mode != META_NONE ? META_WINDOW : r->c->window;
        s->win = malloc(s->window);
        if (!s->win)
                return -ENOMEM;
        kdkp_parser_init(&s->parser);
        kdkp_chain_init(&s->chain, s->key->psk.stream_key, in->dump_id);
        s->snap.parser = s->parser;
        memcpy(s->snap.h, s->chain.h, 32);
        if (m.status == PS_RESUME)
                state_load(s);
        return 0;
}

/* Session ids of authenticated INITs, remembered for longer than a cookie
 * lives, in two tables that take turns: a recorded INIT replayed after its
 * session ended, or retransmitted after it was refused, must not make a
 * session again under the same keys, whose pns would start again at 0
 * (nonce reuse, §3.2). Full tables fail closed: new INITs are dropped. */
#define SPENT_SLOTS 65536u       /* per table, a power of 2 */
#define SPENT_LOAD (SPENT_SLOTS / 4 * 3)
#define SPENT_PERIOD_S (KDKP_COOKIE_LIFETIME + 5)

static void spent_rotate(struct receiver *r) {
        uint64_t now = (uint64_t)time(NULL);

        if (now < r->spent_since + SPENT_PERIOD_S)
                return;
        memcpy(r->spent[1], r->spent[0], SPENT_SLOTS * sizeof(uint64_t));
        memset(r->spent[0], 0, SPENT_SLOTS * sizeof(uint64_t));
        r->n_spent[1] = r->n_spent[0];
        r->n_spent[0] = 0;
        r->spent_since = now;
}

/* Open addressing; a session id is random and never 0. */
static bool spent_in(const uint64_t *table, uint64_t id) {
        for (size_t i = id & (SPENT_SLOTS - 1);; i = (i + 1) & (SPENT_SLOTS - 1)) {
                if (table[i] == id)
                        return true;
                if (table[i] == 0)
                        return false;
        }
}

/* Records id; false when it was seen, or the table is full. */
static bool spend(struct receiver *r, uint64_t id) {
        size_t i;

        spent_rotate(r);
        if (spent_in(r->spent[0], id) || spent_in(r->spent[1], id) || r->n_spent[0] >= SPENT_LOAD)
                return false;
        for (i = id & (SPENT_SLOTS - 1); r->spent[0][i]; i = (i + 1) & (SPENT_SLOTS - 1))
                ;
        r->spent[0][i] = id;
        r->n_spent[0]++;
        return true;
}

/* An INIT's clear part, cookie and seal: the key and the session's keys,
 * or NULL (counted) for an INIT to drop. */
static const struct kdumpd_key *check_init(struct receiver *r, const uint8_t *buf, size_t len,
                                           const struct sockaddr_storage *from, struct kdkp_init *in,
                                           struct kdkp_session_keys *keys) {
        const struct kdumpd_key *k;
        uint8_t cookie[16], addr[16];
        uint16_t port;
        uint32_t now = (uint32_t)time(NULL);
        struct kdkp_header h;

        if (kdkp_init_parse_clear(buf, len, in) < 0 || kdkp_header_parse(buf, len, &h) < 0) {
                r->n.dropped_malformed++;
                return NULL;
        }
        if (!rate_ok(r, &r->handshakes, HANDSHAKE_RATE))
                return NULL;
        k = kdumpd_config_find_key(r->c, in->key_id);
        peer_bytes(from, addr, &port);
        if (k)
                kdkp_cookie(cookie, r->cookie_secret, in->cookie_time, addr, port, in->key_id, in->rc, in->rs);
        if (!k || in->cookie_time > now || in->cookie_time + KDKP_COOKIE_LIFETIME < now ||
            sodium_memcmp(cookie, in->cookie, 16) != 0) {
                r->n.dropped_auth++;
                return NULL;
        }
        kdkp_session_keys(&k->psk, in->rc, in->rs, keys);
        if (keys->session_id != h.session_id || kdkp_init_open(buf, len, keys, in) < 0) {
                r->n.dropped_auth++;
                return NULL;
        }
        return k;
}

/* Whether a resume's committed point lies inside the file sections, or at
 * their end: only then does a deferred session have something to send. */
static bool before_dump_section(const struct kdkp_parser *p) {
        return !(p->seen & (1u << KDKP_SECTION_DUMP)) && p->state == KDKP_PARSE_SECTION;
}

/* The session is admitted; it may still be told to wait or to send only
 * its file sections. Returns false (having answered, and freed s) if not. */
static bool admission(struct receiver *r, struct session *s, const struct kdkp_session_keys *keys,
                      const struct sockaddr_storage *from, socklen_t from_len) {
        /* A resume past the file sections has nothing to send first: it
         * waits whole for a free slot (so does one inside the dump
         * section's header). */
        if (s->meta_mode == META_DEFERRED && !before_dump_section(&s->parser)) {
                pause_dump(r, s);
                session_free(s);
                refuse(r, keys, from, from_len, KDKP_E_TOO_MANY_SESSIONS, DEFER_RETRY_MS, "the server is busy; try again");
                return false;
        }
        /* Refused (below min_free) where the files are already stored: the
         * dump stays incomplete, for when there is room again. */
        if (s->meta_mode == META_REFUSED && !before_dump_section(&s->parser)) {
                pause_dump(r, s);
                session_free(s);
                refuse(r, keys, from, from_len, KDKP_E_DISK_FULL, 0, "the dump filesystem is below its free-space minimum");
                return false;
        }
        if (s->meta.status == PS_REFUSE) {
                unsigned code = s->meta.code;
                session_free(s);
                refuse(r, keys, from, from_len, code, 0,
                       code == KDKP_E_DISK_FULL ? "the dump filesystem is below its free-space minimum" : "refused");
                return false;
        }
        return true;
}

static void log_admission(const struct session *s) {
        fprintf(stderr, "kdumpd: %s %s (%s, %s) as %s, from offset %llu%s\n",
                s->meta.status == PS_RESUME ? "resuming" : s->meta.status == PS_DONE_ALREADY ? "already stored:" : "receiving",
                s->meta.host, s->meta.ip, s->meta.release, s->meta.dir, (unsigned long long)s->commit,
                s->meta_mode == META_REFUSED && s->meta_code == KDKP_E_RATE_LIMIT
                        ? "; its crash.json and log only: the host is past max_dumps_per_host"
                : s->meta_mode == META_REFUSED  ? "; its crash.json and log only: the dump filesystem is below min_free"
                : s->meta_mode == META_DEFERRED ? "; its crash.json and log first: every dump slot is busy"
                                                : "");
}

static void start_session(struct receiver *r, const struct kdumpd_key *k, const struct kdkp_session_keys *keys,
                          const struct kdkp_init *in, const struct sockaddr_storage *from, socklen_t from_len) {
        struct session *s, *old = find_dump(r, k, in->dump_id);
        bool defer;

        if (old)
                supersede(r, old);
        /* max_sessions receive dumps; the next max_meta_sessions are let in
         * for their file sections, so that why they crashed is kept while
         * they wait (§10.1). */
        defer = count_sessions(r, false) >= r->c->max_sessions;
        s = defer && count_sessions(r, true) >= r->c->max_meta_sessions ? NULL : new_slot(r);
        if (!s) {
                refuse(r, keys, from, from_len, KDKP_E_TOO_MANY_SESSIONS, 2000, "the server is busy; try again");
                return;
        }
        session_free(s);
        s->r = r;
        s->key = k;
        snprintf(s->identity, sizeof(s->identity), "%s/%s", k->name, k->fleet ? in->hostname : "");
        if (count_identity(r, s->identity) >= r->c->max_sessions_per_host) {
                refuse(r, keys, from, from_len, KDKP_E_TOO_MANY_SESSIONS, 2000, "too many sessions for this host");
                return;
        }
        s->keys = *keys;
        s->session_id = keys->session_id;
        s->features = in->features & KDKP_FEATURES_KNOWN;
        memcpy(s->dump_id, in->dump_id, 16);
        memcpy(&s->peer, from, sizeof(*from));
        s->peer_len = from_len;
        s->resume_buffer = in->resume_buffer;
        if (admit(r, s, in, from, defer) < 0) {
                if (s->meta.id)
                        pause_dump(r, s);
                session_free(s);
                refuse(r, keys, from, from_len, KDKP_E_INTERNAL, 0, "the server could not create the dump");
                return;
        }
        if (!admission(r, s, keys, from, from_len))
                return;
        s->live = true;
        s->last_rx_us = s->last_commit_us = s->tokens_us = now_us();
        s->tokens = RATE_BURST_MIN; /* the first burst is not dropped */
        r->n.sessions++;
        build_accept(r, s, s->meta.status == PS_DONE_ALREADY ? KDKP_COMPLETE
                           : s->meta_mode == META_REFUSED  ? KDKP_REFUSED
                           : s->meta_mode == META_DEFERRED ? KDKP_DEFERRED
                                                           : KDKP_ADMITTED);
        if (s->meta.status == PS_DONE_ALREADY) {
                s->closed = true;
                s->closed_us = now_us();
        }
        log_admission(s);
        send_to(r, &s->peer, s->peer_len, s->accept_pkt, s->accept_len);
}

static void on_init(struct receiver *r, const uint8_t *buf, size_t len, const struct sockaddr_storage *from,
                    socklen_t from_len) {
        struct kdkp_session_keys keys;
        struct kdkp_init in;
        const struct kdumpd_key *k = check_init(r, buf, len, from, &in, &keys);
        struct session *s;

        if (!k)
                goto out;
        s = find_session(r, keys.session_id);
        if (s) { /* a retransmitted INIT: the same ACCEPT again (§4.5) */
                send_to(r, &s->peer, s->peer_len, s->accept_pkt, s->accept_len);
                goto out;
        }
        if (!spend(r, keys.session_id)) {
                r->n.dropped_auth++; /* replayed, or retransmitted after a refusal */
                goto out;
        }
        if (in.stream_format != 1 || in.resume_buffer < 2 * KDKP_SEG) {
                refuse(r, &keys, from, from_len, KDKP_E_PROTOCOL, 0, "unsupported stream format or resume buffer");
                goto out;
        }
        start_session(r, k, &keys, &in, from, from_len);
out:
        sodium_memzero(&keys, sizeof(keys));
}

/* Adds [start, end) to the out-of-order set; false when it is full. */
static bool add_range(struct session *s, uint64_t start, uint64_t end) {
        unsigned i = 0, j;

        while (i < s->n_ranges && s->ranges[i].end < start)
                i++;
        j = i;
        while (j < s->n_ranges && s->ranges[j].start <= end) {
                if (s->ranges[j].start < start)
                        start = s->ranges[j].start;
                if (s->ranges[j].end > end)
                        end = s->ranges[j].end;
                j++;
        }
        if (i == j && s->n_ranges == RANGES_MAX)
                return false;
        memmove(&s->ranges[i + 1], &s->ranges[j], (s->n_ranges - j) * sizeof(s->ranges[0]));
        s->n_ranges = s->n_ranges - (j - i) + 1;
        s->ranges[i] = (struct kdkp_range){ start, end };
        return true;
}

/* The next n stream bytes, at recv, are parsed and hashed; at each segment
 * boundary the parser is snapshot (§8.1). */
static int consume(struct receiver *r, struct session *s, const uint8_t *p, size_t n, char *why, size_t why_len) {
        struct kdkp_limits lim = limits_of(r);
        struct kdkp_sink sink = sink_ops;

        sink.userdata = s;
        while (n > 0) {
                size_t seg = KDKP_SEG - (size_t)(s->recv % KDKP_SEG), k = n < seg ? n : seg;
                int e;

                kdkp_chain_update(&s->chain, p, k);
                e = kdkp_parser_feed(&s->parser, p, k, &lim, &sink, why, why_len);
                if (e < 0)
                        return e;
                s->recv += k;
                p += k;
                n -= k;
                if (s->recv % KDKP_SEG == 0) {
                        s->snap = (struct snapshot){ .offset = s->recv, .parser = s->parser };
                        memcpy(s->snap.h, s->chain.h, 32);
                }
        }
        return 0;
}

/* [recv, upto) from the window. */
static int advance(struct receiver *r, struct session *s, uint64_t upto, char *why, size_t why_len) {
        while (s->recv < upto) {
                size_t at = (size_t)(s->recv % s->window), n = (size_t)(upto - s->recv);
                int e;

                if (n > s->window - at)
                        n = s->window - at;
                e = consume(r, s, s->win + at, n, why, why_len);
                if (e < 0)
                        return e;
        }
        return 0;
}

/* In order with nothing held above it: straight from the packet. Else into
 * the window, and on from there once the hole below is filled. */
static int take(struct receiver *r, struct session *s, const uint8_t *payload, uint64_t off, uint64_t end, char *why,
                size_t why_len) {
        if (off == s->recv && s->n_ranges == 0)
                return consume(r, s, payload, (size_t)(end - off), why, why_len);
        for (uint64_t o = off; o < end;) {
                size_t at = (size_t)(o % s->window), k = (size_t)(end - o);
                if (k > s->window - at)
                        k = s->window - at;
                memcpy(s->win + at, payload + (o - off), k);
                o += k;
        }
        if (!add_range(s, off, end)) {
                s->ack_now = true;
                return 0;
        }
        if (s->ranges[0].start != s->recv)
                return 0;
        end = s->ranges[0].end;
        memmove(s->ranges, s->ranges + 1, --s->n_ranges * sizeof(s->ranges[0]));
        return advance(r, s, end, why, why_len);
}

/* Each session's share of rate_total, at most rate_per_host; 0: no cap. */
static double rate_cap_of(const struct receiver *r) {
        double cap = (double)r->c->rate_total;
        unsigned active = 0;

        for (size_t i = 0; i < r->n_sessions; i++)
                active += r->sessions[i].live && !r->sessions[i].closed;
        cap /= active ? active : 1;
        if (r->c->rate_per_host && (cap == 0 || (double)r->c->rate_per_host < cap))
                cap = (double)r->c->rate_per_host;
        return cap;
}

/* An ACK that waits for nothing: asked for, or 8 DATA in (§6.2). */
static bool ack_due(const struct session *s) {
        return s->ack_now || s->unacked >= ACK_EVERY;
}

static void send_ack(struct receiver *r, struct session *s) {
        struct kdkp_ack a = { .recv_offset = s->recv, .commit_offset = s->commit, .largest_pn = s->largest_pn };
        uint8_t body[48 + 16 * KDKP_SACK_MAX];
        uint64_t m = max_offset_of(s);
        double cap;

        if (m > s->max_offset)
                s->max_offset = m;
        a.max_offset = s->max_offset;
        a.ack_delay_us = (uint32_t)(now_us() - s->largest_pn_us);
        /* KiB/s, and never 0 for a share under 1 KiB/s: 0 means no cap. */
        cap = rate_cap_of(r);
        a.rate_cap = cap > 0 ? (uint32_t)((uint64_t)cap / 1024 > 0 ? (uint64_t)cap / 1024 : 1) : 0;
        a.nranges = (uint16_t)(s->n_ranges < KDKP_SACK_MAX ? s->n_ranges : KDKP_SACK_MAX);
        memcpy(a.ranges, s->ranges, a.nranges * sizeof(a.ranges[0]));
        send_sealed(r, s, KDKP_ACK, body, kdkp_ack_put(body, &a));
        s->unacked = 0;
        s->ack_now = false;
}

/* The dump ends: stored, or failed with a code. The parent renames, files
 * it in the index and runs the hook; the client gets a RESULT. */
static void finish(struct receiver *r, struct session *s, uint16_t status, uint16_t code, const char *text) {
        struct ps_msg m = s->meta;

        /* Best effort: a failed dump keeps what was parsed, and its size in
         * the index is that of its file. */
        (void)flush_gather(s);
        m.type = PS_FINISH;
        m.status = status;
        m.code = code;
        m.size = s->parser.end_offset;
        snprintf(m.dump_status, sizeof(m.dump_status), "%s",
                 status == KDKP_STORED      ? "complete"
                 : status == KDKP_META_ONLY ? "meta-only"
                 : code == KDKP_E_HASH_MISMATCH ? "hash-mismatch" : "failed");
        if (ask_parent(r, &m, NULL) < 0 || m.type != PS_OK) {
                status = KDKP_FAILED;
                code = KDKP_E_INTERNAL;
        }
        /* A closed session only answers FINs until it is freed, 10 s on.
         * Its files go now: a file retention removed, or that an operator
         * deletes, keeps its blocks while a descriptor is open. */
        close_files(s);
        s->result = (struct kdkp_result){ .status = status, .code = code, .stored_length = s->parser.end_offset };
        snprintf(s->result.dir, sizeof(s->result.dir), "%s", s->meta.dir);
        s->result_ready = true;
        s->closed = true;
        s->closed_us = now_us();
        if (status == KDKP_STORED)
                r->n.stored++;
        fprintf(stderr, "kdumpd: %s: %s%s%s\n", s->meta.dir, m.dump_status, text ? ": " : "", text ? text : "");
}

static void send_result(struct receiver *r, struct session *s) {
        uint8_t body[KDKP_RESULT_BODY];

        send_sealed(r, s, KDKP_RESULT, body, kdkp_result_put(body, &s->result));
}

static void fail_session(struct receiver *r, struct session *s, uint16_t code, const char *why) {
        struct kdkp_error m = { .code = code, .flags = KDKP_ERROR_FATAL };
        uint8_t body[64 + KDKP_TEXT_MAX];

        finish(r, s, KDKP_FAILED, code, why);
        snprintf(m.text, sizeof(m.text), "%s", why);
        send_sealed(r, s, KDKP_ERROR, body, kdkp_error_put(body, &m));
}

/* A pausing FIN (§7.1) ends a session admitted for its file sections:
 * once they are all in, REFUSED keeps them as a meta-only dump, DEFERRED
 * commits and asks the client back. */
static void try_pause(struct receiver *r, struct session *s) {
        const struct kdkp_parser *p = &s->parser;

        if (s->recv < s->fin_msg.length)
                return;
        if (s->meta_mode == META_NONE || s->recv != s->fin_msg.length || p->state != KDKP_PARSE_SECTION || p->got ||
            !(p->seen & (1u << KDKP_SECTION_CRASH_JSON)) || (p->seen & (1u << KDKP_SECTION_DUMP))) {
                fail_session(r, s, KDKP_E_PROTOCOL, "a pausing FIN must come right after the file sections, in a deferred or refused session");
                return;
        }
        if (s->meta_mode == META_REFUSED) {
                finish(r, s, KDKP_META_ONLY, s->meta_code, "crash.json and the log kept; the dump was refused");
        } else {
                commit(s);
                s->result = (struct kdkp_result){ .status = KDKP_RESULT_DEFERRED, .code = s->meta_code,
                                                  .retry_after_ms = DEFER_RETRY_MS, .stored_length = s->recv };
                snprintf(s->result.dir, sizeof(s->result.dir), "%s", s->meta.dir);
                s->result_ready = s->closed = true;
                s->closed_us = now_us();
                close_files(s);
                pause_dump(r, s);
                fprintf(stderr, "kdumpd: %s: deferred: crash.json and the log are kept, the dump waits for a free slot\n",
                        s->meta.dir);
        }
        send_result(r, s);
}

/* Stored once the committer has synced it all (finish_synced). A full
 * queue only delays that: the session's timer asks again. */
static void submit_last(struct receiver *r, struct session *s) {
        struct commit_job job;
        int e = commit_job(s, COMMIT_LAST, &job);

        if (e == 0)
                e = committer_submit(r->committer, &job);
        s->finish_wanted = e == -EBUSY;
        if (e == -EBUSY)
                return;
        if (e < 0) {
                fail_session(r, s, KDKP_E_INTERNAL, "the dump could not be made durable");
                return;
        }
        s->finishing = true;
}

static void try_finish(struct receiver *r, struct session *s) {
        uint8_t digest[32];

        if (!s->fin || s->closed || s->finishing || s->finish_wanted)
                return;
        if (s->fin_msg.flags & KDKP_FIN_PAUSE) {
                try_pause(r, s);
                return;
        }
        if (s->recv < s->fin_msg.length)
                return;
        if (s->meta_mode != META_NONE) {
                fail_session(r, s, KDKP_E_PROTOCOL, "a deferred or refused session must end with a pausing FIN");
                return;
        }
        if (s->recv != s->fin_msg.length || !kdkp_parser_done(&s->parser)) {
                fail_session(r, s, KDKP_E_PROTOCOL, "the stream did not end on the flattened end record");
                return;
        }
        kdkp_chain_final(&s->chain, digest);
        if (sodium_memcmp(digest, s->fin_msg.digest, 32) != 0) {
                finish(r, s, KDKP_FAILED, KDKP_E_HASH_MISMATCH, "the stream digest does not match");
                return;
        }
        memcpy(s->result.digest, digest, 32);
        submit_last(r, s);
}

/* The last sync is done: the parent files the dump; the client is told. */
static void finish_synced(struct receiver *r, struct session *s, int error) {
        uint8_t digest[32];

        if (s->closed)
                return; /* failed meanwhile (a commit error reaped with it) */
        memcpy(digest, s->result.digest, 32);
        s->finishing = false;
        if (error < 0) {
                fail_session(r, s, KDKP_E_INTERNAL, "the dump could not be made durable");
                return;
        }
        finish(r, s, KDKP_STORED, 0, NULL);
        memcpy(s->result.digest, digest, 32);
        send_result(r, s);
}

static bool rate_allows(struct receiver *r, struct session *s, size_t len) {
        uint64_t now = now_us();
        double cap = rate_cap_of(r), burst;

        if (cap == 0)
                return true;
        /* Police at 1.5 × the cap the client is told, so that its pacing,
         * not our drops, is what normally holds it back (§6.7). */
        cap *= 1.5;
        burst = cap / 100 > RATE_BURST_MIN ? cap / 100 : RATE_BURST_MIN;
        s->tokens += (double)(now - s->tokens_us) * cap / 1e6;
        s->tokens_us = now;
        if (s->tokens > burst)
                s->tokens = burst;
        if (s->tokens < (double)len)
                return false;
        s->tokens -= (double)len;
        return true;
}

static void on_data(struct receiver *r, struct session *s, const struct kdkp_header *h, const uint8_t *body, size_t len) {
        const uint8_t *payload;
        uint64_t off, end;
        size_t n;
        char why[256];
        int e;

        if (kdkp_data_parse(body, len, &off, &payload, &n) < 0) {
                r->n.dropped_malformed++;
                return;
        }
        if (!rate_allows(r, s, n)) {
                r->n.dropped_rate++;
                return;
        }
        if (h->flags & KDKP_FLAG_ACK_NOW)
                s->ack_now = true;
        s->unacked++;
        end = off + n;
        if (end > s->max_offset) {
                r->n.dropped_malformed++;
                return;
        }
        if (end <= s->recv) {
                s->ack_now = true; /* a duplicate: the client missed an ACK */
                return;
        }
        if (off < s->recv) {
                payload += s->recv - off;
                off = s->recv;
        }
        if (off > s->recv)
                s->ack_now = true; /* above a hole */
        e = take(r, s, payload, off, end, why, sizeof(why));
        if (e < 0) {
                fail_session(r, s, e == -EFBIG ? KDKP_E_DUMP_TOO_LARGE : e == -ENOSPC ? KDKP_E_DISK_FULL
                                   : e == -EBADMSG ? KDKP_E_PROTOCOL : KDKP_E_INTERNAL,
                             e == -EBADMSG || e == -EFBIG ? why : strerror(-e));
                return;
        }
        /* A quarter of the resume buffer: the commit runs while the next
         * quarter arrives, and the client's buffer never fills (§6.3). */
        if (s->recv - s->commit_asked >= s->resume_buffer / 4 && commit_async(s) < 0) {
                fail_session(r, s, KDKP_E_INTERNAL, "the dump could not be made durable");
                return;
        }
        try_finish(r, s);
}

static void on_session_packet(struct receiver *r, struct session *s, const struct kdkp_header *h, const uint8_t *body,
                              size_t len, const struct sockaddr_storage *from, socklen_t from_len) {
        /* Replies go where the newest authenticated packet came from (§8.3). */
        if (h->pn >= s->largest_pn) {
                memcpy(&s->peer, from, sizeof(*from));
                s->peer_len = from_len;
                s->largest_pn = h->pn;
                s->largest_pn_us = now_us();
        }
        s->last_rx_us = now_us();
        if (s->closed) {
                if (h->type == KDKP_FIN && s->result_ready)
                        send_result(r, s);
                return;
        }
        switch (h->type) {
        case KDKP_DATA:
                on_data(r, s, h, body, len);
                /* Here, not after the whole receive loop: that can take up
                 * to 512 datagrams (8 MiB) first, and a client whose ACKs
                 * then come milliseconds late stalls on its window and times
                 * out spuriously (2-5 RTOs a loopback dump, each one
                 * retransmitting all it had in flight). */
                if (s->live && !s->closed && ack_due(s))
                        send_ack(r, s);
                break;
        case KDKP_PING: {
                struct kdkp_pong p = { .ping_pn = h->pn, .ping_size = (uint16_t)(len + KDKP_HDR + KDKP_TAG) };
                uint8_t out[KDKP_PONG_BODY];
                if (len < KDKP_PING_BODY)
                        break;
                p.token = le64(body);
                send_sealed(r, s, KDKP_PONG, out, kdkp_pong_put(out, &p));
                break;
        }
        case KDKP_FIN:
                if (kdkp_fin_parse(body, len, &s->fin_msg) < 0) {
                        r->n.dropped_malformed++;
                        break;
                }
                s->fin = true;
                s->ack_now = true;
                try_finish(r, s);
                if (s->result_ready)
                        send_result(r, s);
                break;
        case KDKP_ERROR: {
                struct kdkp_error m;
                if (kdkp_error_parse(body, len, &m) == 0) {
                        fprintf(stderr, "kdumpd: %s: the client gave up: %s\n", s->meta.dir, m.text);
                        commit(s);
                        pause_dump(r, s);
                        session_free(s);
                }
                break;
        }
        default:
                r->n.dropped_malformed++;
                break;
        }
}

/* buf is the receive buffer: session packets are opened in place. */
static void on_datagram(struct receiver *r, uint8_t *buf, size_t len, const struct sockaddr_storage *from,
                        socklen_t from_len) {
        uint8_t *body;
        struct kdkp_header h;
        struct session *s;
        int n;

        if (kdkp_header_parse(buf, len, &h) < 0) {
                r->n.dropped_malformed++;
                return;
        }
        if (h.type == KDKP_HELLO) {
                on_hello(r, buf, len, from, from_len);
                return;
        }
        if (h.type == KDKP_INIT) {
                on_init(r, buf, len, from, from_len);
                return;
        }
        s = find_session(r, h.session_id);
        if (!s) {
                r->n.dropped_unknown++;
                return;
        }
        /* Another feature set, or a large frame never agreed (§3.1). */
        if (h.features != s->features || (!(s->features & KDKP_FEATURE_LARGE_FRAMES) && len > KDKP_BASE_DGRAM)) {
                r->n.dropped_malformed++;
                return;
        }
        body = buf + h.hdr_size;
        if (!kdkp_replay_check(&s->replay, h.pn) || (n = kdkp_open(buf, len, s->keys.c2s, &h, body)) < 0) {
                r->n.dropped_auth++;
                return;
        }
        kdkp_replay_update(&s->replay, h.pn);
        on_session_packet(r, s, &h, body, (size_t)n, from, from_len);
}

/* Finished commits: the ACKs may now say so (§6.2: when commit_offset
 * moves). A session gone since is skipped. */
static void reap_commits(struct receiver *r) {
        struct commit_done done[COMMIT_REAP_MAX];
        size_t n = committer_reap(r->committer, done, COMMIT_REAP_MAX);

        for (size_t i = 0; i < n; i++) {
                struct session *s = find_session(r, done[i].session_id);
                if (!s)
                        continue;
                if (done[i].kind == COMMIT_LAST) {
                        finish_synced(r, s, done[i].error);
                        continue;
                }
                s->commit_pending = false;
                if (done[i].error < 0) {
                        if (!s->closed)
                                fail_session(r, s, KDKP_E_INTERNAL, "the dump could not be made durable");
                        continue;
                }
                if (done[i].offset > s->commit)
                        s->commit = done[i].offset;
                s->last_commit_us = now_us();
                s->ack_now = true;
        }
}

static void session_timers(struct receiver *r, struct session *s) {
        uint64_t now = now_us();

        if (s->finish_wanted && !s->closed)
                submit_last(r, s);
        if (s->closed) {
                if (now - s->closed_us >= LINGER_US)
                        session_free(s);
                return;
        }
        if (s->snap.offset > s->commit && now - s->last_commit_us >= COMMIT_INTERVAL_US && commit_async(s) < 0) {
                fail_session(r, s, KDKP_E_INTERNAL, "the dump could not be made durable");
                return;
        }
        if (ack_due(s) || (s->unacked && now - s->largest_pn_us >= ACK_DELAY_US))
                send_ack(r, s);
        if (now - s->last_rx_us >= r->c->idle_timeout * 1000000u) {
                struct kdkp_error m = { .code = KDKP_E_IDLE_TIMEOUT, .retry_after_ms = 1000 };
                uint8_t body[64 + KDKP_TEXT_MAX];
                commit(s);
                snprintf(m.text, sizeof(m.text), "no packet for %llu s", (unsigned long long)r->c->idle_timeout);
                send_sealed(r, s, KDKP_ERROR, body, kdkp_error_put(body, &m));
                fprintf(stderr, "kdumpd: %s: idle; kept for a resume at offset %llu\n", s->meta.dir,
                        (unsigned long long)s->commit);
                pause_dump(r, s);
                session_free(s);
        }
}

static void shutdown_sessions(struct receiver *r) {
        for (size_t i = 0; i < r->n_sessions; i++) {
                struct session *s = &r->sessions[i];
                struct kdkp_error m = { .code = KDKP_E_SHUTDOWN, .retry_after_ms = 2000 };
                uint8_t body[64 + KDKP_TEXT_MAX];

                if (!s->live)
                        continue;
                if (!s->closed) {
                        commit(s);
                        snprintf(m.text, sizeof(m.text), "kdumpd is stopping");
                        send_sealed(r, s, KDKP_ERROR, body, kdkp_error_put(body, &m));
                }
                session_free(s);
        }
}

/* Datagrams a recvmmsg() takes, each into a buffer one byte larger than the
 * largest datagram, so that an oversized one shows as such. */
#define RECV_BATCH 32u
#define RECV_ROUNDS 16u

struct recv_batch {
        struct mmsghdr msgs[RECV_BATCH];
        struct iovec iovs[RECV_BATCH];
        struct sockaddr_storage from[RECV_BATCH];
        uint8_t buf[RECV_BATCH][KDKP_MAX_DGRAM + 1];
};

static void receive_all(struct receiver *r, struct recv_batch *b) {
        for (unsigned round = 0; round < RECV_ROUNDS; round++) {
                int n;

                for (unsigned i = 0; i < RECV_BATCH; i++) {
                        b->iovs[i] = (struct iovec){ .iov_base = b->buf[i], .iov_len = sizeof(b->buf[i]) };
                        b->msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &b->from[i], .msg_namelen = sizeof(b->from[i]),
                                                                   .msg_iov = &b->iovs[i], .msg_iovlen = 1 } };
                }
                n = recvmmsg(r->sock, b->msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
                if (n <= 0)
                        return;
                for (int i = 0; i < n; i++) {
                        size_t len = b->msgs[i].msg_len;
                        if (len > r->c->max_datagram || (b->msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
                                r->n.dropped_malformed++;
                                continue;
                        }
                        on_datagram(r, b->buf[i], len, &b->from[i], b->msgs[i].msg_hdr.msg_namelen);
                }
                if ((unsigned)n < RECV_BATCH)
                        return;
        }
}

int receiver_run(const struct kdumpd_config *c, int sock, int parent, volatile sig_atomic_t *stop) {
        struct receiver r = { .c = c, .sock = sock, .parent = parent, .n_sessions = c->max_sessions + c->max_meta_sessions };
        _cleanup_free_ struct recv_batch *batch = malloc(sizeof(*batch));

        r.sessions = calloc(r.n_sessions, sizeof(*r.sessions));
        r.spent[0] = calloc(SPENT_SLOTS, sizeof(uint64_t));
        r.spent[1] = calloc(SPENT_SLOTS, sizeof(uint64_t));
        r.spent_since = (uint64_t)time(NULL);
        if (!r.sessions || !batch || !r.spent[0] || !r.spent[1] || committer_new(2 * r.n_sessions + 1, &r.committer) < 0) {
                free(r.sessions);
                free(r.spent[0]);
                free(r.spent[1]);
                return -ENOMEM;
        }
        for (size_t i = 0; i < r.n_sessions; i++)
                session_free(&r.sessions[i]);
        randombytes_buf(r.cookie_secret, sizeof(r.cookie_secret));
        while (!*stop) {
                struct pollfd p[3] = { { .fd = sock, .events = POLLIN }, { .fd = parent, .events = POLLIN },
                                       { .fd = committer_fd(r.committer), .events = POLLIN } };
                int e = poll(p, 3, 1);

                if (e < 0 && errno != EINTR)
                        break;
                if (p[1].revents)
                        break; /* the parent is gone, or says nothing we expect */
                receive_all(&r, batch);
                if (p[2].revents)
                        reap_commits(&r);
                for (size_t i = 0; i < r.n_sessions; i++)
                        if (r.sessions[i].live)
                                session_timers(&r, &r.sessions[i]);
        }
        shutdown_sessions(&r);
        r.committer = committer_free(r.committer);
        fprintf(stderr,
                "kdumpd: dropped %llu malformed, %llu unauthenticated, %llu for unknown sessions, %llu over rate; "
                "%llu sessions, %llu stored\n",
                (unsigned long long)r.n.dropped_malformed, (unsigned long long)r.n.dropped_auth,
                (unsigned long long)r.n.dropped_unknown, (unsigned long long)r.n.dropped_rate,
                (unsigned long long)r.n.sessions, (unsigned long long)r.n.stored);
        sodium_memzero(r.cookie_secret, sizeof(r.cookie_secret));
        free(r.sessions);
        free(r.spent[0]);
        free(r.spent[1]);
        return 0;
}
