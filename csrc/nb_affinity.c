#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include "nb_affinity.h"

int nb_affinity_pin(int cpu, cpu_set_t *saved, nb_status *st)
{
    cpu_set_t set;
    int rc;

    if (cpu < 0 || cpu >= CPU_SETSIZE)
        return nb_invalid(st, "cpu out of range (0 to CPU_SETSIZE - 1)");
    if (saved) {
        rc = pthread_getaffinity_np(pthread_self(), sizeof(*saved), saved);
        if (rc != 0)
            return nb_fail_errno(st, rc, "pthread_getaffinity_np");
    }
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    /* EINVAL here means the CPU is offline or outside this cgroup's cpuset. */
    rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    if (rc != 0)
        return nb_fail_errno(st, rc, "pthread_setaffinity_np");
    return nb_ok(st);
}

int nb_affinity_restore(const cpu_set_t *saved, nb_status *st)
{
    int rc = pthread_setaffinity_np(pthread_self(), sizeof(*saved), saved);
    if (rc != 0)
        return nb_fail_errno(st, rc, "pthread_setaffinity_np");
    return nb_ok(st);
}

int nb_team_barrier(nb_team *team)
{
    return pthread_barrier_wait(&team->barrier) == PTHREAD_BARRIER_SERIAL_THREAD;
}

typedef struct {
    nb_team *team;
    int tid;
    nb_team_fn fn;
    void *ctx;
    nb_status st;
} nb_worker;

/* The start gate: workers pin themselves and report ready; the creating
 * thread opens the gate once every started worker is ready, or tells them
 * all to stop when pinning or thread creation failed. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int ready;
    int open;
} nb_gate;

struct nb_team_full {
    nb_team team;
    nb_gate gate;
};

static nb_gate *nb_gate_of(nb_team *team)
{
    return &((struct nb_team_full *)team)->gate;
}

static void *nb_worker_main(void *arg)
{
    nb_worker *w = arg;
    nb_team *team = w->team;
    nb_gate *gate = nb_gate_of(team);

    if (nb_affinity_pin(team->cpus[w->tid], NULL, &w->st) != NB_OK)
        atomic_store(&team->failed, 1);
    pthread_mutex_lock(&gate->lock);
    gate->ready++;
    pthread_cond_broadcast(&gate->cond);
    while (!gate->open)
        pthread_cond_wait(&gate->cond, &gate->lock);
    pthread_mutex_unlock(&gate->lock);
    if (atomic_load(&team->failed))
        return NULL;
    if (w->fn(team, w->tid, w->ctx, &w->st) != NB_OK)
        atomic_store(&team->failed, 1);
    return NULL;
}

int nb_team_run(const int *cpus, int nthreads, nb_team_fn fn, void *ctx, nb_status *st)
{
    struct nb_team_full full;
    nb_team *team = &full.team;
    nb_gate *gate = &full.gate;
    nb_worker *workers;
    pthread_t *threads;
    int i, started = 0, rc = 0, result = NB_OK;

    if (nthreads < 1 || cpus == NULL || fn == NULL)
        return nb_invalid(st, "a team needs at least one thread and a function");
    workers = calloc((size_t)nthreads, sizeof(*workers));
    threads = calloc((size_t)nthreads, sizeof(*threads));
    if (!workers || !threads) {
        free(workers);
        free(threads);
        return nb_fail_errno(st, ENOMEM, "calloc");
    }
    team->nthreads = nthreads;
    team->cpus = cpus;
    atomic_init(&team->failed, 0);
    rc = pthread_barrier_init(&team->barrier, NULL, (unsigned)nthreads);
    if (rc != 0) {
        free(workers);
        free(threads);
        return nb_fail_errno(st, rc, "pthread_barrier_init");
    }
    pthread_mutex_init(&gate->lock, NULL);
    pthread_cond_init(&gate->cond, NULL);
    gate->ready = 0;
    gate->open = 0;
    for (i = 0; i < nthreads; i++) {
        workers[i].team = team;
        workers[i].tid = i;
        workers[i].fn = fn;
        workers[i].ctx = ctx;
        nb_ok(&workers[i].st);
    }
    for (i = 0; i < nthreads; i++) {
        rc = pthread_create(&threads[i], NULL, nb_worker_main, &workers[i]);
        if (rc != 0)
            break;
        started++;
    }
    pthread_mutex_lock(&gate->lock);
    while (gate->ready < started)
        pthread_cond_wait(&gate->cond, &gate->lock);
    if (started < nthreads) {
        atomic_store(&team->failed, 1);
        result = nb_fail_errno(st, rc, "pthread_create");
    }
    gate->open = 1;
    pthread_cond_broadcast(&gate->cond);
    pthread_mutex_unlock(&gate->lock);

    for (i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&team->barrier);
    pthread_cond_destroy(&gate->cond);
    pthread_mutex_destroy(&gate->lock);
    if (result == NB_OK) {
        nb_ok(st);
        for (i = 0; i < nthreads; i++) {
            if (workers[i].st.code != NB_OK) {
                if (st)
                    *st = workers[i].st;
                result = workers[i].st.code;
                break;
            }
        }
    }
    free(workers);
    free(threads);
    return result;
}
