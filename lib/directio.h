/* Writing a file with O_DIRECT from a thread of its own. A dump is written
 * once and not read back, so the page cache only costs: copying each byte
 * into it and writing it back took 40% of dumptool's CPU on a -d 1 dump of
 * the lab's 8 GiB vmcore. Writes come at any offset and length; they are
 * gathered into whole aligned blocks, and a block written in part is kept
 * (or read back) so that a later write into it keeps the bytes already
 * there. Blocks are handed to the thread in the order of the writes that
 * filled them, so what reaches the disk first is what was written first. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct direct_writer;

/* Sets O_DIRECT on fd (a fresh, empty file) and checks that an aligned
 * block can be written at offset 0. Returns 0, -EOPNOTSUPP when the file
 * system takes no direct I/O (fd is then as it was), or a negative errno. */
int direct_writer_new(int fd, struct direct_writer **ret);

/* Writes len bytes at offset. Returns 0 or the first error the thread met
 * (-ENOSPC ...), after which nothing more is written but the blocks written
 * before: those are then written at once, so that a header can still be
 * marked in place. */
int direct_writer_write(struct direct_writer *w, const void *buf, size_t len, uint64_t offset);

/* Writes what is gathered and waits for the thread. Returns 0 or the first
 * error, after which writes go in place (direct_writer_write). */
int direct_writer_flush(struct direct_writer *w);

/* Writes what is gathered, waits for the thread, and cuts the file to one
 * past the highest byte written. Returns 0 or the first error. */
int direct_writer_finish(struct direct_writer *w);

/* Waits for the thread and frees w; does not close the fd. */
struct direct_writer *direct_writer_free(struct direct_writer *w);
