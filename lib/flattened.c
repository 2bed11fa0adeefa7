/* The flattened stream reader and rebuilder. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>

#include "caps.h"
#include "cleanup.h"
#include "flattened.h"
#include "io.h"
#include "output.h"

#define COPY_CHUNK (1u << 20)

int flat_check_header(const uint8_t *header, size_t len, char *why, size_t why_len) {
        uint64_t type;

        if (len < FLAT_HEADER_SIZE) {
                snprintf(why, why_len, "the stream ends inside its %u-byte header", FLAT_HEADER_SIZE);
                return -EBADMSG;
        }
        /* The signature is NUL-padded to 16 bytes. */
        if (memcmp(header, FLAT_SIGNATURE, sizeof(FLAT_SIGNATURE)) != 0) {
                snprintf(why, why_len, "not a flattened dump stream (no \"%s\" signature)", FLAT_SIGNATURE);
                return -EBADMSG;
        }
        memcpy(&type, header + 16, sizeof(type));
        if (be64toh(type) != FLAT_TYPE) {
                snprintf(why, why_len, "flattened stream of type %llu, not %u", (unsigned long long)be64toh(type),
                         FLAT_TYPE);
                return -EBADMSG;
        }
        return 0;
}

int flat_parse_record(const uint8_t rec[16], uint64_t *ret_offset, uint64_t *ret_size, char *why, size_t why_len) {
        uint64_t offset, size;

        memcpy(&offset, rec, 8);
        memcpy(&size, rec + 8, 8);
        offset = be64toh(offset);
        size = be64toh(size);
        if (offset == UINT64_MAX && size == UINT64_MAX)
                return 0;
        if (offset > FLAT_OFFSET_MAX || size > FLAT_RECORD_MAX || size == 0) {
                snprintf(why, why_len, "bad record: %llu bytes at offset %llu (caps: %u bytes, offset %llu)",
                         (unsigned long long)size, (unsigned long long)offset, FLAT_RECORD_MAX,
                         (unsigned long long)FLAT_OFFSET_MAX);
                return -EBADMSG;
        }
        *ret_offset = offset;
        *ret_size = size;
        return 1;
}

/* Copies size bytes of payload from in_fd to out_fd at offset. */
static int copy_payload(int in_fd, int out_fd, uint64_t offset, uint64_t size, uint8_t *buf, struct flat_stats *st,
                        char *why, size_t why_len) {
        while (size > 0) {
                size_t n = size < COPY_CHUNK ? (size_t)size : COPY_CHUNK;
                ssize_t got = read_full(in_fd, buf, n);
                int r;

                if (got < 0) {
                        snprintf(why, why_len, "reading the stream: %s", strerror((int)-got));
                        return (int)got;
                }
                if ((size_t)got < n) {
                        snprintf(why, why_len, "the stream stops inside record %llu", (unsigned long long)st->records + 1);
                        return -EPIPE;
                }
                r = pwrite_full(out_fd, buf, n, offset);
                if (r < 0) {
                        snprintf(why, why_len, "writing %zu bytes at offset %llu: %s", n, (unsigned long long)offset,
                                 strerror(-r));
                        return r;
                }
                offset += n;
                size -= n;
                st->payload_bytes += n;
                if (offset > st->end_offset)
                        st->end_offset = offset;
        }
        return 0;
}

int flat_rebuild(int in_fd, int out_fd, struct flat_stats *st, char *why, size_t why_len) {
        uint8_t header[FLAT_HEADER_SIZE], rec[16];
        _cleanup_free_ uint8_t *buf = malloc(COPY_CHUNK);
        ssize_t n;
        int r;

        *st = (struct flat_stats){};
        if (!buf)
                return -ENOMEM;
        n = read_full(in_fd, header, sizeof(header));
        if (n < 0) {
                snprintf(why, why_len, "reading the stream: %s", strerror((int)-n));
                return (int)n;
        }
        r = flat_check_header(header, (size_t)n, why, why_len);
        if (r < 0)
                return r;
        for (;;) {
                uint64_t offset, size;

                n = read_full(in_fd, rec, sizeof(rec));
                if (n < 0) {
                        snprintf(why, why_len, "reading the stream: %s", strerror((int)-n));
                        return (int)n;
                }
                if (n < (ssize_t)sizeof(rec)) {
                        snprintf(why, why_len, "the stream stops after %llu records, before its end marker",
                                 (unsigned long long)st->records);
                        return -EPIPE;
                }
                r = flat_parse_record(rec, &offset, &size, why, why_len);
                if (r <= 0)
                        return r;
                r = copy_payload(in_fd, out_fd, offset, size, buf, st, why, why_len);
                if (r < 0)
                        return r;
                st->records++;
        }
}
