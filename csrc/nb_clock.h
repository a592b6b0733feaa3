/* One clock for every timed region: CLOCK_MONOTONIC_RAW is not slewed by NTP. */
#ifndef NB_CLOCK_H
#define NB_CLOCK_H

#include <stdalign.h>
#include <stdlib.h>
#include <time.h>

static inline double nb_clock_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define NB_CACHE_LINE 64

/* What one thread of a team records in a timed region. Each slot fills its
 * own cache line, so one thread's timestamp store never invalidates the line
 * another thread is writing inside its timed region (false sharing). */
typedef struct {
    alignas(NB_CACHE_LINE) double start; /* s, nb_clock_seconds() at the region's start */
    double end;                          /* s, at its end */
    double value;                        /* the kernel's result: read's sum, injected bytes */
} nb_thread_slot;

_Static_assert(sizeof(nb_thread_slot) == NB_CACHE_LINE, "a slot is one cache line");

/* n zeroed slots on cache-line boundaries; free() them. NULL when out of memory. */
static inline nb_thread_slot *nb_thread_slots(size_t n)
{
    nb_thread_slot *slots;
    if (n == 0 || n > SIZE_MAX / sizeof(nb_thread_slot))
        return NULL;
    slots = aligned_alloc(NB_CACHE_LINE, n * sizeof(nb_thread_slot));
    if (slots)
        for (size_t i = 0; i < n; i++)
            slots[i] = (nb_thread_slot){0};
    return slots;
}

#endif
