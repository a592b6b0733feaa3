#define _GNU_SOURCE
#include <time.h>
#include "nb_affinity.h"
#include "nb_chase.h"
#include "nb_clock.h"

/* xoshiro-style generator: splitmix64, good enough for a permutation and
 * reproducible from the seed recorded in the result. */
static uint64_t nb_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Unbiased integer in [0, bound) (Lemire's multiply-shift with rejection). */
static uint64_t nb_below(uint64_t *state, uint64_t bound)
{
    __uint128_t m = (__uint128_t)nb_splitmix64(state) * bound;
    uint64_t low = (uint64_t)m;
    if (low < bound) {
        uint64_t threshold = -bound % bound;
        while (low < threshold) {
            m = (__uint128_t)nb_splitmix64(state) * bound;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

int nb_chase_build(void *buf, size_t size_bytes, size_t stride_bytes, uint64_t seed,
                   nb_status *st)
{
    char *base = buf;
    size_t n, i;
    uint64_t state = seed;

    if (!buf || stride_bytes < sizeof(void *) || stride_bytes % sizeof(void *) != 0)
        return nb_fail(st, NB_ERR_INVALID, EINVAL, "stride must be a multiple of a pointer");
    n = size_bytes / stride_bytes;
    if (n < 2)
        return nb_fail(st, NB_ERR_INVALID, EINVAL, "buffer holds fewer than two slots");
#define SLOT(k) (*(uint64_t *)(base + (k) * stride_bytes))
    for (i = 0; i < n; i++)
        SLOT(i) = i;
    /* Sattolo: swapping with j < i (never i itself) yields a permutation that
     * is a single n-cycle, so the chase visits every slot before repeating. */
    for (i = n - 1; i > 0; i--) {
        uint64_t j = nb_below(&state, i);
        uint64_t t = SLOT(i);
        SLOT(i) = SLOT(j);
        SLOT(j) = t;
    }
    for (i = 0; i < n; i++)
        SLOT(i) = (uint64_t)(uintptr_t)(base + SLOT(i) * stride_bytes);
#undef SLOT
    return nb_ok(st);
}

/* 16 dependent loads per step keep loop overhead out of the figure. */
#define NB_STEP(p) ((p) = *(void **)(p))
#define NB_STEP16(p)                                                    \
    do {                                                                \
        NB_STEP(p); NB_STEP(p); NB_STEP(p); NB_STEP(p);                 \
        NB_STEP(p); NB_STEP(p); NB_STEP(p); NB_STEP(p);                 \
        NB_STEP(p); NB_STEP(p); NB_STEP(p); NB_STEP(p);                 \
        NB_STEP(p); NB_STEP(p); NB_STEP(p); NB_STEP(p);                 \
    } while (0)

static void *nb_chase_walk(void *p, uint64_t loads)
{
    uint64_t blocks = loads / 16, rest = loads % 16;
    while (blocks--)
        NB_STEP16(p);
    while (rest--)
        NB_STEP(p);
    return p;
}

typedef struct {
    void *cursor;
    uint64_t warmup_loads;
    uint64_t loads;
    double seconds;
} nb_chase_job;

static int nb_chase_worker(nb_team *team, int tid, void *ctx, nb_status *st)
{
    nb_chase_job *job = ctx;
    void *volatile sink;
    void *p = job->cursor;
    double t0, t1;

    (void)team;
    (void)tid;
    p = nb_chase_walk(p, job->warmup_loads);
    t0 = nb_clock_seconds();
    p = nb_chase_walk(p, job->loads);
    t1 = nb_clock_seconds();
    sink = p;
    job->cursor = sink;
    job->seconds = t1 - t0;
    return nb_ok(st);
}

int nb_chase_run(void **cursor, uint64_t warmup_loads, uint64_t loads, int cpu,
                 double *seconds_out, nb_status *st)
{
    nb_chase_job job;
    int rc;

    if (!cursor || !*cursor || loads == 0 || cpu < 0)
        return nb_fail(st, NB_ERR_INVALID, EINVAL, "chase needs a chain, loads and a cpu");
    job.cursor = *cursor;
    job.warmup_loads = warmup_loads;
    job.loads = loads;
    job.seconds = 0.0;
    rc = nb_team_run(&cpu, 1, nb_chase_worker, &job, st);
    if (rc != NB_OK)
        return rc;
    *cursor = job.cursor;
    *seconds_out = job.seconds;
    return nb_ok(st);
}
