/* A ring of jobs: the caller fills the job at the tail, workers take queued
 * jobs in ring order, and the worker that finds the job at the head done
 * hands it, and every done job after it, to the sink, so output order never
 * depends on which worker ran first. The sink is called by one worker at a
 * time, under the delivery token, never by the caller. With the caller
 * delivering, two threads on two cores meant three threads running: on the
 * lab's 6.1 vmcore at -d 31 with lzo, the caller woke once a job (1,150
 * context switches a dump) and copied every stored byte out of the other
 * cores' caches (5% of the dump's time). */
#include <errno.h>
#include <pthread.h>

#include "caps.h"
#include "cleanup.h"
#include "compressor.h"

/* Pages per job: large enough to amortise the locking, small enough that
 * the jobs stay within a few MiB (each holds two pages per page: read and
 * stored). Four jobs per thread, not two, keep the workers fed while one
 * of them delivers. Measured when the caller still delivered: a two-thread
 * -d 1 dump of the lab's 8 GiB vmcore took 1.555 s instead of 1.743 s (min
 * of 5), for 1.8 MiB more RSS; eight took 1.498 s but 15 MiB. */
#define JOB_PAGES 64u
#define JOBS_PER_THREAD 4u
/* Pages a job may carry in all: the ones known to be zero (holes of a
 * sparse file) are not read, so they do not count against JOB_PAGES. One
 * job per 64 pfns made the lab's 8 GiB -d 1 dump (70% holes) 32000
 * hand-offs between the caller and the workers, and two threads slower
 * than one (1.75 s against 1.45). */
#define JOB_ENTRIES 1024u

enum job_state { JOB_FREE, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct job {
        enum job_state state;
        unsigned n, n_read;
        unsigned n_ready;          /* entries [0, n_ready) are ready to deliver; fewer than n after an error */
        int error;
        bool read_failed;          /* error is the read of bad_pfn */
        uint64_t bad_pfn;
        uint64_t pfn[JOB_ENTRIES];
        bool known_zero[JOB_ENTRIES]; /* zero by the caller's word: not read */
        uint32_t size[JOB_ENTRIES];  /* stored bytes; 0 for a shared zero page */
        uint32_t flags[JOB_ENTRIES];
        uint8_t *in;               /* the pages read, packed */
        uint8_t *out;              /* their compressed bytes, one page apart, in the same order */
};

struct compressor {
        struct vmcore *vmcore;
        enum codec_kind kind;
        uint32_t page_size;
        bool detect_zero;
        compressor_sink sink;
        void *userdata;
        pthread_mutex_t lock;
        pthread_cond_t work;       /* a job was queued, or stopping */
        pthread_cond_t space;      /* jobs were delivered, or an error */
        bool stopping;
        bool delivering;           /* a worker holds the delivery token */
        bool waiting;              /* the caller waits on space... */
        unsigned wait_until;       /* ...until no more jobs than this are in the ring */
        int error;                 /* the first error of a job or the sink; set under lock */
        bool read_failed;          /* error is a page that could not be read... */
        uint64_t bad_pfn;          /* ...this one */
        struct job *jobs;
        unsigned n_jobs, head, tail, next_to_run;
        pthread_t *threads;
        unsigned n_threads;
};

/* After a read of a job's pages failed: reads them one by one to find the
 * first that cannot be read, so that the pages before it are still dumped
 * (as without threads) and the error names it. Returns how many of the
 * pfns read can be; *error is that page's error, or 0. */
static unsigned first_unreadable(struct compressor *c, struct job *j, const uint64_t *read, unsigned n_read,
                                 int *error) {
        for (unsigned k = 0; k < n_read; k++)
                if ((*error = vmcore_pread_pages(c->vmcore, &read[k], 1, j->in + (size_t)k * c->page_size)) < 0) {
                        j->bad_pfn = read[k];
                        return k;
                }
        return n_read; /* failed once, not again: the pages are as read now */
}

/* Reads and compresses one job, outside the lock. Pages known to be zero
 * are not read; a page stored raw is delivered from where it was read. */
static int run_job(struct compressor *c, struct codec *codec, struct job *j) {
        uint64_t read[JOB_PAGES];
        unsigned n_read = 0, readable, at = 0;
        int error;

        j->n_ready = 0;
        for (unsigned i = 0; i < j->n; i++)
                if (!j->known_zero[i])
                        read[n_read++] = j->pfn[i];
        error = vmcore_pread_pages(c->vmcore, read, n_read, j->in);
        readable = error < 0 ? first_unreadable(c, j, read, n_read, &error) : n_read;
        j->read_failed = error < 0;
        for (unsigned i = 0; i < j->n; i++) {
                size_t slot = (size_t)at * c->page_size;
                int flags;

                j->size[i] = j->flags[i] = 0;
                if (j->known_zero[i]) {
                        j->n_ready = i + 1;
                        continue;
                }
                if (at == readable)
                        break;
                at++;
                if (!(c->detect_zero && page_is_zero(j->in + slot, c->page_size))) {
                        flags = codec_compress_to(codec, j->in + slot, j->out + slot, &j->size[i]);
                        if (flags < 0) {
                                j->n_ready = 0;
                                return flags;
                        }
                        if (flags == 0)
                                j->size[i] = c->page_size;
                        j->flags[i] = (uint32_t)flags;
                }
                j->n_ready = i + 1;
        }
        return error;
}

DEFINE_CLEANUP_FUNC(struct codec, codec_free);

/* Hands one done job's ready pages to the sink, outside the lock. Returns
 * the sink's error. */
static int deliver(struct compressor *c, struct job *j) {
        for (unsigned i = 0, at = 0; i < j->n_ready; at += !j->known_zero[i], i++) {
                const uint8_t *slot = (j->flags[i] ? j->out : j->in) + (size_t)at * c->page_size;
                int r = c->sink(c->userdata, j->size[i] == 0, j->size[i] ? slot : NULL, j->size[i], j->flags[i]);

                if (r < 0)
                        return r;
        }
        return 0;
}

/* With the lock held and the token taken: delivers from the head while the
 * head is done. The caller is woken once half the ring is free, not once a
 * job, so that it fills jobs in runs. */
static void deliver_done(struct compressor *c) {
        for (;;) {
                struct job *j = &c->jobs[c->head % c->n_jobs];
                int r;

                if (c->error || c->stopping || c->head == c->tail || j->state != JOB_DONE)
                        break;
                pthread_mutex_unlock(&c->lock);
                r = deliver(c, j);
                pthread_mutex_lock(&c->lock);
                if (r == 0 && j->error < 0) {
                        r = j->error;
                        c->read_failed = j->read_failed;
                        c->bad_pfn = j->bad_pfn;
                }
                if (r < 0 && !c->error)
                        c->error = r;
                j->state = JOB_FREE;
                j->n = j->n_read = j->n_ready = 0;
                j->read_failed = false;
                c->head++;
                if (c->waiting && c->tail - c->head <= c->wait_until)
                        pthread_cond_signal(&c->space);
        }
        if (c->error && c->waiting)
                pthread_cond_signal(&c->space);
}

static void *worker(void *arg) {
        struct compressor *c = arg;
        _cleanup_(codec_freep) struct codec *codec = NULL;
        int setup = codec_new(c->kind, c->page_size, &codec);

        pthread_mutex_lock(&c->lock);
        for (;;) {
                struct job *j;

                while (!c->stopping && c->next_to_run == c->tail)
                        pthread_cond_wait(&c->work, &c->lock);
                if (c->stopping)
                        break;
                j = &c->jobs[c->next_to_run % c->n_jobs];
                c->next_to_run++;
                j->state = JOB_RUNNING;
                pthread_mutex_unlock(&c->lock);
                j->error = setup < 0 ? setup : run_job(c, codec, j);
                pthread_mutex_lock(&c->lock);
                j->state = JOB_DONE;
                if (!c->delivering) {
                        c->delivering = true;
                        deliver_done(c);
                        c->delivering = false;
                }
        }
        pthread_mutex_unlock(&c->lock);
        return NULL;
}

struct compressor *compressor_free(struct compressor *c) {
        if (!c)
                return NULL;
        pthread_mutex_lock(&c->lock);
        c->stopping = true;
        pthread_cond_broadcast(&c->work);
        pthread_mutex_unlock(&c->lock);
        for (unsigned i = 0; i < c->n_threads; i++)
                pthread_join(c->threads[i], NULL);
        for (unsigned i = 0; c->jobs && i < c->n_jobs; i++) {
                free(c->jobs[i].in);
                free(c->jobs[i].out);
        }
        free(c->jobs);
        free(c->threads);
        pthread_cond_destroy(&c->work);
        pthread_cond_destroy(&c->space);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

DEFINE_CLEANUP_FUNC(struct compressor, compressor_free);

int compressor_new(struct vmcore *v, enum codec_kind kind, unsigned threads, bool detect_zero, compressor_sink sink,
                   void *userdata, struct compressor **ret) {
        _cleanup_(compressor_freep) struct compressor *c = NULL;
        size_t job_bytes;

        if (threads < 1 || threads > DUMP_THREADS_MAX)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->work, NULL);
        pthread_cond_init(&c->space, NULL);
        c->vmcore = v;
        c->kind = kind;
        c->page_size = vmcore_page_size(v);
        c->detect_zero = detect_zero;
        c->sink = sink;
        c->userdata = userdata;
        c->n_jobs = threads * JOBS_PER_THREAD;
        c->jobs = calloc(c->n_jobs, sizeof(*c->jobs));
        c->threads = calloc(threads, sizeof(*c->threads));
        if (!c->jobs || !c->threads)
                return -ENOMEM;
        job_bytes = (size_t)JOB_PAGES * c->page_size;
        for (unsigned i = 0; i < c->n_jobs; i++)
                if (!(c->jobs[i].in = malloc(job_bytes)) || !(c->jobs[i].out = malloc(job_bytes)))
                        return -ENOMEM;
        for (; c->n_threads < threads; c->n_threads++)
                if (pthread_create(&c->threads[c->n_threads], NULL, worker, c) != 0)
                        return -EAGAIN;
        *ret = TAKE_PTR(c);
        return 0;
}

/* Waits, with the lock held, until the workers have delivered all but
 * until_used jobs, or failed. */
static int wait_space(struct compressor *c, unsigned until_used) {
        c->wait_until = until_used;
        c->waiting = true;
        while (!c->error && c->tail - c->head > until_used)
                pthread_cond_wait(&c->space, &c->lock);
        c->waiting = false;
        return c->error;
}

/* Queues the job being filled at the tail, with the lock held. When that
 * fills the ring, waits until half of it is free again. */
static int queue_tail(struct compressor *c) {
        c->jobs[c->tail % c->n_jobs].state = JOB_QUEUED;
        c->tail++;
        pthread_cond_signal(&c->work);
        return c->tail - c->head == c->n_jobs ? wait_space(c, c->n_jobs / 2) : c->error;
}

int compressor_add(struct compressor *c, uint64_t pfn, bool known_zero) {
        struct job *j = &c->jobs[c->tail % c->n_jobs];
        int r;

        /* The slot at the tail is the caller's: queue_tail leaves the ring
         * at most half full. */
        j->known_zero[j->n] = known_zero && c->detect_zero;
        j->n_read += !j->known_zero[j->n];
        j->pfn[j->n++] = pfn;
        if (j->n_read < JOB_PAGES && j->n < JOB_ENTRIES)
                return 0;
        pthread_mutex_lock(&c->lock);
        r = queue_tail(c);
        pthread_mutex_unlock(&c->lock);
        return r;
}

int compressor_flush(struct compressor *c) {
        int r;

        pthread_mutex_lock(&c->lock);
        r = c->error;
        if (r == 0 && c->jobs[c->tail % c->n_jobs].n > 0)
                r = queue_tail(c);
        if (r == 0)
                r = wait_space(c, 0);
        pthread_mutex_unlock(&c->lock);
        return r;
}

bool compressor_read_failed(struct compressor *c, uint64_t *ret_pfn) {
        bool failed;

        pthread_mutex_lock(&c->lock);
        failed = c->read_failed;
        *ret_pfn = c->bad_pfn;
        pthread_mutex_unlock(&c->lock);
        return failed;
}
