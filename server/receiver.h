/* kdumpd's network child: the UDP socket, handshakes, sessions, reassembly
 * and the rebuilt vmcore, written through descriptors the parent passes. */
#pragma once

#include <signal.h>
#include <stdint.h>

#include "config.h"

struct receiver_counters {
        uint64_t dropped_malformed;  /* bad header, size, type or layout */
        uint64_t dropped_auth;       /* MAC, cookie or tag failed, or a replay */
        uint64_t dropped_unknown;    /* no such session */
        uint64_t dropped_rate;       /* over a session's rate cap */
        uint64_t sessions;
        uint64_t stored;
};

/* Runs until *stop is set (SIGTERM) or the parent goes away. sock is the
 * bound UDP socket, parent the socketpair end. Returns 0 or a negative
 * errno. The counters are logged to stderr when it ends. */
int receiver_run(const struct kdumpd_config *c, int sock, int parent, volatile sig_atomic_t *stop);
