/* A byte stream from one process to another through shared memory: the
 * udp:// producer child writes the flattened dump into a ring, and the
 * sender reads its packets straight out of it, so that the ring is also the
 * sender's resume buffer. It replaces a pipe, which an unprivileged process
 * cannot make larger than fs.pipe-max-size (1 MiB by default): on the lab's
 * 6.1 dump the producer filled that in 7 ms and then slept 53-73 ms of a
 * 0.2 s transfer whenever the sender or kdumpd held a core, and each byte
 * crossed it with two copies, then a third into the resume buffer.
 *
 * Offsets count the writer's bytes from 0. The writer blocks while the ring
 * holds cap bytes the reader has not released; the reader polls a
 * descriptor that becomes readable when it asked to be told of new bytes,
 * or when the writer has exited. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The ring's size: a page at least, 1 GiB at most (--net-buffer's range). */
#define STREAM_RING_MIN 4096u
#define STREAM_RING_MAX (1u << 30)

struct stream_ring;

/* A ring of cap bytes in shared anonymous memory, and its doorbell; made
 * before the fork, so that both processes map it. */
int stream_ring_new(size_t cap, struct stream_ring **ret);

/* Unmaps the ring and closes this process's ends of the doorbell. */
struct stream_ring *stream_ring_free(struct stream_ring *r);

/* In the writer after the fork: drops the reader's end of the doorbell and
 * notes the reader's pid, so that a writer waiting for room notices when
 * the reader is gone. */
void stream_ring_become_writer(struct stream_ring *r);

/* Appends len bytes, waiting for the reader to release room. Returns 0, or
 * -EPIPE once the reader's process has exited. The signature of an output
 * sink (lib/output.h). */
int stream_ring_write(void *ring, const void *buf, size_t len);

/* In the reader after the fork: drops the writer's end of the doorbell,
 * which then reads as end of file once the writer has exited. */
void stream_ring_become_reader(struct stream_ring *r);

size_t stream_ring_cap(const struct stream_ring *r);

/* Bytes written so far. Every byte below it is readable. */
uint64_t stream_ring_written(const struct stream_ring *r);

/* The bytes at offset (written, not released), and how many follow it
 * before the ring wraps; NULL outside what the ring holds. */
const uint8_t *stream_ring_at(const struct stream_ring *r, uint64_t offset, size_t *ret_len);

/* The reader no longer needs the bytes below offset: the writer may reuse
 * their room. */
void stream_ring_release(struct stream_ring *r, uint64_t offset);

/* The descriptor to poll for POLLIN. */
int stream_ring_fd(const struct stream_ring *r);

/* Asks for the doorbell at the next write. Returns false if more than seen
 * is already written (then there is nothing to wait for). */
bool stream_ring_arm(struct stream_ring *r, uint64_t seen);

/* After POLLIN: empties the doorbell. Returns true once the writer has
 * exited; its last bytes are in stream_ring_written() by then. */
bool stream_ring_drain(struct stream_ring *r);
