# cython: language_level=3, boundscheck=False, wraparound=False
"""The only native boundary: validate every argument, call C without the GIL,
turn C status codes into Python exceptions that name the system call.

Nothing passed in here can crash the interpreter: sizes are checked against
SIZE_MAX before any C arithmetic, arenas are never None, and a chase only
follows a Chain that chase_build made and nothing has overwritten since.
"""

import errno as _errno
import operator as _operator
import os as _os

import numpy as np

from numabench.errors import (
    NativeArgumentError,
    NativeError,
    NativeMemoryError,
    NativePermissionError,
    NativeTimeoutError,
    NativeUnsupportedError,
)

from libc.stdint cimport SIZE_MAX, UINT32_MAX, UINT64_MAX, uint64_t, uintptr_t
from libc.limits cimport INT_MAX
from libc.stdlib cimport calloc, free
from libc.string cimport memset

from numabench.native._native cimport *

PAGE_KINDS = {"4k": 0, "thp": 1, "2m": 2, "1g": 3}
POLICIES = {"default": 0, "bind": 1, "interleave": 2, "preferred": 3}
BW_KERNELS = {"read": 0, "write": 1, "write_nt": 2, "copy": 3, "copy_nt": 4, "triad": 5}
ISAS = {"auto": 0, "scalar": 1, "avx2": 2, "avx512": 3, "sse2": 4}
INJECT_KINDS = {"read": 0, "rw": 1}
_ISA_NAMES = {v: k for k, v in ISAS.items()}

# The core's status codes (csrc/nb_status.h) by name, and the one map from a
# code to its exception class. Nothing else in numabench turns codes or errnos
# into exceptions: callers catch these classes.
STATUS = {"syscall": NB_ERR_SYSCALL, "invalid": NB_ERR_INVALID, "nomem": NB_ERR_NOMEM,
          "unsupported": NB_ERR_UNSUPPORTED, "denied": NB_ERR_DENIED, "timeout": NB_ERR_TIMEOUT}
_STATUS_ERRORS = {
    NB_ERR_SYSCALL: NativeError,
    NB_ERR_INVALID: NativeArgumentError,
    NB_ERR_NOMEM: NativeMemoryError,
    NB_ERR_UNSUPPORTED: NativeUnsupportedError,
    NB_ERR_DENIED: NativePermissionError,
    NB_ERR_TIMEOUT: NativeTimeoutError,
}


def status_error(int code, int err, str call, str detail="", fix=None):
    """The exception for a native status: its class from the code, the errno and the call kept.

    A refusal (detail given) reads "call: detail"; a failed system call reads
    "call failed: ENAME (strerror)", as psutil names the syscall.
    """
    if detail:
        message = f"{call}: {detail}"
    else:
        reason = _os.strerror(err) if err else "failed"
        message = f"{call} failed: {_errno.errorcode.get(err, str(err))} ({reason})"
    exc = _STATUS_ERRORS.get(code, NativeError)(call, err, message, fix)
    exc.status = code
    return exc


cdef inline int _check(int rc, nb_status *st) except -1:
    if rc != NB_OK:
        raise status_error(st.code, st.errno_value,
                           st.call.decode() if st.call != NULL else "?",
                           st.detail.decode() if st.detail != NULL else "")
    return 0


cdef object _invalid(str call, str detail):
    """A refused argument, built by the same map as the core's NB_ERR_INVALID."""
    return status_error(NB_ERR_INVALID, _errno.EINVAL, call, detail)


cdef object _whole(object value, str call, str name, object low, object high):
    """value as a Python int in [low, high]; anything else (float, str, 2**64, -1) is refused
    here, before C sees a wrapped value."""
    try:
        v = _operator.index(value)
    except TypeError:
        raise _invalid(call, f"{name} must be an integer, not {type(value).__name__}") from None
    if v < low or v > high:
        raise _invalid(call, f"{name} must be between {low} and {high}, not {v}")
    return v


cdef object _name(object value, dict known, str call, str what):
    if value not in known:
        raise _invalid(call, f"unknown {what} {value!r}; known: {', '.join(known)}")
    return known[value]


def isa_best():
    """Name of the widest vector ISA this CPU supports: avx512, avx2, sse2 (any x86-64) or scalar.

    This is what bw_run's "auto" runs; the measuring layer's `--isa auto` probes instead."""
    return _ISA_NAMES[nb_bw_isa_best()]


def isa_supported(name):
    """True when the bandwidth kernels can run with this ISA here.

    Raises NativeArgumentError (a ValueError) for an unknown name."""
    return bool(nb_bw_isa_supported(_name(name, ISAS, "isa_supported", "ISA")))


def bw_streams(kernel):
    """Arrays a bandwidth kernel touches (1 read/write, 2 copy, 3 triad)."""
    return nb_bw_streams(_name(kernel, BW_KERNELS, "bw_streams", "bandwidth kernel"))


def bw_bytes_per_elem(kernel):
    """Bytes counted per element, STREAM's way (reads plus writes, no write-allocate)."""
    return nb_bw_bytes_per_elem(_name(kernel, BW_KERNELS, "bw_bytes_per_elem", "bandwidth kernel"))


cdef class Arena:
    """An anonymous mapping of one page kind. Map, bind, populate, locate.

    Exposes its memory through the buffer protocol (numpy.frombuffer); it can
    only be closed once no view is left. A view, a populate or a writing
    kernel may overwrite a chase chain, so each bumps `generation` and the
    chains built before it are refused (build again: the same seed gives the
    same chain). One native call at a time uses an arena's memory.

    Raises NativeArgumentError for a bad size or page kind, NativeMemoryError
    when the memory (or a hugepage pool) cannot be had, NativeUnsupportedError
    for a hugepage size this kernel lacks.
    """
    cdef nb_arena arena
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]
    cdef int exports
    cdef int busy
    # Bumped by everything that may write over a chain built in this arena.
    cdef readonly unsigned long long generation
    cdef readonly str pages

    def __cinit__(self, size_bytes, pages="4k"):
        cdef nb_status st
        cdef int kind
        cdef int rc
        cdef size_t size
        memset(&self.arena, 0, sizeof(nb_arena))
        kind = _name(pages, PAGE_KINDS, "Arena", "page kind")
        size = _whole(size_bytes, "Arena", "size_bytes", 1, SIZE_MAX)
        self.pages = pages
        with nogil:
            rc = nb_arena_map(&self.arena, size, kind, &st)
        _check(rc, &st)

    def __dealloc__(self):
        cdef nb_status st
        nb_arena_unmap(&self.arena, &st)

    @property
    def address(self):
        return <uintptr_t>self.arena.base

    @property
    def size_bytes(self):
        return self.arena.size_bytes

    @property
    def map_bytes(self):
        return self.arena.map_bytes

    @property
    def page_bytes(self):
        return self.arena.page_bytes

    @property
    def closed(self):
        return self.arena.base == NULL

    cdef int _ensure_open(self, str call) except -1:
        if self.arena.base == NULL:
            raise _invalid(call, "arena is closed")
        return 0

    cdef int _acquire(self, str call, bint writes) except -1:
        """Mark the arena in use by one native call (released by _release)."""
        self._ensure_open(call)
        if self.busy:
            raise _invalid(call, "arena is in use by another native call (another thread)")
        self.busy = 1
        if writes:
            self.generation += 1
        return 0

    cdef void _release(self) noexcept:
        self.busy = 0

    def bind(self, str policy, nodes):
        """Apply a memory policy (bind, interleave, preferred, default) over node ids.

        Raises NativeArgumentError for a bad policy or node, or when the kernel refuses
        the nodes (mbind EINVAL: outside cpuset.mems); NativePermissionError when mbind
        is denied (no CAP_SYS_NICE); NativeUnsupportedError without NUMA in the kernel.
        """
        cdef nb_status st
        cdef unsigned long *mask
        cdef unsigned long max_node
        cdef int rc, pol
        cdef size_t words, bits = 8 * sizeof(unsigned long)
        self._ensure_open("Arena.bind")
        pol = _name(policy, POLICIES, "Arena.bind", "memory policy")
        nodes = [_whole(n, "Arena.bind", "node id", 0, 4095) for n in nodes]
        if pol != 0 and not nodes:
            raise _invalid("Arena.bind", "a memory policy needs at least one node")
        max_node = (max(nodes) + 1) if nodes else 1
        words = (max_node + bits - 1) // bits
        mask = <unsigned long *>calloc(words, sizeof(unsigned long))
        if mask == NULL:
            raise MemoryError()
        try:
            for n in nodes:
                mask[n // bits] |= (<unsigned long>1) << (n % bits)
            max_node = words * bits
            with nogil:
                rc = nb_arena_bind(&self.arena, pol, mask, max_node, &st)
            _check(rc, &st)
        finally:
            free(mask)

    def populate(self, cpu=-1):
        """Fault every page in with writes from a thread pinned on cpu (-1: anywhere).

        Raises NativeMemoryError when the node or hugepage pool runs out, NativeError
        naming pthread_setaffinity_np for a CPU outside this cpuset.
        """
        cdef nb_status st
        cdef int rc
        cdef int c = _whole(cpu, "Arena.populate", "cpu", -1, INT_MAX)
        self._acquire("Arena.populate", True)
        try:
            with nogil:
                rc = nb_arena_populate(&self.arena, c, &st)
        finally:
            self._release()
        _check(rc, &st)

    def locate(self, stride_bytes=None):
        """Node of every page (move_pages); negative values are -errno (-ENOENT: absent).

        stride_bytes (default: the page size) between located addresses. Raises
        NativePermissionError where move_pages is denied (pods without CAP_SYS_NICE).
        """
        cdef nb_status st
        cdef int rc
        cdef size_t stride, n
        cdef int[::1] out
        self._ensure_open("Arena.locate")
        stride = self.arena.page_bytes if stride_bytes is None else _whole(
            stride_bytes, "Arena.locate", "stride_bytes", 1, self.arena.map_bytes)
        n = self.arena.map_bytes // stride
        result = np.empty(n, dtype=np.intc)
        out = result
        self._acquire("Arena.locate", False)
        try:
            with nogil:
                rc = nb_arena_locate(&self.arena, stride, &out[0], n, &st)
        finally:
            self._release()
        _check(rc, &st)
        return result

    def close(self):
        """Unmap now; a second close does nothing. Refused (BufferError) while numpy
        views of the memory exist, NativeArgumentError while a native call uses it."""
        cdef nb_status st
        cdef int rc
        if self.exports:
            raise BufferError("arena still has views; delete them before closing")
        if self.busy:
            raise _invalid("Arena.close", "arena is in use by a native call (another thread)")
        with nogil:
            rc = nb_arena_unmap(&self.arena, &st)
        _check(rc, &st)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getbuffer__(self, Py_buffer *buffer, int flags):
        self._ensure_open("Arena.__getbuffer__")
        if self.busy:
            raise BufferError("arena is in use by a native call; no view now")
        # Every view is writable (numpy asks read-only, then writes when it was not
        # refused), so any view can overwrite a chain: chains built before it are refused.
        self.generation += 1
        self.shape[0] = <Py_ssize_t>self.arena.map_bytes
        self.strides[0] = 1
        buffer.buf = self.arena.base
        buffer.obj = self
        buffer.len = <Py_ssize_t>self.arena.map_bytes
        buffer.readonly = 0
        buffer.itemsize = 1
        buffer.format = "B"
        buffer.ndim = 1
        buffer.shape = self.shape
        buffer.strides = self.strides
        buffer.suboffsets = NULL
        buffer.internal = NULL
        self.exports += 1

    def __releasebuffer__(self, Py_buffer *buffer):
        self.exports -= 1

    cdef void *_at(self, str call, object offset, object length) except NULL:
        """Address of [offset, offset + length) inside the mapping, both checked as sizes."""
        cdef size_t off, n
        self._ensure_open(call)
        off = _whole(offset, call, "offset", 0, SIZE_MAX)
        n = _whole(length, call, "length", 0, SIZE_MAX)
        if off > self.arena.map_bytes or n > self.arena.map_bytes - off:
            raise _invalid(call, f"range {off}+{n} outside the arena ({self.arena.map_bytes} bytes)")
        return <char *>self.arena.base + off


cdef class Chain:
    """A pointer-chase chain that chase_build wrote into an arena: the arena (kept alive
    here), where the chain starts (byte offset 0), its size, stride and seed.

    Only a Chain is accepted by chase_run and loaded_run, and only while its arena is
    open and nothing has written over it since (arena.generation unchanged)."""
    cdef readonly Arena arena
    cdef readonly size_t start_offset
    cdef readonly size_t size_bytes
    cdef readonly size_t stride_bytes
    cdef readonly uint64_t seed
    cdef unsigned long long generation

    def __init__(self, *args, **kwargs):
        raise TypeError("a Chain is made by chase_build(arena, size_bytes, stride_bytes, seed)")

    @property
    def slots(self):
        """Slots in the cycle: size_bytes // stride_bytes."""
        return self.size_bytes // self.stride_bytes

    @property
    def valid(self):
        """True while the arena is open and nothing has written over the chain."""
        return not self.arena.closed and self.arena.generation == self.generation

    cdef nb_chase_slot *_slot(self, str call, object offset) except NULL:
        """The slot at byte offset, once the chain is proven intact and offset is one of its slots."""
        cdef size_t off
        self.arena._ensure_open(call)
        if self.arena.generation != self.generation:
            raise _invalid(call, "the chain may have been overwritten since chase_build (a writing kernel, "
                                 "populate or a view of its arena): build it again")
        if self.arena.exports:
            raise _invalid(call, "the chain's arena has views that could overwrite it: delete them first")
        off = _whole(offset, call, "cursor_offset", 0, SIZE_MAX)
        if off >= self.size_bytes or off % self.stride_bytes:
            raise _invalid(call, f"cursor offset {off} is not a slot of the chain "
                                 f"(a multiple of {self.stride_bytes} below {self.size_bytes})")
        return <nb_chase_slot *>(<char *>self.arena.arena.base + off)

    cdef size_t _offset(self, nb_chase_slot *slot) noexcept:
        return <size_t>(<char *>slot - <char *>self.arena.arena.base)

    def __repr__(self):
        return (f"<Chain {self.slots} slots of {self.stride_bytes} bytes, seed {self.seed}"
                f"{'' if self.valid else ', no longer valid'}>")


def chase_build(Arena arena not None, size_bytes, stride_bytes=64, seed=1):
    """Write one random cycle (Sattolo, from seed) through the first size_bytes of the
    arena, a slot every stride_bytes, starting at offset 0. Returns its Chain.

    Raises NativeArgumentError for sizes outside the arena, a stride that is not a
    multiple of a pointer, or fewer than two slots.
    """
    cdef nb_status st
    cdef int rc
    cdef size_t size = _whole(size_bytes, "chase_build", "size_bytes", 0, SIZE_MAX)
    cdef size_t stride = _whole(stride_bytes, "chase_build", "stride_bytes", 1, SIZE_MAX)
    cdef uint64_t s = _whole(seed, "chase_build", "seed", 0, UINT64_MAX)
    cdef void *base = arena._at("chase_build", 0, size)
    cdef Chain chain
    arena._acquire("chase_build", True)
    try:
        with nogil:
            rc = nb_chase_build(base, size, stride, s, &st)
    finally:
        arena._release()
    _check(rc, &st)
    chain = Chain.__new__(Chain)
    chain.arena = arena
    chain.start_offset = 0
    chain.size_bytes = size // stride * stride
    chain.stride_bytes = stride
    chain.seed = s
    chain.generation = arena.generation
    return chain


def chase_run(Chain chain not None, cursor_offset, warmup_loads, loads, cpu):
    """Follow the chain from the slot at cursor_offset on a thread pinned on cpu:
    warmup_loads untimed loads, then loads timed ones.

    Returns (seconds, end offset). Raises NativeArgumentError for a chain no longer
    valid or an offset that is not one of its slots; NativeError naming
    pthread_setaffinity_np for a CPU outside this cpuset.
    """
    cdef nb_status st
    cdef int rc
    cdef double seconds = 0.0
    cdef uint64_t warm = _whole(warmup_loads, "chase_run", "warmup_loads", 0, UINT64_MAX)
    cdef uint64_t n = _whole(loads, "chase_run", "loads", 1, UINT64_MAX)
    cdef int c = _whole(cpu, "chase_run", "cpu", 0, INT_MAX)
    cdef nb_chase_slot *cursor = chain._slot("chase_run", cursor_offset)
    chain.arena._acquire("chase_run", False)
    try:
        with nogil:
            rc = nb_chase_run(&cursor, warm, n, c, &seconds, &st)
    finally:
        chain.arena._release()
    _check(rc, &st)
    return seconds, chain._offset(cursor)


cdef object _cpu_array(object cpus, str call):
    """cpus as a contiguous C int array, each checked as a CPU number."""
    return np.ascontiguousarray([_whole(c, call, "cpu", 0, INT_MAX) for c in cpus], dtype=np.intc)


cdef int _bw_arrays(nb_bw_job *job, Arena arena, object offsets, int streams, size_t array_bytes) except -1:
    """Point the job's arrays at 64-byte aligned offsets, each array inside the arena."""
    cdef double **arrays[3]
    cdef int i
    arrays[0] = &job.a
    arrays[1] = &job.b
    arrays[2] = &job.c
    offsets = list(offsets)
    if len(offsets) < streams:
        raise _invalid("bw_run", f"this kernel needs {streams} arrays")
    for i in range(streams):
        if _whole(offsets[i], "bw_run", "offset", 0, SIZE_MAX) % 64:
            raise _invalid("bw_run", "array offsets must be 64-byte aligned")
        arrays[i][0] = <double *>arena._at("bw_run", offsets[i], array_bytes)
    return 0


def bw_run(str kernel, Arena arena not None, n_elems, offsets, cpus, samples=1,
           double scalar=3.0, str isa="auto", passes=1, warmup_passes=0, skew_ns=None):
    """Run a bandwidth kernel over arrays of n_elems doubles at byte offsets (a, b, c)
    in the arena, on threads pinned on cpus: warmup_passes untimed passes, then
    `samples` timed samples of `passes` passes each, all in one start of the threads.

    Returns (seconds per sample as a numpy array, read's checksum over the last pass,
    ISA used). When skew_ns is given (a writable float64 buffer of at least `samples`
    values), skew_ns[i] receives sample i's start skew in ns: the last thread's start
    minus the first's. Raises NativeArgumentError for a bad kernel, ISA, size, count,
    offset or skew buffer, NativeUnsupportedError for an ISA this CPU lacks,
    NativeError for a CPU outside this cpuset.
    """
    cdef nb_status st
    cdef nb_bw_job job
    cdef int rc, nthreads
    cdef double[::1] seconds_view
    cdef double[::1] skew_view
    cdef int[::1] cpu_view
    memset(&job, 0, sizeof(nb_bw_job))
    job.kernel = _name(kernel, BW_KERNELS, "bw_run", "bandwidth kernel")
    job.isa = _name(isa, ISAS, "bw_run", "ISA")
    # n_elems * 8 must not wrap: a wrapped size would pass the range check below
    # while the kernel writes n_elems doubles.
    job.n_elems = _whole(n_elems, "bw_run", "n_elems", 1, SIZE_MAX // sizeof(double))
    job.samples = _whole(samples, "bw_run", "samples", 1, INT_MAX)
    job.passes = _whole(passes, "bw_run", "passes", 1, INT_MAX)
    job.warmup_passes = _whole(warmup_passes, "bw_run", "warmup_passes", 0, INT_MAX)
    job.scalar = scalar
    if not nb_bw_isa_supported(job.isa):
        raise status_error(NB_ERR_UNSUPPORTED, _errno.ENOTSUP, "cpuid",
                           f"this CPU does not support the {isa} bandwidth kernels",
                           f"use --isa {isa_best()} or auto")
    _bw_arrays(&job, arena, offsets, nb_bw_streams(job.kernel), job.n_elems * sizeof(double))
    cpu_arr = _cpu_array(cpus, "bw_run")
    nthreads = len(cpu_arr)
    if nthreads < 1:
        raise _invalid("bw_run", "at least one CPU is needed")
    cpu_view = cpu_arr
    seconds = np.zeros(job.samples, dtype=np.float64)
    seconds_view = seconds
    job.seconds_out = &seconds_view[0]
    skew_s = None
    if skew_ns is not None:
        # Checked here, written after the run: C fills a private array, never the caller's buffer.
        try:
            skew_view = skew_ns
        except (TypeError, ValueError, BufferError) as exc:
            raise _invalid("bw_run", f"skew_ns must be a writable contiguous float64 buffer ({exc})") from None
        if skew_view.shape[0] < job.samples:
            raise _invalid("bw_run", f"skew_ns holds {skew_view.shape[0]} values; {job.samples} samples need as many")
        skew_s = np.zeros(job.samples, dtype=np.float64)
        skew_view = skew_s
        job.skew_out = &skew_view[0]
    arena._acquire("bw_run", job.kernel != BW_KERNELS["read"])
    try:
        with nogil:
            rc = nb_bw_run(&job, &cpu_view[0], nthreads, &st)
    finally:
        arena._release()
    _check(rc, &st)
    if skew_s is not None:
        np.asarray(skew_ns)[:job.samples] = skew_s * 1e9
    return seconds, job.checksum, _ISA_NAMES[job.isa_used]


def loaded_run(Chain chain not None, cursor_offset, loads, chase_cpu,
               Arena inject_arena not None, inject_bytes, inject_cpus, str kind="read", delay=0):
    """Chase the chain from cursor_offset on chase_cpu while injector threads on
    inject_cpus stream over the first inject_bytes of inject_arena, throttled by
    `delay` empty loop iterations per 512 bytes.

    Returns (chase seconds, end offset, injected bytes, injector seconds). Raises
    NativeArgumentError for a chain no longer valid, bad sizes, or rw injection into
    the chain's own arena (its writes would corrupt the chain mid-walk).
    """
    cdef nb_status st
    cdef nb_loaded_job job
    cdef int rc, k
    cdef int[::1] cpu_view
    cdef bint same = inject_arena is chain.arena
    k = _name(kind, INJECT_KINDS, "loaded_run", "injection kind")
    memset(&job, 0, sizeof(nb_loaded_job))
    job.chase_loads = _whole(loads, "loaded_run", "loads", 1, UINT64_MAX)
    job.chase_cpu = _whole(chase_cpu, "loaded_run", "chase_cpu", 0, INT_MAX)
    job.delay = _whole(delay, "loaded_run", "delay", 0, UINT32_MAX)
    job.kind = k
    cpu_arr = _cpu_array(inject_cpus, "loaded_run")
    job.n_inject = len(cpu_arr)
    if same and k == INJECT_KINDS["rw"]:
        raise _invalid("loaded_run", "rw injection into the chain's own arena would overwrite the chain; "
                                     "inject into another arena")
    if job.n_inject:
        cpu_view = cpu_arr
        job.inject_cpus = &cpu_view[0]
        job.inject_buf = <char *>inject_arena._at("loaded_run", 0, inject_bytes)
        job.inject_bytes = _whole(inject_bytes, "loaded_run", "inject_bytes", 0, SIZE_MAX)
    job.chase_cursor = chain._slot("loaded_run", cursor_offset)
    chain.arena._acquire("loaded_run", False)
    try:
        if not same:
            inject_arena._acquire("loaded_run", k == INJECT_KINDS["rw"])
        try:
            with nogil:
                rc = nb_loaded_run(&job, &st)
        finally:
            if not same:
                inject_arena._release()
    finally:
        chain.arena._release()
    _check(rc, &st)
    return (job.chase_seconds, chain._offset(job.chase_cursor), job.inject_bytes_done, job.inject_seconds)


# ---- numabench peak: the read/write mixes ---------------------------------------
# In-place kernels (csrc/nb_bandwidth.h): each written line was just read by the same pass, so
# reads:writes counted are the memory traffic's, 1:1, 2:1 and 3:1. bw_run runs them like any
# kernel (they write: chains in their arena are invalidated).
MIX_KERNELS = {"mix_1to1": 6, "mix_2to1": 7, "mix_3to1": 8}
BW_KERNELS.update(MIX_KERNELS)


def bw_reads_per_elem(kernel):
    """Elements read per element index of a bandwidth kernel (8 bytes each).

    Raises NativeArgumentError (a ValueError) for an unknown kernel."""
    return nb_bw_reads_per_elem(_name(kernel, BW_KERNELS, "bw_reads_per_elem", "bandwidth kernel"))


def bw_writes_per_elem(kernel):
    """Elements written per element index of a bandwidth kernel (8 bytes each); a write-allocate
    read is never counted. Raises NativeArgumentError (a ValueError) for an unknown kernel."""
    return nb_bw_writes_per_elem(_name(kernel, BW_KERNELS, "bw_writes_per_elem", "bandwidth kernel"))
# ---- end of numabench peak ----------------------------------------------------------------
# ---- c2c (cache-to-cache latency, csrc/nb_c2c.h) -------------------------------------------

C2C_MODES = {"hitm": 0, "clean": 1}
C2C_REGION_BYTES = NB_C2C_REGION_BYTES
C2C_CLEAN_LINES = NB_C2C_CLEAN_LINES
# Bounds a caller cannot pass: a typo must not spin for days (the core caps 2^40 rounds in all).
C2C_MAX_ROUND_TRIPS = 1 << 32
C2C_MAX_SAMPLES = 1 << 20
C2C_MAX_TIMEOUT_S = 3600.0


def c2c_mode_supported(mode):
    """True when this build and CPU can run the c2c mode ("clean" needs clflush: x86).

    Raises NativeArgumentError for an unknown mode."""
    return bool(nb_c2c_mode_supported(_name(mode, C2C_MODES, "c2c_mode_supported", "c2c mode")))


cdef int _c2c_cpus(nb_c2c_job *job, object initiator_cpu, object responder_cpu) except -1:
    """Both CPUs checked: integers, distinct, and in this thread's allowed set (its cpuset)."""
    job.cpus[0] = _whole(initiator_cpu, "c2c_run", "initiator_cpu", 0, INT_MAX)
    job.cpus[1] = _whole(responder_cpu, "c2c_run", "responder_cpu", 0, INT_MAX)
    if job.cpus[0] == job.cpus[1]:
        raise _invalid("c2c_run", f"initiator and responder are both CPU {job.cpus[0]}; c2c needs two CPUs")
    allowed = _os.sched_getaffinity(0)
    for c in (job.cpus[0], job.cpus[1]):
        if c not in allowed:
            raise _invalid("c2c_run", f"CPU {c} is outside this process's allowed CPUs "
                                      f"({', '.join(map(str, sorted(allowed)))})")
    return 0


def c2c_run(Arena arena not None, initiator_cpu, responder_cpu, str mode="hitm", round_trips=1000, samples=1,
            warmup_round_trips=1000, double timeout_s=1.0, offset=0, responder_limit=0):
    """Cache-to-cache latency between two pinned threads over C2C_REGION_BYTES of the arena at offset
    (64-byte aligned): "hitm" ping-pongs one modified line (one-way = round trip / 2), "clean" reads
    lines the responder holds clean (one-way = chase time / C2C_CLEAN_LINES per round).

    warmup_round_trips untimed, then `samples` samples of `round_trips` each, in one start of the
    threads. Every wait spins at most timeout_s seconds. responder_limit > 0 makes the responder
    stop after that many answers (the timeout path, for tests).

    Returns (one-way ns per sample as a float64 numpy array, round trips the initiator completed,
    round trips the responder answered; both include the warm-up). Raises NativeArgumentError for
    a bad mode, count, offset or timeout, the same CPU twice, or a CPU outside this process's
    allowed CPUs; NativeUnsupportedError for "clean" without clflush; NativeTimeoutError when a
    wait ran out (its round_trips_done and responses_done say how far the threads got).
    """
    cdef nb_status st
    cdef nb_c2c_job job
    cdef int rc
    cdef double[::1] out_view
    memset(&job, 0, sizeof(nb_c2c_job))
    job.mode = _name(mode, C2C_MODES, "c2c_run", "c2c mode")
    job.round_trips = _whole(round_trips, "c2c_run", "round_trips", 1, C2C_MAX_ROUND_TRIPS)
    job.samples = _whole(samples, "c2c_run", "samples", 1, C2C_MAX_SAMPLES)
    job.warmup_round_trips = _whole(warmup_round_trips, "c2c_run", "warmup_round_trips", 0, C2C_MAX_ROUND_TRIPS)
    job.responder_limit = _whole(responder_limit, "c2c_run", "responder_limit", 0, UINT64_MAX)
    if not 0.0 < timeout_s <= C2C_MAX_TIMEOUT_S:  # also refuses NaN
        raise _invalid("c2c_run", f"timeout_s must be above 0 and at most {C2C_MAX_TIMEOUT_S:.0f}, not {timeout_s}")
    job.timeout_s = timeout_s
    _c2c_cpus(&job, initiator_cpu, responder_cpu)
    if _whole(offset, "c2c_run", "offset", 0, SIZE_MAX) % 64:
        raise _invalid("c2c_run", "the line offset must be 64-byte aligned")
    job.line = arena._at("c2c_run", offset, NB_C2C_REGION_BYTES)
    result = np.zeros(job.samples, dtype=np.float64)
    out_view = result
    job.one_way_ns_out = &out_view[0]
    arena._acquire("c2c_run", True)
    try:
        with nogil:
            rc = nb_c2c_run(&job, &st)
    finally:
        arena._release()
    if rc != NB_OK:
        exc = status_error(st.code, st.errno_value, st.call.decode() if st.call != NULL else "?",
                           st.detail.decode() if st.detail != NULL else "")
        exc.round_trips_done = job.round_trips_done
        exc.responses_done = job.responses_done
        raise exc
    return result, job.round_trips_done, job.responses_done

# ---- end c2c -------------------------------------------------------------------------------
