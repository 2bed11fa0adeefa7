/* Whole-buffer I/O: reads and writes that retry on EINTR and short counts,
 * so that callers handle only real errors. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads up to len bytes; returns the count read (less than len only at end
 * of file) or a negative errno. */
ssize_t read_full(int fd, void *buf, size_t len);

/* Reads exactly len bytes at offset; returns 0, -EIO when the file ends
 * first, or a negative errno. */
int pread_exact(int fd, void *buf, size_t len, uint64_t offset);

/* Writes all len bytes; returns 0 or a negative errno (-ENOSPC on a full disk). */
int write_full(int fd, const void *buf, size_t len);

/* Writes all len bytes at offset; returns 0 or a negative errno. */
int pwrite_full(int fd, const void *buf, size_t len, uint64_t offset);
