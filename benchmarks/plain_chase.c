/* plain_chase.c: a pointer chase written outside numabench, as a latency reference.
 *
 * One random single cycle (Sattolo's algorithm) over the 64-byte lines of a buffer,
 * followed by dependent loads: the same pattern numabench's latency kernel claims
 * ("random single cycle over cache lines"). Nothing here shares code with numabench.
 *
 * Build:  gcc -O2 -o plain_chase plain_chase.c
 * Usage:  plain_chase SIZE_BYTES 4k|2m CPU LOADS [SAMPLES] [SEED]
 *   SIZE_BYTES  buffer size in bytes (rounded up to the page size)
 *   4k          mmap(MAP_ANONYMOUS) + madvise(MADV_NOHUGEPAGE): 4 KiB pages only
 *   2m          mmap(MAP_HUGETLB | MAP_HUGE_2MB): needs free 2 MiB hugepages
 *               (/proc/sys/vm/nr_hugepages)
 *   CPU         the process is pinned there (sched_setaffinity) before the buffer is touched
 *   LOADS       dependent loads per timed sample
 *   SAMPLES     timed samples, each continuing where the last stopped (default 1)
 *   SEED        permutation seed (default 1)
 * Output: one line "ns_per_load <value>" per sample, then "median_ns_per_load <value>".
 * Before timing, an untimed warm-up walks min(lines, 2^21) loads (as numabench does).
 * Exit status 0, or 2 with a message on stderr naming the failing call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

#define LINE_BYTES 64

static uint64_t rng_state;

/* xorshift64*: fast, good enough for a shuffle; not the libc rand() of any tool. */
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void *chase(void *p, uint64_t loads)
{
    void **q = (void **)p;
    /* Unrolled by 8 only to keep loop overhead off the dependency chain's critical path. */
    while (loads >= 8) {
        q = (void **)*q; q = (void **)*q; q = (void **)*q; q = (void **)*q;
        q = (void **)*q; q = (void **)*q; q = (void **)*q; q = (void **)*q;
        loads -= 8;
    }
    while (loads--)
        q = (void **)*q;
    return q;
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 7) {
        fprintf(stderr, "usage: %s SIZE_BYTES 4k|2m CPU LOADS [SAMPLES] [SEED]\n", argv[0]);
        return 2;
    }
    uint64_t size = strtoull(argv[1], NULL, 0);
    const char *kind = argv[2];
    int cpu = atoi(argv[3]);
    uint64_t loads = strtoull(argv[4], NULL, 0);
    int samples = argc > 5 ? atoi(argv[5]) : 1;
    rng_state = argc > 6 ? strtoull(argv[6], NULL, 0) : 1;
    if (rng_state == 0)
        rng_state = 1;
    if (samples < 1 || loads < 1 || size < 2 * LINE_BYTES) {
        fprintf(stderr, "plain_chase: need SIZE_BYTES >= 128, LOADS >= 1, SAMPLES >= 1\n");
        return 2;
    }

    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) {
        fprintf(stderr, "plain_chase: sched_setaffinity(cpu %d): %s\n", cpu, strerror(errno));
        return 2;
    }

    size_t page, flags = MAP_PRIVATE | MAP_ANONYMOUS;
    if (strcmp(kind, "4k") == 0) {
        page = 4096;
    } else if (strcmp(kind, "2m") == 0) {
        page = 2u << 20;
        flags |= MAP_HUGETLB | MAP_HUGE_2MB;
    } else {
        fprintf(stderr, "plain_chase: page kind must be 4k or 2m, not %s\n", kind);
        return 2;
    }
    size_t map_bytes = (size + page - 1) / page * page;
    char *buf = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, (int)flags, -1, 0);
    if (buf == MAP_FAILED) {
        fprintf(stderr, "plain_chase: mmap(%zu bytes, %s pages): %s%s\n", map_bytes, kind, strerror(errno),
                page > 4096 ? " (reserve hugepages in /proc/sys/vm/nr_hugepages)" : "");
        return 2;
    }
    if (page == 4096 && madvise(buf, map_bytes, MADV_NOHUGEPAGE) != 0) {
        fprintf(stderr, "plain_chase: madvise(MADV_NOHUGEPAGE): %s\n", strerror(errno));
        return 2;
    }
    /* Prefault every page from the pinned CPU: this VM backs memory lazily. */
    memset(buf, 0, map_bytes);

    /* Sattolo's algorithm: slot i holds the index of its successor; the result is one cycle. */
    uint64_t lines = size / LINE_BYTES;
    for (uint64_t i = 0; i < lines; i++)
        *(uint64_t *)(buf + i * LINE_BYTES) = i;
    for (uint64_t i = lines - 1; i > 0; i--) {
        uint64_t j = rng_next() % i; /* j in [0, i): never i itself, hence a single cycle */
        uint64_t *a = (uint64_t *)(buf + i * LINE_BYTES), *b = (uint64_t *)(buf + j * LINE_BYTES);
        uint64_t t = *a;
        *a = *b;
        *b = t;
    }
    /* Indices to addresses, in place. */
    for (uint64_t i = 0; i < lines; i++) {
        uint64_t *slot = (uint64_t *)(buf + i * LINE_BYTES);
        *(void **)slot = buf + *slot * LINE_BYTES;
    }

    void *p = buf;
    p = chase(p, lines < (1u << 21) ? lines : (1u << 21)); /* warm-up: caches, TLB, page tables */
    double *ns = calloc((size_t)samples, sizeof(double));
    if (!ns) {
        fprintf(stderr, "plain_chase: calloc: out of memory\n");
        return 2;
    }
    for (int s = 0; s < samples; s++) {
        double t0 = now_s();
        p = chase(p, loads);
        double t1 = now_s();
        ns[s] = (t1 - t0) * 1e9 / (double)loads;
        printf("ns_per_load %.3f\n", ns[s]);
    }
    qsort(ns, (size_t)samples, sizeof(double), cmp_double);
    double median = samples % 2 ? ns[samples / 2] : 0.5 * (ns[samples / 2 - 1] + ns[samples / 2]);
    printf("median_ns_per_load %.3f\n", median);
    /* Print the end so the compiler cannot drop the chase. */
    fprintf(stderr, "end_offset %zu\n", (size_t)((char *)p - buf));
    free(ns);
    munmap(buf, map_bytes);
    return 0;
}
