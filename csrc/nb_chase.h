/* Latency: a dependent-load pointer chase over a random single-cycle
 * permutation of the buffer's cache lines (full random, no locality groups:
 * every load is likely a cache and TLB miss once the buffer exceeds them). */
#ifndef NB_CHASE_H
#define NB_CHASE_H

#include <stddef.h>
#include <stdint.h>
#include "nb_status.h"

/* One slot of a chain: the first word of every stride_bytes of the buffer.
 * Slots are only ever written and read through this type, never as integers,
 * so the chain holds real pointers and nothing is type-punned. */
typedef struct nb_chase_slot {
    struct nb_chase_slot *next; /* the slot the chase visits next */
} nb_chase_slot;

/* Write the chain into buf: slot i (at buf + i * stride_bytes) points to the
 * next slot. The order is one random cycle through all
 * size_bytes / stride_bytes slots (Sattolo's algorithm), drawn from seed.
 * The chain starts at buf. Uses no memory besides buf. */
int nb_chase_build(void *buf, size_t size_bytes, size_t stride_bytes, uint64_t seed,
                   nb_status *st);

/* Follow the chain for `loads` dependent loads from p and return where it
 * stopped: the one chase walk, shared by idle and loaded latency. Unrolled 16
 * loads a step, so loop overhead stays out of the figure. */
nb_chase_slot *nb_chase_walk(nb_chase_slot *p, uint64_t loads);

/* Follow the chain for `loads` dependent loads from *cursor, on a thread
 * pinned on cpu, after `warmup_loads` untimed loads. *cursor is updated to
 * where the chase stopped (so nothing is optimised away and a caller can
 * check the walk); *seconds_out receives the timed duration. */
int nb_chase_run(nb_chase_slot **cursor, uint64_t warmup_loads, uint64_t loads, int cpu,
                 double *seconds_out, nb_status *st);

#endif
