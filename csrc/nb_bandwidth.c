#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include "nb_affinity.h"
#include "nb_bandwidth.h"
#include "nb_clock.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define NB_X86 1
#else
#define NB_X86 0
#endif

/* One kernel on elements [lo, hi) of the job's arrays; returns read's sum. */
typedef double (*nb_bw_fn)(const nb_bw_job *job, size_t lo, size_t hi);

/* ---- plain C: the reference the vector kernels are tested against ------ */
/* Built with -fno-tree-loop-distribute-patterns so gcc keeps copy a loop
 * instead of calling memcpy (see shared measuring notes). */

static double nb_read_scalar(const nb_bw_job *j, size_t lo, size_t hi)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = lo;
    for (; i + 4 <= hi; i += 4) {
        s0 += j->a[i];
        s1 += j->a[i + 1];
        s2 += j->a[i + 2];
        s3 += j->a[i + 3];
    }
    for (; i < hi; i++)
        s0 += j->a[i];
    return (s0 + s1) + (s2 + s3);
}

static double nb_write_scalar(const nb_bw_job *j, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        j->a[i] = j->scalar;
    return 0.0;
}

static double nb_copy_scalar(const nb_bw_job *j, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        j->b[i] = j->a[i];
    return 0.0;
}

static double nb_triad_scalar(const nb_bw_job *j, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        j->a[i] = j->b[i] + j->scalar * j->c[i];
    return 0.0;
}

/* ---- peak read/write mixes (numabench peak), in place ------------------ */
/* The sums are grouped as in the vector kernels, a + (b + c), so every ISA
 * writes the same bits. */

static double nb_mix11_scalar(const nb_bw_job *j, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        j->a[i] = j->a[i] + j->scalar;
    return 0.0;
}

static double nb_mix21_scalar(const nb_bw_job *j, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        j->a[i] = j->a[i] + j->b[i];
    return 0.0;
}

static double nb_mix31_scalar(const nb_bw_job *j, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        j->a[i] = j->a[i] + (j->b[i] + j->c[i]);
    return 0.0;
}
/* ---- end of the peak mixes ---------------------------------------------- */

#if NB_X86
/* SSE2 is part of x86-64, so non-temporal stores always exist there. */
static double nb_write_nt_scalar(const nb_bw_job *j, size_t lo, size_t hi)
{
    __m128d v = _mm_set1_pd(j->scalar);
    size_t i = lo;
    for (; i < hi && ((uintptr_t)(j->a + i) & 15); i++)
        j->a[i] = j->scalar;
    for (; i + 2 <= hi; i += 2)
        _mm_stream_pd(j->a + i, v);
    for (; i < hi; i++)
        j->a[i] = j->scalar;
    _mm_sfence();
    return 0.0;
}

static double nb_copy_nt_scalar(const nb_bw_job *j, size_t lo, size_t hi)
{
    size_t i = lo;
    for (; i < hi && ((uintptr_t)(j->b + i) & 15); i++)
        j->b[i] = j->a[i];
    for (; i + 2 <= hi; i += 2)
        _mm_stream_pd(j->b + i, _mm_loadu_pd(j->a + i));
    for (; i < hi; i++)
        j->b[i] = j->a[i];
    _mm_sfence();
    return 0.0;
}
#else
/* No portable non-temporal store: these fall back to normal stores, and
 * nb_bw_isa_supported reports scalar only. */
#define nb_write_nt_scalar nb_write_scalar
#define nb_copy_nt_scalar nb_copy_scalar
#endif

static const nb_bw_fn nb_scalar_kernels[NB_BW_KERNELS] = {
    nb_read_scalar, nb_write_scalar, nb_write_nt_scalar,
    nb_copy_scalar, nb_copy_nt_scalar, nb_triad_scalar,
    nb_mix11_scalar, nb_mix21_scalar, nb_mix31_scalar,
};

#if NB_X86
/* ---- vector kernels: nb_bw_kernels.h, once per ISA -------------------------- */

/* SSE2: 128-bit, 2 doubles a vector. No FMA: triad multiplies then adds, as
 * the plain C kernel (built without -march) does, so both write the same bits. */
#define NB_SUFFIX sse2
#define NB_TARGET __attribute__((target("sse2")))
#define NB_VEC __m128d
#define NB_LANES 2
#define NB_ZERO() _mm_setzero_pd()
#define NB_SET1(x) _mm_set1_pd(x)
#define NB_LOADU(p) _mm_loadu_pd(p)
#define NB_STOREU(p, v) _mm_storeu_pd((p), (v))
#define NB_STREAM(p, v) _mm_stream_pd((p), (v))
#define NB_ADD(x, y) _mm_add_pd((x), (y))
#define NB_FMADD(a, b, c) _mm_add_pd(_mm_mul_pd((a), (b)), (c))
#include "nb_bw_kernels.h"

/* AVX2 + FMA: 256-bit, 4 doubles a vector. */
#define NB_SUFFIX avx2
#define NB_TARGET __attribute__((target("avx2,fma")))
#define NB_VEC __m256d
#define NB_LANES 4
#define NB_ZERO() _mm256_setzero_pd()
#define NB_SET1(x) _mm256_set1_pd(x)
#define NB_LOADU(p) _mm256_loadu_pd(p)
#define NB_STOREU(p, v) _mm256_storeu_pd((p), (v))
#define NB_STREAM(p, v) _mm256_stream_pd((p), (v))
#define NB_ADD(x, y) _mm256_add_pd((x), (y))
#define NB_FMADD(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#include "nb_bw_kernels.h"

/* AVX-512F: 512-bit, 8 doubles a vector. */
#define NB_SUFFIX avx512
#define NB_TARGET __attribute__((target("avx512f")))
#define NB_VEC __m512d
#define NB_LANES 8
#define NB_ZERO() _mm512_setzero_pd()
#define NB_SET1(x) _mm512_set1_pd(x)
#define NB_LOADU(p) _mm512_loadu_pd(p)
#define NB_STOREU(p, v) _mm512_storeu_pd((p), (v))
#define NB_STREAM(p, v) _mm512_stream_pd((p), (v))
#define NB_ADD(x, y) _mm512_add_pd((x), (y))
#define NB_FMADD(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#include "nb_bw_kernels.h"
#endif /* NB_X86 */

int nb_bw_isa_supported(int isa)
{
    switch (isa) {
    case NB_ISA_AUTO:
    case NB_ISA_SCALAR:
        return 1;
#if NB_X86
    case NB_ISA_SSE2:
        return 1; /* part of x86-64 */
    case NB_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case NB_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f");
#endif
    default:
        return 0;
    }
}

int nb_bw_isa_best(void)
{
    if (nb_bw_isa_supported(NB_ISA_AVX512))
        return NB_ISA_AVX512;
    if (nb_bw_isa_supported(NB_ISA_AVX2))
        return NB_ISA_AVX2;
    if (nb_bw_isa_supported(NB_ISA_SSE2))
        return NB_ISA_SSE2;
    return NB_ISA_SCALAR;
}

int nb_bw_streams(int kernel)
{
    static const int streams[NB_BW_KERNELS] = {1, 1, 1, 2, 2, 3, 1, 2, 3};
    return kernel >= 0 && kernel < NB_BW_KERNELS ? streams[kernel] : 0;
}

int nb_bw_reads_per_elem(int kernel)
{
    static const int reads[NB_BW_KERNELS] = {1, 0, 0, 1, 1, 2, 1, 2, 3};
    return kernel >= 0 && kernel < NB_BW_KERNELS ? reads[kernel] : 0;
}

int nb_bw_writes_per_elem(int kernel)
{
    static const int writes[NB_BW_KERNELS] = {0, 1, 1, 1, 1, 1, 1, 1, 1};
    return kernel >= 0 && kernel < NB_BW_KERNELS ? writes[kernel] : 0;
}

size_t nb_bw_bytes_per_elem(int kernel)
{
    return (size_t)(nb_bw_reads_per_elem(kernel) + nb_bw_writes_per_elem(kernel)) * sizeof(double);
}

static nb_bw_fn nb_bw_pick(int kernel, int isa)
{
#if NB_X86
    if (isa == NB_ISA_AVX512)
        return nb_kernels_avx512[kernel];
    if (isa == NB_ISA_AVX2)
        return nb_kernels_avx2[kernel];
    if (isa == NB_ISA_SSE2)
        return nb_kernels_sse2[kernel];
#endif
    (void)isa;
    return nb_scalar_kernels[kernel];
}

typedef struct {
    nb_bw_job *job;
    nb_bw_fn fn;
    nb_thread_slot *slots; /* [nthreads]: each thread's pass, on its own cache line */
} nb_bw_ctx;

/* Chunk boundaries on 64-element (512-byte) multiples keep every thread's
 * vector stores aligned; the last thread takes the remainder. */
static void nb_bw_chunk(size_t n, int nthreads, int tid, size_t *lo, size_t *hi)
{
    size_t per = n / (size_t)nthreads / 64 * 64;
    *lo = per * (size_t)tid;
    *hi = tid == nthreads - 1 ? n : *lo + per;
}

/* Thread 0, between barriers: the sample's span and start skew from every slot. */
static void nb_bw_record(nb_bw_ctx *ctx, int nthreads, int s)
{
    double first = ctx->slots[0].start, last_start = first, last = ctx->slots[0].end;
    int t;
    for (t = 1; t < nthreads; t++) {
        if (ctx->slots[t].start < first)
            first = ctx->slots[t].start;
        if (ctx->slots[t].start > last_start)
            last_start = ctx->slots[t].start;
        if (ctx->slots[t].end > last)
            last = ctx->slots[t].end;
    }
    ctx->job->seconds_out[s] = last - first;
    if (ctx->job->skew_out)
        ctx->job->skew_out[s] = last_start - first;
}

static int nb_bw_worker(nb_team *team, int tid, void *arg, nb_status *st)
{
    nb_bw_ctx *ctx = arg;
    nb_bw_job *job = ctx->job;
    nb_thread_slot *mine = &ctx->slots[tid];
    size_t lo, hi;
    int s, p;

    nb_bw_chunk(job->n_elems, team->nthreads, tid, &lo, &hi);
    /* Warm-up: TLB, page tables, caches and the CPUs' clocks settle, untimed. */
    for (p = 0; p < job->warmup_passes; p++)
        mine->value = ctx->fn(job, lo, hi);
    for (s = 0; s < job->samples; s++) {
        nb_team_barrier(team);
        mine->start = nb_clock_seconds();
        for (p = 0; p < job->passes; p++)
            mine->value = ctx->fn(job, lo, hi);
        mine->end = nb_clock_seconds();
        nb_team_barrier(team);
        if (tid == 0)
            nb_bw_record(ctx, team->nthreads, s);
        /* Nobody overwrites its slot before thread 0 has read them all. */
        nb_team_barrier(team);
    }
    return nb_ok(st);
}

int nb_bw_run(nb_bw_job *job, const int *cpus, int nthreads, nb_status *st)
{
    nb_bw_ctx ctx;
    int isa, rc, t, streams;

    if (!job || job->kernel < 0 || job->kernel >= NB_BW_KERNELS)
        return nb_invalid(st, "unknown bandwidth kernel");
    streams = nb_bw_streams(job->kernel);
    if (!job->a || (streams > 1 && !job->b) || (streams > 2 && !job->c) || job->n_elems == 0 ||
        job->samples < 1 || job->passes < 1 || job->warmup_passes < 0 || !job->seconds_out || !cpus || nthreads < 1)
        return nb_invalid(st, "bandwidth job is incomplete");
    /* Every array must be addressable to its end: a + n_elems may not wrap. */
    for (t = 0; t < streams; t++) {
        const double *arr = t == 0 ? job->a : t == 1 ? job->b : job->c;
        if (job->n_elems > (UINTPTR_MAX - (uintptr_t)arr) / sizeof(double))
            return nb_invalid(st, "array length past the address space");
    }
    isa = job->isa == NB_ISA_AUTO ? nb_bw_isa_best() : job->isa;
    if (!nb_bw_isa_supported(isa))
        return nb_fail(st, NB_ERR_UNSUPPORTED, ENOTSUP, "cpuid", "this CPU lacks the requested vector ISA");
    ctx.job = job;
    ctx.fn = nb_bw_pick(job->kernel, isa);
    ctx.slots = nb_thread_slots((size_t)nthreads);
    if (!ctx.slots)
        return nb_fail_errno(st, ENOMEM, "aligned_alloc");
    rc = nb_team_run(cpus, nthreads, nb_bw_worker, &ctx, st);
    if (rc == NB_OK) {
        job->checksum = 0.0;
        for (t = 0; t < nthreads; t++)
            job->checksum += ctx.slots[t].value;
        job->isa_used = isa;
    }
    free(ctx.slots);
    return rc;
}
