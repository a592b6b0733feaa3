/* Loaded latency: one pinned chase thread measures latency while other
 * pinned threads inject memory traffic, throttled by a delay, as Intel MLC's
 * --loaded_latency does. Injectors may use a buffer on another node. */
#ifndef NB_LOADED_H
#define NB_LOADED_H

#include <stddef.h>
#include <stdint.h>
#include "nb_chase.h"
#include "nb_status.h"

typedef enum {
    NB_INJECT_READ = 0,   /* loads only */
    NB_INJECT_RW = 1      /* one line read, the next written: 1:1 read/write */
} nb_inject_kind;

typedef struct {
    nb_chase_slot *chase_cursor; /* in/out: where the chase continues */
    uint64_t chase_loads;      /* timed dependent loads */
    int chase_cpu;             /* CPU of the chase thread */
    char *inject_buf;          /* injectors' buffer, split in equal chunks */
    size_t inject_bytes;       /* its size in bytes */
    const int *inject_cpus;    /* CPU of each injector */
    int n_inject;              /* injector threads (0: idle latency) */
    int kind;                  /* an nb_inject_kind */
    uint32_t delay;            /* empty loop iterations after every 512 bytes */
    double chase_seconds;      /* out: duration of the timed chase */
    double inject_bytes_done;  /* out: bytes moved by injectors while the chase ran */
    double inject_seconds;     /* out: injectors' active time (first start to last stop) */
} nb_loaded_job;

/* Run the chase on job->chase_cpu while injectors run on their CPUs until
 * the chase is done. Injector traffic counts 64 bytes per cache line touched. */
int nb_loaded_run(nb_loaded_job *job, nb_status *st);

#endif
