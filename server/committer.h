/* Commits off the network loop: a worker thread makes a dump's files
 * durable (fdatasync) and then writes the state slot that says so
 * (docs/protocol.md §8.1). A commit of a few MiB takes 10-20 ms on an
 * ordinary disk; done inline it stalls every session of the network child,
 * long enough for clients' retransmission timers to fire. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define COMMIT_FILES 4          /* the descriptors a commit syncs, the state file last */
#define COMMIT_SLOT_BYTES 512u  /* one state slot */
#define COMMIT_REAP_MAX 64u     /* finished jobs taken at a time */

struct committer;

/* A job writes its state slot unless it is the last: then only the data
 * is synced, and the dump is filed once that is done. */
enum commit_kind { COMMIT_STATE, COMMIT_LAST };

struct commit_job {
        enum commit_kind kind;
        uint64_t session_id;    /* whose: a finished job of a session since gone is ignored */
        uint64_t offset;        /* what the slot says is durable */
        uint64_t generation;    /* the slot's (the caller's bookkeeping) */
        int fds[COMMIT_FILES];  /* duplicates, owned by the job; -1 for none */
        uint8_t slot[COMMIT_SLOT_BYTES];
        uint64_t slot_pos;      /* where the slot goes in fds[COMMIT_FILES - 1] */
};

struct commit_done {
        enum commit_kind kind;
        uint64_t session_id, offset;
        int error;              /* 0, or a negative errno */
};

/* Runs a job here and now, and closes its descriptors. Returns 0 or a
 * negative errno. */
int commit_job_run(struct commit_job *job);

/* Starts the worker, with room for capacity jobs waiting, running or
 * finished and not yet reaped (two per session: a commit and the last
 * sync). Returns 0 with *ret, or a negative errno. */
int committer_new(size_t capacity, struct committer **ret);
/* Waits for the jobs in hand, stops the worker and frees it. NULL is a no-op. */
struct committer *committer_free(struct committer *c);

/* Queues a job; the committer owns its descriptors from now on, whatever
 * the result. Returns 0, or -EBUSY when the queue is full. */
int committer_submit(struct committer *c, const struct commit_job *job);
/* A descriptor that polls readable when a job has finished. */
int committer_fd(const struct committer *c);
/* Takes up to max finished jobs into done. Returns how many. */
size_t committer_reap(struct committer *c, struct commit_done *done, size_t max);
/* Blocks until no job of session_id waits or runs (finished ones stay to
 * be reaped). */
void committer_wait(struct committer *c, uint64_t session_id);
