"""Names every layer shares: kernels, page kinds, memory policies, defaults.

Pure data, no native import: the analysis, rendering and Kubernetes code read
these without a compiled extension (the native boundary maps the same names to
its C enums and a test keeps both in step).
"""

from __future__ import annotations

LATENCY_KERNELS = ("latency",)
BANDWIDTH_KERNELS = ("read", "write", "write_nt", "copy", "copy_nt", "triad")
KERNELS = LATENCY_KERNELS + BANDWIDTH_KERNELS
LOADED_KERNEL = "loaded_latency"
DEFAULT_KERNELS = ("latency", "read", "copy", "triad")

# numabench peak (MLC --peak_injection_bandwidth): every allowed CPU of a node streams each
# read/write mix; reads:writes in bytes counted (reads plus writes, never a write-allocate read).
# Result kernel "peak_<mix with 'to' for ':'>" (peak_3to1: no colon, so thresholds such as
# peak_3to1:-5% parse) -> the native kernel that runs it. 3:1, 2:1 and 1:1 update their first
# array in place (csrc/nb_bandwidth.h); triad is run's triad (a = b + s*c, 2:1).
PEAK_MIXES = ("1:0", "3:1", "2:1", "1:1", "triad")
PEAK_KERNELS = {mix: "peak_" + mix.replace(":", "to") for mix in PEAK_MIXES}
PEAK_NATIVE_KERNELS = {"peak_1to0": "read", "peak_3to1": "mix_3to1", "peak_2to1": "mix_2to1",
                       "peak_1to1": "mix_1to1", "peak_triad": "triad"}

# Which figure each kernel produces: the metric a regression threshold names.
# numabench scan: one measurement per chunk of a node's memory (results/scan.py).
SCAN_READ = "scan_read"
SCAN_LATENCY = "scan_latency"

KERNEL_METRICS = {
    **{k: "latency" for k in LATENCY_KERNELS},
    LOADED_KERNEL: "latency",
    "c2c": "latency",  # C2C_KERNEL, below: one-way cache-to-cache latency
    **{k: "bandwidth" for k in BANDWIDTH_KERNELS},
    **{k: "bandwidth" for k in PEAK_NATIVE_KERNELS},
    SCAN_READ: "bandwidth",
    SCAN_LATENCY: "latency",
}

PAGE_KINDS = ("4k", "thp", "2m", "1g")
HUGETLB_PAGE_BYTES = {"2m": 2 << 20, "1g": 1 << 30}
POLICIES = ("bind", "interleave", "preferred", "local")

# Much larger than any last-level cache we know of (sysfs may claim a huge
# L3 on VMs, see shared/measuring.md): a fixed floor, not derived from it.
DEFAULT_SIZE_BYTES = 1 << 30
# Samples per measurement, the same for every measuring command.
DEFAULT_REPEAT = 5


def hugepage_sysfs_file(pages: str, node: int | None = None) -> str:
    """The file to write to reserve hugepages of this kind (per node when given)."""
    kb = HUGETLB_PAGE_BYTES[pages] // 1024
    if node is None:
        return f"/sys/kernel/mm/hugepages/hugepages-{kb}kB/nr_hugepages"
    return f"/sys/devices/system/node/node{node}/hugepages/hugepages-{kb}kB/nr_hugepages"


# Loaded latency (MLC --loaded_latency): injector throttle delays, from full load to almost idle,
# and the kinds of injected traffic.
DEFAULT_DELAYS = (0, 20, 50, 100, 200, 500, 1000, 2000, 5000, 20000)
INJECT_KINDS = ("read", "rw")

# Per sample, latency and bandwidth alike: long enough that timer and thread start-up costs
# (microseconds) vanish and a 1 GiB bandwidth pass (35-70 ms here) is only part of a sample,
# short enough for a quick default run.
SAMPLE_SECONDS = 0.2
# Byte distance added between consecutive arrays of a bandwidth kernel (a, b, c): 21 cache lines.
# Without it every array starts on a 4 KiB (with hugepages: 2 MiB) boundary, so the load and store
# streams alias modulo 4 KiB (the CPU's store-to-load forwarding check compares address bits
# 0-11) and fall in the same L1/L2 sets. 1344 = 21 x 64 puts array i at i x 1344 mod 4096
# (0, 1344, 2688): the three streams as far apart modulo 4 KiB as 64-byte lines allow, and at
# distinct sets of any cache whose set period is a power of two. A multiple of 64: every array
# stays cache-line (and AVX-512 vector) aligned. STREAM and likwid-bench offset theirs likewise.
DEFAULT_ARRAY_OFFSET = 1344
MAX_ARRAY_OFFSET = 1 << 20

# Cache-to-cache latency (MLC --c2c_latency; numabench c2c). Modes: a modified line ping-ponged
# (HitM) or clean lines read from the other core's cache. Relations of a CPU pair, nearest first
# ("same-node": same node, but sysfs does not say which CPUs share a last-level cache).
C2C_KERNEL = "c2c"
C2C_MODES = ("hitm", "clean")
C2C_RELATIONS = ("smt", "same-llc", "other-llc", "same-node", "other-node")
