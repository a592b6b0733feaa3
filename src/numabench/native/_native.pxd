# Declarations of the C core (csrc/). Nothing but extern declarations here.
from libc.stdint cimport uint64_t

cdef extern from "nb_status.h" nogil:
    ctypedef struct nb_status:
        int code
        int errno_value
        const char *call
        const char *detail
    enum:
        NB_OK
        NB_ERR_SYSCALL
        NB_ERR_INVALID
        NB_ERR_NOMEM
        NB_ERR_UNSUPPORTED
        NB_ERR_DENIED
        NB_ERR_TIMEOUT

cdef extern from "nb_arena.h" nogil:
    ctypedef struct nb_arena:
        void *base
        size_t size_bytes
        size_t map_bytes
        size_t page_bytes
        int page_kind
        void *region
        size_t region_bytes
    int nb_arena_map(nb_arena *arena, size_t size_bytes, int page_kind, nb_status *st)
    int nb_arena_bind(const nb_arena *arena, int policy, const unsigned long *nodemask,
                      unsigned long max_node, nb_status *st)
    int nb_arena_populate(const nb_arena *arena, int cpu, nb_status *st)
    int nb_arena_locate(const nb_arena *arena, size_t stride_bytes, int *nodes_out, size_t n,
                        nb_status *st)
    int nb_arena_unmap(nb_arena *arena, nb_status *st)

cdef extern from "nb_chase.h" nogil:
    ctypedef struct nb_chase_slot:
        nb_chase_slot *next
    int nb_chase_build(void *buf, size_t size_bytes, size_t stride_bytes, uint64_t seed,
                       nb_status *st)
    int nb_chase_run(nb_chase_slot **cursor, uint64_t warmup_loads, uint64_t loads, int cpu,
                     double *seconds_out, nb_status *st)

cdef extern from "nb_bandwidth.h" nogil:
    ctypedef struct nb_bw_job:
        int kernel
        int isa
        double *a
        double *b
        double *c
        size_t n_elems
        double scalar
        int samples
        int passes
        int warmup_passes
        double *seconds_out
        double *skew_out
        double checksum
        int isa_used
    int nb_bw_isa_supported(int isa)
    int nb_bw_isa_best()
    int nb_bw_streams(int kernel)
    size_t nb_bw_bytes_per_elem(int kernel)
    int nb_bw_run(nb_bw_job *job, const int *cpus, int nthreads, nb_status *st)

cdef extern from "nb_loaded.h" nogil:
    ctypedef struct nb_loaded_job:
        nb_chase_slot *chase_cursor
        uint64_t chase_loads
        int chase_cpu
        char *inject_buf
        size_t inject_bytes
        const int *inject_cpus
        int n_inject
        int kind
        unsigned int delay
        double chase_seconds
        double inject_bytes_done
        double inject_seconds
    int nb_loaded_run(nb_loaded_job *job, nb_status *st)

# ---- numabench peak: the read/write mixes (csrc/nb_bandwidth.h) ----
cdef extern from "nb_bandwidth.h" nogil:
    int nb_bw_reads_per_elem(int kernel)
    int nb_bw_writes_per_elem(int kernel)
# ---- end of numabench peak ----
# ---- c2c (cache-to-cache latency, csrc/nb_c2c.h) -------------------------------------------
cdef extern from "nb_c2c.h" nogil:
    enum:
        NB_C2C_REGION_BYTES
        NB_C2C_CLEAN_LINES
    ctypedef struct nb_c2c_job:
        void *line
        int cpus[2]
        int mode
        uint64_t warmup_round_trips
        uint64_t round_trips
        int samples
        double timeout_s
        uint64_t responder_limit
        double *one_way_ns_out
        uint64_t round_trips_done
        uint64_t responses_done
    int nb_c2c_mode_supported(int mode)
    int nb_c2c_run(nb_c2c_job *job, nb_status *st)
# ---- end c2c -------------------------------------------------------------------------------
