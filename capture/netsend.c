/* The KDKP/1 client: handshake, the resume buffer, sending with selective
 * acknowledgements, RTT-timed retransmission, AIMD and pacing, resume after
 * a lost server, and the give-up timer. Sections refer to docs/protocol.md. */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "io.h"
#include "kdkpstream.h"
#include "monotonic.h"
#include "netsend.h"

#define INFLIGHT_MAX 4096u   /* packets in flight: cwnd's ceiling */
#define RETX_MAX 8192u       /* lost ranges waiting to be sent again */
#define CWND_INITIAL 16u
#define CWND_MIN 4u          /* after an RTO, before slow start */
/* The least a loss event leaves: the server acknowledges every 8 DATA
 * (§6.2), and a window of fewer than two ACKs' worth stalls until a probe
 * whenever one ACK is lost. */
#define CWND_LOSS_MIN 16u
#define BURST 16u            /* packets a sendmmsg() */
#define BURST_US 500         /* pacing tokens never exceed this much of the rate */
#define PROBE_TRIES 3
#define REPROBES 8           /* probes again after timeouts turned large frames off */
#define REPROBE_US 200000
#define SOCKET_BUFFER (4 << 20)
#define RTO_MIN_US 10000
#define RTO_MAX_US 2000000
#define RTO_INITIAL_US 500000
#define HELLO_FIRST_US 250000
/* HELLO's backoff stops at 1 s, not 4: at 20% loss each round fails one
 * time in three, and five in a row cost 7.75 s before a 0.4 s transfer
 * (3.75 s now). A HELLO is a few hundred bytes; the server rate-limits
 * them (HANDSHAKE_RATE, 2000 a second) and keeps no state for one, so a
 * fleet retrying every second is no flood. */
#define HELLO_MAX_US 1000000
#define INIT_TRIES 4
#define INIT_WAIT_MIN_US 50000
#define PATH_TIMEOUT_US 8000000
#define PING_IDLE_US 1000000
#define REORDER_THRESHOLD 3
#define TLP_MIN_US 1000       /* a tail probe waits at least this (and 2 SRTT) */
#define TLP_MAX 2             /* tail probes before the RTO has its turn */
#define FIN_QUICK 3           /* FINs resent at the probe timeout before the RTO */

enum phase { HELLO_SENT, INIT_SENT, TRANSFER, WAIT, DONE };
enum probe { PROBE_NONE, PROBE_SENT, PROBE_DONE };

struct flight {
        uint64_t pn, offset, sent_us;
        uint32_t len;
        uint8_t state; /* 0 in flight, 1 acknowledged, 2 lost */
        bool retx;     /* bytes sent before: an ACK of them may be the original's */
};

struct mark {
        uint64_t offset;
        uint8_t h[32];
};

struct client {
        const struct netsend_options *o;
        int fd;
        struct kdkp_psk psk;
        struct kdkp_session_keys keys;
        struct kdkp_init init;
        uint8_t rc[32];
        size_t dgram;             /* the datagram size in use */
        size_t base_dgram;        /* the path's sure size: HELLO's, from min(MTU, 1500) */
        size_t max_dgram;         /* what the client could use, then what CHALLENGE agreed */
        uint16_t features;        /* offered in HELLO, then agreed */
        enum probe probe;
        unsigned probe_tries, rto_streak, reprobes;
        uint64_t probe_sent_us, reprobe_us;
        enum phase phase;
        int init_tries;
        uint64_t hello_sent_us, hello_interval_us, hello_count;
        uint64_t next_timer_us;   /* HELLO/INIT resend, or the end of a WAIT */
        uint64_t last_auth_us, last_send_us, last_progress_us, giveup_start_us, start_us;
        uint64_t pn;
        struct kdkp_replay replay;

        /* The stream: [base, end) is held (the head, then the ring) and
         * hashed; next is the first byte never sent. */
        uint64_t base, end, next;
        bool source_ended;        /* the ring's writer has exited */
        bool eof;
        struct kdkp_chain chain;
        struct mark *marks;       /* chain values at segment boundaries in [base, end] */
        size_t n_marks, marks_cap;
        uint8_t digest[32];

        /* What the server said. */
        uint64_t recv_offset, commit_offset, max_offset, largest_acked_pn;
        struct kdkp_range sack[KDKP_SACK_MAX];
        unsigned n_sack;
        uint32_t rate_cap, max_ack_delay_us;

        /* In flight, oldest first, and what was lost. */
        struct flight *flights;
        size_t f_head, f_count;
        struct kdkp_range *retx;
        size_t n_retx;

        /* RTT, congestion, pacing. */
        int64_t srtt_us, rttvar_us, rto_us;
        int64_t min_rtt_us;       /* the smallest send-to-ACK time, the server's delay included */
        uint64_t rack_sent_us;    /* the send time of the newest packet known delivered */
        unsigned tlps;            /* tail probes since the last ACK */
        bool ping_outstanding;    /* a keepalive PING waits for its PONG */
        uint64_t last_ack_us;
        uint32_t cwnd, ssthresh, acked_in_cwnd;
        uint64_t recovery_pn;     /* a loss of a pn at or below this is the same event */
        /* After an RTO, until the next ACK says which: the first pn sent
         * after it, the oldest range it gave up on, and the window before. */
        bool rto_check, rto_large_off;
        uint64_t rto_pn;
        struct kdkp_range rto_oldest;
        uint32_t rto_cwnd, rto_ssthresh;
        double tokens;
        uint64_t tokens_us;
        /* The delivery rate, Westwood+'s bandwidth estimate: bytes newly
         * acknowledged over at least an RTT, low-pass filtered. */
        uint64_t delivered, bw_mark_delivered, bw_mark_us;
        double bwe;               /* bytes a microsecond */
        bool app_limited;         /* since the mark, the client ran out of bytes to send */

        /* Sealed packets waiting for one sendmmsg(). */
        struct mmsghdr *msgs;
        struct iovec *iovs;
        uint8_t *out;             /* BURST datagrams of KDKP_MAX_DGRAM */
        unsigned queued;

        bool fin_sent;
        unsigned fin_tries;
        uint64_t fin_sent_us;
        /* DEFERRED or REFUSED (§4.4): this session carries only the file
         * sections, up to pause_at, and ends with a pausing FIN. */
        bool pausing;
        uint64_t pause_at;
        struct netsend_result *result;
        char last_error[KDKP_TEXT_MAX + 64];
};

int netsend_parse_url(const char *url, char *host, size_t host_len, char *port, size_t port_len) {
        const char *h, *end, *colon;
        size_t n;

        if (strncmp(url, "udp://", 6) != 0)
                return -EINVAL;
        h = url + 6;
        if (*h == '[') {
                end = strchr(h, ']');
                if (!end)
                        return -EINVAL;
                h++;
                colon = end[1] == ':' ? end + 1 : NULL;
                if (end[1] && !colon)
                        return -EINVAL;
        } else {
                colon = strrchr(h, ':');
                end = colon ? colon : h + strlen(h);
        }
        n = (size_t)(end - h);
        if (n == 0 || n >= host_len || strchr(h, '/'))
                return -EINVAL;
        memcpy(host, h, n);
        host[n] = '\0';
        snprintf(port, port_len, "%s", colon && colon[1] ? colon + 1 : "6666");
        for (const char *p = port; *p; p++)
                if (*p < '0' || *p > '9')
                        return -EINVAL;
        return 0;
}

int netsend_read_key(const char *path, uint8_t ret[KDKP_KEY_BYTES], char *why, size_t why_len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        char text[2 * KDKP_KEY_BYTES + 2];
        struct stat st;
        ssize_t n;

        if (fd < 0 || fstat(fd, &st) < 0) {
                snprintf(why, why_len, "%s: %s", path, strerror(errno));
                return -errno;
        }
        if (st.st_mode & 077) {
                snprintf(why, why_len, "%s: a key must not be readable by group or others (mode %04o)", path,
                         (unsigned)(st.st_mode & 07777));
                return -EPERM;
        }
        n = read_full(fd, text, sizeof(text));
        if (n < 0 || kdkp_key_parse(text, (size_t)n, ret) < 0) {
                snprintf(why, why_len, "%s: not a key (64 hexadecimal digits and a newline)", path);
                sodium_memzero(text, sizeof(text));
                return -EINVAL;
        }
        sodium_memzero(text, sizeof(text));
        return 0;
}

/* HOST is an address: the capture kernel has no resolver, and a static
 * binary cannot use glibc's NSS. */
static int open_socket(const char *url, char *why, size_t why_len) {
        struct sockaddr_storage ss = { 0 };
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        char host[256], port[16];
        socklen_t len;
        long p;
        int fd;

        if (netsend_parse_url(url, host, sizeof(host), port, sizeof(port)) < 0 || (p = strtol(port, NULL, 10)) < 1 ||
            p > 65535) {
                snprintf(why, why_len, "not a udp://ADDRESS[:PORT] target");
                return -EINVAL;
        }
        if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                in4->sin_port = htons((uint16_t)p);
                len = sizeof(*in4);
        } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t)p);
                len = sizeof(*in6);
        } else {
                snprintf(why, why_len, "%s: not an IPv4 or IPv6 address (names are not resolved in a capture kernel)", host);
                return -EINVAL;
        }
        fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) < 0) {
                int e = errno;
                snprintf(why, why_len, "%s: %s", host, strerror(e));
                if (fd >= 0)
                        close(fd);
                return -e;
        }
        /* DF on every packet: nothing is fragmented, and EMSGSIZE says a
         * size does not fit the path (§3.4). */
        if (ss.ss_family == AF_INET)
                (void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &(int){ IP_PMTUDISC_DO }, sizeof(int));
        else
                (void)setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &(int){ IPV6_PMTUDISC_DO }, sizeof(int));
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){ SOCKET_BUFFER }, sizeof(int));
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){ SOCKET_BUFFER }, sizeof(int));
        return fd;
}

/* The base datagram from min(MTU, 1500) and the largest one from the MTU:
 * --mtu, or else the MTU of the route to the server (a connected socket's
 * IP_MTU), which a probe then has to confirm (§6.7). */
static void path_sizes(struct client *c, unsigned mtu) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss), mlen = sizeof(int);
        int route = 0;
        bool v6;
        size_t overhead;

        v6 = getpeername(c->fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_INET6;
        overhead = v6 ? 48 : 28;
        if (mtu == 0 && getsockopt(c->fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MTU : IP_MTU, &route, &mlen) == 0 &&
            route >= (int)(KDKP_MIN_DGRAM + overhead))
                mtu = (unsigned)route;
        if (mtu == 0)
                mtu = 1500;
        c->base_dgram = (mtu < 1500 ? mtu : 1500) - overhead;
        if (c->base_dgram < KDKP_MIN_DGRAM)
                c->base_dgram = KDKP_MIN_DGRAM;
        c->max_dgram = mtu - overhead < KDKP_MAX_DGRAM ? mtu - overhead : KDKP_MAX_DGRAM;
        if (c->max_dgram < c->base_dgram)
                c->max_dgram = c->base_dgram;
        c->features = c->max_dgram > c->base_dgram ? KDKP_FEATURE_LARGE_FRAMES : 0;
        c->dgram = c->base_dgram;
}

static void large_frames_off(struct client *c) {
        c->dgram = c->base_dgram;
        c->probe = PROBE_DONE;
}

/* Sends what is queued in as few system calls as it takes. A send error
 * (ECONNREFUSED from a dead server's ICMP, ENOBUFS) is loss: the timers deal
 * with it. EMSGSIZE means a large frame does not fit the path after all. */
static void flush(struct client *c) {
        unsigned done = 0;

        if (c->queued == 0)
                return;
        while (done < c->queued) {
                int n = sendmmsg(c->fd, c->msgs + done, c->queued - done, 0);
                if (n > 0) {
                        done += (unsigned)n;
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EMSGSIZE && c->iovs[done].iov_len > c->base_dgram)
                        large_frames_off(c);
                done++; /* this one is lost */
        }
        c->queued = 0;
        c->last_send_us = now_us();
}

/* The next free datagram of the queue. */
static uint8_t *queue_slot(struct client *c) {
        if (c->queued == BURST)
                flush(c);
        return c->out + (size_t)c->queued * KDKP_MAX_DGRAM;
}

static void queue(struct client *c, size_t len) {
        if (len == 0)
                return;
        c->iovs[c->queued] = (struct iovec){ .iov_base = c->out + (size_t)c->queued * KDKP_MAX_DGRAM, .iov_len = len };
        c->msgs[c->queued] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &c->iovs[c->queued], .msg_iovlen = 1 } };
        c->queued++;
}

static void send_dgram(struct client *c, const uint8_t *buf, size_t len) {
        uint8_t *slot = queue_slot(c);

        memcpy(slot, buf, len);
        queue(c, len);
        flush(c);
}

/* Where the next queued packet's body goes: filled there, it is sealed in
 * place (queue_body_sealed), without a copy. */
static uint8_t *queue_body(struct client *c) {
        return queue_slot(c) + KDKP_HDR;
}

static void queue_body_sealed(struct client *c, uint8_t type, uint16_t flags, size_t len) {
        struct kdkp_header h = { .type = type, .flags = flags, .features = c->features, .session_id = c->keys.session_id,
                                 .pn = c->pn++ };
        uint8_t *slot = queue_slot(c);

        queue(c, kdkp_seal(slot, KDKP_MAX_DGRAM, c->keys.c2s, &h, slot + KDKP_HDR, len));
}

/* Seals into the queue; the caller flushes. */
static void queue_sealed(struct client *c, uint8_t type, uint16_t flags, const uint8_t *body, size_t len) {
        memcpy(queue_body(c), body, len);
        queue_body_sealed(c, type, flags, len);
}

static void send_sealed(struct client *c, uint8_t type, uint16_t flags, const uint8_t *body, size_t len) {
        queue_sealed(c, type, flags, body, len);
        flush(c);
}

static void send_hello(struct client *c) {
        struct kdkp_hello m = { .max_datagram = (uint16_t)c->max_dgram, .features = c->features };
        uint8_t out[KDKP_MAX_DGRAM];
        /* After three unanswered HELLOs, alternate with the smallest size,
         * for paths that cannot carry full-size datagrams (§4.1). */
        size_t size = c->hello_count >= 3 && c->hello_count % 2 ? KDKP_MIN_DGRAM : c->base_dgram;

        memcpy(m.key_id, c->psk.key_id, 8);
        memcpy(m.rc, c->rc, 32);
        send_dgram(c, out, kdkp_hello_build(out, size, &c->psk, &m));
        c->hello_count++;
        c->hello_sent_us = now_us();
        c->next_timer_us = c->hello_sent_us + c->hello_interval_us;
        c->hello_interval_us = c->hello_interval_us * 2 > HELLO_MAX_US ? HELLO_MAX_US : c->hello_interval_us * 2;
}

static void start_handshake(struct client *c) {
        path_sizes(c, c->o->mtu);
        c->probe = PROBE_NONE;
        c->rto_streak = 0;
        randombytes_buf(c->rc, sizeof(c->rc));
        c->phase = HELLO_SENT;
        c->hello_interval_us = HELLO_FIRST_US;
        c->hello_count = 0;
        send_hello(c);
}

static void clamp_rto(struct client *c) {
        if (c->rto_us < RTO_MIN_US)
                c->rto_us = RTO_MIN_US;
        if (c->rto_us > RTO_MAX_US)
                c->rto_us = RTO_MAX_US;
}

/* RFC 6298 with our clamp (§6.5). */
static void set_rto(struct client *c) {
        c->rto_us = c->srtt_us + (4 * c->rttvar_us > 1000 ? 4 * c->rttvar_us : 1000) + c->max_ack_delay_us;
        clamp_rto(c);
}

/* INIT waits at least INIT_WAIT_MIN_US: its answer needs the server's disk
 * (a directory, four files, an index row), not only a round trip. Without
 * an RTT sample (the HELLO went out more than once) it starts from HELLO's
 * first wait, not the 500 ms initial RTO: at 20% loss two lost INITs cost
 * 1.5 s of a 2.7 s transfer. */
static void send_init(struct client *c) {
        uint8_t out[KDKP_MAX_DGRAM];
        uint64_t base = c->srtt_us ? (uint64_t)c->rto_us : HELLO_FIRST_US;
        uint64_t wait = base > INIT_WAIT_MIN_US ? base : INIT_WAIT_MIN_US;

        send_dgram(c, out, kdkp_init_build(out, &c->keys, &c->init));
        c->next_timer_us = now_us() + (wait << c->init_tries);
}

static void on_challenge(struct client *c, const uint8_t *buf, size_t len) {
        struct kdkp_challenge m;

        if (c->phase != HELLO_SENT || kdkp_challenge_parse(buf, len, &c->psk, c->rc, &m) < 0)
                return;
        kdkp_session_keys(&c->psk, c->rc, m.rs, &c->keys);
        if (c->keys.session_id == 0) {
                start_handshake(c);
                return;
        }
        /* The HELLO → CHALLENGE time is the first RTT sample if that HELLO
         * went out once (§4.5). */
        if (c->hello_count == 1 && c->srtt_us == 0) {
                c->srtt_us = (int64_t)(now_us() - c->hello_sent_us);
                c->rttvar_us = c->srtt_us / 2;
                set_rto(c);
        }
        memcpy(c->init.key_id, c->psk.key_id, 8);
        memcpy(c->init.rc, c->rc, 32);
        memcpy(c->init.rs, m.rs, 32);
        c->init.cookie_time = m.cookie_time;
        memcpy(c->init.cookie, m.cookie, 16);
        /* The session's base size is the HELLO the server answered; large
         * frames only if both sides want them and a probe confirms. */
        if (m.base_datagram >= KDKP_MIN_DGRAM && m.base_datagram <= c->base_dgram)
                c->base_dgram = m.base_datagram;
        c->dgram = c->base_dgram;
        c->features &= m.features;
        if (m.max_datagram < c->max_dgram)
                c->max_dgram = m.max_datagram;
        if (!(c->features & KDKP_FEATURE_LARGE_FRAMES) || c->max_dgram <= c->base_dgram) {
                c->features &= (uint16_t)~KDKP_FEATURE_LARGE_FRAMES;
                c->max_dgram = c->base_dgram;
        }
        c->init.features = c->features;
        memset(&c->replay, 0, sizeof(c->replay));
        c->pn = 1; /* INIT is pn 0 */
        c->init_tries = 0;
        c->phase = INIT_SENT;
        send_init(c);
}

/* Everything in flight is forgotten: after a resume the server's view starts
 * again at its committed offset. */
static void forget_flights(struct client *c) {
        c->f_head = c->f_count = 0;
        c->n_retx = 0;
        c->n_sack = 0;
        c->fin_sent = false;
        c->fin_tries = 0;
        /* pns start again in every session */
        c->largest_acked_pn = UINT64_MAX;
        c->recovery_pn = 0;
        c->rto_check = false;
}

static const struct mark *find_mark(const struct client *c, uint64_t offset) {
        for (size_t i = 0; i < c->n_marks; i++)
                if (c->marks[i].offset == offset)
                        return &c->marks[i];
        return NULL;
}

static void drop_below(struct client *c, uint64_t offset) {
        size_t keep = 0;

        if (offset <= c->base)
                return;
        c->base = offset;
        if (offset > c->o->head_len)
                stream_ring_release(c->o->ring, offset - c->o->head_len);
        /* Keep the mark at the new base: a resume may ask for it. */
        for (size_t i = 0; i < c->n_marks; i++)
                if (c->marks[i].offset >= offset)
                        c->marks[keep++] = c->marks[i];
        c->n_marks = keep;
}

/* A PING padded to the agreed largest size; its PONG switches to it (§6.7). */
static void send_probe(struct client *c) {
        struct kdkp_ping m = { .token = c->probe_tries };
        uint8_t body[KDKP_MAX_DGRAM];
        size_t n = kdkp_ping_put(body, c->max_dgram, &m);

        c->probe_tries++;
        c->probe = PROBE_SENT;
        c->probe_sent_us = now_us();
        send_sealed(c, KDKP_PING, KDKP_FLAG_PROBE, body, n);
}

static void on_pong(struct client *c, const struct kdkp_pong *m) {
        c->ping_outstanding = false;
        if (c->probe == PROBE_SENT && m->ping_size == c->max_dgram) {
                c->dgram = c->max_dgram;
                c->probe = PROBE_DONE;
        }
}

static int on_accept(struct client *c, const struct kdkp_accept *m, char *why, size_t why_len) {
        const struct mark *mk;

        if (m->dump_status == KDKP_COMPLETE) {
                snprintf(c->result->dir, sizeof(c->result->dir), "%s", m->dir);
                c->phase = DONE;
                return 0;
        }
        if (m->dump_status != KDKP_ADMITTED && m->dump_status != KDKP_DEFERRED && m->dump_status != KDKP_REFUSED) {
                snprintf(why, why_len, "server refused the dump: %s", kdkp_error_name(m->code));
                return -ECONNREFUSED;
        }
        if (m->resume_offset < c->base || m->resume_offset > c->end) {
                snprintf(why, why_len, "the server resumes at offset %llu, outside the %llu..%llu still held (STREAM_LOST)",
                         (unsigned long long)m->resume_offset, (unsigned long long)c->base,
                         (unsigned long long)c->end);
                return -ESTALE;
        }
        mk = find_mark(c, m->resume_offset);
        if (!mk || sodium_memcmp(mk->h, m->resume_chain, 32) != 0) {
                snprintf(why, why_len, "the server's chain value at offset %llu does not match the stream (PROTOCOL)",
                         (unsigned long long)m->resume_offset);
                return -EPROTO;
        }
        if (c->result->resumes++ == 0 && m->resume_offset == 0)
                c->result->resumes = 0;
        snprintf(c->result->dir, sizeof(c->result->dir), "%s", m->dir);
        forget_flights(c);
        drop_below(c, m->resume_offset);
        c->next = c->recv_offset = c->commit_offset = m->resume_offset;
        c->max_offset = m->max_offset;
        c->rate_cap = m->rate_cap;
        c->max_ack_delay_us = m->max_ack_delay_us;
        c->phase = TRANSFER;
        c->giveup_start_us = c->bw_mark_us = now_us();
        c->bw_mark_delivered = c->delivered;
        c->probe_tries = 0;
        /* The file sections are the head less the dump section's header. */
        c->pausing = m->dump_status != KDKP_ADMITTED;
        c->pause_at = c->o->head_len - KDKP_SECTION_HDR;
        if (c->pausing)
                snprintf(c->last_error, sizeof(c->last_error), "the server %s the dump (%s); sending crash.json and the log",
                         m->dump_status == KDKP_DEFERRED ? "deferred" : "refused", kdkp_error_name(m->code));
        if ((c->features & KDKP_FEATURE_LARGE_FRAMES) && c->probe == PROBE_NONE && !c->pausing)
                send_probe(c);
        return 0;
}

static bool acked(const struct client *c, uint64_t start, uint64_t end) {
        if (end <= c->recv_offset)
                return true;
        for (unsigned i = 0; i < c->n_sack; i++)
                if (start >= c->sack[i].start && end <= c->sack[i].end)
                        return true;
        return false;
}

static struct flight *flight_at(struct client *c, size_t i) {
        return &c->flights[(c->f_head + i) % INFLIGHT_MAX];
}

/* The window the measured delivery rate fills in the smallest RTT seen, in
 * packets: Westwood+'s ssthresh after a loss. */
static uint32_t bdp_packets(const struct client *c) {
        double packets = c->bwe * (double)c->min_rtt_us / (double)c->dgram;

        return packets > CWND_LOSS_MIN ? (packets < INFLIGHT_MAX ? (uint32_t)packets : INFLIGHT_MAX) : CWND_LOSS_MIN;
}

/* A loss event decreases the window to what the path was seen to deliver
 * (Westwood+, Mascolo et al. 2001), not to half: random loss, which is not
 * congestion, leaves the delivery rate and so the window where they were,
 * while a full queue lowers the rate and the window with it. Before any
 * rate is known, it halves, as AIMD does. */
static void lose(struct client *c, struct flight *f) {
        f->state = 2;
        c->result->losses++;
        if (c->n_retx < RETX_MAX)
                c->retx[c->n_retx++] = (struct kdkp_range){ f->offset, f->offset + f->len };
        /* One reduction per loss event: losses of packets sent before the
         * last reduction belong to it. */
        if (f->pn > c->recovery_pn) {
                uint32_t target = c->bwe > 0 ? bdp_packets(c) : c->cwnd / 2;
                c->ssthresh = target > CWND_LOSS_MIN ? target : CWND_LOSS_MIN;
                if (c->cwnd > c->ssthresh)
                        c->cwnd = c->ssthresh;
                c->recovery_pn = c->pn;
                c->result->loss_events++;
        }
}

/* A delivery-rate sample over at least an RTT (and 1 ms), filtered 7/8. */
static void rate_sample(struct client *c, uint64_t now) {
        uint64_t span = now - c->bw_mark_us, least = c->srtt_us > 1000 ? (uint64_t)c->srtt_us : 1000;
        double sample;

        if (span < least)
                return;
        sample = (double)(c->delivered - c->bw_mark_delivered) / (double)span;
        /* A span in which the client had nothing to send measures it, not
         * the path: it may raise the estimate, never lower it. */
        if (!c->app_limited || sample > c->bwe)
                c->bwe = c->bwe > 0 ? (7 * c->bwe + sample) / 8 : sample;
        c->bw_mark_us = now;
        c->bw_mark_delivered = c->delivered;
        c->app_limited = false;
}

static void grow_cwnd(struct client *c) {
        if (c->cwnd >= INFLIGHT_MAX)
                return;
        if (c->cwnd < c->ssthresh)
                c->cwnd++;
        else if (++c->acked_in_cwnd >= c->cwnd) {
                c->acked_in_cwnd = 0;
                c->cwnd++;
        }
}

static void rtt_sample(struct client *c, int64_t r) {
        if (c->srtt_us == 0) {
                c->srtt_us = r;
                c->rttvar_us = r / 2;
        } else {
                int64_t d = c->srtt_us > r ? c->srtt_us - r : r - c->srtt_us;
                c->rttvar_us = (3 * c->rttvar_us + d) / 4;
                c->srtt_us = (7 * c->srtt_us + r) / 8;
        }
        set_rto(c);
}

/* An ACK of bytes the RTO gave up on, from before anything was sent after
 * it: the originals arrived, the server was only slow (a commit, a busy
 * CPU). The timeout was spurious, and its reduction is undone (the idea of
 * RFC 3522, with pns where Eifel has timestamps). */
static void check_spurious_rto(struct client *c, const struct kdkp_ack *m) {
        if (!c->rto_check)
                return;
        c->rto_check = false;
        if (m->largest_pn >= c->rto_pn || !acked(c, c->rto_oldest.start, c->rto_oldest.end))
                return;
        c->cwnd = c->rto_cwnd;
        c->ssthresh = c->rto_ssthresh;
        c->rto_streak = 0;
        if (c->rto_large_off)
                c->dgram = c->max_dgram;
        set_rto(c);
        c->result->spurious_rtos++;
}

/* Lost: an unacknowledged packet 3 pns below one acknowledged, or sent
 * more than an SRTT and a quarter before one delivered (RACK, RFC 8985),
 * which finds losses in windows too small for the count. */
static void detect_losses(struct client *c, uint64_t now) {
        uint64_t wait = (uint64_t)(c->srtt_us + c->srtt_us / 4);

        for (size_t i = 0; i < c->f_count; i++) {
                struct flight *f = flight_at(c, i);
                if (f->state != 0)
                        continue;
                if ((c->largest_acked_pn != UINT64_MAX && f->pn + REORDER_THRESHOLD <= c->largest_acked_pn) ||
                    (f->sent_us < c->rack_sent_us && now - f->sent_us >= wait))
                        lose(c, f);
        }
        while (c->f_count && flight_at(c, 0)->state != 0) {
                c->f_head = (c->f_head + 1) % INFLIGHT_MAX;
                c->f_count--;
        }
}

static void on_ack(struct client *c, const struct kdkp_ack *m) {
        uint64_t now = now_us();
        uint64_t delivered = c->delivered;

        c->last_ack_us = now;
        if (m->recv_offset > c->recv_offset) {
                c->recv_offset = m->recv_offset;
                c->giveup_start_us = now;
        }
        if (m->commit_offset > c->commit_offset)
                c->commit_offset = m->commit_offset;
        if (m->max_offset > c->max_offset)
                c->max_offset = m->max_offset;
        c->rate_cap = m->rate_cap;
        c->n_sack = m->nranges;
        memcpy(c->sack, m->ranges, sizeof(c->sack[0]) * m->nranges);
        check_spurious_rto(c, m);
        for (size_t i = 0; i < c->f_count; i++) {
                struct flight *f = flight_at(c, i);
                if (f->state == 0 && acked(c, f->offset, f->offset + f->len)) {
                        int64_t raw = (int64_t)(now - f->sent_us);
                        f->state = 1;
                        c->delivered += f->len;
                        /* RACK times from what was sent once (RFC 8985 §6.2) */
                        if (!f->retx && f->sent_us > c->rack_sent_us)
                                c->rack_sent_us = f->sent_us;
                        /* The window has to cover the server's ACK delay
                         * too, so the BDP takes the whole time; and only
                         * from the packet this ACK answers: bytes sent
                         * again may be covered by an ACK older than they. */
                        if (f->pn == m->largest_pn && (c->min_rtt_us == 0 || raw < c->min_rtt_us))
                                c->min_rtt_us = raw > 1 ? raw : 1;
                        grow_cwnd(c);
                        if (f->pn > c->largest_acked_pn || c->largest_acked_pn == UINT64_MAX) {
                                if (f->pn == m->largest_pn) {
                                        int64_t r = (int64_t)(now - f->sent_us), d = m->ack_delay_us;
                                        rtt_sample(c, r > d ? r - d : r);
                                }
                                c->largest_acked_pn = f->pn;
                        }
                }
        }
        detect_losses(c, now);
        c->tlps = 0;
        /* Bytes of this size got through: the path carries them. */
        if (c->delivered > delivered)
                c->rto_streak = 0;
        rate_sample(c, now);
        drop_below(c, c->commit_offset);
}

static void on_result(struct client *c, const struct kdkp_result *m, char *why, size_t why_len, int *ret) {
        snprintf(c->result->dir, sizeof(c->result->dir), "%s", m->dir);
        if (m->status == KDKP_STORED) {
                c->phase = DONE;
                return;
        }
        if (m->status == KDKP_RESULT_DEFERRED) {
                c->phase = WAIT;
                c->next_timer_us = now_us() + (uint64_t)m->retry_after_ms * 1000;
                c->result->deferrals++;
                snprintf(c->last_error, sizeof(c->last_error),
                         "deferred (%s): crash.json and the log are stored as %s; the dump waits for a free slot",
                         kdkp_error_name(m->code), m->dir);
                return;
        }
        if (m->status == KDKP_META_ONLY) {
                snprintf(why, why_len, "the server stored only crash.json and the log, as %s, and refused the dump (%s)",
                         m->dir, kdkp_error_name(m->code));
                *ret = m->code == KDKP_E_DISK_FULL ? -ENOSPC : -EIO;
                return;
        }
        snprintf(why, why_len, "the server did not store the dump: %s", kdkp_error_name(m->code));
        *ret = m->code == KDKP_E_HASH_MISMATCH ? -EBADMSG : -EIO;
}

static void on_error(struct client *c, const struct kdkp_error *m, char *why, size_t why_len, int *ret) {
        snprintf(c->last_error, sizeof(c->last_error), "\"%s\" (%s)", m->text, kdkp_error_name(m->code));
        if (m->code == KDKP_E_TOO_MANY_SESSIONS || m->code == KDKP_E_IDLE_TIMEOUT || m->code == KDKP_E_SHUTDOWN ||
            m->code == KDKP_E_SUPERSEDED) {
                c->phase = WAIT;
                c->next_timer_us = now_us() + (uint64_t)(m->retry_after_ms ? m->retry_after_ms : 1000) * 1000;
                return;
        }
        snprintf(why, why_len, "the server ended the session: %s (%s)", m->text, kdkp_error_name(m->code));
        *ret = -ECONNABORTED;
}

/* A sealed packet of this session: check, open, dispatch. */
static void on_sealed(struct client *c, const struct kdkp_header *h, const uint8_t *buf, size_t len, char *why,
                      size_t why_len, int *ret) {
        uint8_t body[KDKP_MAX_DGRAM];
        int n;

        if (c->phase == HELLO_SENT || c->phase == DONE || h->session_id != c->keys.session_id ||
            !kdkp_replay_check(&c->replay, h->pn))
                return;
        n = kdkp_open(buf, len, c->keys.s2c, h, body);
        if (n < 0)
                return;
        kdkp_replay_update(&c->replay, h->pn);
        c->last_auth_us = now_us();
        switch (h->type) {
        case KDKP_ACCEPT: {
                struct kdkp_accept m;
                int e;
                if (c->phase == INIT_SENT && kdkp_accept_parse(body, (size_t)n, &m) == 0 &&
                    (e = on_accept(c, &m, why, why_len)) < 0)
                        *ret = e;
                break;
        }
        case KDKP_ACK: {
                struct kdkp_ack m;
                if (c->phase == TRANSFER && kdkp_ack_parse(body, (size_t)n, &m) == 0)
                        on_ack(c, &m);
                break;
        }
        case KDKP_PONG: {
                struct kdkp_pong m;
                if (c->phase == TRANSFER && kdkp_pong_parse(body, (size_t)n, &m) == 0)
                        on_pong(c, &m);
                break;
        }
        case KDKP_RESULT: {
                struct kdkp_result m;
                if (c->phase == TRANSFER && kdkp_result_parse(body, (size_t)n, &m) == 0)
                        on_result(c, &m, why, why_len, ret);
                break;
        }
        case KDKP_ERROR: {
                struct kdkp_error m;
                if (kdkp_error_parse(body, (size_t)n, &m) == 0)
                        on_error(c, &m, why, why_len, ret);
                break;
        }
        default:
                break;
        }
}

/* An unauthenticated ERROR is only a hint for the final message (§7.3). */
static void on_unauth_error(struct client *c, const struct kdkp_header *h, const uint8_t *buf, size_t len) {
        struct kdkp_error m;

        if (!(h->flags & KDKP_FLAG_UNAUTH) || kdkp_error_parse(buf + h->hdr_size, len - h->hdr_size - KDKP_TAG, &m) < 0 ||
            sodium_memcmp(m.rc, c->rc, 32) != 0)
                return;
        snprintf(c->last_error, sizeof(c->last_error), "\"%s\" (%s, unauthenticated)", m.text, kdkp_error_name(m.code));
}

static int receive(struct client *c, char *why, size_t why_len) {
        uint8_t buf[KDKP_MAX_DGRAM];
        int ret = 1;

        for (int i = 0; i < 256 && ret == 1; i++) {
                ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
                struct kdkp_header h;

                if (n < 0)
                        break;
                if (kdkp_header_parse(buf, (size_t)n, &h) < 0)
                        continue;
                if (h.type == KDKP_CHALLENGE)
                        on_challenge(c, buf, (size_t)n);
                else if (h.type == KDKP_ERROR && h.session_id == 0)
                        on_unauth_error(c, &h, buf, (size_t)n);
                else
                        on_sealed(c, &h, buf, (size_t)n, why, why_len, &ret);
        }
        return ret;
}

/* Reads more of the stream into the buffer, hashing it and marking the
 * segment boundaries. */
static void add_mark(struct client *c) {
        if (c->n_marks == c->marks_cap)
                return; /* cannot happen: the buffer holds at most marks_cap - 2 segments */
        c->marks[c->n_marks].offset = c->chain.offset;
        memcpy(c->marks[c->n_marks].h, c->chain.h, 32);
        c->n_marks++;
}

/* The held bytes at a stream offset, and how many follow them before the
 * head ends or the ring wraps. */
static const uint8_t *stream_at(const struct client *c, uint64_t offset, size_t *ret_len) {
        if (offset < c->o->head_len) {
                *ret_len = (size_t)(c->o->head_len - offset);
                return c->o->head + offset;
        }
        return stream_ring_at(c->o->ring, offset - c->o->head_len, ret_len);
}

/* The stream's bytes up to end are held: hashed, with a mark at each
 * segment boundary. */
static void appended(struct client *c, uint64_t end) {
        while (c->end < end) {
                size_t seg = KDKP_SEG - (size_t)(c->end % KDKP_SEG), k;
                const uint8_t *p = stream_at(c, c->end, &k);

                if (!p)
                        return; /* cannot happen: the ring holds what it says is written */
                if (k > seg)
                        k = seg;
                if (k > end - c->end)
                        k = (size_t)(end - c->end);
                kdkp_chain_update(&c->chain, p, k);
                c->end += k;
                if (c->end % KDKP_SEG == 0)
                        add_mark(c);
        }
}

/* Takes in what the producer wrote; at its exit, its status ends the stream. */
static int fill(struct client *c, char *why, size_t why_len) {
        uint64_t avail = c->o->head_len + stream_ring_written(c->o->ring);
        int r;

        if (c->eof)
                return 0;
        /* Once the writer has exited, what it wrote is all there is. */
        appended(c, avail);
        if (!c->source_ended || c->end != avail)
                return 0;
        r = c->o->source_done ? c->o->source_done(c->o->userdata, why, why_len) : 0;
        if (r < 0)
                return r;
        c->eof = true;
        kdkp_chain_final(&c->chain, c->digest);
        return 0;
}

static void send_data(struct client *c, uint64_t offset, size_t len, bool retx, bool ack_now) {
        uint8_t *body = queue_body(c);
        struct flight *f;
        uint16_t flags = (retx ? KDKP_FLAG_RETX : 0) | (ack_now ? KDKP_FLAG_ACK_NOW : 0);

        for (size_t i = 0; i < 8; i++)
                body[i] = (uint8_t)(offset >> (8 * i));
        for (size_t done = 0, k; done < len; done += k) {
                const uint8_t *p = stream_at(c, offset + done, &k);

                if (k > len - done)
                        k = len - done;
                memcpy(body + 8 + done, p, k);
        }
        /* Blocked by the window, the buffer or cwnd: ask for an ACK at once
         * (§6.3), or a small window waits out the server's ACK delay. */
        if (offset + len >= c->max_offset || (offset + len == c->end && !c->eof) || c->f_count + 1 >= c->cwnd)
                flags |= KDKP_FLAG_ACK_NOW;
        f = flight_at(c, c->f_count++);
        *f = (struct flight){ .pn = c->pn, .offset = offset, .len = (uint32_t)len, .sent_us = now_us(), .retx = retx };
        queue_body_sealed(c, KDKP_DATA, flags, 8 + len);
        if (retx)
                c->result->retransmitted += len;
}

/* The next range to send: a lost one first, else new bytes. */
/* New bytes may be sent below this: the server's window, and in a pausing
 * session the end of the file sections. */
static uint64_t send_limit(const struct client *c) {
        return c->pausing && c->pause_at < c->max_offset ? c->pause_at : c->max_offset;
}

static bool next_range(struct client *c, uint64_t *offset, size_t *len, bool *retx) {
        size_t payload = c->dgram - KDKP_DATA_OVERHEAD;
        uint64_t limit = send_limit(c);

        while (c->n_retx) {
                struct kdkp_range *r = &c->retx[0];
                uint64_t start = r->start > c->recv_offset ? r->start : c->recv_offset;
                if (start < r->end && start >= c->base && !acked(c, start, r->end)) {
                        *offset = start;
                        *len = r->end - start < payload ? (size_t)(r->end - start) : payload;
                        r->start = start + *len;
                        *retx = true;
                        if (r->start >= r->end)
                                memmove(c->retx, c->retx + 1, --c->n_retx * sizeof(*c->retx));
                        return true;
                }
                memmove(c->retx, c->retx + 1, --c->n_retx * sizeof(*c->retx));
        }
        if (c->next >= c->end || c->next >= limit) {
                c->app_limited = true;
                return false;
        }
        *offset = c->next;
        *len = payload;
        if (*len > c->end - c->next)
                *len = (size_t)(c->end - c->next);
        if (*len > limit - c->next)
                *len = (size_t)(limit - c->next);
        c->next += *len;
        *retx = false;
        return true;
}

/* Pacing (§6.7): 1.25 × cwnd per RTT, at most the server's cap. */
static double pace_rate(const struct client *c) {
        double srtt = c->srtt_us > 0 ? (double)c->srtt_us : 1000.0;
        double rate = 1.25 * c->cwnd * (double)c->dgram / srtt * 1e6;

        if (c->rate_cap && rate > c->rate_cap * 1024.0)
                rate = c->rate_cap * 1024.0;
        return rate;
}

static double token_cap(const struct client *c, double rate) {
        double burst = (double)BURST * (double)c->dgram, span = rate * BURST_US / 1e6;

        return span > burst ? span : burst;
}

static void pump(struct client *c) {
        uint64_t now = now_us();
        double rate = pace_rate(c), burst = token_cap(c, rate);

        c->tokens += (double)(now - c->tokens_us) * rate / 1e6;
        c->tokens_us = now;
        if (c->tokens > burst)
                c->tokens = burst;
        while (c->f_count < c->cwnd && c->f_count < INFLIGHT_MAX && c->tokens >= (double)c->dgram) {
                uint64_t offset;
                size_t len;
                bool retx;

                if (!next_range(c, &offset, &len, &retx))
                        break;
                send_data(c, offset, len, retx, false);
                c->tokens -= (double)c->dgram;
        }
        flush(c);
}

/* The end of the stream, or with pausing, of this session's part of it. */
static void send_fin(struct client *c) {
        struct kdkp_fin m = { .length = c->pausing ? c->pause_at : c->end, .flags = c->pausing ? KDKP_FIN_PAUSE : 0,
                              .bytes_sent = c->end + c->result->retransmitted,
                              .bytes_retransmitted = c->result->retransmitted,
                              .elapsed_ms = (uint32_t)((now_us() - c->start_us) / 1000) };
        uint8_t body[KDKP_FIN_BODY];

        if (!c->pausing)
                memcpy(m.digest, c->digest, 32);
        send_sealed(c, KDKP_FIN, KDKP_FLAG_ACK_NOW, body, kdkp_fin_put(body, &m));
        c->fin_sent = true;
        c->fin_tries++;
        c->fin_sent_us = now_us();
}

/* The retransmission timer: packets unacknowledged for an RTO are lost; the
 * RTO doubles and the window falls to its minimum (§6.4, §6.7). */
static void check_rto(struct client *c) {
        uint64_t now = now_us();
        uint32_t cwnd = c->cwnd, ssthresh = c->ssthresh;
        bool fired = false;

        for (size_t i = 0; i < c->f_count; i++) {
                struct flight *f = flight_at(c, i);
                if (f->state == 0 && now - f->sent_us >= (uint64_t)c->rto_us) {
                        if (!fired)
                                c->rto_oldest = (struct kdkp_range){ f->offset, f->offset + f->len };
                        lose(c, f);
                        fired = true;
                }
        }
        if (fired && !c->rto_check) {
                c->rto_check = true;
                c->rto_large_off = false;
                c->rto_pn = c->pn;
                c->rto_cwnd = cwnd;
                c->rto_ssthresh = ssthresh;
        }
        if (fired) {
                c->result->rtos++;
                uint32_t target = c->bwe > 0 ? bdp_packets(c) : c->cwnd / 2;
                c->ssthresh = target > CWND_LOSS_MIN ? target : CWND_LOSS_MIN;
                c->cwnd = CWND_MIN;
                c->rto_us *= 2;
                clamp_rto(c);
                /* Two in a row with large frames and nothing delivered
                 * between: the path may have stopped carrying them, so the
                 * base size (§6.7), until a probe says otherwise. */
                if (++c->rto_streak >= 2 && c->dgram > c->base_dgram) {
                        large_frames_off(c);
                        c->rto_large_off = true;
                        /* Loss, not the size, may have caused them: a probe
                         * will tell (a few times a session). */
                        if (c->reprobes < REPROBES)
                                c->reprobe_us = now + REPROBE_US;
                }
        }
        while (c->f_count && flight_at(c, 0)->state != 0) {
                c->f_head = (c->f_head + 1) % INFLIGHT_MAX;
                c->f_count--;
        }
}

/* The probe timeout: two SRTTs, at least TLP_MIN_US. Probes ask for an
 * ACK at once, so the server's ACK delay is not in it. */
static uint64_t probe_timeout(const struct client *c) {
        uint64_t pto = 2 * (uint64_t)c->srtt_us;

        return pto > TLP_MIN_US ? pto : TLP_MIN_US;
}

/* No ACK for a probe timeout with packets out and nothing lost to resend:
 * the newest packet's bytes once more, asking for an ACK, so that RACK can
 * find a loss at the tail before the RTO does (RFC 8985's TLP; two, as one
 * may be lost too). */
static void tail_probe(struct client *c, uint64_t now) {
        uint64_t pto = probe_timeout(c);
        const struct flight *f;

        if (c->tlps >= TLP_MAX || c->n_retx || c->f_count == 0 || c->srtt_us == 0 || c->f_count >= INFLIGHT_MAX)
                return;
        f = flight_at(c, c->f_count - 1);
        if (now - f->sent_us < pto || now - c->last_ack_us < pto || f->offset < c->base)
                return;
        send_data(c, f->offset, f->len < c->dgram - KDKP_DATA_OVERHEAD ? f->len : c->dgram - KDKP_DATA_OVERHEAD,
                  true, true);
        flush(c);
        c->tlps++;
        c->result->tail_probes++;
}

/* Time from then to now, 0 if then is later (a send after now was read). */
static uint64_t since(uint64_t now, uint64_t then) {
        return now > then ? now - then : 0;
}

static void probe_timers(struct client *c, uint64_t now) {
        if (c->reprobe_us && now >= c->reprobe_us && c->probe == PROBE_DONE && c->dgram == c->base_dgram) {
                c->reprobe_us = 0;
                c->reprobes++;
                c->probe_tries = 0;
                send_probe(c);
        } else if (c->probe == PROBE_SENT && since(now, c->probe_sent_us) >= (uint64_t)c->rto_us) {
                if (c->probe_tries < PROBE_TRIES)
                        send_probe(c);
                else
                        large_frames_off(c);
        }
}

/* Whether a reply is due: data, a FIN, a PING or a probe outstanding. The
 * path is lost only when one is, and none came for PATH_TIMEOUT_US (§8.3). */
static bool awaiting_reply(const struct client *c) {
        return c->f_count || c->fin_sent || c->ping_outstanding || c->probe == PROBE_SENT;
}

static void transfer_timers(struct client *c) {
        uint64_t now = now_us();

        detect_losses(c, now);
        tail_probe(c, now);
        check_rto(c);
        probe_timers(c, now);
        if (((c->pausing && c->next >= c->pause_at) || (!c->pausing && c->eof && c->next >= c->end)) &&
            (!c->fin_sent ||
             since(now, c->fin_sent_us) >= (c->fin_tries <= FIN_QUICK ? probe_timeout(c) : (uint64_t)c->rto_us)))
                send_fin(c);
        /* Idle for a second (dumptool filtering, a commit): a PING keeps the
         * session and the path alive (§6.6). */
        if (since(now, c->last_send_us) >= PING_IDLE_US) {
                uint8_t body[KDKP_PING_BODY] = { 0 };
                send_sealed(c, KDKP_PING, 0, body, sizeof(body));
                c->ping_outstanding = true;
        }
        /* Nothing outstanding and waiting for our own producer: the give-up
         * timer pauses (§8.4). */
        if (!c->eof && c->f_count == 0 && c->next == c->end && c->recv_offset == c->end)
                c->giveup_start_us = now;
        if (awaiting_reply(c) && since(now, c->last_auth_us) >= PATH_TIMEOUT_US) {
                snprintf(c->last_error, sizeof(c->last_error), "no reply for %d s; handshaking again",
                         PATH_TIMEOUT_US / 1000000);
                start_handshake(c);
        }
}

static void handshake_timers(struct client *c) {
        uint64_t now = now_us();

        if (now < c->next_timer_us)
                return;
        if (c->phase == HELLO_SENT)
                send_hello(c);
        else if (c->phase == WAIT)
                start_handshake(c);
        else if (++c->init_tries >= INIT_TRIES)
                start_handshake(c);
        else
                send_init(c);
}

/* How long poll may sleep: until the next timer, or until pacing has a
 * datagram's worth of tokens. */
static uint64_t next_wait_us(const struct client *c) {
        uint64_t now = now_us();
        double rate;

        if (c->phase != TRANSFER)
                return c->next_timer_us > now ? c->next_timer_us - now : 0;
        if (c->f_count < c->cwnd && (c->n_retx || (c->next < c->end && c->next < send_limit(c)))) {
                rate = pace_rate(c);
                if (c->tokens >= (double)c->dgram)
                        return 0;
                return rate > 0 ? (uint64_t)(((double)c->dgram - c->tokens) / rate * 1e6) + 1 : 1000;
        }
        return c->f_count ? (uint64_t)c->rto_us / 4 : 50000;
}

static void report_progress(struct client *c, bool force) {
        uint64_t now = now_us();

        if (!c->o->progress || (!force && now - c->last_progress_us < 1000000))
                return;
        c->last_progress_us = now;
        c->o->progress(c->o->userdata, c->recv_offset, c->end, c->result->retransmitted, force);
}

static void giveup_message(struct client *c, char *why, size_t why_len) {
        snprintf(why, why_len, "no progress for %u s (%.1f of %.1f MiB acknowledged%s%s%s)", c->o->timeout_s,
                 (double)c->recv_offset / (1 << 20), (double)c->end / (1 << 20),
                 c->eof ? "" : " so far", c->last_error[0] ? "; last: " : "", c->last_error);
}

static int run(struct client *c, char *why, size_t why_len) {
        start_handshake(c);
        for (;;) {
                struct pollfd p[2] = { { .fd = c->fd, .events = POLLIN },
                                       { .fd = stream_ring_fd(c->o->ring), .events = POLLIN } };
                int r = fill(c, why, why_len);
                bool want_source;

                if (r < 0)
                        return r;
                if (c->phase == TRANSFER) {
                        transfer_timers(c);
                        if (c->phase == TRANSFER)
                                pump(c);
                } else {
                        handshake_timers(c);
                }
                report_progress(c, false);
                if (now_us() - c->giveup_start_us >= (uint64_t)c->o->timeout_s * 1000000u) {
                        giveup_message(c, why, why_len);
                        return -ETIMEDOUT;
                }
                uint64_t wait = next_wait_us(c);
                /* Asleep only with the doorbell armed at what was taken in. */
                want_source = !c->eof && !c->source_ended;
                if (want_source && !stream_ring_arm(c->o->ring, c->end - c->o->head_len))
                        wait = 0;
                struct timespec ts = { .tv_sec = (time_t)(wait / 1000000u), .tv_nsec = (long)(wait % 1000000u) * 1000 };
                if (ppoll(p, want_source ? 2 : 1, &ts, NULL) < 0 && errno != EINTR)
                        return -errno;
                if (want_source && (p[1].revents & (POLLIN | POLLHUP)) && stream_ring_drain(c->o->ring))
                        c->source_ended = true;
                r = receive(c, why, why_len);
                if (r <= 0 || c->phase == DONE)
                        return r < 0 ? r : 0;
        }
}

static void send_abort(struct client *c, const char *why) {
        struct kdkp_error m = { .code = KDKP_E_ABORT, .flags = KDKP_ERROR_FATAL };
        uint8_t body[64 + KDKP_TEXT_MAX];

        if (c->phase != TRANSFER)
                return;
        snprintf(m.text, sizeof(m.text), "%s", why);
        send_sealed(c, KDKP_ERROR, 0, body, kdkp_error_put(body, &m));
}

int netsend_run(const struct netsend_options *o, struct netsend_result *ret, char *why, size_t why_len) {
        struct client c = { .o = o, .rto_us = RTO_INITIAL_US, .cwnd = CWND_INITIAL,
                            .ssthresh = UINT32_MAX, .largest_acked_pn = UINT64_MAX, .init = o->meta, .result = ret };
        int r;

        memset(ret, 0, sizeof(*ret));
        if (sodium_init() < 0) {
                snprintf(why, why_len, "libsodium cannot start");
                return -EIO;
        }
        c.fd = open_socket(o->url, why, why_len);
        if (c.fd < 0)
                return c.fd;
        /* The head is held whole beside the ring. */
        c.marks_cap = (stream_ring_cap(o->ring) + o->head_len) / KDKP_SEG + 3;
        c.marks = calloc(c.marks_cap, sizeof(*c.marks));
        c.flights = calloc(INFLIGHT_MAX, sizeof(*c.flights));
        c.retx = calloc(RETX_MAX, sizeof(*c.retx));
        c.msgs = calloc(BURST, sizeof(*c.msgs));
        c.iovs = calloc(BURST, sizeof(*c.iovs));
        c.out = malloc((size_t)BURST * KDKP_MAX_DGRAM);
        if (!c.marks || !c.flights || !c.retx || !c.msgs || !c.iovs || !c.out) {
                r = -ENOMEM;
                snprintf(why, why_len, "%s", strerror(ENOMEM));
                goto out;
        }
        kdkp_psk_init(&c.psk, o->psk);
        c.init.resume_buffer = (uint32_t)stream_ring_cap(o->ring);
        c.init.stream_format = 1;
        kdkp_chain_init(&c.chain, c.psk.stream_key, c.init.dump_id);
        add_mark(&c);
        c.start_us = c.giveup_start_us = c.last_auth_us = c.tokens_us = now_us();
        r = run(&c, why, why_len);
        if (r < 0)
                send_abort(&c, why);
        ret->length = c.end;
        ret->datagram = (unsigned)c.dgram;
        ret->srtt_ms = (double)c.srtt_us / 1e3;
        ret->min_rtt_ms = (double)c.min_rtt_us / 1e3;
        ret->bandwidth = c.bwe * 1e6;
        ret->seconds = (double)(now_us() - c.start_us) / 1e6;
        report_progress(&c, true);
out:
        sodium_memzero(&c.psk, sizeof(c.psk));
        kdkp_chain_done(&c.chain);
        sodium_memzero(&c.keys, sizeof(c.keys));
        free(c.marks);
        free(c.flights);
        free(c.retx);
        free(c.msgs);
        free(c.iovs);
        free(c.out);
        close(c.fd);
        return r;
}
