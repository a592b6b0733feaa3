#define _GNU_SOURCE
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "nb_affinity.h"
#include "nb_chase.h"
#include "nb_clock.h"
#include "nb_loaded.h"

#define NB_LINE 64
#define NB_BLOCK 512 /* bytes between two throttle delays */

typedef struct {
    nb_loaded_job *job;
    nb_thread_slot *slots; /* [1 + n_inject], index 0 unused */
    /* Written once by the chase thread, polled by every injector: its own
     * line, so the polls never share one with the fields above. Atomic: a
     * plain (even volatile) int written and read by two threads is a race. */
    alignas(NB_CACHE_LINE) atomic_int stop;
} nb_loaded_ctx;

static int nb_stopped(nb_loaded_ctx *ctx)
{
    /* Relaxed: the flag carries no data; the team's join orders the rest. */
    return atomic_load_explicit(&ctx->stop, memory_order_relaxed);
}

/* Touch one word per cache line: the whole line crosses the memory bus, at a
 * fraction of the instructions of reading every element. */
static double nb_inject(nb_loaded_ctx *ctx, char *lo, char *hi, int kind, uint32_t delay)
{
    volatile uint64_t sink = 0;
    uint64_t acc = 0, lines = 0;
    char *p;

    while (!nb_stopped(ctx)) {
        for (p = lo; p + NB_BLOCK <= hi && !nb_stopped(ctx); p += NB_BLOCK) {
            for (int off = 0; off < NB_BLOCK; off += NB_LINE) {
                if (kind == NB_INJECT_RW && (off / NB_LINE) % 2)
                    *(volatile uint64_t *)(p + off) = acc;
                else
                    acc += *(volatile uint64_t *)(p + off);
            }
            lines += NB_BLOCK / NB_LINE;
            for (uint32_t d = 0; d < delay; d++)
                __asm__ volatile("" ::: "memory");
        }
    }
    sink = acc;
    (void)sink;
    return (double)lines * NB_LINE;
}

static int nb_loaded_worker(nb_team *team, int tid, void *arg, nb_status *st)
{
    nb_loaded_ctx *ctx = arg;
    nb_loaded_job *job = ctx->job;

    nb_team_barrier(team);
    if (tid == 0) {
        double t0 = nb_clock_seconds();
        job->chase_cursor = nb_chase_walk(job->chase_cursor, job->chase_loads);
        job->chase_seconds = nb_clock_seconds() - t0;
        atomic_store_explicit(&ctx->stop, 1, memory_order_relaxed);
    } else {
        size_t chunk = job->inject_bytes / (size_t)job->n_inject / NB_BLOCK * NB_BLOCK;
        char *lo = job->inject_buf + chunk * (size_t)(tid - 1);
        nb_thread_slot *slot = &ctx->slots[tid];
        slot->start = nb_clock_seconds();
        slot->value = nb_inject(ctx, lo, lo + chunk, job->kind, job->delay);
        slot->end = nb_clock_seconds();
    }
    return nb_ok(st);
}

int nb_loaded_run(nb_loaded_job *job, nb_status *st)
{
    nb_loaded_ctx ctx;
    nb_thread_slot *slots;
    int *cpus, n, rc, i;
    double first = 0, last = 0, bytes = 0;

    if (!job || !job->chase_cursor || job->chase_loads == 0 || job->n_inject < 0 ||
        job->n_inject == INT_MAX ||
        (job->n_inject > 0 && (!job->inject_buf || !job->inject_cpus ||
                               job->inject_bytes / (size_t)job->n_inject < NB_BLOCK)))
        return nb_invalid(st, "loaded latency job is incomplete");
    n = 1 + job->n_inject;
    cpus = calloc((size_t)n, sizeof(int));
    slots = nb_thread_slots((size_t)n);
    if (!cpus || !slots) {
        free(cpus);
        free(slots);
        return nb_fail_errno(st, ENOMEM, "calloc");
    }
    cpus[0] = job->chase_cpu;
    for (i = 0; i < job->n_inject; i++)
        cpus[i + 1] = job->inject_cpus[i];
    ctx.job = job;
    ctx.slots = slots;
    atomic_init(&ctx.stop, 0);
    rc = nb_team_run(cpus, n, nb_loaded_worker, &ctx, st);
    if (rc == NB_OK) {
        for (i = 1; i < n; i++) {
            if (i == 1 || slots[i].start < first)
                first = slots[i].start;
            if (i == 1 || slots[i].end > last)
                last = slots[i].end;
            bytes += slots[i].value;
        }
        job->inject_bytes_done = bytes;
        job->inject_seconds = job->n_inject ? last - first : 0.0;
    }
    free(cpus);
    free(slots);
    return rc;
}
