#define _GNU_SOURCE
#include <stdlib.h>
#include "nb_affinity.h"
#include "nb_clock.h"
#include "nb_loaded.h"

#define NB_LINE 64
#define NB_BLOCK 512 /* bytes between two throttle delays */

typedef struct {
    nb_loaded_job *job;
    volatile int stop;
    double *starts, *ends, *bytes; /* [1 + n_inject], index 0 unused */
} nb_loaded_ctx;

static void *nb_loaded_chase(void *p, uint64_t loads)
{
    while (loads--)
        p = *(void **)p;
    return p;
}

/* Touch one word per cache line: the whole line crosses the memory bus, at a
 * fraction of the instructions of reading every element. */
static double nb_inject(nb_loaded_ctx *ctx, char *lo, char *hi, int kind, uint32_t delay)
{
    volatile uint64_t sink = 0;
    uint64_t acc = 0, lines = 0;
    char *p;

    while (!ctx->stop) {
        for (p = lo; p + NB_BLOCK <= hi && !ctx->stop; p += NB_BLOCK) {
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
        job->chase_cursor = nb_loaded_chase(job->chase_cursor, job->chase_loads);
        job->chase_seconds = nb_clock_seconds() - t0;
        ctx->stop = 1;
    } else {
        size_t chunk = job->inject_bytes / (size_t)job->n_inject / NB_BLOCK * NB_BLOCK;
        char *lo = job->inject_buf + chunk * (size_t)(tid - 1);
        ctx->starts[tid] = nb_clock_seconds();
        ctx->bytes[tid] = nb_inject(ctx, lo, lo + chunk, job->kind, job->delay);
        ctx->ends[tid] = nb_clock_seconds();
    }
    return nb_ok(st);
}

int nb_loaded_run(nb_loaded_job *job, nb_status *st)
{
    nb_loaded_ctx ctx;
    int *cpus, n = 1 + job->n_inject, rc, i;
    double *slots, first = 0, last = 0, bytes = 0;

    if (!job->chase_cursor || job->chase_loads == 0 || job->n_inject < 0 ||
        (job->n_inject > 0 && (!job->inject_buf || !job->inject_cpus ||
                               job->inject_bytes / (size_t)job->n_inject < NB_BLOCK)))
        return nb_fail(st, NB_ERR_INVALID, EINVAL, "loaded latency job is incomplete");
    cpus = calloc((size_t)n, sizeof(int));
    slots = calloc((size_t)n * 3, sizeof(double));
    if (!cpus || !slots) {
        free(cpus);
        free(slots);
        return nb_fail(st, NB_ERR_SYSCALL, ENOMEM, "calloc");
    }
    cpus[0] = job->chase_cpu;
    for (i = 0; i < job->n_inject; i++)
        cpus[i + 1] = job->inject_cpus[i];
    ctx.job = job;
    ctx.stop = 0;
    ctx.starts = slots;
    ctx.ends = slots + n;
    ctx.bytes = slots + 2 * n;
    rc = nb_team_run(cpus, n, nb_loaded_worker, &ctx, st);
    if (rc == NB_OK) {
        for (i = 1; i < n; i++) {
            if (i == 1 || ctx.starts[i] < first)
                first = ctx.starts[i];
            if (i == 1 || ctx.ends[i] > last)
                last = ctx.ends[i];
            bytes += ctx.bytes[i];
        }
        job->inject_bytes_done = bytes;
        job->inject_seconds = job->n_inject ? last - first : 0.0;
    }
    free(cpus);
    free(slots);
    return rc;
}
