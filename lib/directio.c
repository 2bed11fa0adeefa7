/* O_DIRECT writes through a thread: batches of whole blocks, filled by the
 * caller and written by the thread in order. A batch starts at the block
 * that holds its first byte and ends padded to a block; the bytes of those
 * edge blocks that the batch did not write come from a small cache of
 * blocks written in part, or are read back from the file. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "directio.h"
#include "io.h"

/* The alignment of offsets, lengths and buffers. Every device dumptool
 * writes to has logical blocks of 512 or 4096 bytes; one with larger
 * blocks fails the first write, and the file is written through the page
 * cache instead. */
#define BLOCK 4096u
/* Bytes per write the thread makes: large enough that the device streams,
 * and three batches (one filling, two being written) stay at 3 MiB. */
#define BATCH (1u << 20)
#define BATCHES 3u
/* Blocks written in part that are kept: the header block, the ends of the
 * page descriptors and of the page data, and the block they share. */
#define EDGES 16u
/* The byte ranges handed to the thread, merged: a dump writes a handful
 * (headers, two bitmaps, descriptors, data). Past this many, any block not
 * kept is read back before it is written in part. */
#define EXTENTS 64u

struct batch {
        uint8_t *buf;
        uint64_t offset;        /* of buf[0], a multiple of BLOCK */
        size_t len;             /* when queued: a multiple of BLOCK */
};

struct edge {
        uint64_t block;         /* its offset */
        uint64_t used;          /* when last used, for eviction */
        bool valid;
        uint8_t *data;
};

struct extent {
        uint64_t start, end;
};

struct direct_writer {
        int fd;
        int saved_flags;
        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t changed;    /* a batch queued or written, or stopping */
        struct batch batches[BATCHES];
        unsigned head, tail;       /* [head, tail) queued; tail is the one filling */
        bool stopping;
        int error;                 /* the thread's first error; stored under lock, atomically */
        bool filling;
        uint64_t fill_end;         /* the offset after the last byte in the filling batch */
        uint64_t first_byte;       /* the first byte the filling batch was given */
        uint64_t high;             /* one past the highest byte given */
        struct extent extents[EXTENTS];
        unsigned n_extents;
        bool extents_lost;         /* more ranges than EXTENTS */
        struct edge edges[EDGES];
        uint64_t clock;
        uint8_t *scratch;          /* one block */
        uint8_t *readback;         /* one block, read from the file */
};

static uint64_t align_down(uint64_t x) {
        return x & ~(uint64_t)(BLOCK - 1);
}

static uint64_t align_up(uint64_t x) {
        return align_down(x + BLOCK - 1);
}

static void *thread_main(void *arg) {
        struct direct_writer *w = arg;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                struct batch *b;
                int r = 0;

                while (w->head == w->tail && !w->stopping)
                        pthread_cond_wait(&w->changed, &w->lock);
                if (w->head == w->tail)
                        break;
                b = &w->batches[w->head % BATCHES];
                /* After an error nothing more is written: what follows
                 * (descriptors) may point at what failed. */
                if (w->error == 0) {
                        pthread_mutex_unlock(&w->lock);
                        r = pwrite_full(w->fd, b->buf, b->len, b->offset);
                        pthread_mutex_lock(&w->lock);
                }
                if (r < 0 && w->error == 0)
                        __atomic_store_n(&w->error, r, __ATOMIC_RELEASE);
                w->head++;
                pthread_cond_broadcast(&w->changed);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

/* Waits until the thread has written every queued batch. Returns its error. */
static int drain(struct direct_writer *w) {
        int r;

        pthread_mutex_lock(&w->lock);
        while (w->head != w->tail)
                pthread_cond_wait(&w->changed, &w->lock);
        r = w->error;
        pthread_mutex_unlock(&w->lock);
        return r;
}

/* Read without the lock: every write of a page's bytes asks. */
static int thread_error(struct direct_writer *w) {
        return __atomic_load_n(&w->error, __ATOMIC_ACQUIRE);
}

static struct edge *find_edge(struct direct_writer *w, uint64_t block) {
        for (unsigned i = 0; i < EDGES; i++)
                if (w->edges[i].valid && w->edges[i].block == block)
                        return &w->edges[i];
        return NULL;
}

/* Keeps the block at block (BLOCK bytes at data), evicting the least
 * recently used one; an evicted block is read back if it is needed. */
static void keep_edge(struct direct_writer *w, uint64_t block, const uint8_t *data) {
        struct edge *e = find_edge(w, block);

        if (!e) {
                e = &w->edges[0];
                for (unsigned i = 1; i < EDGES && e->valid; i++)
                        if (!w->edges[i].valid || w->edges[i].used < e->used)
                                e = &w->edges[i];
        }
        e->block = block;
        e->valid = true;
        e->used = ++w->clock;
        memcpy(e->data, data, BLOCK);
}

static void add_extent(struct direct_writer *w, uint64_t start, uint64_t end) {
        for (unsigned i = 0; i < w->n_extents; i++) {
                struct extent *e = &w->extents[i];

                if (start <= e->end && end >= e->start) {
                        e->start = start < e->start ? start : e->start;
                        e->end = end > e->end ? end : e->end;
                        return;
                }
        }
        if (w->n_extents == EXTENTS)
                w->extents_lost = true;
        else
                w->extents[w->n_extents++] = (struct extent) { start, end };
}

/* Whether a queued batch gave bytes to the block at block. */
static bool given(const struct direct_writer *w, uint64_t block) {
        if (w->extents_lost)
                return true;
        for (unsigned i = 0; i < w->n_extents; i++)
                if (w->extents[i].start < block + BLOCK && w->extents[i].end > block)
                        return true;
        return false;
}

/* What the file holds (or will hold, once the queue is written) in the
 * block at block, into out. */
static int known_block(struct direct_writer *w, uint64_t block, uint8_t *out) {
        struct edge *e = find_edge(w, block);
        ssize_t n;

        if (e) {
                e->used = ++w->clock;
                memcpy(out, e->data, BLOCK);
                return 0;
        }
        memset(out, 0, BLOCK);
        if (!given(w, block))
                return 0;
        /* Only for the queue to be written: after the thread's error this
         * is how a header block is read back to be marked in place, and
         * the error reaches the caller through queue_batch anyway. */
        (void)drain(w);
        n = pread(w->fd, w->readback, BLOCK, (off_t)block);
        if (n < 0)
                return -errno;
        memcpy(out, w->readback, (size_t)n);
        return 0;
}

/* Hands the filling batch to the thread, padded to a whole block with what
 * the file already holds there, and keeps its edge blocks. */
static int queue_batch(struct direct_writer *w) {
        struct batch *b = &w->batches[w->tail % BATCHES];
        size_t len = (size_t)(w->fill_end - b->offset), padded = (size_t)(align_up(w->fill_end) - b->offset);
        int r;

        if (!w->filling)
                return 0;
        w->filling = false;
        if (padded > len) {
                uint64_t last = align_down(w->fill_end);

                if ((r = known_block(w, last, w->scratch)) < 0)
                        return r;
                memcpy(b->buf + len, w->scratch + (w->fill_end - last), padded - len);
        }
        /* Kept blocks this batch wrote are kept as it wrote them. */
        for (unsigned i = 0; i < EDGES; i++)
                if (w->edges[i].valid && w->edges[i].block >= b->offset && w->edges[i].block < b->offset + padded)
                        memcpy(w->edges[i].data, b->buf + (w->edges[i].block - b->offset), BLOCK);
        if (w->first_byte > b->offset)
                keep_edge(w, b->offset, b->buf);
        if (padded > len)
                keep_edge(w, align_down(w->fill_end), b->buf + padded - BLOCK);
        add_extent(w, w->first_byte, w->fill_end);
        pthread_mutex_lock(&w->lock);
        b->len = padded;
        w->tail++;
        pthread_cond_broadcast(&w->changed);
        r = w->error;
        pthread_mutex_unlock(&w->lock);
        return r;
}

/* Starts a batch at the block that holds offset. */
static int start_batch(struct direct_writer *w, uint64_t offset) {
        struct batch *b;
        int r = 0;

        pthread_mutex_lock(&w->lock);
        while (w->tail - w->head >= BATCHES)
                pthread_cond_wait(&w->changed, &w->lock);
        pthread_mutex_unlock(&w->lock);
        b = &w->batches[w->tail % BATCHES];
        b->offset = align_down(offset);
        if (offset > b->offset)
                r = known_block(w, b->offset, b->buf);
        w->filling = true;
        w->fill_end = w->first_byte = offset;
        return r;
}

/* After an error: writes the blocks [offset, offset + len) touches now, in
 * place, each with what the file holds around the new bytes. */
static int write_in_place(struct direct_writer *w, const uint8_t *buf, size_t len, uint64_t offset) {
        int first = drain(w);

        for (uint64_t block = align_down(offset); block < offset + len; block += BLOCK) {
                uint64_t from = offset > block ? offset : block;
                uint64_t to = offset + len < block + BLOCK ? offset + len : block + BLOCK;
                int r = known_block(w, block, w->scratch);

                if (r < 0)
                        return first;
                memcpy(w->scratch + (from - block), buf + (from - offset), (size_t)(to - from));
                if (pwrite_full(w->fd, w->scratch, BLOCK, block) < 0)
                        return first;
                keep_edge(w, block, w->scratch);
                add_extent(w, from, to);
        }
        (void)ftruncate(w->fd, (off_t)w->high);
        return first;
}

int direct_writer_write(struct direct_writer *w, const void *buf, size_t len, uint64_t offset) {
        const uint8_t *p = buf;
        int r;

        if (len == 0)
                return 0;
        if (offset + len > w->high)
                w->high = offset + len;
        if (thread_error(w) < 0) {
                w->filling = false;    /* the thread would not write it */
                return write_in_place(w, p, len, offset);
        }
        if ((!w->filling || offset != w->fill_end) && ((r = queue_batch(w)) < 0 || (r = start_batch(w, offset)) < 0))
                return r;
        while (len > 0) {
                struct batch *b = &w->batches[w->tail % BATCHES];
                size_t at = (size_t)(w->fill_end - b->offset), n = BATCH - at < len ? BATCH - at : len;

                memcpy(b->buf + at, p, n);
                w->fill_end += n;
                p += n;
                len -= n;
                if (at + n == BATCH && ((r = queue_batch(w)) < 0 || (len && (r = start_batch(w, w->fill_end)) < 0)))
                        return r;
        }
        return 0;
}

int direct_writer_flush(struct direct_writer *w) {
        int r = queue_batch(w), r2 = drain(w);

        return r < 0 ? r : r2;
}

int direct_writer_finish(struct direct_writer *w) {
        int r = queue_batch(w), r2 = drain(w);
        struct stat st;

        if (r == 0)
                r = r2;
        /* Whole blocks reach past the last byte; a regular file is cut back. */
        if (fstat(w->fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > w->high &&
            ftruncate(w->fd, (off_t)w->high) < 0 && r == 0)
                r = -errno;
        return r;
}

struct direct_writer *direct_writer_free(struct direct_writer *w) {
        if (!w)
                return NULL;
        if (w->thread_started) {
                (void)direct_writer_finish(w);
                pthread_mutex_lock(&w->lock);
                w->stopping = true;
                pthread_cond_broadcast(&w->changed);
                pthread_mutex_unlock(&w->lock);
                pthread_join(w->thread, NULL);
        }
        for (unsigned i = 0; i < BATCHES; i++)
                free(w->batches[i].buf);
        for (unsigned i = 0; i < EDGES; i++)
                free(w->edges[i].data);
        free(w->scratch);
        free(w->readback);
        pthread_cond_destroy(&w->changed);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
}

static int allocate(struct direct_writer *w) {
        for (unsigned i = 0; i < BATCHES; i++)
                if (posix_memalign((void **)&w->batches[i].buf, BLOCK, BATCH) != 0)
                        return -ENOMEM;
        for (unsigned i = 0; i < EDGES; i++)
                if (posix_memalign((void **)&w->edges[i].data, BLOCK, BLOCK) != 0)
                        return -ENOMEM;
        if (posix_memalign((void **)&w->scratch, BLOCK, BLOCK) != 0 ||
            posix_memalign((void **)&w->readback, BLOCK, BLOCK) != 0)
                return -ENOMEM;
        return 0;
}

/* O_DIRECT on fd, and one zero block written at 0 to see that it takes it
 * (the header is written there later). */
static int try_direct(struct direct_writer *w) {
        memset(w->scratch, 0, BLOCK);
        if (fcntl(w->fd, F_SETFL, w->saved_flags | O_DIRECT) < 0)
                return -EOPNOTSUPP;
        if (pwrite(w->fd, w->scratch, BLOCK, 0) != BLOCK) {
                (void)fcntl(w->fd, F_SETFL, w->saved_flags);
                (void)ftruncate(w->fd, 0);
                return -EOPNOTSUPP;
        }
        return 0;
}

int direct_writer_new(int fd, struct direct_writer **ret) {
        struct direct_writer *w = calloc(1, sizeof(*w));
        int r;

        if (!w)
                return -ENOMEM;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->changed, NULL);
        w->fd = fd;
        w->saved_flags = fcntl(fd, F_GETFL);
        if (w->saved_flags < 0)
                r = -errno;
        else if ((r = allocate(w)) == 0 && (r = try_direct(w)) == 0 &&
                 pthread_create(&w->thread, NULL, thread_main, w) != 0) {
                (void)fcntl(fd, F_SETFL, w->saved_flags);
                r = -EAGAIN;
        }
        if (r < 0) {
                direct_writer_free(w);
                return r;
        }
        w->thread_started = true;
        *ret = w;
        return 0;
}
