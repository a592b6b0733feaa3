/* STREAM-style Copy and Triad: a reference for numabench's copy and triad kernels.
 *
 * This is NOT John McCalpin's STREAM (stream.c, not vendored here, and this machine cannot fetch
 * it): it is an independent program that follows STREAM's rules, so its figures are comparable
 * with STREAM's:
 *   - three arrays a, b, c of N doubles each, sized by the caller well above the caches;
 *   - OpenMP parallel loops with a static schedule, arrays initialised by the same parallel loops
 *     (first touch by the thread that later uses each chunk);
 *   - NTIMES iterations of Copy (c[j] = a[j]) then Triad (a[j] = b[j] + scalar * c[j]), each
 *     kernel timed on its own with omp_get_wtime(); the first iteration is discarded and the best
 *     (minimum) time of the others is reported, as STREAM does;
 *   - bytes counted as STREAM counts them: Copy 2 x 8 bytes per element, Triad 3 x 8;
 *   - the results are checked against the same recurrence computed in scalar code.
 * Build it as STREAM is built: gcc -O3 -fopenmp. gcc then turns the Copy loop into a memcpy call
 * per thread's chunk (glibc's memcpy, non-temporal above a size threshold); add
 * -fno-tree-loop-distribute-patterns to keep Copy a loop of normal stores.
 *
 * Usage: stream_style N NTIMES   (threads and pinning from OMP_NUM_THREADS, OMP_PLACES,
 * OMP_PROC_BIND). Prints "key value" lines: n_elems, threads, ntimes, copy_best_bytes_per_s,
 * triad_best_bytes_per_s, copy_cv, triad_cv (stdev / mean of the rates of the kept iterations),
 * valid (1 or 0). Exit status 0, or 1 on bad arguments, 2 when out of memory, 3 when invalid. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define SCALAR 3.0

static double cv_of(const double *x, int n)
{
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < n; i++)
        mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    return n > 1 && mean > 0 ? sqrt(var / (n - 1)) / mean : 0.0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: stream_style N NTIMES\n");
        return 1;
    }
    long n = atol(argv[1]);
    int ntimes = atoi(argv[2]);
    if (n < 1 || ntimes < 2) {
        fprintf(stderr, "stream_style: N must be >= 1 and NTIMES >= 2\n");
        return 1;
    }
    double *a = aligned_alloc(64, ((size_t)n * sizeof(double) + 63) / 64 * 64);
    double *b = aligned_alloc(64, ((size_t)n * sizeof(double) + 63) / 64 * 64);
    double *c = aligned_alloc(64, ((size_t)n * sizeof(double) + 63) / 64 * 64);
    double *copy_rate = malloc(sizeof(double) * (size_t)ntimes);
    double *triad_rate = malloc(sizeof(double) * (size_t)ntimes);
    if (!a || !b || !c || !copy_rate || !triad_rate) {
        fprintf(stderr, "stream_style: out of memory for 3 x %ld doubles\n", n);
        return 2;
    }
    long j;
#pragma omp parallel for schedule(static)
    for (j = 0; j < n; j++) {
        a[j] = 1.0;
        b[j] = 2.0;
        c[j] = 0.0;
    }
    double best_copy = 1e30, best_triad = 1e30;
    for (int k = 0; k < ntimes; k++) {
        double t = omp_get_wtime();
#pragma omp parallel for schedule(static)
        for (j = 0; j < n; j++)
            c[j] = a[j];
        t = omp_get_wtime() - t;
        copy_rate[k] = 16.0 * (double)n / t;
        if (k > 0 && t < best_copy)
            best_copy = t;
        t = omp_get_wtime();
#pragma omp parallel for schedule(static)
        for (j = 0; j < n; j++)
            a[j] = b[j] + SCALAR * c[j];
        t = omp_get_wtime() - t;
        triad_rate[k] = 24.0 * (double)n / t;
        if (k > 0 && t < best_triad)
            best_triad = t;
    }
    /* The same recurrence in scalar: a = 1; each iteration c = a, a = 2 + 3c (exact in doubles). */
    double ea = 1.0, ec = 0.0;
    for (int k = 0; k < ntimes; k++) {
        ec = ea;
        ea = 2.0 + SCALAR * ec;
    }
    int valid = 1;
    for (j = 0; j < n; j += 4093)
        valid &= a[j] == ea && c[j] == ec && b[j] == 2.0;
    valid &= a[n - 1] == ea && c[n - 1] == ec;
    printf("n_elems %ld\nthreads %d\nntimes %d\n", n, omp_get_max_threads(), ntimes);
    printf("copy_best_bytes_per_s %.6e\ntriad_best_bytes_per_s %.6e\n", 16.0 * (double)n / best_copy,
           24.0 * (double)n / best_triad);
    printf("copy_cv %.6f\ntriad_cv %.6f\nvalid %d\n", cv_of(copy_rate + 1, ntimes - 1),
           cv_of(triad_rate + 1, ntimes - 1), valid);
    free(a);
    free(b);
    free(c);
    free(copy_rate);
    free(triad_rate);
    return valid ? 0 : 3;
}
