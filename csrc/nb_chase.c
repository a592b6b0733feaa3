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

    if (!buf || stride_bytes < sizeof(nb_chase_slot) || stride_bytes % sizeof(nb_chase_slot) != 0)
        return nb_invalid(st, "stride must be a multiple of a pointer");
    n = size_bytes / stride_bytes;
    if (n < 2)
        return nb_invalid(st, "buffer holds fewer than two slots");
    /* k < n, so k * stride_bytes <= size_bytes - stride_bytes: no overflow. */
#define SLOT(k) ((nb_chase_slot *)(base + (k) * stride_bytes))
    for (i = 0; i < n; i++)
        SLOT(i)->next = SLOT(i);
    /* Sattolo on the pointers themselves: swapping with j < i (never i
     * itself) turns the identity into a single n-cycle, so the chase visits
     * every slot before repeating. */
    for (i = n - 1; i > 0; i--) {
        size_t j = (size_t)nb_below(&state, i);
        nb_chase_slot *t = SLOT(i)->next;
        SLOT(i)->next = SLOT(j)->next;
        SLOT(j)->next = t;
    }
#undef SLOT
    return nb_ok(st);
}

#define NB_STEP(p) ((p) = (p)->next)
#define NB_STEP16(p)                                                    \
    do {                                                                \
        NB_STEP(p); NB_STEP(p); NB_STEP(p); NB_STEP(p);                 \
        NB_STEP(p); NB_STEP(p); NB_STEP(p); NB_STEP(p);                 \
        NB_STEP(p); NB_STEP(p); NB_STEP(p); NB_STEP(p);                 \
        NB_STEP(p); NB_STEP(p); NB_STEP(p); NB_STEP(p);                 \
    } while (0)

nb_chase_slot *nb_chase_walk(nb_chase_slot *p, uint64_t loads)
{
    uint64_t blocks = loads / 16, rest = loads % 16;
    while (blocks--)
        NB_STEP16(p);
    while (rest--)
        NB_STEP(p);
    return p;
}

typedef struct {
    nb_chase_slot *cursor;
    uint64_t warmup_loads;
    uint64_t loads;
    double seconds;
} nb_chase_job;

static int nb_chase_worker(nb_team *team, int tid, void *ctx, nb_status *st)
{
    nb_chase_job *job = ctx;
    nb_chase_slot *volatile sink;
    nb_chase_slot *p = job->cursor;
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

int nb_chase_run(nb_chase_slot **cursor, uint64_t warmup_loads, uint64_t loads, int cpu,
                 double *seconds_out, nb_status *st)
{
    nb_chase_job job;
    int rc;

    if (!cursor || !*cursor || loads == 0 || cpu < 0)
        return nb_invalid(st, "chase needs a chain, loads and a cpu");
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
