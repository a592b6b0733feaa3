/* CPU pinning and teams of pinned threads started together. */
#ifndef NB_AFFINITY_H
#define NB_AFFINITY_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include "nb_status.h"

/* Pin the calling thread on one CPU; the previous mask goes to *saved when
 * saved is not NULL, so nb_affinity_restore can put it back. */
int nb_affinity_pin(int cpu, cpu_set_t *saved, nb_status *st);
int nb_affinity_restore(const cpu_set_t *saved, nb_status *st);

/* A team's work: called once per thread, already pinned, with its index.
 * Returns NB_OK or fills st. The team's barrier is in nb_team_barrier. */
typedef struct nb_team nb_team;
typedef int (*nb_team_fn)(nb_team *team, int tid, void *ctx, nb_status *st);

struct nb_team {
    int nthreads;              /* number of threads, each on cpus[tid] */
    const int *cpus;           /* CPU of each thread */
    pthread_barrier_t barrier; /* all threads of the team */
    atomic_int failed;         /* set when any thread failed, so others stop */
};

/* Wait for every thread of the team. Returns 1 on the one "serial" thread. */
int nb_team_barrier(nb_team *team);

/* Run fn on nthreads threads, thread tid pinned on cpus[tid]. fn may fail
 * only before its first nb_team_barrier (its peers would wait there). Threads that
 * cannot be pinned make the whole team fail before any work starts. The
 * first failure's status is returned. */
int nb_team_run(const int *cpus, int nthreads, nb_team_fn fn, void *ctx, nb_status *st);

#endif
