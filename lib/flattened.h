/* Reading makedumpfile's flattened stream (-F): a 4096-byte header, then
 * records of (offset, size, payload) with big-endian framing, then an end
 * marker of (-1, -1). Rebuilding applies the records in order to a file. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Checks the stream header (FLAT_HEADER_SIZE bytes). Returns 0 or -EBADMSG
 * with a reason in why. */
int flat_check_header(const uint8_t *header, size_t len, char *why, size_t why_len);

/* Decodes a 16-byte record header. Returns 1 for a record, 0 for the end
 * marker, or -EBADMSG (with why) for a size or offset past its cap. */
int flat_parse_record(const uint8_t rec[16], uint64_t *ret_offset, uint64_t *ret_size, char *why, size_t why_len);

struct flat_stats {
        uint64_t records;
        uint64_t payload_bytes;
        uint64_t end_offset; /* one past the highest byte written */
};

/* Reads a flattened stream from in_fd and writes each record at its offset
 * into out_fd. Returns 0 once the end marker is read; -EBADMSG for a bad
 * header or record, -EPIPE for a stream that stops before its end marker,
 * or the errno of a failed write; why says which, in one line. */
int flat_rebuild(int in_fd, int out_fd, struct flat_stats *st, char *why, size_t why_len);
