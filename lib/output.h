/* Where a dump's bytes go: a seekable file, or makedumpfile's flattened
 * stream (-F), in which every positioned write becomes a record so that the
 * output can be a pipe or a socket. Writers address bytes by their offset
 * in the final file either way. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* makedumpfile's flattened format (makedumpfile.h, IMPLEMENTATION). */
#define FLAT_SIGNATURE "makedumpfile"
#define FLAT_HEADER_SIZE 4096u
#define FLAT_TYPE 1
#define FLAT_VERSION 1

struct output;

/* Positioned writes into fd, a fresh empty file: with O_DIRECT from a
 * writer thread where the file system takes it (lib/directio.h), else with
 * pwrite() through the page cache. */
int output_new_file(int fd, struct output **ret);

/* A flattened stream on fd; writes the 4096-byte stream header at once. */
int output_new_flattened(int fd, struct output **ret);

/* Takes a flattened stream's bytes in order: returns 0 or a negative errno. */
typedef int (*output_sink)(void *userdata, const void *buf, size_t len);

/* A flattened stream into sink (a shared ring, lib/streamring.h), the
 * header first. */
int output_new_flattened_sink(output_sink sink, void *userdata, struct output **ret);

/* Writes len bytes that belong at offset in the final file. Returns 0 or a
 * negative errno (-ENOSPC on a full disk). */
int output_write(struct output *o, const void *buf, size_t len, uint64_t offset);

/* True when o gathers small writes into large ones itself (a direct
 * writer's batches), so that a caller's own buffer would only copy the
 * bytes once more. */
bool output_gathers(const struct output *o);

/* Waits for what was written so far to be written out (a direct writer's
 * thread), and returns its first error: a write of the page cache fails
 * when it is made, a direct one later. */
int output_flush(struct output *o);

/* Ends the output: the flattened end marker; for a file written directly,
 * the last blocks, and the file cut to its last byte. */
int output_finish(struct output *o);

/* Bytes written so far, record framing included. */
uint64_t output_bytes(const struct output *o);

/* Frees o, first writing what a direct writer still holds, so the fd must
 * still be open; does not close it. */
struct output *output_free(struct output *o);
