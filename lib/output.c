/* Plain and flattened dump output. */
#include <endian.h>
#include <assert.h>
#include <errno.h>
#include <stdbool.h>

#include <fcntl.h>

#include "directio.h"
#include "io.h"
#include "output.h"

/* Writeback of a file output is started every this many bytes, so that the
 * disk works while pages are compressed, the final fsync has little left to
 * wait for, and a capture kernel's small RAM does not fill with dirty pages. */
#define WRITEBACK_STEP (32u << 20)

struct output {
        int fd;
        bool flattened;
        output_sink sink;       /* where a flattened stream goes */
        void *sink_data;
        uint64_t bytes;
        uint64_t high;          /* one past the highest byte written */
        uint64_t kicked;        /* writeback started below this offset */
        struct direct_writer *direct;   /* a file written with O_DIRECT */
};

/* Starts (does not wait for) writeback of what was written since the last
 * kick. Errors are left for fsync to report. */
static void kick_writeback(struct output *o) {
        if (o->high - o->kicked < WRITEBACK_STEP)
                return;
        (void)sync_file_range(o->fd, (off_t)o->kicked, (off_t)(o->high - o->kicked), SYNC_FILE_RANGE_WRITE);
        o->kicked = o->high;
}

/* A flattened record header: destination offset and length, big-endian, as
 * makedumpfile writes them (the only big-endian part of either format). */
struct flat_record {
        int64_t offset_be;
        int64_t size_be;
} __attribute__((packed));
static_assert(sizeof(struct flat_record) == 16, "flattened record header is 16 bytes");

static int output_new(int fd, bool flattened, struct output **ret) {
        struct output *o = calloc(1, sizeof(*o));

        if (!o)
                return -ENOMEM;
        o->fd = fd;
        o->flattened = flattened;
        *ret = o;
        return 0;
}

/* With direct I/O where the file system takes it; else through the page
 * cache, with writeback started as the file grows. */
int output_new_file(int fd, struct output **ret) {
        struct output *o;
        int r = output_new(fd, false, &o);

        if (r < 0)
                return r;
        r = direct_writer_new(fd, &o->direct);
        if (r == -ENOMEM) {
                output_free(o);
                return r;
        }
        *ret = o;
        return 0;
}

static int write_fd(void *userdata, const void *buf, size_t len) {
        return write_full(*(const int *)userdata, buf, len);
}

/* The stream's header, then o is the caller's. */
static int start_flattened(struct output *o, struct output **ret) {
        uint8_t header[FLAT_HEADER_SIZE] = {};
        uint64_t type = htobe64(FLAT_TYPE), version = htobe64(FLAT_VERSION);
        int r;

        memcpy(header, FLAT_SIGNATURE, strlen(FLAT_SIGNATURE));
        memcpy(header + 16, &type, 8);
        memcpy(header + 24, &version, 8);
        r = o->sink(o->sink_data, header, sizeof(header));
        if (r < 0) {
                output_free(o);
                return r;
        }
        o->bytes = sizeof(header);
        *ret = o;
        return 0;
}

int output_new_flattened_sink(output_sink sink, void *userdata, struct output **ret) {
        struct output *o;
        int r = output_new(-1, true, &o);

        if (r < 0)
                return r;
        o->sink = sink;
        o->sink_data = userdata;
        return start_flattened(o, ret);
}

int output_new_flattened(int fd, struct output **ret) {
        struct output *o;
        int r = output_new(fd, true, &o);

        if (r < 0)
                return r;
        o->sink = write_fd;
        o->sink_data = &o->fd;
        return start_flattened(o, ret);
}

int output_write(struct output *o, const void *buf, size_t len, uint64_t offset) {
        struct flat_record rec;
        int r;

        if (o->direct) {
                r = direct_writer_write(o->direct, buf, len, offset);
                if (r == 0)
                        o->bytes += len;
                return r;
        }
        if (!o->flattened) {
                r = pwrite_full(o->fd, buf, len, offset);
                if (r < 0)
                        return r;
                o->bytes += len;
                if (offset + len > o->high)
                        o->high = offset + len;
                kick_writeback(o);
                return 0;
        }
        rec.offset_be = (int64_t)htobe64(offset);
        rec.size_be = (int64_t)htobe64(len);
        r = o->sink(o->sink_data, &rec, sizeof(rec));
        if (r == 0)
                r = o->sink(o->sink_data, buf, len);
        if (r == 0)
                o->bytes += sizeof(rec) + len;
        return r;
}

bool output_gathers(const struct output *o) {
        return o->direct != NULL;
}

int output_flush(struct output *o) {
        return o->direct ? direct_writer_flush(o->direct) : 0;
}

int output_finish(struct output *o) {
        struct flat_record end;

        if (o->direct)
                return direct_writer_finish(o->direct);
        if (!o->flattened)
                return 0;
        memset(&end, 0xff, sizeof(end));
        o->bytes += sizeof(end);
        return o->sink(o->sink_data, &end, sizeof(end));
}

uint64_t output_bytes(const struct output *o) {
        return o->bytes;
}

struct output *output_free(struct output *o) {
        if (o) {
                direct_writer_free(o->direct);
                free(o);
        }
        return NULL;
}
