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
};

#if NB_X86
/* ---- AVX2 + FMA: 256-bit, 4 vectors per step ------------------------------ */
#define NB_AVX2 __attribute__((target("avx2,fma")))

NB_AVX2 static double nb_read_avx2(const nb_bw_job *j, size_t lo, size_t hi)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    __m256d s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    const double *a = j->a;
    size_t i = lo;
    double sum = 0.0, lanes[4];
    /* Eight independent accumulators hide the add latency. */
    for (; i + 32 <= hi; i += 32) {
        s0 = _mm256_add_pd(s0, _mm256_loadu_pd(a + i));
        s1 = _mm256_add_pd(s1, _mm256_loadu_pd(a + i + 4));
        s2 = _mm256_add_pd(s2, _mm256_loadu_pd(a + i + 8));
        s3 = _mm256_add_pd(s3, _mm256_loadu_pd(a + i + 12));
        s4 = _mm256_add_pd(s4, _mm256_loadu_pd(a + i + 16));
        s5 = _mm256_add_pd(s5, _mm256_loadu_pd(a + i + 20));
        s6 = _mm256_add_pd(s6, _mm256_loadu_pd(a + i + 24));
        s7 = _mm256_add_pd(s7, _mm256_loadu_pd(a + i + 28));
    }
    s0 = _mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3));
    s4 = _mm256_add_pd(_mm256_add_pd(s4, s5), _mm256_add_pd(s6, s7));
    _mm256_storeu_pd(lanes, _mm256_add_pd(s0, s4));
    sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < hi; i++)
        sum += a[i];
    return sum;
}

NB_AVX2 static double nb_write_avx2(const nb_bw_job *j, size_t lo, size_t hi)
{
    __m256d v = _mm256_set1_pd(j->scalar);
    double *a = j->a;
    size_t i = lo;
    for (; i + 16 <= hi; i += 16) {
        _mm256_storeu_pd(a + i, v);
        _mm256_storeu_pd(a + i + 4, v);
        _mm256_storeu_pd(a + i + 8, v);
        _mm256_storeu_pd(a + i + 12, v);
    }
    for (; i < hi; i++)
        a[i] = j->scalar;
    return 0.0;
}

NB_AVX2 static double nb_write_nt_avx2(const nb_bw_job *j, size_t lo, size_t hi)
{
    __m256d v = _mm256_set1_pd(j->scalar);
    double *a = j->a;
    size_t i = lo;
    for (; i < hi && ((uintptr_t)(a + i) & 31); i++)
        a[i] = j->scalar;
    for (; i + 16 <= hi; i += 16) {
        _mm256_stream_pd(a + i, v);
        _mm256_stream_pd(a + i + 4, v);
        _mm256_stream_pd(a + i + 8, v);
        _mm256_stream_pd(a + i + 12, v);
    }
    for (; i < hi; i++)
        a[i] = j->scalar;
    _mm_sfence();
    return 0.0;
}

NB_AVX2 static double nb_copy_avx2(const nb_bw_job *j, size_t lo, size_t hi)
{
    const double *a = j->a;
    double *b = j->b;
    size_t i = lo;
    for (; i + 16 <= hi; i += 16) {
        __m256d x0 = _mm256_loadu_pd(a + i), x1 = _mm256_loadu_pd(a + i + 4);
        __m256d x2 = _mm256_loadu_pd(a + i + 8), x3 = _mm256_loadu_pd(a + i + 12);
        _mm256_storeu_pd(b + i, x0);
        _mm256_storeu_pd(b + i + 4, x1);
        _mm256_storeu_pd(b + i + 8, x2);
        _mm256_storeu_pd(b + i + 12, x3);
    }
    for (; i < hi; i++)
        b[i] = a[i];
    return 0.0;
}

NB_AVX2 static double nb_copy_nt_avx2(const nb_bw_job *j, size_t lo, size_t hi)
{
    const double *a = j->a;
    double *b = j->b;
    size_t i = lo;
    for (; i < hi && ((uintptr_t)(b + i) & 31); i++)
        b[i] = a[i];
    for (; i + 16 <= hi; i += 16) {
        __m256d x0 = _mm256_loadu_pd(a + i), x1 = _mm256_loadu_pd(a + i + 4);
        __m256d x2 = _mm256_loadu_pd(a + i + 8), x3 = _mm256_loadu_pd(a + i + 12);
        _mm256_stream_pd(b + i, x0);
        _mm256_stream_pd(b + i + 4, x1);
        _mm256_stream_pd(b + i + 8, x2);
        _mm256_stream_pd(b + i + 12, x3);
    }
    for (; i < hi; i++)
        b[i] = a[i];
    _mm_sfence();
    return 0.0;
}

NB_AVX2 static double nb_triad_avx2(const nb_bw_job *j, size_t lo, size_t hi)
{
    __m256d s = _mm256_set1_pd(j->scalar);
    double *a = j->a;
    const double *b = j->b, *c = j->c;
    size_t i = lo;
    for (; i + 16 <= hi; i += 16) {
        _mm256_storeu_pd(a + i, _mm256_fmadd_pd(s, _mm256_loadu_pd(c + i), _mm256_loadu_pd(b + i)));
        _mm256_storeu_pd(a + i + 4, _mm256_fmadd_pd(s, _mm256_loadu_pd(c + i + 4), _mm256_loadu_pd(b + i + 4)));
        _mm256_storeu_pd(a + i + 8, _mm256_fmadd_pd(s, _mm256_loadu_pd(c + i + 8), _mm256_loadu_pd(b + i + 8)));
        _mm256_storeu_pd(a + i + 12, _mm256_fmadd_pd(s, _mm256_loadu_pd(c + i + 12), _mm256_loadu_pd(b + i + 12)));
    }
    for (; i < hi; i++)
        a[i] = b[i] + j->scalar * c[i];
    return 0.0;
}

static const nb_bw_fn nb_avx2_kernels[NB_BW_KERNELS] = {
    nb_read_avx2, nb_write_avx2, nb_write_nt_avx2,
    nb_copy_avx2, nb_copy_nt_avx2, nb_triad_avx2,
};

/* ---- AVX-512F: 512-bit, 4 vectors per step -------------------------------- */
#define NB_AVX512 __attribute__((target("avx512f")))

NB_AVX512 static double nb_read_avx512(const nb_bw_job *j, size_t lo, size_t hi)
{
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    __m512d s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    const double *a = j->a;
    size_t i = lo;
    double sum;
    for (; i + 64 <= hi; i += 64) {
        s0 = _mm512_add_pd(s0, _mm512_loadu_pd(a + i));
        s1 = _mm512_add_pd(s1, _mm512_loadu_pd(a + i + 8));
        s2 = _mm512_add_pd(s2, _mm512_loadu_pd(a + i + 16));
        s3 = _mm512_add_pd(s3, _mm512_loadu_pd(a + i + 24));
        s4 = _mm512_add_pd(s4, _mm512_loadu_pd(a + i + 32));
        s5 = _mm512_add_pd(s5, _mm512_loadu_pd(a + i + 40));
        s6 = _mm512_add_pd(s6, _mm512_loadu_pd(a + i + 48));
        s7 = _mm512_add_pd(s7, _mm512_loadu_pd(a + i + 56));
    }
    s0 = _mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3));
    s4 = _mm512_add_pd(_mm512_add_pd(s4, s5), _mm512_add_pd(s6, s7));
    sum = _mm512_reduce_add_pd(_mm512_add_pd(s0, s4));
    for (; i < hi; i++)
        sum += a[i];
    return sum;
}

NB_AVX512 static double nb_write_avx512(const nb_bw_job *j, size_t lo, size_t hi)
{
    __m512d v = _mm512_set1_pd(j->scalar);
    double *a = j->a;
    size_t i = lo;
    for (; i + 32 <= hi; i += 32) {
        _mm512_storeu_pd(a + i, v);
        _mm512_storeu_pd(a + i + 8, v);
        _mm512_storeu_pd(a + i + 16, v);
        _mm512_storeu_pd(a + i + 24, v);
    }
    for (; i < hi; i++)
        a[i] = j->scalar;
    return 0.0;
}

NB_AVX512 static double nb_write_nt_avx512(const nb_bw_job *j, size_t lo, size_t hi)
{
    __m512d v = _mm512_set1_pd(j->scalar);
    double *a = j->a;
    size_t i = lo;
    for (; i < hi && ((uintptr_t)(a + i) & 63); i++)
        a[i] = j->scalar;
    for (; i + 32 <= hi; i += 32) {
        _mm512_stream_pd(a + i, v);
        _mm512_stream_pd(a + i + 8, v);
        _mm512_stream_pd(a + i + 16, v);
        _mm512_stream_pd(a + i + 24, v);
    }
    for (; i < hi; i++)
        a[i] = j->scalar;
    _mm_sfence();
    return 0.0;
}

NB_AVX512 static double nb_copy_avx512(const nb_bw_job *j, size_t lo, size_t hi)
{
    const double *a = j->a;
    double *b = j->b;
    size_t i = lo;
    for (; i + 32 <= hi; i += 32) {
        __m512d x0 = _mm512_loadu_pd(a + i), x1 = _mm512_loadu_pd(a + i + 8);
        __m512d x2 = _mm512_loadu_pd(a + i + 16), x3 = _mm512_loadu_pd(a + i + 24);
        _mm512_storeu_pd(b + i, x0);
        _mm512_storeu_pd(b + i + 8, x1);
        _mm512_storeu_pd(b + i + 16, x2);
        _mm512_storeu_pd(b + i + 24, x3);
    }
    for (; i < hi; i++)
        b[i] = a[i];
    return 0.0;
}

NB_AVX512 static double nb_copy_nt_avx512(const nb_bw_job *j, size_t lo, size_t hi)
{
    const double *a = j->a;
    double *b = j->b;
    size_t i = lo;
    for (; i < hi && ((uintptr_t)(b + i) & 63); i++)
        b[i] = a[i];
    for (; i + 32 <= hi; i += 32) {
        __m512d x0 = _mm512_loadu_pd(a + i), x1 = _mm512_loadu_pd(a + i + 8);
        __m512d x2 = _mm512_loadu_pd(a + i + 16), x3 = _mm512_loadu_pd(a + i + 24);
        _mm512_stream_pd(b + i, x0);
        _mm512_stream_pd(b + i + 8, x1);
        _mm512_stream_pd(b + i + 16, x2);
        _mm512_stream_pd(b + i + 24, x3);
    }
    for (; i < hi; i++)
        b[i] = a[i];
    _mm_sfence();
    return 0.0;
}

NB_AVX512 static double nb_triad_avx512(const nb_bw_job *j, size_t lo, size_t hi)
{
    __m512d s = _mm512_set1_pd(j->scalar);
    double *a = j->a;
    const double *b = j->b, *c = j->c;
    size_t i = lo;
    for (; i + 32 <= hi; i += 32) {
        _mm512_storeu_pd(a + i, _mm512_fmadd_pd(s, _mm512_loadu_pd(c + i), _mm512_loadu_pd(b + i)));
        _mm512_storeu_pd(a + i + 8, _mm512_fmadd_pd(s, _mm512_loadu_pd(c + i + 8), _mm512_loadu_pd(b + i + 8)));
        _mm512_storeu_pd(a + i + 16, _mm512_fmadd_pd(s, _mm512_loadu_pd(c + i + 16), _mm512_loadu_pd(b + i + 16)));
        _mm512_storeu_pd(a + i + 24, _mm512_fmadd_pd(s, _mm512_loadu_pd(c + i + 24), _mm512_loadu_pd(b + i + 24)));
    }
    for (; i < hi; i++)
        a[i] = b[i] + j->scalar * c[i];
    return 0.0;
}

static const nb_bw_fn nb_avx512_kernels[NB_BW_KERNELS] = {
    nb_read_avx512, nb_write_avx512, nb_write_nt_avx512,
    nb_copy_avx512, nb_copy_nt_avx512, nb_triad_avx512,
};
#endif /* NB_X86 */

int nb_bw_isa_supported(int isa)
{
    switch (isa) {
    case NB_ISA_AUTO:
    case NB_ISA_SCALAR:
        return 1;
#if NB_X86
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
    return NB_ISA_SCALAR;
}

int nb_bw_streams(int kernel)
{
    static const int streams[NB_BW_KERNELS] = {1, 1, 1, 2, 2, 3};
    return kernel >= 0 && kernel < NB_BW_KERNELS ? streams[kernel] : 0;
}

size_t nb_bw_bytes_per_elem(int kernel)
{
    return (size_t)nb_bw_streams(kernel) * sizeof(double);
}

static nb_bw_fn nb_bw_pick(int kernel, int isa)
{
#if NB_X86
    if (isa == NB_ISA_AVX512)
        return nb_avx512_kernels[kernel];
    if (isa == NB_ISA_AVX2)
        return nb_avx2_kernels[kernel];
#endif
    (void)isa;
    return nb_scalar_kernels[kernel];
}

typedef struct {
    nb_bw_job *job;
    nb_bw_fn fn;
    double *starts;   /* [nthreads] start of the current pass */
    double *ends;     /* [nthreads] end of the current pass */
    double *sums;     /* [nthreads] read's partial sums */
} nb_bw_ctx;

/* Chunk boundaries on 64-element (512-byte) multiples keep every thread's
 * vector stores aligned; the last thread takes the remainder. */
static void nb_bw_chunk(size_t n, int nthreads, int tid, size_t *lo, size_t *hi)
{
    size_t per = n / (size_t)nthreads / 64 * 64;
    *lo = per * (size_t)tid;
    *hi = tid == nthreads - 1 ? n : *lo + per;
}

static int nb_bw_worker(nb_team *team, int tid, void *arg, nb_status *st)
{
    nb_bw_ctx *ctx = arg;
    nb_bw_job *job = ctx->job;
    size_t lo, hi;
    int s, t;

    nb_bw_chunk(job->n_elems, team->nthreads, tid, &lo, &hi);
    for (s = 0; s < job->samples; s++) {
        nb_team_barrier(team);
        ctx->starts[tid] = nb_clock_seconds();
        ctx->sums[tid] = ctx->fn(job, lo, hi);
        ctx->ends[tid] = nb_clock_seconds();
        nb_team_barrier(team);
        if (tid == 0) {
            double first = ctx->starts[0], last = ctx->ends[0];
            for (t = 1; t < team->nthreads; t++) {
                if (ctx->starts[t] < first)
                    first = ctx->starts[t];
                if (ctx->ends[t] > last)
                    last = ctx->ends[t];
            }
            job->seconds_out[s] = last - first;
        }
        /* Nobody overwrites starts/ends before thread 0 has read them. */
        nb_team_barrier(team);
    }
    return nb_ok(st);
}

int nb_bw_run(nb_bw_job *job, const int *cpus, int nthreads, nb_status *st)
{
    nb_bw_ctx ctx;
    int isa, rc, t, streams;
    double *slots;

    if (!job || job->kernel < 0 || job->kernel >= NB_BW_KERNELS)
        return nb_fail(st, NB_ERR_INVALID, EINVAL, "unknown bandwidth kernel");
    streams = nb_bw_streams(job->kernel);
    if (!job->a || (streams > 1 && !job->b) || (streams > 2 && !job->c) || job->n_elems == 0 ||
        job->samples < 1 || !job->seconds_out || nthreads < 1)
        return nb_fail(st, NB_ERR_INVALID, EINVAL, "bandwidth job is incomplete");
    isa = job->isa == NB_ISA_AUTO ? nb_bw_isa_best() : job->isa;
    if (!nb_bw_isa_supported(isa))
        return nb_fail(st, NB_ERR_UNSUPPORTED, ENOTSUP, "this CPU lacks the requested vector ISA");
    slots = calloc((size_t)nthreads * 3, sizeof(double));
    if (!slots)
        return nb_fail(st, NB_ERR_SYSCALL, ENOMEM, "calloc");
    ctx.job = job;
    ctx.fn = nb_bw_pick(job->kernel, isa);
    ctx.starts = slots;
    ctx.ends = slots + nthreads;
    ctx.sums = slots + 2 * nthreads;
    rc = nb_team_run(cpus, nthreads, nb_bw_worker, &ctx, st);
    if (rc == NB_OK) {
        job->checksum = 0.0;
        for (t = 0; t < nthreads; t++)
            job->checksum += ctx.sums[t];
        job->isa_used = isa;
    }
    free(slots);
    return rc;
}
