#define _GNU_SOURCE
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/mempolicy.h>
#include <linux/mman.h>
#include "nb_affinity.h"
#include "nb_arena.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define NB_2M ((size_t)2 << 20)
#define NB_1G ((size_t)1 << 30)

/* n rounded up to a multiple of `to` in *out; 0, or -1 when that passes SIZE_MAX. */
static int nb_round_up(size_t n, size_t to, size_t *out)
{
    size_t padded;
    if (__builtin_add_overflow(n, to - 1, &padded))
        return -1;
    *out = padded / to * to;
    return 0;
}

int nb_arena_map(nb_arena *arena, size_t size_bytes, int page_kind, nb_status *st)
{
    size_t base_page = (size_t)sysconf(_SC_PAGESIZE);
    size_t round_to;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS;
    void *p;

    memset(arena, 0, sizeof(*arena));
    if (size_bytes == 0)
        return nb_invalid(st, "size must be positive");
    switch (page_kind) {
    case NB_PAGES_4K:
        arena->page_bytes = round_to = base_page;
        break;
    case NB_PAGES_THP:
        arena->page_bytes = base_page;
        round_to = NB_2M;
        break;
    case NB_PAGES_2M:
        arena->page_bytes = round_to = NB_2M;
        flags |= MAP_HUGETLB | MAP_HUGE_2MB;
        break;
    case NB_PAGES_1G:
        arena->page_bytes = round_to = NB_1G;
        flags |= MAP_HUGETLB | MAP_HUGE_1GB;
        break;
    default:
        return nb_invalid(st, "unknown page kind");
    }
    /* The mapping plus two guard pages and the THP alignment slack must be
     * addressable; past that mmap would get a wrapped, small length. */
    if (nb_round_up(size_bytes, round_to, &arena->map_bytes) != 0 ||
        arena->map_bytes > SIZE_MAX - 2 * base_page - NB_2M) {
        memset(arena, 0, sizeof(*arena));
        return nb_invalid(st, "size is past the address space");
    }
    arena->size_bytes = size_bytes;
    arena->page_kind = page_kind;

    if (page_kind == NB_PAGES_4K || page_kind == NB_PAGES_THP) {
        /* One guard page on each side; THP also needs a 2 MiB aligned start,
         * so over-map by 2 MiB and trim what is left over. */
        size_t guard = base_page;
        size_t slack = page_kind == NB_PAGES_THP ? NB_2M : 0;
        size_t over = arena->map_bytes + 2 * guard + slack;
        uintptr_t start, aligned, end;
        p = mmap(NULL, over, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (p == MAP_FAILED) {
            int err = errno;
            memset(arena, 0, sizeof(*arena));
            return nb_fail_errno(st, err, "mmap");
        }
        start = (uintptr_t)p;
        aligned = start + guard;
        if (slack)
            aligned = (aligned + NB_2M - 1) & ~(uintptr_t)(NB_2M - 1);
        end = aligned + arena->map_bytes + guard;
        if (aligned - guard > start)
            munmap(p, aligned - guard - start);
        if (end < start + over)
            munmap((void *)end, start + over - end);
        arena->region = (void *)(aligned - guard);
        arena->region_bytes = end - (aligned - guard);
        if (mprotect(arena->region, guard, PROT_NONE) != 0 ||
            mprotect((void *)(aligned + arena->map_bytes), guard, PROT_NONE) != 0) {
            int err = errno;
            munmap(arena->region, arena->region_bytes);
            memset(arena, 0, sizeof(*arena));
            return nb_fail_errno(st, err, "mprotect");
        }
        p = (void *)aligned;
    } else {
        p = mmap(NULL, arena->map_bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (p == MAP_FAILED) {
            int err = errno;
            memset(arena, 0, sizeof(*arena));
            /* hugetlb: ENOMEM = the global pool lacks free pages (nb_fail_errno:
             * NB_ERR_NOMEM); EINVAL = no pool of that page size here. */
            if (err == EINVAL)
                return nb_fail(st, NB_ERR_UNSUPPORTED, err, "mmap", "");
            return nb_fail_errno(st, err, "mmap");
        }
        arena->region = p;
        arena->region_bytes = arena->map_bytes;
    }
    arena->base = p;

    if (page_kind == NB_PAGES_4K || page_kind == NB_PAGES_THP) {
        /* With THP "always", plain 4K runs would silently get huge pages,
         * and with "madvise" THP runs need the hint: be explicit both ways. */
        int advice = page_kind == NB_PAGES_THP ? MADV_HUGEPAGE : MADV_NOHUGEPAGE;
        if (madvise(p, arena->map_bytes, advice) != 0 && errno != EINVAL) {
            /* EINVAL: kernel without THP; 4K pages are all there is. */
            int err = errno;
            nb_arena_unmap(arena, NULL);
            return nb_fail_errno(st, err, "madvise");
        }
    }
    return nb_ok(st);
}

int nb_arena_bind(const nb_arena *arena, int policy, const unsigned long *nodemask,
                  unsigned long max_node, nb_status *st)
{
    int mode;

    if (!arena->base)
        return nb_invalid(st, "arena is not mapped");
    switch (policy) {
    case NB_POLICY_DEFAULT:
        return nb_ok(st);
    case NB_POLICY_BIND:
        mode = MPOL_BIND;
        break;
    case NB_POLICY_INTERLEAVE:
        mode = MPOL_INTERLEAVE;
        break;
    case NB_POLICY_PREFERRED:
        mode = MPOL_PREFERRED;
        break;
    default:
        return nb_invalid(st, "unknown memory policy");
    }
    /* The kernel reads max_node - 1 bits (mm/mempolicy.c get_nodes), hence +1,
     * as libnuma does. Flags 0: nothing is faulted in yet, nothing to move. */
    if (!nodemask || max_node == 0 || max_node == ULONG_MAX)
        return nb_invalid(st, "a policy needs a node mask");
    if (syscall(SYS_mbind, arena->base, arena->map_bytes, mode, nodemask, max_node + 1, 0) != 0) {
        int err = errno;
        /* EINVAL: a node outside this cpuset's mems, or not online: the
         * kernel refuses the argument, it is no system failure. */
        if (err == EINVAL)
            return nb_fail(st, NB_ERR_INVALID, err, "mbind", "node(s) not allowed here");
        return nb_fail_errno(st, err, "mbind");
    }
    return nb_ok(st);
}

/* Fallback fault-in for kernels without MADV_POPULATE_WRITE: touch each page,
 * turning the SIGBUS of an empty hugepage pool into an error. */
static __thread sigjmp_buf *nb_touch_jump;

static void nb_on_sigbus(int sig)
{
    (void)sig;
    if (nb_touch_jump)
        siglongjmp(*nb_touch_jump, 1);
    signal(SIGBUS, SIG_DFL);
    raise(SIGBUS);
}

static int nb_touch_pages(const nb_arena *arena, nb_status *st)
{
    struct sigaction sa, old;
    sigjmp_buf jump;
    volatile size_t off = 0;
    int result = NB_OK;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = nb_on_sigbus;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &old) != 0)
        return nb_fail_errno(st, errno, "sigaction");
    if (sigsetjmp(jump, 1) == 0) {
        nb_touch_jump = &jump;
        for (off = 0; off < arena->map_bytes; off += arena->page_bytes)
            ((volatile char *)arena->base)[off] = 0;
    } else {
        result = nb_fail(st, NB_ERR_NOMEM, ENOMEM, "page fault", "SIGBUS: no free page on the node");
    }
    nb_touch_jump = NULL;
    sigaction(SIGBUS, &old, NULL);
    return result == NB_OK ? nb_ok(st) : result;
}

int nb_arena_populate(const nb_arena *arena, int cpu, nb_status *st)
{
    cpu_set_t saved;
    nb_status ignored;
    int rc;

    if (!arena->base)
        return nb_invalid(st, "arena is not mapped");
    if (cpu >= 0 && nb_affinity_pin(cpu, &saved, st) != NB_OK)
        return st ? st->code : NB_ERR_SYSCALL;
    rc = madvise(arena->base, arena->map_bytes, MADV_POPULATE_WRITE);
    if (rc == 0) {
        nb_ok(st);
    } else if (errno == EINVAL) {
        rc = nb_touch_pages(arena, st);
    } else {
        /* ENOMEM / EFAULT: the policy's nodes have no free (huge)page left. */
        int err = errno;
        rc = nb_fail(st, err == ENOMEM || err == EFAULT ? NB_ERR_NOMEM : NB_ERR_SYSCALL, err,
                     "madvise(MADV_POPULATE_WRITE)", "");
    }
    if (cpu >= 0)
        nb_affinity_restore(&saved, &ignored);
    return rc == 0 ? NB_OK : (st ? st->code : NB_ERR_SYSCALL);
}

int nb_arena_locate(const nb_arena *arena, size_t stride_bytes, int *nodes_out, size_t n,
                    nb_status *st)
{
    enum { BATCH = 4096 };
    void *pages[BATCH];
    size_t done = 0, i, count, span;

    if (!arena->base || !nodes_out || stride_bytes == 0 ||
        __builtin_mul_overflow(n, stride_bytes, &span) || span > arena->map_bytes)
        return nb_invalid(st, "locate range outside the arena");
    while (done < n) {
        count = n - done < BATCH ? n - done : BATCH;
        for (i = 0; i < count; i++)
            pages[i] = (char *)arena->base + (done + i) * stride_bytes;
        /* nodes == NULL: only report where each page is (move_pages(2)). */
        if (syscall(SYS_move_pages, 0, (unsigned long)count, pages, NULL, nodes_out + done, 0) != 0)
            return nb_fail_errno(st, errno, "move_pages");
        done += count;
    }
    return nb_ok(st);
}

int nb_arena_unmap(nb_arena *arena, nb_status *st)
{
    if (arena->region) {
        if (munmap(arena->region, arena->region_bytes) != 0)
            return nb_fail_errno(st, errno, "munmap");
    }
    memset(arena, 0, sizeof(*arena));
    return nb_ok(st);
}
