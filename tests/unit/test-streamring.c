/* lib/streamring: a stream through a ring much smaller than itself, the
 * doorbell and the writer's exit, and a writer whose reader died. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "streamring.h"

#define STREAM_BYTES (4u << 20)
#define RING_BYTES 8192u

static uint8_t pattern(uint64_t i) {
        return (uint8_t)(i * 131 + (i >> 11));
}

/* Writes the stream in chunks of odd sizes, some larger than the ring. */
static int write_stream(struct stream_ring *r) {
        static uint8_t chunk[3 * RING_BYTES];
        uint64_t done = 0;

        for (unsigned n = 0; done < STREAM_BYTES; n++) {
                size_t len = 1 + (n * 7919u) % sizeof(chunk);
                if (len > STREAM_BYTES - done)
                        len = STREAM_BYTES - done;
                for (size_t i = 0; i < len; i++)
                        chunk[i] = pattern(done + i);
                if (stream_ring_write(r, chunk, len) < 0)
                        return -1;
                done += len;
        }
        return 0;
}

/* Reads as a sender does: takes what is written, releases it in steps,
 * and sleeps on the doorbell only once armed. Returns the bytes checked. */
static uint64_t read_stream(struct stream_ring *r, unsigned *ret_sleeps) {
        uint64_t seen = 0, released = 0;
        bool ended = false;

        *ret_sleeps = 0;
        for (;;) {
                uint64_t written = stream_ring_written(r);
                struct pollfd p = { .fd = stream_ring_fd(r), .events = POLLIN };

                while (seen < written) {
                        size_t k;
                        const uint8_t *d = stream_ring_at(r, seen, &k);

                        ASSERT_TRUE(d != NULL);
                        /* The writer may have gone on since written was read. */
                        ASSERT_TRUE(k > 0 && k <= stream_ring_written(r) - seen);
                        if (k > written - seen)
                                k = written - seen;
                        for (size_t i = 0; i < k; i++)
                                if (d[i] != pattern(seen + i))
                                        ASSERT_EQ_INT(d[i], pattern(seen + i));
                        seen += k;
                }
                /* Hold back a little, as a sender holds what is not yet committed. */
                if (seen - released > RING_BYTES / 2 || ended) {
                        released = seen - (ended ? 0 : 100);
                        stream_ring_release(r, released);
                        ASSERT_TRUE(stream_ring_at(r, released - 1, &(size_t){ 0 }) == NULL);
                }
                if (ended && seen == stream_ring_written(r))
                        return seen;
                if (!stream_ring_arm(r, seen))
                        continue;
                ASSERT_TRUE(poll(&p, 1, 10000) == 1);
                (*ret_sleeps)++;
                if (stream_ring_drain(r))
                        ended = true;
        }
}

TEST(stream_through_a_small_ring) {
        struct stream_ring *r = NULL;
        unsigned sleeps;
        int status;
        pid_t pid;

        ASSERT_EQ_INT(stream_ring_new(RING_BYTES, &r), 0);
        ASSERT_EQ_INT(stream_ring_cap(r), RING_BYTES);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                stream_ring_become_writer(r);
                _exit(write_stream(r) < 0 ? 1 : 0);
        }
        stream_ring_become_reader(r);
        ASSERT_EQ_INT(read_stream(r, &sleeps), STREAM_BYTES);
        ASSERT_TRUE(sleeps > 0); /* the doorbell rang, and the exit was seen through it */
        ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ASSERT_TRUE(stream_ring_at(r, STREAM_BYTES, &(size_t){ 0 }) == NULL);
        stream_ring_free(r);
}

TEST(bad_sizes_are_refused) {
        struct stream_ring *r = NULL;

        ASSERT_EQ_INT(stream_ring_new(STREAM_RING_MIN - 1, &r), -EINVAL);
        ASSERT_EQ_INT(stream_ring_new((size_t)STREAM_RING_MAX + 1, &r), -EINVAL);
}

/* The reader (the ring's maker) exits without releasing: the writer, blocked
 * on a full ring, gives up with -EPIPE instead of waiting for ever. This
 * process adopts it as a subreaper, so that it can be waited for. */
TEST(writer_notices_a_dead_reader) {
        int status;
        pid_t middle, writer;
        int p[2];

        ASSERT_EQ_INT(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        ASSERT_EQ_INT(pipe(p), 0);
        middle = fork();
        ASSERT_TRUE(middle >= 0);
        if (middle == 0) {
                struct stream_ring *r = NULL;
                pid_t w;

                if (stream_ring_new(RING_BYTES, &r) < 0)
                        _exit(2);
                w = fork();
                if (w == 0) {
                        static uint8_t big[4 * RING_BYTES];
                        stream_ring_become_writer(r);
                        _exit(stream_ring_write(r, big, sizeof(big)) == -EPIPE ? 0 : 1);
                }
                (void)!write(p[1], &w, sizeof(w));
                _exit(0);
        }
        close(p[1]);
        ASSERT_EQ_INT(read(p[0], &writer, sizeof(writer)), sizeof(writer));
        close(p[0]);
        ASSERT_EQ_INT(waitpid(middle, &status, 0), middle);
        ASSERT_EQ_INT(waitpid(writer, &status, 0), writer);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ_INT(WEXITSTATUS(status), 0);
        ASSERT_EQ_INT(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}
