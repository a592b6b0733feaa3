"""What to measure: turn user options into checked specs before any memory is touched.

Every refusal happens here, with the fix in the message: a node that does not
exist, one this cgroup's cpuset forbids, hugepages not reserved, a buffer
that does not fit. The runner then only meets what the kernel does at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from numabench.constants import (
    BANDWIDTH_KERNELS,
    DEFAULT_KERNELS,
    DEFAULT_REPEAT,
    DEFAULT_SIZE_BYTES,
    HUGETLB_PAGE_BYTES,
    INJECT_KINDS,
    KERNELS,
    PAGE_KINDS,
    POLICIES,
    hugepage_sysfs_file,
)
from numabench.errors import CpusetError, HugepageError, InsufficientMemoryError, UsageError
from numabench.host.cgroups import CpusetView
from numabench.host.topology import Topology
from numabench.util.cpulist import format_cpulist
from numabench.util.units import format_size

# Samples per measurement at most: a bound, so that a typo cannot run for days.
MAX_REPEAT = 10_000


@dataclass(frozen=True)
class Spec:
    """One buffer and the kernels measured on it.

    cpus[0] runs the latency chase and faults the buffer in; bandwidth kernels
    use all of cpus, one pinned thread each.
    """

    cpu_node: int
    mem_nodes: tuple[int, ...]
    policy: str
    pages: str
    size_bytes: int
    cpus: tuple[int, ...]
    kernels: tuple[str, ...]
    repeat: int
    # Thread sweep: bandwidth kernels run once per count on cpus[:count], ascending; () = len(cpus) only.
    thread_counts: tuple[int, ...] = ()

    @property
    def mem_node(self) -> int | None:
        return self.mem_nodes[0] if len(self.mem_nodes) == 1 else None

    @property
    def threads(self) -> int:
        return len(self.cpus)

    @property
    def bandwidth_thread_counts(self) -> tuple[int, ...]:
        """The thread counts each bandwidth kernel runs with, ascending."""
        return self.thread_counts or (len(self.cpus),)


@dataclass
class RunOptions:
    """The user's choices; None means "decide from the machine"."""

    cpu_nodes: list[int] | None = None
    mem_nodes: list[int] | None = None
    pages: list[str] | None = None
    size_bytes: int = DEFAULT_SIZE_BYTES
    sweep_sizes: list[int] | None = None
    threads: int | None = None
    kernels: list[str] = field(default_factory=lambda: list(DEFAULT_KERNELS))
    repeat: int = DEFAULT_REPEAT
    policy: str = "bind"
    # Bandwidth vs threads: explicit counts (--threads 1,2,4 or 1..8), or every power of two up
    # to all allowed CPUs of the node and that count itself (--threads-sweep).
    thread_counts: list[int] | None = None
    threads_sweep: bool = False


@dataclass
class Plan:
    specs: list[Spec]
    notes: list[str]


def parse_kernels(text: str) -> list[str]:
    names = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in names if k not in KERNELS]
    if unknown or not names:
        raise UsageError(f"unknown kernel {', '.join(unknown) or repr(text)}", f"choose from {','.join(KERNELS)}")
    return list(dict.fromkeys(names))


def parse_pages(text: str) -> list[str]:
    names = [p.strip().lower() for p in text.split(",") if p.strip()]
    unknown = [p for p in names if p not in PAGE_KINDS]
    if unknown or not names:
        raise UsageError(f"unknown page kind {', '.join(unknown) or repr(text)}", f"choose from {','.join(PAGE_KINDS)}")
    return list(dict.fromkeys(names))


def parse_threads(text: str) -> tuple[int | None, list[int] | None]:
    """--threads: "N" -> (N, None); a sweep "A,B,C" or "A..B" -> (None, ascending counts).

    "A..B" is A, 2A, 4A, ... up to B, and B itself (the powers of two of --sizes, ending where
    asked). Raises UsageError for anything but positive integers."""
    fix = "write --threads 8, --threads 1,2,4,8 or --threads 1..8"
    text = text.strip()
    try:
        if ".." in text:
            low_text, high_text = text.split("..", 1)
            low, high = int(low_text), int(high_text)
            if not 1 <= low <= high:
                raise UsageError(f"--threads {text}: the range must run from 1 or more upwards", fix)
            counts = [low]
            while counts[-1] * 2 <= high:
                counts.append(counts[-1] * 2)
            return None, sorted(set(counts + [high]))
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"--threads {text!r} is not a thread count or a list of them", fix) from None
    if any(v < 1 for v in values):
        raise UsageError(f"--threads {text}: thread counts must be positive", fix)
    if len(values) == 1:
        return values[0], None
    return None, sorted(set(values))


def _usable_cpu_nodes(topology: Topology, cpuset: CpusetView) -> list[int]:
    """Nodes with at least one online CPU this process may run on, lowest first."""
    return sorted({topology.cpu_node(c) for c in cpuset.cpus_allowed if c in topology.online_cpus})


def _allowed_cpus_on(topology: Topology, cpuset: CpusetView, node_id: int) -> tuple[int, ...]:
    allowed = set(cpuset.cpus_allowed)
    return tuple(c for c in topology.node(node_id).cpus if c in allowed)


def _describe_cpuset(cpuset: CpusetView, what: str) -> str:
    allowed = cpuset.cpus_allowed if what == "cpus" else cpuset.mems_allowed
    cg = cpuset.cpuset_cpus if what == "cpus" else cpuset.cpuset_mems
    text = f"{'Cpus' if what == 'cpus' else 'Mems'}_allowed_list {format_cpulist(allowed)}"
    if cg is not None:
        text += f", cgroup v{cpuset.cgroup_version} cpuset.{what} {format_cpulist(cg)}"
    return text


def _check_cpu_node(topology: Topology, cpuset: CpusetView, node_id: int) -> tuple[int, ...]:
    node = topology.node(node_id)
    if not node.cpus:
        raise UsageError(f"node {node_id} has no CPUs (memory-only)",
                         f"measure from a node with CPUs and use {node_id} as --mem-node")
    cpus = _allowed_cpus_on(topology, cpuset, node_id)
    if not cpus:
        usable = _usable_cpu_nodes(topology, cpuset)
        raise CpusetError(
            f"CPU node {node_id} (CPUs {format_cpulist(node.cpus)}) is outside this process's allowed CPUs "
            f"({_describe_cpuset(cpuset, 'cpus')})",
            f"choose --cpu-node {','.join(map(str, usable)) or '?'}",
        )
    return cpus


def _check_mem_node(topology: Topology, cpuset: CpusetView, node_id: int, cpu_node: int) -> None:
    node = topology.node(node_id)
    if not node.has_memory:
        raise UsageError(f"node {node_id} has no memory", "choose a --mem-node that has memory")
    if node_id not in cpuset.mems_allowed:
        raise CpusetError(
            f"memory node {node_id} is forbidden by this cgroup's cpuset ({_describe_cpuset(cpuset, 'mems')}); "
            f"this is what Kubernetes Memory Manager does to a pod whose memory it pinned",
            f"choose --mem-node {format_cpulist(cpuset.mems_allowed)}",
        )


def _check_memory(topology: Topology, spec: Spec, explicit_pages: bool) -> str | None:
    """Refuse before allocating; returns a note when an implicit hugepage run must be skipped."""
    if spec.pages in HUGETLB_PAGE_BYTES:
        page = HUGETLB_PAGE_BYTES[spec.pages]
        needed = -(-spec.size_bytes // page)
        for node_id in spec.mem_nodes:
            pool = topology.node(node_id).hugepages.get(page)
            share = needed if spec.policy != "interleave" else -(-needed // len(spec.mem_nodes))
            if pool is None:
                problem = f"this kernel offers no {spec.pages.upper()} hugepages on node {node_id}"
                fix = "use --pages 4k or thp" if spec.pages == "2m" else "boot with hugepagesz=1G, or use --pages 2m"
            elif pool.free < share:
                problem = (
                    f"node {node_id}'s {spec.pages.upper()} hugepage pool has {pool.free} free pages, "
                    f"{share} needed for {format_size(spec.size_bytes)}"
                )
                total = pool.total - pool.free + share
                fix = f"reserve them: echo {total} > {hugepage_sysfs_file(spec.pages, node_id)}"
            else:
                continue
            if not explicit_pages:
                return f"{spec.pages} skipped: {problem} ({fix})"
            raise HugepageError(problem, fix)
        return None
    free = sum(topology.node_mem_free_bytes(n) for n in spec.mem_nodes)
    if spec.size_bytes > free:
        where = f"node {spec.mem_nodes[0]}" if len(spec.mem_nodes) == 1 else f"nodes {list(spec.mem_nodes)}"
        raise InsufficientMemoryError(
            f"a {format_size(spec.size_bytes)} buffer does not fit in {where}'s free memory ({format_size(free)})",
            f"use --size {int(free * 0.8) >> 20}M or less",
        )
    return None


def plan_run(topology: Topology, cpuset: CpusetView, options: RunOptions) -> Plan:
    """Check the options against this machine and process; return the specs to run.

    Raises UsageError, TopologyError, CpusetError, HugepageError or
    InsufficientMemoryError with a one-line message that names the fix.
    """
    notes: list[str] = []
    _check_options(options)
    kernels = list(options.kernels)
    if options.sweep_sizes:
        if any(k != "latency" for k in kernels):
            notes.append("--sizes measures latency only; other kernels ignored")
        kernels = ["latency"]
    if (options.thread_counts or options.threads_sweep) and not any(k != "latency" for k in kernels):
        notes.append("a thread sweep measures bandwidth kernels only; latency runs on one thread")
    explicit_pages = options.pages is not None
    page_kinds = list(options.pages) if options.pages is not None else ["4k", "2m"]
    sizes = list(options.sweep_sizes) if options.sweep_sizes else [options.size_bytes]
    specs: list[Spec] = []
    for cpu_node in _cpu_nodes(topology, cpuset, options):
        cpus = _check_cpu_node(topology, cpuset, cpu_node)
        for mem_nodes in _mem_targets(topology, cpuset, options, cpu_node, notes):
            counts = _thread_counts(options, kernels, cpus, cpu_node)
            threads = counts[-1] if counts else _threads(options, kernels, cpus, cpu_node)
            for pages in page_kinds:
                for size in sizes:
                    spec = Spec(cpu_node=cpu_node, mem_nodes=mem_nodes, policy=options.policy, pages=pages,
                                size_bytes=size, cpus=cpus[:threads], kernels=tuple(kernels), repeat=options.repeat,
                                thread_counts=counts)
                    skip = _check_memory(topology, spec, explicit_pages)
                    if skip is None:
                        specs.append(spec)
                    elif skip not in notes:
                        notes.append(skip)
    return Plan(specs=specs, notes=notes)


def _check_options(options: RunOptions) -> None:
    """What needs no machine to refuse: names, counts and their bounds."""
    parse_kernels(",".join(options.kernels))
    if options.pages is not None:
        parse_pages(",".join(options.pages))
    if not 1 <= options.repeat <= MAX_REPEAT:
        raise UsageError(f"--repeat {options.repeat} is not between 1 and {MAX_REPEAT}", "use --repeat 3 or more")
    if options.policy not in POLICIES:
        raise UsageError(f"unknown memory policy {options.policy!r}", f"choose from {','.join(POLICIES)}")
    if options.threads is not None and options.threads < 1:
        raise UsageError(f"--threads {options.threads} is not positive", "use --threads 1 or more")
    if options.threads_sweep and (options.thread_counts or options.threads is not None):
        raise UsageError("--threads-sweep picks its own thread counts", "give --threads-sweep or --threads, not both")
    if options.thread_counts is not None and any(t < 1 for t in options.thread_counts):
        raise UsageError("thread counts must be positive", "write e.g. --threads 1,2,4,8")


def _cpu_nodes(topology: Topology, cpuset: CpusetView, options: RunOptions) -> list[int]:
    """The nodes asked for, else the first node with a CPU this process may use."""
    if options.cpu_nodes is not None:
        return list(options.cpu_nodes)
    usable = _usable_cpu_nodes(topology, cpuset)
    if not usable:
        raise CpusetError("no online CPU is allowed to this process", "check Cpus_allowed_list in /proc/self/status")
    return usable[:1]


def _mem_targets(topology: Topology, cpuset: CpusetView, options: RunOptions, cpu_node: int,
                 notes: list[str]) -> list[tuple[int, ...]]:
    """The memory node sets to measure from this CPU node, each checked: one per node asked, one
    interleaved set, or by default the CPU's own node (else the cgroup's first allowed one)."""
    targets: list[tuple[int, ...]]
    if options.mem_nodes is None:
        if cpu_node in cpuset.mems_allowed and topology.node(cpu_node).has_memory:
            targets = [(cpu_node,)]
        else:
            first = min(cpuset.mems_allowed)
            notes.append(f"node {cpu_node}'s memory is outside this cgroup's cpuset.mems; "
                         f"measuring memory on node {first}")
            targets = [(first,)]
    elif options.policy == "interleave":
        targets = [tuple(options.mem_nodes)]
    else:
        targets = [(m,) for m in options.mem_nodes]
    for mem_nodes in targets:
        for m in mem_nodes:
            _check_mem_node(topology, cpuset, m, cpu_node)
    return targets


def _threads(options: RunOptions, kernels: list[str], cpus: tuple[int, ...], cpu_node: int) -> int:
    """--threads, else every allowed CPU of the node for bandwidth kernels (one for latency only)."""
    bandwidth = any(k in BANDWIDTH_KERNELS for k in kernels)
    threads = options.threads if options.threads is not None else (len(cpus) if bandwidth else 1)
    if threads > len(cpus):
        raise UsageError(f"--threads {threads} but CPU node {cpu_node} has {len(cpus)} allowed CPUs "
                         f"({format_cpulist(cpus)})", f"use --threads {len(cpus)} or less")
    return threads


def _thread_counts(options: RunOptions, kernels: list[str], cpus: tuple[int, ...], cpu_node: int) -> tuple[int, ...]:
    """The sweep's thread counts on this node, ascending (() without a sweep): every count pins
    that many distinct CPUs, cpus[:count]. Raises UsageError for a count above the allowed CPUs."""
    if not any(k != "latency" for k in kernels) or not (options.thread_counts or options.threads_sweep):
        return ()
    if options.thread_counts:
        too_many = [t for t in options.thread_counts if t > len(cpus)]
        if too_many:
            raise UsageError(f"--threads {max(too_many)} but CPU node {cpu_node} has {len(cpus)} allowed CPUs "
                             f"({format_cpulist(cpus)})", f"use thread counts of {len(cpus)} or less")
        return tuple(sorted(set(options.thread_counts)))
    counts = {len(cpus)}
    t = 1
    while t < len(cpus):
        counts.add(t)
        t *= 2
    return tuple(sorted(counts))


# --------------------------------------------------------------------------- loaded latency


@dataclass(frozen=True)
class LoadedSpec:
    chase_cpu: int
    chase_node: int
    mem_node: int
    inject_cpus: tuple[int, ...]
    inject_node: int
    pages: str
    size_bytes: int
    inject_size_bytes: int
    kind: str
    delays: tuple[int, ...]
    repeat: int


def plan_loaded(topology: Topology, cpuset: CpusetView, *, cpu_node: int | None, mem_node: int | None,
                inject_node: int | None, injectors: int | None, pages: str, size_bytes: int,
                inject_size_bytes: int, kind: str, delays: Sequence[int], repeat: int,
                inject_cpu_node: int | None = None) -> LoadedSpec:
    """Check nodes, cpusets, hugepages and memory for both buffers; pick the CPUs."""
    if kind not in INJECT_KINDS:
        raise UsageError(f"unknown injection kind {kind!r}", f"choose from {','.join(INJECT_KINDS)}")
    if not delays or any(d < 0 for d in delays):
        raise UsageError("delays must be a non-empty list of non-negative numbers", "e.g. --delays 0,100,1000")
    chase = plan_run(topology, cpuset, RunOptions(cpu_nodes=None if cpu_node is None else [cpu_node],
                                                  mem_nodes=None if mem_node is None else [mem_node],
                                                  pages=[pages], size_bytes=size_bytes, kernels=["latency", "read"],
                                                  repeat=repeat)).specs[0]
    inject_cpu_node = chase.cpu_node if inject_cpu_node is None else inject_cpu_node
    inject_mem_node = chase.mem_nodes[0] if inject_node is None else inject_node
    inject = plan_run(topology, cpuset, RunOptions(cpu_nodes=[inject_cpu_node], mem_nodes=[inject_mem_node],
                                                   pages=[pages], size_bytes=inject_size_bytes, kernels=["read"],
                                                   repeat=repeat)).specs[0]
    others = [c for c in inject.cpus if c != chase.cpus[0]]
    if injectors is None:
        injectors = len(others)
    if injectors > len(others):
        raise UsageError(f"{injectors} injector(s) asked but CPU node {inject_cpu_node} has {len(others)} allowed "
                         "CPU(s) besides the chase thread's", f"use --injectors {len(others)} or less")
    if injectors < 1:
        raise UsageError("loaded latency needs at least one injector CPU besides the chase CPU",
                         "choose --inject-cpu-node with free CPUs, or use numabench run for idle latency")
    return LoadedSpec(chase_cpu=chase.cpus[0], chase_node=chase.cpu_node, mem_node=chase.mem_nodes[0],
                      inject_cpus=tuple(others[:injectors]), inject_node=inject.mem_nodes[0], pages=pages,
                      size_bytes=size_bytes, inject_size_bytes=inject_size_bytes, kind=kind,
                      delays=tuple(delays), repeat=repeat)
