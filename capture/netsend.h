/* The client side of KDKP/1 (docs/protocol.md): sends one stream, the file
 * sections and then the flattened dump read from a descriptor, to kdumpd,
 * through handshakes, loss, reordering and server restarts, until the
 * server says it is stored or the give-up timer fires. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kdkp.h"
#include "streamring.h"

/* --net-timeout: 300 s by default (§8.4); a day at most. */
#define NET_TIMEOUT_DEFAULT 300u
#define NET_TIMEOUT_MAX 86400u
/* --net-buffer: the resume buffer, at least two segments so the transfer
 * can never stall on commits (§6.3). */
#define NET_BUFFER_DEFAULT (16u << 20)
#define NET_BUFFER_MIN (2u << 20)
#define NET_BUFFER_MAX (1024u << 20)
/* --mtu: IPv6's minimum link MTU up to what a v1 datagram can use. */
#define NET_MTU_MIN 1280u
#define NET_MTU_MAX 65535u

struct netsend_options {
        const char *url;                /* udp://HOST[:PORT] */
        uint8_t psk[KDKP_KEY_BYTES];
        unsigned timeout_s;             /* --net-timeout */
        size_t buffer;                  /* --net-buffer: the resume buffer, the ring's size */
        unsigned mtu;                   /* --mtu; 0: the route's MTU */
        struct kdkp_init meta;          /* dump_id, host, release, machine, crash time, tool */
        const uint8_t *head;            /* the stream's first bytes: file sections, dump section header */
        size_t head_len;
        /* Then the flattened dump, to its writer's exit. The bytes stay
         * there until the server has committed them: the ring is the
         * resume buffer, beside the head, which is held whole. */
        struct stream_ring *ring;
        /* Called about twice a second, and once at the end. */
        void (*progress)(void *userdata, uint64_t acked, uint64_t produced, uint64_t retransmitted, int done);
        void *userdata;
        /* Called when the ring's writer has exited; returns 0 if the producer
         * succeeded, else a negative errno (with why), and the client aborts. */
        int (*source_done)(void *userdata, char *why, size_t why_len);
};

struct netsend_result {
        char dir[65];             /* the server's name for the dump */
        uint64_t length;          /* stream bytes */
        uint64_t retransmitted;   /* bytes sent more than once */
        unsigned resumes;         /* handshakes after the first */
        unsigned deferrals;       /* times the server stored the file sections and asked to come back */
        unsigned datagram;        /* the datagram size at the end (large frames or the base) */
        unsigned spurious_rtos;   /* retransmission timeouts undone: the originals had arrived */
        unsigned losses;          /* packets found lost by count or time (RACK) */
        unsigned rtos;            /* retransmission timeouts */
        unsigned tail_probes;     /* tail loss probes sent */
        unsigned loss_events;     /* window reductions */
        double srtt_ms, min_rtt_ms, bandwidth;  /* at the end; bandwidth in bytes a second */
        double seconds;
};

/* Splits udp://HOST[:PORT] (IPv6 as [ADDR]). Returns 0 or -EINVAL. */
int netsend_parse_url(const char *url, char *host, size_t host_len, char *port, size_t port_len);

/* Reads a key file: 64 hex digits, not readable by group or others.
 * Returns 0, or a negative errno with why. */
int netsend_read_key(const char *path, uint8_t ret[KDKP_KEY_BYTES], char *why, size_t why_len);

/* Runs the transfer. Returns 0 once the server has stored the dump, or a
 * negative errno with one line in why. */
int netsend_run(const struct netsend_options *o, struct netsend_result *ret, char *why, size_t why_len);
