/* dumptool's udp://HOST[:PORT] target: the crash report and the kernel log
 * become the stream's first sections, a child process writes the flattened
 * dump into a ring in shared memory (lib/streamring.h), and netsend carries
 * the whole stream to kdumpd. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netsend.h"
#include "streamring.h"
#include "vmcore.h"

/* What the network client may keep of the log: kdumpd takes 32 MiB of file
 * sections by default; the end of a larger log is kept (the panic is there). */
#define NET_LOG_MAX (16u << 20)

/* The producer's pages read of pages to read, in memory it shares with the
 * sender, so that one progress line tells both. */
struct net_read_progress {
        uint64_t done, total;
};

struct net_target_options {
        const char *url;
        const char *secret_file;
        unsigned timeout_s;
        size_t buffer;
        unsigned mtu;
        bool progress;
        /* Runs in a child process: writes the flattened dump into ring
         * (stream_ring_write), noting its pages in progress, and returns 0,
         * or a negative errno after printing why. */
        int (*produce)(struct stream_ring *ring, struct net_read_progress *progress, void *userdata);
        void *userdata;
};

/* Sends v's dump. Returns 0 once kdumpd has stored it, with its directory
 * and figures in ret; else a negative errno with one line in why. The
 * reason and signature of the crash are in reason (for dumptool's message). */
int net_target_send(struct vmcore *v, const struct net_target_options *o, struct netsend_result *ret, char *reason,
                    size_t reason_len, char *why, size_t why_len);
