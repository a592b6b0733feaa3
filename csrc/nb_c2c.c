#define _GNU_SOURCE
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include "nb_affinity.h"
#include "nb_c2c.h"
#include "nb_clock.h"

/* Spins between two looks at the clock in a wait: the clock stays out of the
 * fast path (a transfer is done long before 4096 spins). */
#define NB_C2C_CHECK_EVERY 4096
/* Rounds a job may ask for, in all: far more than any sample needs, far
 * below where 2 * rounds + 2 could wrap the 64-bit counter. */
#define NB_C2C_MAX_ROUNDS (UINT64_C(1) << 40)

/* The HitM line: the counter is the only thing on it. */
typedef struct {
    alignas(NB_CACHE_LINE) _Atomic uint64_t value;
} nb_c2c_line;

/* A clean-mode line: its first word points to the next chased line. */
typedef struct nb_c2c_clean_line {
    struct nb_c2c_clean_line *next;
} nb_c2c_clean_line;

/* Shared by the two threads. Each flag has a cache line of its own, and
 * neither shares one with the job (the timing results) or the transferred
 * lines: a store to one never invalidates another (no false sharing). */
typedef struct {
    nb_c2c_job *job;
    alignas(NB_CACHE_LINE) atomic_int abort;  /* set by a thread that gave up waiting */
    alignas(NB_CACHE_LINE) _Atomic uint64_t ready; /* clean: rounds the responder has prepared */
    alignas(NB_CACHE_LINE) _Atomic uint64_t done;  /* clean: rounds the initiator has read */
    alignas(NB_CACHE_LINE) uint64_t responses;     /* written by the responder only */
    alignas(NB_CACHE_LINE) uint64_t round_trips;   /* written by the initiator only */
} nb_c2c_ctx;

int nb_c2c_mode_supported(int mode)
{
    if (mode == NB_C2C_HITM)
        return 1;
#if defined(__x86_64__) || defined(__i386__)
    return mode == NB_C2C_CLEAN;
#else
    return 0;
#endif
}

/* Spin until *word == want. NB_OK, or NB_ERR_TIMEOUT after timeout_s (the
 * partner is told to stop), or NB_ERR_TIMEOUT when the partner gave up. The
 * clock is first read after NB_C2C_CHECK_EVERY spins, so a wait that ends
 * sooner costs no clock call. */
static int nb_c2c_wait(nb_c2c_ctx *ctx, _Atomic uint64_t *word, uint64_t want)
{
    uint64_t spins = 0;
    double since = -1.0;

    while (atomic_load_explicit(word, memory_order_acquire) != want) {
        if (++spins % NB_C2C_CHECK_EVERY)
            continue;
        if (atomic_load_explicit(&ctx->abort, memory_order_relaxed))
            return NB_ERR_TIMEOUT;
        if (since < 0) {
            since = nb_clock_seconds();
        } else if (nb_clock_seconds() - since > ctx->job->timeout_s) {
            atomic_store_explicit(&ctx->abort, 1, memory_order_relaxed);
            return NB_ERR_TIMEOUT;
        }
    }
    return NB_OK;
}

static int nb_c2c_timeout(nb_status *st, int initiator)
{
    return nb_fail(st, NB_ERR_TIMEOUT, ETIMEDOUT, "nb_c2c_run",
                   initiator ? "the responder thread did not answer within the timeout (descheduled or stopped)"
                             : "the initiator thread did not go on within the timeout (descheduled or stopped)");
}

/* ------------------------------------------------------------------ HitM */

static int nb_hitm_initiator(nb_c2c_ctx *ctx, nb_status *st)
{
    nb_c2c_job *job = ctx->job;
    _Atomic uint64_t *line = &((nb_c2c_line *)job->line)->value;
    uint64_t i = 0, seq = 0;
    double t0;

    for (i = 0; i < job->warmup_round_trips; i++, seq += 2) {
        atomic_store_explicit(line, seq + 1, memory_order_release);
        if (nb_c2c_wait(ctx, line, seq + 2) != NB_OK)
            return nb_c2c_timeout(st, 1);
        ctx->round_trips++;
    }
    for (int s = 0; s < job->samples; s++) {
        t0 = nb_clock_seconds();
        for (i = 0; i < job->round_trips; i++, seq += 2) {
            atomic_store_explicit(line, seq + 1, memory_order_release);
            if (nb_c2c_wait(ctx, line, seq + 2) != NB_OK) {
                ctx->round_trips += i; /* counted here, not in the timed loop */
                return nb_c2c_timeout(st, 1);
            }
        }
        job->one_way_ns_out[s] = (nb_clock_seconds() - t0) / (double)job->round_trips / 2.0 * 1e9;
        ctx->round_trips += job->round_trips;
    }
    return nb_ok(st);
}

static int nb_hitm_responder(nb_c2c_ctx *ctx, uint64_t total, nb_status *st)
{
    _Atomic uint64_t *line = &((nb_c2c_line *)ctx->job->line)->value;

    for (uint64_t seq = 0; ctx->responses < total; seq += 2) {
        if (nb_c2c_wait(ctx, line, seq + 1) != NB_OK)
            return nb_c2c_timeout(st, 0);
        atomic_store_explicit(line, seq + 2, memory_order_release);
        ctx->responses++;
    }
    return nb_ok(st);
}

/* ------------------------------------------------------------------ clean */

static nb_c2c_clean_line *nb_clean_line(const nb_c2c_job *job, int i)
{
    return (nb_c2c_clean_line *)((char *)job->line + (size_t)i * NB_C2C_CLEAN_STRIDE);
}

/* One cycle through the lines, i -> i + 13 (mod 32; 13 is coprime with 32):
 * no two consecutive loads are neighbours, so no stride prefetcher follows. */
static void nb_clean_build(const nb_c2c_job *job)
{
    for (int i = 0; i < NB_C2C_CLEAN_LINES; i++)
        nb_clean_line(job, i)->next = nb_clean_line(job, (i + 13) % NB_C2C_CLEAN_LINES);
}

/* Evict the lines from every cache, then read them back: each is now clean
 * (exclusive) in this core's cache and in no other core's. */
static void nb_clean_prepare(const nb_c2c_job *job)
{
#if defined(__x86_64__) || defined(__i386__)
    for (int i = 0; i < NB_C2C_CLEAN_LINES; i++)
        __builtin_ia32_clflush(nb_clean_line(job, i));
    __builtin_ia32_mfence();
    for (int i = 0; i < NB_C2C_CLEAN_LINES; i++)
        (void)*(nb_c2c_clean_line *volatile *)&nb_clean_line(job, i)->next;
    __builtin_ia32_mfence();
#else
    (void)job;
#endif
}

static int nb_clean_initiator(nb_c2c_ctx *ctx, nb_status *st)
{
    nb_c2c_job *job = ctx->job;
    nb_c2c_clean_line *p = nb_clean_line(job, 0);
    volatile uintptr_t sink;
    uint64_t round = 0;
    double t0, spent;

    for (int s = -1; s < job->samples; s++) {
        uint64_t rounds = s < 0 ? job->warmup_round_trips : job->round_trips;
        spent = 0.0;
        for (uint64_t i = 0; i < rounds; i++, round++) {
            if (nb_c2c_wait(ctx, &ctx->ready, round + 1) != NB_OK)
                return nb_c2c_timeout(st, 1);
            t0 = nb_clock_seconds();
            for (int k = 0; k < NB_C2C_CLEAN_LINES; k++)
                p = *(nb_c2c_clean_line *volatile *)&p->next;
            spent += nb_clock_seconds() - t0;
            atomic_store_explicit(&ctx->done, round + 1, memory_order_release);
            ctx->round_trips++;
        }
        if (s >= 0)
            job->one_way_ns_out[s] = spent / (double)rounds / NB_C2C_CLEAN_LINES * 1e9;
    }
    sink = (uintptr_t)p;
    (void)sink;
    return nb_ok(st);
}

static int nb_clean_responder(nb_c2c_ctx *ctx, uint64_t total, nb_status *st)
{
    for (uint64_t round = 0; ctx->responses < total; round++) {
        if (nb_c2c_wait(ctx, &ctx->done, round) != NB_OK)
            return nb_c2c_timeout(st, 0);
        nb_clean_prepare(ctx->job);
        atomic_store_explicit(&ctx->ready, round + 1, memory_order_release);
        ctx->responses++;
    }
    return nb_ok(st);
}

/* ------------------------------------------------------------------ the team */

static int nb_c2c_worker(nb_team *team, int tid, void *arg, nb_status *st)
{
    nb_c2c_ctx *ctx = arg;
    nb_c2c_job *job = ctx->job;
    uint64_t total = job->warmup_round_trips + job->round_trips * (uint64_t)job->samples;

    if (job->responder_limit && job->responder_limit < total)
        total = job->responder_limit;
    nb_team_barrier(team);
    if (job->mode == NB_C2C_HITM)
        return tid == 0 ? nb_hitm_initiator(ctx, st) : nb_hitm_responder(ctx, total, st);
    return tid == 0 ? nb_clean_initiator(ctx, st) : nb_clean_responder(ctx, total, st);
}

static int nb_c2c_check(const nb_c2c_job *job, nb_status *st)
{
    if (!job || !job->line || !job->one_way_ns_out)
        return nb_invalid(st, "c2c job is incomplete (line or output missing)");
    if ((uintptr_t)job->line % NB_CACHE_LINE)
        return nb_invalid(st, "the c2c line must be 64-byte aligned");
    if (job->mode != NB_C2C_HITM && job->mode != NB_C2C_CLEAN)
        return nb_invalid(st, "unknown c2c mode");
    if (job->cpus[0] < 0 || job->cpus[1] < 0 || job->cpus[0] == job->cpus[1])
        return nb_invalid(st, "c2c needs two distinct CPUs");
    if (job->samples < 1 || job->round_trips < 1)
        return nb_invalid(st, "c2c needs at least one sample of at least one round trip");
    if (job->round_trips > NB_C2C_MAX_ROUNDS / (uint64_t)job->samples ||
        job->warmup_round_trips > NB_C2C_MAX_ROUNDS - job->round_trips * (uint64_t)job->samples)
        return nb_invalid(st, "c2c round trips out of range (2^40 in all at most)");
    if (!(job->timeout_s > 0.0) || !isfinite(job->timeout_s))
        return nb_invalid(st, "c2c timeout must be a positive number of seconds");
    if (!nb_c2c_mode_supported(job->mode))
        return nb_fail(st, NB_ERR_UNSUPPORTED, ENOTSUP, "nb_c2c_run",
                       "clean-line c2c needs clflush, which this CPU architecture lacks");
    return NB_OK;
}

int nb_c2c_run(nb_c2c_job *job, nb_status *st)
{
    nb_c2c_ctx ctx = {0};
    int rc = nb_c2c_check(job, st);

    if (rc != NB_OK)
        return rc;
    ctx.job = job;
    atomic_init(&ctx.abort, 0);
    atomic_init(&ctx.ready, 0);
    atomic_init(&ctx.done, 0);
    if (job->mode == NB_C2C_HITM)
        atomic_init(&((nb_c2c_line *)job->line)->value, 0);
    else
        nb_clean_build(job);
    for (int s = 0; s < job->samples; s++)
        job->one_way_ns_out[s] = NAN;
    rc = nb_team_run(job->cpus, 2, nb_c2c_worker, &ctx, st);
    job->round_trips_done = ctx.round_trips;
    job->responses_done = ctx.responses;
    return rc;
}
