/* The shared ring: counters in the first page, the bytes after it. Each
 * counter has one writing process; the other reads it with acquire loads.
 * A side that found nothing to do says so in a flag before it sleeps and
 * looks once more, and the other side wakes it only when the flag was set:
 * the writer through the doorbell pipe, the reader through a futex. */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdalign.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "streamring.h"

/* A writer waiting for room checks this often that the reader still runs. */
#define WAIT_CHECK_NS 100000000L

struct shared {
        alignas(64) uint64_t written;   /* by the writer */
        uint32_t reader_waits;          /* set by the reader, cleared by the writer */
        alignas(64) uint64_t released;  /* by the reader */
        uint32_t room_seq;              /* futex word: bumped when room was made for a waiting writer */
        uint32_t writer_waits;
};

struct stream_ring {
        struct shared *sh;
        uint8_t *data;
        size_t cap, map_len;
        int bell[2];                    /* the doorbell pipe: the reader's end, the writer's */
        pid_t reader;
};

static size_t page_size(void) {
        long n = sysconf(_SC_PAGESIZE);
        return n > 0 ? (size_t)n : 4096;
}

int stream_ring_new(size_t cap, struct stream_ring **ret) {
        struct stream_ring *r;
        size_t page = page_size();
        void *p;

        if (cap < STREAM_RING_MIN || cap > STREAM_RING_MAX)
                return -EINVAL;
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->cap = cap;
        r->map_len = page + (cap + page - 1) / page * page;
        r->bell[0] = r->bell[1] = -1;
        p = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
                free(r);
                return -ENOMEM;
        }
        r->sh = p;
        r->data = (uint8_t *)p + page;
        if (pipe2(r->bell, O_CLOEXEC | O_NONBLOCK) < 0) {
                int e = -errno;
                stream_ring_free(r);
                return e;
        }
        r->reader = getpid();
        *ret = r;
        return 0;
}

struct stream_ring *stream_ring_free(struct stream_ring *r) {
        if (!r)
                return NULL;
        if (r->sh)
                munmap(r->sh, r->map_len);
        for (int i = 0; i < 2; i++)
                if (r->bell[i] >= 0)
                        close(r->bell[i]);
        free(r);
        return NULL;
}

static void close_end(struct stream_ring *r, int i) {
        if (r->bell[i] >= 0)
                close(r->bell[i]);
        r->bell[i] = -1;
}

void stream_ring_become_writer(struct stream_ring *r) {
        close_end(r, 0);
}

void stream_ring_become_reader(struct stream_ring *r) {
        close_end(r, 1);
}

size_t stream_ring_cap(const struct stream_ring *r) {
        return r->cap;
}

static long futex(uint32_t *word, int op, uint32_t val, const struct timespec *timeout) {
        return syscall(SYS_futex, word, op, val, timeout, NULL, 0);
}

/* Sleeps until the reader releases room past written, or a while passes. */
static int wait_for_room(struct stream_ring *r, uint64_t written) {
        struct timespec timeout = { .tv_nsec = WAIT_CHECK_NS };
        uint32_t seq = __atomic_load_n(&r->sh->room_seq, __ATOMIC_ACQUIRE);

        __atomic_store_n(&r->sh->writer_waits, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&r->sh->released, __ATOMIC_SEQ_CST) + r->cap > written) {
                __atomic_store_n(&r->sh->writer_waits, 0, __ATOMIC_RELAXED);
                return 0;
        }
        (void)futex(&r->sh->room_seq, FUTEX_WAIT, seq, &timeout);
        /* Orphaned: the reader exited, and nobody will release room. */
        return getppid() == r->reader ? 0 : -EPIPE;
}

static void ring_bell(struct stream_ring *r) {
        uint8_t one = 1;

        if (__atomic_exchange_n(&r->sh->reader_waits, 0, __ATOMIC_SEQ_CST))
                (void)!write(r->bell[1], &one, 1); /* a full pipe already rings */
}

int stream_ring_write(void *ring, const void *buf, size_t len) {
        struct stream_ring *r = ring;
        const uint8_t *p = buf;

        while (len > 0) {
                uint64_t w = r->sh->written;
                uint64_t room = __atomic_load_n(&r->sh->released, __ATOMIC_ACQUIRE) + r->cap - w;
                size_t at = (size_t)(w % r->cap), k = len;
                int e;

                if (room == 0) {
                        if ((e = wait_for_room(r, w)) < 0)
                                return e;
                        continue;
                }
                if (k > room)
                        k = (size_t)room;
                if (k > r->cap - at)
                        k = r->cap - at;
                memcpy(r->data + at, p, k);
                __atomic_store_n(&r->sh->written, w + k, __ATOMIC_SEQ_CST);
                ring_bell(r);
                p += k;
                len -= k;
        }
        return 0;
}

uint64_t stream_ring_written(const struct stream_ring *r) {
        return __atomic_load_n(&r->sh->written, __ATOMIC_ACQUIRE);
}

const uint8_t *stream_ring_at(const struct stream_ring *r, uint64_t offset, size_t *ret_len) {
        uint64_t written = stream_ring_written(r), released = __atomic_load_n(&r->sh->released, __ATOMIC_RELAXED);
        size_t at = (size_t)(offset % r->cap);

        if (offset < released || offset >= written)
                return NULL;
        *ret_len = written - offset < r->cap - at ? (size_t)(written - offset) : r->cap - at;
        return r->data + at;
}

void stream_ring_release(struct stream_ring *r, uint64_t offset) {
        if (offset <= r->sh->released)
                return;
        if (offset > stream_ring_written(r))
                offset = stream_ring_written(r);
        __atomic_store_n(&r->sh->released, offset, __ATOMIC_SEQ_CST);
        if (__atomic_exchange_n(&r->sh->writer_waits, 0, __ATOMIC_SEQ_CST)) {
                __atomic_add_fetch(&r->sh->room_seq, 1, __ATOMIC_RELEASE);
                (void)futex(&r->sh->room_seq, FUTEX_WAKE, 1, NULL);
        }
}

int stream_ring_fd(const struct stream_ring *r) {
        return r->bell[0];
}

bool stream_ring_arm(struct stream_ring *r, uint64_t seen) {
        __atomic_store_n(&r->sh->reader_waits, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&r->sh->written, __ATOMIC_SEQ_CST) == seen)
                return true;
        __atomic_store_n(&r->sh->reader_waits, 0, __ATOMIC_RELAXED);
        return false;
}

bool stream_ring_drain(struct stream_ring *r) {
        uint8_t buf[64];
        ssize_t n;

        while ((n = read(r->bell[0], buf, sizeof(buf))) > 0)
                ;
        return n == 0;
}
