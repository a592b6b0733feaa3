/* A plain C cache-line ping-pong: the reference numabench c2c (hitm) is set against in
 * benchmarks/compare_reference.py. Written apart from numabench's code, as a reader would write it.
 *
 *   gcc -O2 -pthread -o ping_pong ping_pong.c
 *   ./ping_pong CPU_A CPU_B ROUND_TRIPS SAMPLES
 *
 * Two threads pinned on CPU_A and CPU_B share one 64-byte-aligned counter on a line of its own:
 * A stores 2i+1 and spins until it reads 2i+2; B spins until it reads 2i+1 and stores 2i+2. Each
 * sample times ROUND_TRIPS round trips with CLOCK_MONOTONIC_RAW after as many untimed ones;
 * one-way latency = round trip / 2. Prints every sample and "median_one_way_ns X". The line is
 * wherever malloc's page lands (first touch by the main thread); numabench binds it to a node. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct line {
    _Alignas(64) _Atomic uint64_t value;
    char pad[64 - sizeof(uint64_t)];
};

static struct line shared;
static uint64_t round_trips;
static int samples, cpu_b;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
        fprintf(stderr, "ping_pong: cannot pin on CPU %d\n", cpu);
        exit(2);
    }
}

static void *responder(void *arg)
{
    uint64_t total = round_trips * (uint64_t)(samples + 1);
    (void)arg;
    pin(cpu_b);
    for (uint64_t i = 0; i < total; i++) {
        while (atomic_load_explicit(&shared.value, memory_order_acquire) != 2 * i + 1)
            ;
        atomic_store_explicit(&shared.value, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    pthread_t thread;
    double *ns;
    uint64_t seq = 0;

    if (argc != 5) {
        fprintf(stderr, "usage: %s CPU_A CPU_B ROUND_TRIPS SAMPLES\n", argv[0]);
        return 2;
    }
    cpu_b = atoi(argv[2]);
    round_trips = strtoull(argv[3], NULL, 10);
    samples = atoi(argv[4]);
    if (round_trips < 1 || samples < 1 || !(ns = calloc((size_t)samples, sizeof(double))))
        return 2;
    pin(atoi(argv[1]));
    if (pthread_create(&thread, NULL, responder, NULL) != 0)
        return 2;
    for (int s = -1; s < samples; s++) { /* sample -1: the warm-up */
        double t0 = now();
        for (uint64_t i = 0; i < round_trips; i++, seq++) {
            atomic_store_explicit(&shared.value, 2 * seq + 1, memory_order_release);
            while (atomic_load_explicit(&shared.value, memory_order_acquire) != 2 * seq + 2)
                ;
        }
        if (s >= 0) {
            ns[s] = (now() - t0) / (double)round_trips / 2 * 1e9;
            printf("sample %d one_way_ns %.2f\n", s, ns[s]);
        }
    }
    pthread_join(thread, NULL);
    qsort(ns, (size_t)samples, sizeof(double), cmp);
    printf("median_one_way_ns %.3f\n",
           samples % 2 ? ns[samples / 2] : (ns[samples / 2 - 1] + ns[samples / 2]) / 2);
    free(ns);
    return 0;
}
