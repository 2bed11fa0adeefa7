/* The commit worker: a queue of jobs under one mutex, one thread that runs
 * them in order, and an eventfd that tells the network loop some finished. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "committer.h"
#include "io.h"

struct committer {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t work, idle;
        int event_fd;
        bool stop, running;
        uint64_t running_session;
        size_t capacity;
        /* jobs[head .. head + n_jobs) waiting, modulo capacity */
        struct commit_job *jobs;
        size_t head, n_jobs;
        struct commit_done *done;
        size_t n_done;
};

static void close_job(struct commit_job *j) {
        for (int i = 0; i < COMMIT_FILES; i++)
                if (j->fds[i] >= 0)
                        close(j->fds[i]);
}

/* The data first, then the slot that says it is there. EINVAL: /dev/null,
 * standing in for a file section already complete. */
static int run_job(const struct commit_job *j) {
        int state = j->fds[COMMIT_FILES - 1];

        for (int i = 0; i < COMMIT_FILES - 1; i++)
                if (j->fds[i] >= 0 && fdatasync(j->fds[i]) < 0 && errno != EINVAL)
                        return -errno;
        if (j->kind == COMMIT_LAST)
                return 0;
        if (pwrite_full(state, j->slot, sizeof(j->slot), (off_t)j->slot_pos) < 0 || fdatasync(state) < 0)
                return -EIO;
        return 0;
}

int commit_job_run(struct commit_job *job) {
        int e = run_job(job);

        close_job(job);
        return e;
}

static void *worker(void *userdata) {
        struct committer *c = userdata;

        pthread_mutex_lock(&c->lock);
        for (;;) {
                struct commit_job job;
                int e;

                while (!c->n_jobs && !c->stop)
                        pthread_cond_wait(&c->work, &c->lock);
                if (!c->n_jobs)
                        break;
                job = c->jobs[c->head];
                c->head = (c->head + 1) % c->capacity;
                c->n_jobs--;
                c->running = true;
                c->running_session = job.session_id;
                pthread_mutex_unlock(&c->lock);
                e = commit_job_run(&job);
                pthread_mutex_lock(&c->lock);
                c->running = false;
                /* done[] cannot overflow: every job in it was once in jobs[] */
                c->done[c->n_done++] = (struct commit_done){ job.kind, job.session_id, job.offset, e };
                (void)!write(c->event_fd, &(uint64_t){ 1 }, sizeof(uint64_t));
                pthread_cond_broadcast(&c->idle);
        }
        pthread_mutex_unlock(&c->lock);
        return NULL;
}

static void free_arrays(struct committer *c) {
        free(c->jobs);
        free(c->done);
        free(c);
}

int committer_new(size_t capacity, struct committer **ret) {
        struct committer *c = calloc(1, sizeof(*c));
        int e;

        if (!c)
                return -ENOMEM;
        c->capacity = capacity ? capacity : 1;
        c->jobs = calloc(c->capacity, sizeof(*c->jobs));
        c->done = calloc(c->capacity, sizeof(*c->done));
        c->event_fd = c->jobs && c->done ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1;
        if (c->event_fd < 0) {
                e = c->jobs && c->done ? -errno : -ENOMEM;
                free_arrays(c);
                return e;
        }
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->work, NULL);
        pthread_cond_init(&c->idle, NULL);
        e = pthread_create(&c->thread, NULL, worker, c);
        if (e) {
                close(c->event_fd);
                free_arrays(c);
                return -e;
        }
        *ret = c;
        return 0;
}

struct committer *committer_free(struct committer *c) {
        if (!c)
                return NULL;
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_signal(&c->work);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->work);
        pthread_cond_destroy(&c->idle);
        close(c->event_fd);
        free_arrays(c);
        return NULL;
}

int committer_submit(struct committer *c, const struct commit_job *job) {
        int e = 0;

        pthread_mutex_lock(&c->lock);
        if (c->n_jobs + c->n_done + c->running >= c->capacity) {
                e = -EBUSY;
        } else {
                c->jobs[(c->head + c->n_jobs) % c->capacity] = *job;
                c->n_jobs++;
                pthread_cond_signal(&c->work);
        }
        pthread_mutex_unlock(&c->lock);
        if (e < 0) {
                struct commit_job copy = *job;
                close_job(&copy);
        }
        return e;
}

int committer_fd(const struct committer *c) {
        return c->event_fd;
}

size_t committer_reap(struct committer *c, struct commit_done *done, size_t max) {
        uint64_t count;
        size_t n;

        (void)!read(c->event_fd, &count, sizeof(count));
        pthread_mutex_lock(&c->lock);
        n = c->n_done < max ? c->n_done : max;
        memcpy(done, c->done, n * sizeof(*done));
        memmove(c->done, c->done + n, (c->n_done - n) * sizeof(*done));
        c->n_done -= n;
        if (c->n_done)
                (void)!write(c->event_fd, &(uint64_t){ 1 }, sizeof(uint64_t));
        pthread_mutex_unlock(&c->lock);
        return n;
}

static bool has_jobs_of(const struct committer *c, uint64_t session_id) {
        if (c->running && c->running_session == session_id)
                return true;
        for (size_t i = 0; i < c->n_jobs; i++)
                if (c->jobs[(c->head + i) % c->capacity].session_id == session_id)
                        return true;
        return false;
}

void committer_wait(struct committer *c, uint64_t session_id) {
        pthread_mutex_lock(&c->lock);
        while (has_jobs_of(c, session_id))
                pthread_cond_wait(&c->idle, &c->lock);
        pthread_mutex_unlock(&c->lock);
}
