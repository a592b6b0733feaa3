/* Cache-to-cache transfer latency (Intel MLC's --c2c_latency) between two
 * pinned threads, over memory the caller placed (one page of an arena).
 *
 * HitM (NB_C2C_HITM): a ping-pong over one cache line. The initiator (thread
 * on cpus[0]) stores 2i+1 into the line and spins until it reads 2i+2; the
 * responder (cpus[1]) spins until it reads 2i+1 and stores 2i+2. Every half
 * of a round trip is a store that invalidates the other core's copy, then a
 * load that finds the line modified in that core's cache (a HitM). One-way
 * latency = round trip / 2.
 *
 * Clean (NB_C2C_CLEAN): per round the responder flushes NB_C2C_CLEAN_LINES
 * lines out of every cache (clflush), reads them back (clean, exclusive in
 * its cache) and signals the initiator through a flag on a line of its own;
 * the initiator then chases through those lines with dependent loads, timed:
 * each load is served clean from the responder's cache (MLC's HIT case).
 * One-way latency = chase time / lines. x86 only (clflush); elsewhere
 * NB_ERR_UNSUPPORTED.
 *
 * Every wait is bounded: a thread that spins longer than timeout_s (its
 * partner descheduled, offline, or gone) stops both threads and the call
 * returns NB_ERR_TIMEOUT. Nothing here prints or exits. */
#ifndef NB_C2C_H
#define NB_C2C_H

#include <stddef.h>
#include <stdint.h>
#include "nb_status.h"

typedef enum {
    NB_C2C_HITM = 0,  /* modified line, ping-pong */
    NB_C2C_CLEAN = 1  /* clean line read from the other core's cache */
} nb_c2c_mode;

/* Bytes of the caller's memory a job uses, from `line` (64-byte aligned):
 * HitM uses the first cache line, clean mode NB_C2C_CLEAN_LINES lines, one
 * every NB_C2C_CLEAN_STRIDE bytes (128: a line's adjacent-line prefetch
 * partner is never one of the chased lines). */
#define NB_C2C_REGION_BYTES 4096
#define NB_C2C_CLEAN_LINES 32
#define NB_C2C_CLEAN_STRIDE 128

typedef struct {
    void *line;                  /* NB_C2C_REGION_BYTES of memory, 64-byte aligned: the lines transferred */
    int cpus[2];                 /* [0] initiator (timed side), [1] responder; distinct CPUs */
    int mode;                    /* an nb_c2c_mode */
    uint64_t warmup_round_trips; /* untimed round trips (rounds, clean) before the first sample */
    uint64_t round_trips;        /* timed round trips (rounds, clean) per sample, >= 1 */
    int samples;                 /* samples, >= 1 */
    double timeout_s;            /* s, the longest any one wait may spin (> 0) */
    uint64_t responder_limit;    /* 0: the responder answers every round trip; n: only the first n,
                                  * then stops (a partner that never answers: the timeout path) */
    double *one_way_ns_out;      /* [samples] out: ns, mean one-way transfer latency of each sample */
    uint64_t round_trips_done;   /* out: round trips the initiator completed, warm-up included */
    uint64_t responses_done;     /* out: round trips the responder answered */
} nb_c2c_job;

/* 1 when this build can run the mode here (clean needs clflush: x86). */
int nb_c2c_mode_supported(int mode);

/* Run the job on two threads pinned on job->cpus. Writes the region at
 * job->line (the counter, or the clean chain) before the threads start.
 * Returns NB_OK, NB_ERR_INVALID for a bad job, NB_ERR_UNSUPPORTED for clean
 * mode without clflush, NB_ERR_TIMEOUT when a wait ran past timeout_s (the
 * outputs then say how far both threads got), or the pinning failure. */
int nb_c2c_run(nb_c2c_job *job, nb_status *st);

#endif
