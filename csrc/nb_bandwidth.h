/* Bandwidth kernels over arrays of doubles, run by a team of pinned threads.
 *
 * Bytes are counted as STREAM counts them: every element read and every
 * element written counts 8 bytes once; the extra read that a normal store
 * costs (write-allocate) is not counted. So per element: read 8, write 8,
 * write_nt 8, copy 16, copy_nt 16, triad 24.
 *
 * The read/write mixes of `numabench peak` (MLC's --peak_injection_bandwidth)
 * update their first array in place, so each written line was just read by
 * the same pass: no write-allocate read exists to be counted, and the bytes
 * counted are the memory traffic, with reads:writes exactly 1:1 (mix11, 16
 * bytes per element), 2:1 (mix21, 24) and 3:1 (mix31, 32). */
#ifndef NB_BANDWIDTH_H
#define NB_BANDWIDTH_H

#include <stddef.h>
#include "nb_status.h"

typedef enum {
    NB_BW_READ = 0,     /* sum += a[i] */
    NB_BW_WRITE = 1,    /* a[i] = s, normal stores */
    NB_BW_WRITE_NT = 2, /* a[i] = s, non-temporal stores */
    NB_BW_COPY = 3,     /* b[i] = a[i], normal stores (never memcpy) */
    NB_BW_COPY_NT = 4,  /* b[i] = a[i], non-temporal stores */
    NB_BW_TRIAD = 5,    /* a[i] = b[i] + s * c[i] (STREAM triad) */
    /* ---- peak read/write mixes (numabench peak): in place, normal stores ---- */
    NB_BW_MIX11 = 6,    /* a[i] = a[i] + s: 1 read, 1 write */
    NB_BW_MIX21 = 7,    /* a[i] = a[i] + b[i]: 2 reads, 1 write */
    NB_BW_MIX31 = 8,    /* a[i] = a[i] + (b[i] + c[i]): 3 reads, 1 write */
    /* ---- end of the peak mixes ---- */
    NB_BW_KERNELS = 9
} nb_bw_kernel;

typedef enum {
    NB_ISA_AUTO = 0,    /* the widest this CPU supports (the Python layer probes for the fastest) */
    NB_ISA_SCALAR = 1,  /* plain C (SSE2 on x86-64 for non-temporal stores) */
    NB_ISA_AVX2 = 2,    /* AVX2 + FMA, 256-bit */
    NB_ISA_AVX512 = 3,  /* AVX-512F, 512-bit */
    NB_ISA_SSE2 = 4     /* SSE2, 128-bit: the x86-64 baseline, what STREAM built without -march gets */
} nb_isa;

typedef struct {
    int kernel;            /* an nb_bw_kernel */
    int isa;               /* an nb_isa; NB_ISA_AUTO picks the best */
    double *a, *b, *c;     /* arrays of n_elems doubles, 64-byte aligned */
    size_t n_elems;        /* elements per array */
    double scalar;         /* s of write and triad */
    int samples;           /* timed samples */
    int passes;            /* passes over the arrays per timed sample, >= 1 */
    int warmup_passes;     /* untimed passes before the first sample, >= 0 */
    double *seconds_out;   /* [samples], s: first thread start to last thread end of the
                            * sample's `passes` passes */
    double *skew_out;      /* [samples] or NULL, s: last thread start - first thread start */
    double checksum;       /* out: read's sum over the last pass */
    int isa_used;          /* out: the nb_isa that ran */
} nb_bw_job;

/* 1 when the CPU supports isa (NB_ISA_AUTO and NB_ISA_SCALAR always). */
int nb_bw_isa_supported(int isa);
/* The widest supported nb_isa: AVX-512, AVX2, SSE2, then scalar. */
int nb_bw_isa_best(void);
/* Arrays the kernel touches (1, 2 or 3) and bytes counted per element. */
int nb_bw_streams(int kernel);
size_t nb_bw_bytes_per_elem(int kernel);
/* Elements read and written per element index (bytes_per_elem = 8 x their sum);
 * 0 for an unknown kernel. */
int nb_bw_reads_per_elem(int kernel);
int nb_bw_writes_per_elem(int kernel);

/* Run the kernel on nthreads threads pinned on cpus, each thread on one
 * contiguous chunk of every array: job->warmup_passes untimed passes, then
 * job->samples timed samples of job->passes passes each. The threads start
 * once, before the warm-up, so thread creation and pinning are never timed;
 * every sample starts at a barrier and is timed from the first thread's start
 * to the last thread's end. */
int nb_bw_run(nb_bw_job *job, const int *cpus, int nthreads, nb_status *st);

#endif
