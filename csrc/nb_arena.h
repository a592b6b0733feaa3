/* Arenas: one anonymous mapping with a chosen page kind, a memory policy,
 * faulted in from a chosen CPU, whose every page can be located.
 *
 * Raw system calls (mbind, move_pages) are used through syscall(2) with the
 * kernel's uapi headers, so neither libnuma nor its headers are needed to
 * build or to run. */
#ifndef NB_ARENA_H
#define NB_ARENA_H

#include <stddef.h>
#include "nb_status.h"

typedef enum {
    NB_PAGES_4K = 0,   /* base pages; THP disabled on the range (MADV_NOHUGEPAGE) */
    NB_PAGES_THP = 1,  /* base pages with MADV_HUGEPAGE on a 2 MiB aligned range */
    NB_PAGES_2M = 2,   /* hugetlbfs 2 MiB pages (MAP_HUGETLB | MAP_HUGE_2MB) */
    NB_PAGES_1G = 3    /* hugetlbfs 1 GiB pages (MAP_HUGETLB | MAP_HUGE_1GB) */
} nb_page_kind;

typedef enum {
    NB_POLICY_DEFAULT = 0,    /* no mbind: first touch, within the cpuset's mems */
    NB_POLICY_BIND = 1,       /* MPOL_BIND */
    NB_POLICY_INTERLEAVE = 2, /* MPOL_INTERLEAVE */
    NB_POLICY_PREFERRED = 3   /* MPOL_PREFERRED (one node) */
} nb_policy;

typedef struct {
    void *base;          /* start of the mapping, aligned to page_bytes */
    size_t size_bytes;   /* bytes asked for */
    size_t map_bytes;    /* bytes mapped: size_bytes rounded up to page_bytes */
    size_t page_bytes;   /* bytes per page of this kind (4096 for 4K and THP) */
    int page_kind;       /* an nb_page_kind */
    void *region;        /* what was mapped: base plus PROT_NONE guard pages */
    size_t region_bytes; /* bytes of region */
} nb_arena;

/* Map size_bytes of anonymous memory of the given page kind. Nothing is
 * faulted in. 4K and THP arenas sit between PROT_NONE guard pages so the
 * kernel never merges them with a neighbouring mapping: their line in
 * /proc/self/numa_maps then describes exactly this arena. For hugetlb kinds the kernel reserves pages from the global
 * pool at mmap time, so an empty pool fails here with ENOMEM. */
int nb_arena_map(nb_arena *arena, size_t size_bytes, int page_kind, nb_status *st);

/* Apply a memory policy to the whole arena before it is faulted in.
 * nodemask has one bit per node id, max_node bits long. */
int nb_arena_bind(const nb_arena *arena, int policy, const unsigned long *nodemask,
                  unsigned long max_node, nb_status *st);

/* Fault every page in with writes, from the calling thread pinned on cpu
 * (cpu < 0: wherever it runs). The thread's affinity is restored afterwards.
 * Uses MADV_POPULATE_WRITE, which reports an empty hugepage pool as an error
 * instead of killing the process with SIGBUS; on kernels without it (< 5.14)
 * pages are touched one by one under a SIGBUS guard. */
int nb_arena_populate(const nb_arena *arena, int cpu, nb_status *st);

/* Locate pages: nodes_out[i] receives the node of the page at
 * base + i * stride_bytes, or -errno (e.g. -ENOENT: not present) as
 * move_pages(2) reports it. n pages are queried. */
int nb_arena_locate(const nb_arena *arena, size_t stride_bytes, int *nodes_out, size_t n,
                    nb_status *st);

/* Unmap the arena; safe to call twice. */
int nb_arena_unmap(nb_arena *arena, nb_status *st);

#endif
