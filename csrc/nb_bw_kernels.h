/* The vector bandwidth kernels, written once and instantiated per ISA.
 *
 * nb_bandwidth.c includes this file once per ISA after defining:
 *   NB_SUFFIX          name suffix (avx2, avx512): nb_read_avx2, nb_kernels_avx2, ...
 *   NB_TARGET          the function attribute that enables the ISA (target("..."))
 *   NB_VEC, NB_LANES   the vector type and its doubles per vector
 *   NB_ZERO(), NB_SET1(x), NB_LOADU(p), NB_STOREU(p, v), NB_STREAM(p, v),
 *   NB_ADD(x, y), NB_FMADD(a, b, c) (a * b + c)   the ISA's intrinsics
 * and gets a table NB_CAT(nb_kernels, NB_SUFFIX) of the nine kernels. Every
 * macro above is undefined at the end, ready for the next ISA.
 *
 * Each kernel handles elements [lo, hi): full steps of 4 vectors (8 for
 * read's accumulators), then a plain scalar tail, which stays a loop because
 * the file is built with -fno-tree-loop-distribute-patterns. No include guard:
 * including it twice is the point. */

#define NB_CAT2(a, b) a##_##b
#define NB_CAT(a, b) NB_CAT2(a, b)
#define NB_NAME(kernel) NB_CAT(nb_##kernel, NB_SUFFIX)
#define NB_STEP (4 * NB_LANES)
/* Non-temporal stores need vector-aligned addresses. */
#define NB_MISALIGNED(p) (((uintptr_t)(p)) & (NB_LANES * sizeof(double) - 1))

NB_TARGET static double NB_NAME(read)(const nb_bw_job *j, size_t lo, size_t hi)
{
    /* Eight independent accumulators hide the add latency. */
    NB_VEC s0 = NB_ZERO(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    const double *a = j->a;
    double lanes[NB_LANES], sum;
    size_t i = lo;
    for (; i + 8 * NB_LANES <= hi; i += 8 * NB_LANES) {
        s0 = NB_ADD(s0, NB_LOADU(a + i));
        s1 = NB_ADD(s1, NB_LOADU(a + i + NB_LANES));
        s2 = NB_ADD(s2, NB_LOADU(a + i + 2 * NB_LANES));
        s3 = NB_ADD(s3, NB_LOADU(a + i + 3 * NB_LANES));
        s4 = NB_ADD(s4, NB_LOADU(a + i + 4 * NB_LANES));
        s5 = NB_ADD(s5, NB_LOADU(a + i + 5 * NB_LANES));
        s6 = NB_ADD(s6, NB_LOADU(a + i + 6 * NB_LANES));
        s7 = NB_ADD(s7, NB_LOADU(a + i + 7 * NB_LANES));
    }
    s0 = NB_ADD(NB_ADD(s0, s1), NB_ADD(s2, s3));
    s4 = NB_ADD(NB_ADD(s4, s5), NB_ADD(s6, s7));
    NB_STOREU(lanes, NB_ADD(s0, s4));
    /* Pairwise over the lanes, as the accumulators above. */
    for (size_t w = NB_LANES / 2; w > 0; w /= 2)
        for (size_t k = 0; k < w; k++)
            lanes[k] += lanes[k + w];
    sum = lanes[0];
    for (; i < hi; i++)
        sum += a[i];
    return sum;
}

NB_TARGET static double NB_NAME(write)(const nb_bw_job *j, size_t lo, size_t hi)
{
    NB_VEC v = NB_SET1(j->scalar);
    double *a = j->a;
    size_t i = lo;
    for (; i + NB_STEP <= hi; i += NB_STEP) {
        NB_STOREU(a + i, v);
        NB_STOREU(a + i + NB_LANES, v);
        NB_STOREU(a + i + 2 * NB_LANES, v);
        NB_STOREU(a + i + 3 * NB_LANES, v);
    }
    for (; i < hi; i++)
        a[i] = j->scalar;
    return 0.0;
}

NB_TARGET static double NB_NAME(write_nt)(const nb_bw_job *j, size_t lo, size_t hi)
{
    NB_VEC v = NB_SET1(j->scalar);
    double *a = j->a;
    size_t i = lo;
    for (; i < hi && NB_MISALIGNED(a + i); i++)
        a[i] = j->scalar;
    for (; i + NB_STEP <= hi; i += NB_STEP) {
        NB_STREAM(a + i, v);
        NB_STREAM(a + i + NB_LANES, v);
        NB_STREAM(a + i + 2 * NB_LANES, v);
        NB_STREAM(a + i + 3 * NB_LANES, v);
    }
    for (; i < hi; i++)
        a[i] = j->scalar;
    _mm_sfence(); /* streamed stores are weakly ordered: drain them before the clock stops */
    return 0.0;
}

NB_TARGET static double NB_NAME(copy)(const nb_bw_job *j, size_t lo, size_t hi)
{
    const double *a = j->a;
    double *b = j->b;
    size_t i = lo;
    for (; i + NB_STEP <= hi; i += NB_STEP) {
        NB_VEC x0 = NB_LOADU(a + i), x1 = NB_LOADU(a + i + NB_LANES);
        NB_VEC x2 = NB_LOADU(a + i + 2 * NB_LANES), x3 = NB_LOADU(a + i + 3 * NB_LANES);
        NB_STOREU(b + i, x0);
        NB_STOREU(b + i + NB_LANES, x1);
        NB_STOREU(b + i + 2 * NB_LANES, x2);
        NB_STOREU(b + i + 3 * NB_LANES, x3);
    }
    for (; i < hi; i++)
        b[i] = a[i];
    return 0.0;
}

NB_TARGET static double NB_NAME(copy_nt)(const nb_bw_job *j, size_t lo, size_t hi)
{
    const double *a = j->a;
    double *b = j->b;
    size_t i = lo;
    for (; i < hi && NB_MISALIGNED(b + i); i++)
        b[i] = a[i];
    for (; i + NB_STEP <= hi; i += NB_STEP) {
        NB_VEC x0 = NB_LOADU(a + i), x1 = NB_LOADU(a + i + NB_LANES);
        NB_VEC x2 = NB_LOADU(a + i + 2 * NB_LANES), x3 = NB_LOADU(a + i + 3 * NB_LANES);
        NB_STREAM(b + i, x0);
        NB_STREAM(b + i + NB_LANES, x1);
        NB_STREAM(b + i + 2 * NB_LANES, x2);
        NB_STREAM(b + i + 3 * NB_LANES, x3);
    }
    for (; i < hi; i++)
        b[i] = a[i];
    _mm_sfence();
    return 0.0;
}

NB_TARGET static double NB_NAME(triad)(const nb_bw_job *j, size_t lo, size_t hi)
{
    NB_VEC s = NB_SET1(j->scalar);
    double *a = j->a;
    const double *b = j->b, *c = j->c;
    size_t i = lo;
#define NB_TRIAD_AT(k) NB_STOREU(a + (k), NB_FMADD(s, NB_LOADU(c + (k)), NB_LOADU(b + (k))))
    for (; i + NB_STEP <= hi; i += NB_STEP) {
        NB_TRIAD_AT(i);
        NB_TRIAD_AT(i + NB_LANES);
        NB_TRIAD_AT(i + 2 * NB_LANES);
        NB_TRIAD_AT(i + 3 * NB_LANES);
    }
#undef NB_TRIAD_AT
    for (; i < hi; i++)
        a[i] = b[i] + j->scalar * c[i];
    return 0.0;
}

/* ---- peak read/write mixes (numabench peak): in place, see nb_bandwidth.h ---- */
/* One macro per mix: the step loads what it reads, adds, stores over a. */
#define NB_MIX_KERNEL(kernel, EXPR, TAIL)                                         \
    NB_TARGET static double NB_NAME(kernel)(const nb_bw_job *j, size_t lo, size_t hi) \
    {                                                                             \
        NB_VEC s = NB_SET1(j->scalar);                                            \
        double *a = j->a;                                                         \
        const double *b = j->b, *c = j->c;                                        \
        size_t i = lo;                                                            \
        (void)s, (void)b, (void)c;                                                \
        for (; i + NB_STEP <= hi; i += NB_STEP) {                                 \
            NB_STOREU(a + i, EXPR(i));                                            \
            NB_STOREU(a + i + NB_LANES, EXPR(i + NB_LANES));                      \
            NB_STOREU(a + i + 2 * NB_LANES, EXPR(i + 2 * NB_LANES));              \
            NB_STOREU(a + i + 3 * NB_LANES, EXPR(i + 3 * NB_LANES));              \
        }                                                                         \
        for (; i < hi; i++)                                                       \
            a[i] = TAIL;                                                          \
        return 0.0;                                                               \
    }
#define NB_MIX11_AT(k) NB_ADD(NB_LOADU(a + (k)), s)
#define NB_MIX21_AT(k) NB_ADD(NB_LOADU(a + (k)), NB_LOADU(b + (k)))
#define NB_MIX31_AT(k) NB_ADD(NB_LOADU(a + (k)), NB_ADD(NB_LOADU(b + (k)), NB_LOADU(c + (k))))
NB_MIX_KERNEL(mix11, NB_MIX11_AT, a[i] + j->scalar)
NB_MIX_KERNEL(mix21, NB_MIX21_AT, a[i] + b[i])
NB_MIX_KERNEL(mix31, NB_MIX31_AT, a[i] + (b[i] + c[i]))
#undef NB_MIX_KERNEL
#undef NB_MIX11_AT
#undef NB_MIX21_AT
#undef NB_MIX31_AT
/* ---- end of the peak mixes ---- */

static const nb_bw_fn NB_CAT(nb_kernels, NB_SUFFIX)[NB_BW_KERNELS] = {
    NB_NAME(read), NB_NAME(write), NB_NAME(write_nt),
    NB_NAME(copy), NB_NAME(copy_nt), NB_NAME(triad),
    NB_NAME(mix11), NB_NAME(mix21), NB_NAME(mix31),
};

#undef NB_CAT2
#undef NB_CAT
#undef NB_NAME
#undef NB_STEP
#undef NB_MISALIGNED
#undef NB_SUFFIX
#undef NB_TARGET
#undef NB_VEC
#undef NB_LANES
#undef NB_ZERO
#undef NB_SET1
#undef NB_LOADU
#undef NB_STOREU
#undef NB_STREAM
#undef NB_ADD
#undef NB_FMADD
