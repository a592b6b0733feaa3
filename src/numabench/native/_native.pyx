# cython: language_level=3, boundscheck=False, wraparound=False
"""The only native boundary: validate arguments, call C without the GIL,
turn C status codes into Python exceptions that name the system call."""

import errno as _errno
import os as _os

import numpy as np

from numabench.errors import NativeError

from libc.stdint cimport uint64_t, uintptr_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset

from numabench.native._native cimport *

PAGE_KINDS = {"4k": 0, "thp": 1, "2m": 2, "1g": 3}
POLICIES = {"default": 0, "bind": 1, "interleave": 2, "preferred": 3}
BW_KERNELS = {"read": 0, "write": 1, "write_nt": 2, "copy": 3, "copy_nt": 4, "triad": 5}
ISAS = {"auto": 0, "scalar": 1, "avx2": 2, "avx512": 3}
_ISA_NAMES = {v: k for k, v in ISAS.items()}


cdef object _status_error(nb_status *st):
    call = st.call.decode() if st.call != NULL else "?"
    err = st.errno_value
    if st.code == NB_ERR_INVALID:
        return ValueError(call)
    reason = _os.strerror(err) if err else "failed"
    name = _errno.errorcode.get(err, str(err))
    return NativeError(call, err, f"{call} failed: {name} ({reason})")


cdef inline int _check(int rc, nb_status *st) except -1:
    if rc != NB_OK:
        raise _status_error(st)
    return 0


def isa_best():
    """Name of the widest vector ISA this CPU supports: avx512, avx2 or scalar."""
    return _ISA_NAMES[nb_bw_isa_best()]


def isa_supported(str name):
    """True when the bandwidth kernels can run with this ISA here."""
    if name not in ISAS:
        raise ValueError(f"unknown ISA {name!r}; known: {', '.join(ISAS)}")
    return bool(nb_bw_isa_supported(ISAS[name]))


def bw_streams(str kernel):
    """Arrays a bandwidth kernel touches (1 read/write, 2 copy, 3 triad)."""
    return nb_bw_streams(BW_KERNELS[kernel])


def bw_bytes_per_elem(str kernel):
    """Bytes counted per element, STREAM's way (reads plus writes, no write-allocate)."""
    return nb_bw_bytes_per_elem(BW_KERNELS[kernel])


cdef class Arena:
    """An anonymous mapping of one page kind. Map, bind, populate, locate.

    Exposes its memory through the buffer protocol (numpy.frombuffer); it can
    only be closed once no view is left.
    """
    cdef nb_arena arena
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]
    cdef int exports
    cdef readonly str pages

    def __cinit__(self, size_t size_bytes, str pages="4k"):
        cdef nb_status st
        cdef int kind
        cdef int rc
        if pages not in PAGE_KINDS:
            raise ValueError(f"unknown page kind {pages!r}; known: {', '.join(PAGE_KINDS)}")
        kind = PAGE_KINDS[pages]
        memset(&self.arena, 0, sizeof(nb_arena))
        self.pages = pages
        self.exports = 0
        with nogil:
            rc = nb_arena_map(&self.arena, size_bytes, kind, &st)
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

    cdef int _ensure_open(self) except -1:
        if self.arena.base == NULL:
            raise ValueError("arena is closed")
        return 0

    def bind(self, str policy, nodes):
        """Apply a memory policy (bind, interleave, preferred, default) over node ids."""
        cdef nb_status st
        cdef unsigned long *mask
        cdef unsigned long max_node
        cdef int rc, pol
        cdef size_t words, bits = 8 * sizeof(unsigned long)
        self._ensure_open()
        if policy not in POLICIES:
            raise ValueError(f"unknown memory policy {policy!r}; known: {', '.join(POLICIES)}")
        pol = POLICIES[policy]
        nodes = [int(n) for n in nodes]
        if pol != 0 and not nodes:
            raise ValueError("a memory policy needs at least one node")
        if any(n < 0 or n >= 4096 for n in nodes):
            raise ValueError("node ids must be in 0..4095")
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

    def populate(self, int cpu=-1):
        """Fault every page in with writes from a thread pinned on cpu (-1: anywhere)."""
        cdef nb_status st
        cdef int rc
        self._ensure_open()
        with nogil:
            rc = nb_arena_populate(&self.arena, cpu, &st)
        _check(rc, &st)

    def locate(self, stride_bytes=None):
        """Node of every page (move_pages); negative values are -errno (-ENOENT: absent)."""
        cdef nb_status st
        cdef int rc
        cdef size_t stride, n
        cdef int[::1] out
        self._ensure_open()
        stride = self.arena.page_bytes if stride_bytes is None else stride_bytes
        n = self.arena.map_bytes // stride
        result = np.empty(n, dtype=np.intc)
        out = result
        with nogil:
            rc = nb_arena_locate(&self.arena, stride, &out[0], n, &st)
        _check(rc, &st)
        return result

    def close(self):
        """Unmap now. Refused while numpy views of the memory exist."""
        cdef nb_status st
        cdef int rc
        if self.exports:
            raise BufferError("arena still has views; delete them before closing")
        rc = nb_arena_unmap(&self.arena, &st)
        _check(rc, &st)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getbuffer__(self, Py_buffer *buffer, int flags):
        self._ensure_open()
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

    cdef void *_at(self, size_t offset, size_t length) except NULL:
        self._ensure_open()
        if offset + length > self.arena.map_bytes or offset + length < offset:
            raise ValueError(f"range {offset}+{length} outside the arena ({self.arena.map_bytes} bytes)")
        return <char *>self.arena.base + offset


def chase_build(Arena arena, size_t size_bytes, size_t stride_bytes=64, uint64_t seed=1):
    """Write one random cycle through the first size_bytes of the arena, a slot
    every stride_bytes; the chain starts at offset 0."""
    cdef nb_status st
    cdef int rc
    cdef void *base = arena._at(0, size_bytes)
    with nogil:
        rc = nb_chase_build(base, size_bytes, stride_bytes, seed, &st)
    _check(rc, &st)


def chase_run(Arena arena, size_t cursor_offset, uint64_t warmup_loads, uint64_t loads, int cpu):
    """Follow the chain on a thread pinned on cpu. Returns (seconds, end offset)."""
    cdef nb_status st
    cdef int rc
    cdef double seconds = 0.0
    cdef void *base = arena._at(0, 8)
    cdef void *cursor = arena._at(cursor_offset, 8)
    with nogil:
        rc = nb_chase_run(&cursor, warmup_loads, loads, cpu, &seconds, &st)
    _check(rc, &st)
    return seconds, <size_t>(<char *>cursor - <char *>base)


def bw_run(str kernel, Arena arena, size_t n_elems, offsets, cpus, int samples=1,
           double scalar=3.0, str isa="auto"):
    """Run a bandwidth kernel over arrays at byte offsets (a, b, c) in the arena.

    Returns (seconds per pass as a numpy array, read's checksum, ISA used).
    """
    cdef nb_status st
    cdef nb_bw_job job
    cdef int rc, k, nthreads, i
    cdef double[::1] seconds_view
    cdef int[::1] cpu_view
    cdef size_t array_bytes = n_elems * sizeof(double)
    if kernel not in BW_KERNELS:
        raise ValueError(f"unknown bandwidth kernel {kernel!r}; known: {', '.join(BW_KERNELS)}")
    if isa not in ISAS:
        raise ValueError(f"unknown ISA {isa!r}; known: {', '.join(ISAS)}")
    if samples < 1:
        raise ValueError("samples must be at least 1")
    if not nb_bw_isa_supported(ISAS[isa]):
        raise NativeError("cpuid", _errno.ENOTSUP, f"this CPU does not support the {isa} bandwidth kernels",
                          f"use --isa {isa_best()} or auto")
    k = BW_KERNELS[kernel]
    offsets = list(offsets)
    if len(offsets) < nb_bw_streams(k):
        raise ValueError(f"{kernel} needs {nb_bw_streams(k)} arrays")
    cpu_arr = np.ascontiguousarray(list(cpus), dtype=np.intc)
    nthreads = len(cpu_arr)
    if nthreads < 1:
        raise ValueError("at least one CPU is needed")
    seconds = np.zeros(samples, dtype=np.float64)
    seconds_view = seconds
    cpu_view = cpu_arr
    memset(&job, 0, sizeof(nb_bw_job))
    job.kernel = k
    job.isa = ISAS[isa]
    job.n_elems = n_elems
    job.scalar = scalar
    job.samples = samples
    job.seconds_out = &seconds_view[0]
    for i in range(nb_bw_streams(k)):
        if offsets[i] % 64:
            raise ValueError("array offsets must be 64-byte aligned")
    job.a = <double *>arena._at(offsets[0], array_bytes)
    if nb_bw_streams(k) > 1:
        job.b = <double *>arena._at(offsets[1], array_bytes)
    if nb_bw_streams(k) > 2:
        job.c = <double *>arena._at(offsets[2], array_bytes)
    with nogil:
        rc = nb_bw_run(&job, &cpu_view[0], nthreads, &st)
    _check(rc, &st)
    return seconds, job.checksum, _ISA_NAMES[job.isa_used]


INJECT_KINDS = {"read": 0, "rw": 1}


def loaded_run(Arena chase_arena, size_t cursor_offset, uint64_t loads, int chase_cpu,
               Arena inject_arena, size_t inject_bytes, inject_cpus, str kind="read", unsigned int delay=0):
    """Chase on chase_cpu while injector threads on inject_cpus stream over the
    first inject_bytes of inject_arena, throttled by `delay` empty loop
    iterations per 512 bytes.

    Returns (chase seconds, end offset, injected bytes, injector seconds).
    """
    cdef nb_status st
    cdef nb_loaded_job job
    cdef int rc
    cdef int[::1] cpu_view
    cdef void *base = chase_arena._at(0, 8)
    if kind not in INJECT_KINDS:
        raise ValueError(f"unknown injection kind {kind!r}; known: {', '.join(INJECT_KINDS)}")
    cpu_arr = np.ascontiguousarray(list(inject_cpus), dtype=np.intc)
    memset(&job, 0, sizeof(nb_loaded_job))
    job.chase_cursor = chase_arena._at(cursor_offset, 8)
    job.chase_loads = loads
    job.chase_cpu = chase_cpu
    job.n_inject = len(cpu_arr)
    job.kind = INJECT_KINDS[kind]
    job.delay = delay
    if job.n_inject:
        cpu_view = cpu_arr
        job.inject_cpus = &cpu_view[0]
        job.inject_buf = <char *>inject_arena._at(0, inject_bytes)
        job.inject_bytes = inject_bytes
    with nogil:
        rc = nb_loaded_run(&job, &st)
    _check(rc, &st)
    return (job.chase_seconds, <size_t>(<char *>job.chase_cursor - <char *>base),
            job.inject_bytes_done, job.inject_seconds)
