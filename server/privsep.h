/* The messages between kdumpd's privileged parent, which owns the dump
 * directory and the index, and its network child, which owns the socket
 * and the crypto (OpenBSD privsep). Both ends are the same binary, so the
 * structs travel in host order; each is fixed-size and size-checked on
 * receipt, and file descriptors ride along as SCM_RIGHTS. */
#pragma once

#include <assert.h>
#include <stdint.h>
#include <sys/types.h>

enum ps_type {
        PS_NO_REPLY = 0, /* what the parent sets in a request it does not answer */
        PS_ADMIT = 1,    /* child → parent: a dump to start or resume */
        PS_ADMITTED,     /* parent → child: its directory, with 4 fds */
        PS_FILE_DONE,    /* child → parent: a file section is complete (no reply) */
        PS_FINISH,       /* child → parent: the dump ended (complete, failed, ...) */
        PS_OK,           /* parent → child */
        PS_PAUSED,       /* child → parent: its session ended first; the client may resume it */
};

/* PS_META_ONLY: a new dump that only its file sections may reach (the
 * filesystem is below min_free, code DISK_FULL); with the four fds. */
enum ps_admit_status { PS_NEW = 0, PS_RESUME = 1, PS_DONE_ALREADY = 2, PS_REFUSE = 3, PS_META_ONLY = 4 };

enum { PS_FD_JSON, PS_FD_LOG, PS_FD_VMCORE, PS_FD_STATE, PS_FDS };

struct ps_msg {
        uint32_t type;
        uint32_t status;          /* PS_ADMITTED: ps_admit_status; PS_FINISH: kdkp result */
        uint32_t code;            /* a KDKP error code when refused or failed */
        uint32_t section;         /* PS_FILE_DONE */
        int64_t id;               /* the index row */
        int64_t crash_time;
        uint64_t size;
        char key_name[65];
        char dump_id[33];
        char ip[46];
        char host[65];
        char release[65];
        char machine[17];
        char dir[65];
        char dump_status[16];     /* PS_FINISH: the index status */
        char signature[65];
        char reason[512];
        char pad[11];
};
static_assert(sizeof(struct ps_msg) == 1000, "ps_msg is one fixed size on both ends");

/* Sends m with n fds (0 to PS_FDS). Returns 0 or a negative errno. */
int ps_send(int sock, const struct ps_msg *m, const int *fds, unsigned n);
/* Receives one message of exactly sizeof(struct ps_msg) bytes and up to
 * PS_FDS fds (unused slots are -1). Returns 0, -EPIPE at EOF, -EBADMSG for a
 * wrong size or type, or a negative errno. */
int ps_recv(int sock, struct ps_msg *m, int fds[PS_FDS]);
