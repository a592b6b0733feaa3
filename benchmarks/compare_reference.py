#!/usr/bin/env python3
"""numabench side by side with reference tools, on the same machine, in one run.

Usage (from the repository root; root is needed only for the 2 MiB part):

    python benchmarks/compare_reference.py                     # 1 GB buffers, 3 rounds, 1 and 2 threads
    python benchmarks/compare_reference.py --quick             # small sizes, 1 round: a smoke run
    python benchmarks/compare_reference.py --rounds 5 --threads 1,2 --json out.json

What runs, interleaved A B A B (numabench, then the reference, for each kernel, every round),
since this machine's figures drift 5-25% within minutes:

  bandwidth  `numabench run --cpu-node 0 --mem-node 0 --pages 4k --size BYTES --threads T
             --kernels K --repeat R --json` against `likwid-bench -t TEST -w M0:BYTESB:T`, TEST
             picked from the CPU's flags (load/store/store_mem/copy/copy_mem/stream with the
             widest of _avx512, _avx, _sse the CPU and likwid both have; stream_*_fma when
             present). Both split BYTES across the kernel's arrays and count bytes STREAM's way
             (reads + writes, no write-allocate). likwid's "MByte/s" is 1e6 B/s.
  copy, 1T   also `mbw -t0` and `mbw -t1` with two arrays of BYTES/2 each: the mode that runs
             glibc memcpy against copy_nt, the one that runs a b[i] = a[i] loop against copy
             (probed at start: Debian's mbw 1.2.2 prints these labels swapped). mbw counts a
             copied byte once: its MiB/s x 2^20 x 2 is the STREAM-style figure. Informational.
  copy/triad also the official STREAM 5.10 (benchmarks/reference/stream/stream.c, vendored
             unmodified with its licence; built here with gcc -O3 -fopenmp and STREAM_ARRAY_SIZE =
             BYTES/3/8, NTIMES 10): 3 arrays of BYTES/3 each, pinned with OMP_PLACES on the same CPUs.
             Its reported figure is the best (minimum) time of iterations 2..NTIMES; the gated ratio
             sets numabench's median against it, and an informational row sets it against the rate
             of STREAM's average time. Its Copy is set against copy, or against copy_nt when gcc
             made the loop a memcpy call.
  peak       `numabench peak --node 0 --mixes MIX --pages 4k --size BYTES --repeat R --json` (every
             allowed CPU of node 0) against likwid-bench on all of node 0's CPUs (-w M0:BYTESB:N):
             1:0 vs load, 1:1 vs update (a = s*a, in place like numabench's 1:1), 2:1 vs daxpy
             (y = a*x + y, in place like numabench's 2:1), triad vs stream (a = b + s*c), each with
             the widest ISA suffix both have; 3:1 (a += b + c, in place) vs triad (a = b*c + d: 3:1
             counted, but its store stream costs an uncounted write-allocate read), informational.
             Skipped with --no-peak.
  latency    `numabench run ... --kernels latency --pages 4k|2m --size 1GiB` against
             benchmarks/plain_chase.c (compiled here with gcc -O2 into a temporary directory):
             a random single cycle over 64-byte lines (Sattolo), prefaulted, pinned.
  c2c        `numabench c2c --pairs A:B --samples R --json` (HitM, one-way = round trip / 2) against
             benchmarks/ping_pong.c (gcc -O2 -pthread): the same ping-pong over one counter line
             between threads pinned on A and B (the first two CPUs of node 0), written apart
             from numabench. Needs two CPUs; --no-c2c skips it.

Ratios: for every round, numabench's median over its samples divided by the reference's figure
of the same round; the ratio printed is the median of those per-round ratios (min..max shown).
Beside each ratio: numabench's cv within its run (stdev / mean of its samples, median over rounds;
marked * above 3%) and the reference's cv (within its run for mbw, which prints every iteration;
STREAM's (max - min) / average time, as it prints no iterations; over rounds for likwid-bench and
the plain chase, which print one figure).

Targets (issue 12; each line PASS/FAIL; the exit status is 0 unless something could not be
measured: this is a report, not a test):
  every bandwidth kernel          numabench >= 0.98 x likwid-bench, with each thread count
  peak 1:0, 1:1, 2:1, triad       numabench peak >= 0.98 x likwid-bench on the same CPUs
  triad                           numabench >= STREAM's Triad (best rate)
  copy_nt, 1 thread               numabench >= glibc memcpy (mbw's memcpy mode)
  every bandwidth kernel          numabench's cv within a run <= 3% (the * beside the cv)
  latency, 4k and 2m pages        numabench within 3% of the plain C chase
  latency, 2m vs 4k (numabench)   2m <= 0.90 x 4k
  c2c (HitM one-way latency)      numabench within 5% of the plain C ping-pong
--consecutive N runs numabench's copy N times in a row at each thread count after the rounds and
prints the N medians (issue 12: copy at 2 threads must not be bimodal across 10 runs).

2 MiB pages: run as root, the script raises /proc/sys/vm/nr_hugepages just enough, reads it back,
and restores the previous value at the end (also on error or Ctrl-C). Otherwise the 2 MiB part
is skipped, naming the file to write.

Only the standard library is used, so any python3 can run it; numabench is run through its CLI
(--numabench PATH, default: the one beside this interpreter, then .venv/bin, then $PATH).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

BW_KERNELS = ["read", "write", "write_nt", "copy", "copy_nt", "triad"]
# numabench kernel -> likwid-bench test family (the ISA suffix is added from the CPU's flags).
LIKWID_FAMILY = {
    "read": "load",
    "write": "store",
    "write_nt": "store_mem",
    "copy": "copy",
    "copy_nt": "copy_mem",
    "triad": "stream",  # a = b + s*c; likwid's triad_* is the 4-stream a = b*c + d
}
# numabench peak mix -> (likwid-bench test family, gated): same access pattern and counting when gated.
PEAK_MIXES = ["1:0", "3:1", "2:1", "1:1", "triad"]
LIKWID_PEAK_FAMILY = {
    "1:0": ("load", True),
    "3:1": ("triad", False),  # a = b*c + d: 3:1 counted, but a separate store stream (write-allocate)
    "2:1": ("daxpy", True),   # y = a*x + y, in place
    "1:1": ("update", True),  # a = s*a, in place
    "triad": ("stream", True),
}
# mbw modes -> the numabench kernel each is set against, by what the mode really runs: glibc's
# memcpy switches to non-temporal stores above __x86_shared_non_temporal_threshold (a fraction of
# the L3), so a large memcpy is an NT copy (copy_nt); a plain b[i] = a[i] loop is copy. Which -t
# runs which is probed (Debian's mbw 1.2.2 runs the loop for -t0, printed "MEMCPY", and memcpy for
# -t1, printed "DUMB"), by counting large memcpy calls through an LD_PRELOAD shim.
MBW_TESTS = ("0", "1")
MEMCPY_SHIM_C = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>
void *memcpy(void *d, const void *s, size_t n)
{
    if (n > (1u << 20)) {
        char msg[64];
        int len = snprintf(msg, sizeof msg, "shim: memcpy %zu\n", n);
        if (write(2, msg, (size_t)len) < 0) {}
    }
    char *dd = d;
    const char *ss = s;
    for (size_t i = 0; i < n; i++)
        dd[i] = ss[i];
    return d;
}
"""

BW_TARGET = 0.98
LAT_TOLERANCE = 0.03
CV_TARGET = 0.03
STREAM_NTIMES = 10  # STREAM's default NTIMES
HUGE_GAIN_TARGET = 0.90
C2C_TOLERANCE = 0.05
C2C_ROUND_TRIPS = 20_000  # per ping_pong sample: about numabench c2c's 5 ms samples here
HUGE_BYTES = 2 << 20
HUGE_SYSFS = Path("/sys/kernel/mm/hugepages/hugepages-2048kB")


class ToolError(RuntimeError):
    """A reference tool or numabench failed; the message names the command."""


# ----------------------------------------------------------------------------- helpers

def parse_size(text: str) -> int:
    """Bytes from '1000000000', '1GB'/'100MB'/'64kB' (decimal, likwid's units), '1G'/'1GiB'/'64M' (binary)."""
    m = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)(i?[bB]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r}; e.g. 1000000000, 1GB (1e9) or 1G (2^30)")
    n, prefix, tail = int(m.group(1)), m.group(2).lower(), m.group(3)
    if not prefix:
        return n
    power = "kmg".index(prefix) + 1
    decimal = tail in ("B", "b")  # 1GB = 1e9 as in likwid; 1G and 1GiB are binary as in numabench
    return n * (1000 if decimal else 1024) ** power


def fmt_bytes(n: int) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if n % div == 0:
            return f"{n // div} {unit}"
    return f"{n / 1e9:g} GB" if n >= 1e8 else f"{n / 1e6:g} MB"


def run_tool(cmd: list[str], timeout: float = 600.0, check: bool = True) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise ToolError(f"{cmd[0]} not found ({exc})") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"`{' '.join(cmd)}` ran past {timeout:.0f} s") from None
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ToolError(f"`{' '.join(cmd)}` exited {proc.returncode}: {' | '.join(tail)}")
    return proc


def cpu_flags() -> set[str]:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def node_cpus(node: int) -> list[int]:
    """CPUs of a NUMA node this process may run on (all allowed CPUs when sysfs has no node)."""
    allowed = sorted(os.sched_getaffinity(0))
    path = Path(f"/sys/devices/system/node/node{node}/cpulist")
    if not path.exists():
        return allowed
    cpus: set[int] = set()
    for part in path.read_text().strip().split(","):
        if part:
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    return [c for c in allowed if c in cpus]


def quiet_check() -> dict:
    """Load average and runnable tasks: any other work on these vCPUs spoils a measurement."""
    load = Path("/proc/loadavg").read_text().split()
    running = None
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("procs_running"):
            running = int(line.split()[1]) - 1  # minus this reader
    return {"loadavg_1m": float(load[0]), "loadavg_5m": float(load[1]), "other_runnable": running,
            "unix": time.time()}


def pkg_version(name: str) -> str | None:
    if not shutil.which("dpkg-query"):
        return None
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True)
    return proc.stdout.strip() or None


def median(xs):
    return statistics.median(xs) if xs else None


# ----------------------------------------------------------------------------- tools

# likwid-bench's test suffix -> numabench's kernel set of the same vector width.
LIKWID_ISA = (("_avx512", "avx512"), ("_avx", "avx2"), ("_sse", "sse2"))


class Likwid:
    def __init__(self, flags: set[str]):
        self.exe = shutil.which("likwid-bench")
        self.tests: dict[str, str] = {}
        # numabench's --isa of the same vector width as each test: like for like.
        self.isa: dict[str, str] = {}
        self.domain = "N"
        if not self.exe:
            return
        listing = run_tool([self.exe, "-a"]).stdout
        available = {line.split(" - ")[0].strip() for line in listing.splitlines() if " - " in line}
        domains = re.findall(r"Tag (\S+):", run_tool([self.exe, "-p"]).stdout)
        # M0 is memory domain 0: threads on node 0's CPUs, memory first-touched there, the same
        # place as numabench's --cpu-node 0 --mem-node 0. N (the whole machine) only as fallback.
        self.domain = "M0" if "M0" in domains else ("N" if "N" in domains or not domains else domains[0])
        isas = [s for s, flag in (("_avx512", "avx512f"), ("_avx", "avx"), ("_sse", "sse2")) if flag in flags]

        def pick(family: str) -> str | None:
            candidates = []
            for isa in isas + [""]:
                if family in ("stream", "daxpy", "triad") and "fma" in flags and isa in ("_avx512", "_avx"):
                    candidates.append(f"{family}{isa}_fma")
                candidates.append(f"{family}{isa}")
            return next((test for test in candidates if test in available), None)

        for kernel, family in LIKWID_FAMILY.items():
            test = pick(family)
            if test:
                self.tests[kernel] = test
                self.isa[kernel] = next((nb for suffix, nb in LIKWID_ISA if suffix in test), "scalar")
        # numabench peak's mixes: "peak MIX" -> test.
        for mix, (family, _) in LIKWID_PEAK_FAMILY.items():
            test = pick(family)
            if test:
                self.tests[f"peak {mix}"] = test
                self.isa[f"peak {mix}"] = next((nb for suffix, nb in LIKWID_ISA if suffix in test), "scalar")

    def bandwidth(self, kernel: str, size_bytes: int, threads: int) -> float:
        """Bytes/s of likwid's test matching kernel, size_bytes split across its streams."""
        test = self.tests[kernel]
        proc = run_tool([self.exe, "-t", test, "-w", f"{self.domain}:{size_bytes}B:{threads}"])
        m = re.search(r"^MByte/s:\s*([0-9.]+)", proc.stdout, re.M)
        if not m:
            raise ToolError(f"likwid-bench -t {test}: no 'MByte/s:' line in its output")
        return float(m.group(1)) * 1e6


class Mbw:
    def __init__(self, workdir: Path):
        self.exe = shutil.which("mbw")
        self.modes: dict[str, dict] = {}  # -t digit -> {"label", "runs", "against"}
        self.note = ""
        if self.exe:
            self._probe(workdir)

    def _probe(self, workdir: Path) -> None:
        gcc = shutil.which("gcc")
        shim = workdir / "memcpy_shim.so"
        if gcc:
            (workdir / "memcpy_shim.c").write_text(MEMCPY_SHIM_C)
            built = subprocess.run([gcc, "-O1", "-fno-builtin", "-shared", "-fPIC", "-o", str(shim),
                                    str(workdir / "memcpy_shim.c")], capture_output=True)
            if built.returncode != 0:
                shim = None
        for t in MBW_TESTS:
            env = dict(os.environ, LD_PRELOAD=str(shim)) if gcc and shim else None
            proc = subprocess.run([self.exe, "-t" + t, "-n", "1", "4"], capture_output=True, text=True, env=env)
            m = re.search(r"Method: (\S+)", proc.stdout)
            label = m.group(1) if m else f"-t{t}"
            if env is None:
                runs = "memcpy" if label == "MEMCPY" else "loop"  # trust the label: no way to probe
                self.note = "mbw modes taken from their labels (no gcc to probe them)"
            else:
                runs = "memcpy" if "shim: memcpy" in proc.stderr else "loop"
            self.modes[t] = {"label": label, "runs": runs, "against": "copy_nt" if runs == "memcpy" else "copy"}

    def copy(self, t: str, size_bytes: int, runs: int = 5) -> tuple[float, float | None]:
        """(STREAM-style bytes/s, cv of its runs) of mbw -t<t> with two arrays of size_bytes/2 (mbw
        counts a copied byte once)."""
        mib = max(1, size_bytes // 2 // (1 << 20))
        proc = run_tool([self.exe, "-t" + t, "-n", str(runs), str(mib)])
        rates = [float(x) for x in re.findall(r"^\d+\s+Method: \S+.*Copy: ([0-9.]+) MiB/s", proc.stdout, re.M)]
        if not rates:
            raise ToolError(f"mbw -t{t}: no 'Copy: ... MiB/s' lines in its output")
        return statistics.median(rates) * (1 << 20) * 2, cv_over(rates)


class PlainChase:
    def __init__(self, workdir: Path):
        self.exe = None
        self.error = None
        gcc = shutil.which("gcc")
        if not gcc:
            self.error = "gcc not found"
            return
        out = workdir / "plain_chase"
        try:
            run_tool([gcc, "-O2", "-o", str(out), str(HERE / "plain_chase.c")])
            self.exe = str(out)
        except ToolError as exc:
            self.error = str(exc)

    def latency(self, size_bytes: int, pages: str, cpu: int, loads: int, samples: int) -> float:
        proc = run_tool([self.exe, str(size_bytes), pages, str(cpu), str(loads), str(samples)])
        m = re.search(r"^median_ns_per_load ([0-9.]+)", proc.stdout, re.M)
        if not m:
            raise ToolError("plain_chase: no median_ns_per_load line")
        return float(m.group(1))


class PingPong:
    """benchmarks/ping_pong.c, the plain C HitM ping-pong numabench c2c is set against."""

    def __init__(self, workdir: Path):
        self.exe = None
        self.error = None
        gcc = shutil.which("gcc")
        if not gcc:
            self.error = "gcc not found"
            return
        out = workdir / "ping_pong"
        try:
            run_tool([gcc, "-O2", "-pthread", "-o", str(out), str(HERE / "ping_pong.c")])
            self.exe = str(out)
        except ToolError as exc:
            self.error = str(exc)

    def latency(self, a: int, b: int, samples: int) -> float:
        """Median one-way ns between CPUs a (timed) and b."""
        proc = run_tool([self.exe, str(a), str(b), str(C2C_ROUND_TRIPS), str(samples)])
        m = re.search(r"^median_one_way_ns ([0-9.]+)", proc.stdout, re.M)
        if not m:
            raise ToolError("ping_pong: no median_one_way_ns line")
        return float(m.group(1))


class Stream:
    """The official STREAM (benchmarks/reference/stream/stream.c, 5.10, vendored unmodified with
    its licence), built as STREAM is built (gcc -O3 -fopenmp) for each array size, since
    STREAM_ARRAY_SIZE is a compile-time constant; one OpenMP thread pinned on each CPU given."""

    SOURCE = HERE / "reference" / "stream" / "stream.c"

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.error = None
        self.copy_is_memcpy = False
        self.gcc = shutil.which("gcc")
        self._built: dict[tuple[int, int], str] = {}
        if not self.gcc:
            self.error = "gcc not found"
        elif not self.SOURCE.exists():
            self.error = f"{self.SOURCE} is missing"

    @property
    def exe(self) -> bool:  # usable at all (a build per size happens on first use)
        return self.error is None

    def build(self, n: int, ntimes: int) -> str:
        if (n, ntimes) not in self._built:
            out = self.workdir / f"stream_{n}_{ntimes}"
            run_tool([self.gcc, "-O3", "-fopenmp", "-mcmodel=medium", f"-DSTREAM_ARRAY_SIZE={n}",
                      f"-DNTIMES={ntimes}", "-o", str(out), str(self.SOURCE)])
            # gcc may turn Copy's loop into memcpy (then glibc's, non-temporal above a threshold):
            # an undefined memcpy symbol says so, and decides which numabench kernel Copy is set against.
            nm = shutil.which("nm")
            if nm:
                self.copy_is_memcpy = "memcpy" in run_tool([nm, "-u", str(out)], check=False).stdout
            self._built[(n, ntimes)] = str(out)
        return self._built[(n, ntimes)]

    @property
    def copy_against(self) -> str:
        return "copy_nt" if self.copy_is_memcpy else "copy"

    def run(self, size_bytes: int, cpus: list[int], ntimes: int) -> dict:
        """{copy, triad}: bytes/s from STREAM's best (minimum) time of the iterations after the
        first, as STREAM reports; {copy,triad}_avg from its average time; {copy,triad}_cv: STREAM
        prints no per-iteration figures, so this is its (max - min) / average time, a spread.
        Three arrays of size_bytes / 3 each."""
        n = max(1, size_bytes // 3 // 8)
        exe = self.build(n, ntimes)
        env = dict(os.environ, OMP_NUM_THREADS=str(len(cpus)), OMP_PROC_BIND="close",
                   OMP_PLACES=",".join(f"{{{c}}}" for c in cpus))
        try:
            proc = subprocess.run([exe], capture_output=True, text=True, env=env, timeout=600)
        except subprocess.TimeoutExpired:
            raise ToolError("STREAM ran past 600 s") from None
        if proc.returncode != 0 or "Solution Validates" not in proc.stdout:
            raise ToolError(f"STREAM exited {proc.returncode} without validating: {proc.stdout.strip()[-200:]}")
        out: dict = {}
        for name, bytes_per_elem in (("Copy", 16), ("Triad", 24)):
            m = re.search(rf"^{name}:\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)", proc.stdout, re.M)
            if not m:
                raise ToolError(f"STREAM printed no {name} line")
            best_mb, avg_t, min_t, max_t = (float(g) for g in m.groups())
            key = name.lower()
            out[key] = best_mb * 1e6
            out[key + "_avg"] = bytes_per_elem * n / avg_t if avg_t > 0 else None
            out[key + "_cv"] = (max_t - min_t) / avg_t if avg_t > 0 else None
        return out


class Numabench:
    def __init__(self, exe: str | None):
        candidates = [exe] if exe else [str(Path(sys.executable).parent / "numabench"),
                                        str(REPO / ".venv" / "bin" / "numabench"), shutil.which("numabench")]
        self.exe = next((c for c in candidates if c and os.access(c, os.X_OK)), None)

    def c2c(self, a: int, b: int, samples: int) -> dict:
        """numabench c2c's measurement of the pair a:b (HitM), from one `numabench c2c --json`."""
        cmd = [self.exe, "c2c", "--pairs", f"{a}:{b}", "--samples", str(samples), "--json"]
        proc = run_tool(cmd, check=False)
        try:
            (m,) = [m for m in json.loads(proc.stdout).get("measurements", []) if m.get("kernel") == "c2c"]
        except (json.JSONDecodeError, ValueError):
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-2:]
            raise ToolError(f"`{' '.join(cmd)}` exited {proc.returncode} without its pair: "
                            f"{' | '.join(tail)}") from None
        return m

    def run(self, kernels: list[str], pages: str, size_bytes: int, threads: int, repeat: int,
            sample_seconds: float | None = None, isa: str = "auto") -> dict:
        """numabench's measurements keyed by kernel, from one `numabench run --json`."""
        cmd = [self.exe, "run", "--cpu-node", "0", "--mem-node", "0", "--pages", pages,
               "--size", str(size_bytes), "--threads", str(threads), "--kernels", ",".join(kernels),
               "--repeat", str(repeat), "--isa", isa, "--json"]
        if sample_seconds is not None:
            cmd += ["--sample-seconds", str(sample_seconds)]
        return self._found(*self._json(cmd), kernels, pages, threads)

    @staticmethod
    def _json(cmd: list[str]) -> tuple[dict, subprocess.CompletedProcess]:
        proc = run_tool(cmd, check=False)
        # A partial failure (exit 3 or so) still prints the JSON of what was measured.
        try:
            return json.loads(proc.stdout), proc
        except json.JSONDecodeError:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-2:]
            raise ToolError(f"`{' '.join(cmd)}` exited {proc.returncode} without JSON: {' | '.join(tail)}") from None

    def peak(self, mix: str, size_bytes: int, repeat: int, sample_seconds: float | None = None,
             isa: str = "auto") -> dict:
        """numabench peak's measurement of one mix on every allowed CPU of node 0 (4 KiB pages)."""
        cmd = [self.exe, "peak", "--node", "0", "--mixes", mix, "--pages", "4k", "--size", str(size_bytes),
               "--repeat", str(repeat), "--isa", isa, "--json"]
        if sample_seconds is not None:
            cmd += ["--sample-seconds", str(sample_seconds)]
        kernel = "peak_" + mix.replace(":", "to")
        return self._found(*self._json(cmd), [kernel], "4k", None)[kernel]

    @staticmethod
    def _found(result: dict, proc, kernels: list[str], pages: str, threads: int | None) -> dict:
        """The result's measurements of `kernels` (with `threads`, unless None) keyed by kernel."""
        found = {}
        for m in result.get("measurements", []):
            if m.get("pages") == pages and threads in (None, m.get("threads")) and m.get("kernel") in kernels:
                found[m["kernel"]] = m
        missing = [k for k in kernels if k not in found]
        if missing:
            errors = "; ".join(str(e.get("error", e)) for e in result.get("errors", [])) or proc.stderr.strip()[-300:]
            raise ToolError(f"numabench measured no {','.join(missing)} ({pages}, {threads} threads): {errors}")
        return found


# ----------------------------------------------------------------------------- hugepages

class HugepageReservation:
    """Makes `need` free 2 MiB pages available for the run, and gives the previous count back."""

    def __init__(self, need: int):
        self.need = need
        self.ok = False
        self.note = ""
        self.previous = None
        default_2m = "Hugepagesize:       2048 kB" in Path("/proc/meminfo").read_text()
        self.path = Path("/proc/sys/vm/nr_hugepages") if default_2m else HUGE_SYSFS / "nr_hugepages"

    def _free(self) -> int:
        return int((HUGE_SYSFS / "free_hugepages").read_text())

    def __enter__(self):
        if not HUGE_SYSFS.exists():
            self.note = f"this kernel has no 2 MiB hugepages ({HUGE_SYSFS} missing)"
            return self
        current, free = int(self.path.read_text()), self._free()
        if free >= self.need:
            self.ok = True
            self.note = f"{free} free 2 MiB pages already reserved"
            return self
        wanted = current + self.need - free
        if os.geteuid() != 0:
            self.note = (f"2 MiB part skipped: needs {self.need} free 2 MiB pages, {free} free; as root, "
                         f"`echo {wanted} > {self.path}` (or run this script as root)")
            return self
        self.previous = current
        self.path.write_text(f"{wanted}\n")
        got = int(self.path.read_text())  # the kernel may give fewer than asked
        free = self._free()
        self.ok = free >= self.need
        self.note = (f"{self.path}: {current} -> {got} (asked {wanted}); {free} free"
                     + ("" if self.ok else f", {self.need} needed: 2 MiB part skipped (memory too fragmented?)"))
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            self.path.write_text(f"{self.previous}\n")
            back = int(self.path.read_text())
            print(f"hugepages: {self.path} given back: {back} (was {self.previous} before this run)", flush=True)
        return False


# ----------------------------------------------------------------------------- the run

def cv_over(xs: list) -> float | None:
    """stdev / mean of the values given (None with fewer than 2)."""
    xs = [x for x in xs if x is not None]
    return statistics.stdev(xs) / statistics.mean(xs) if len(xs) > 1 and statistics.mean(xs) else None


def summarize_pairs(sides: dict) -> dict:
    """Medians of both sides and of the per-round ratios nb/ref (paired rounds only), and the cvs:
    numabench's within-run cv (median over rounds), the reference's within-run cv where it has one,
    else its cv over rounds."""
    nb, ref = sides["numabench"], sides["reference"]
    ratios = [a / b for a, b in zip(nb, ref) if a is not None and b is not None and b > 0]
    nb_cv = [x for x in sides.get("numabench_cv", []) if x is not None]
    ref_cv = [x for x in sides.get("reference_cv", []) if x is not None]
    return {"numabench": median([x for x in nb if x is not None]),
            "reference": median([x for x in ref if x is not None]),
            "ratio": median(ratios), "ratio_min": min(ratios) if ratios else None,
            "ratio_max": max(ratios) if ratios else None, "rounds": len(ratios),
            "numabench_cv": median(nb_cv), "reference_cv": median(ref_cv) if ref_cv else cv_over(ref),
            "reference_cv_kind": "within run" if ref_cv else "over rounds"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the module docstring and benchmarks/README.md.")
    ap.add_argument("--size", type=parse_size, default=None,
                    help="bandwidth buffer, split across a kernel's arrays: 1GB = 1e9 (likwid), "
                         "1G = 2^30 (default 1GB; 128MB with --quick)")
    ap.add_argument("--latency-size", type=parse_size, default=None,
                    help="latency buffer (default 1G = 1 GiB; 64M with --quick)")
    ap.add_argument("--rounds", type=int, default=None, help="A B rounds (default 3; 1 with --quick)")
    ap.add_argument("--threads", default="1,2", help="thread counts for bandwidth (default 1,2)")
    ap.add_argument("--repeat", type=int, default=None, help="numabench samples per run (default 5; 3 with --quick)")
    ap.add_argument("--kernels", default=",".join(BW_KERNELS), help="bandwidth kernels (default all)")
    ap.add_argument("--no-latency", action="store_true", help="skip the latency part")
    ap.add_argument("--no-bandwidth", action="store_true", help="skip the bandwidth part")
    ap.add_argument("--no-peak", action="store_true", help="skip numabench peak vs likwid-bench on all CPUs")
    ap.add_argument("--no-c2c", action="store_true", help="skip the cache-to-cache (ping-pong) part")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, one round: a smoke run, not the targets' conditions")
    ap.add_argument("--numabench", metavar="PATH", help="numabench executable")
    ap.add_argument("--sample-seconds", type=float, default=None,
                    help="numabench --sample-seconds (default: numabench's own, 0.2 s)")
    ap.add_argument("--consecutive", type=int, default=0, metavar="N",
                    help="after the rounds, run numabench copy N times in a row per thread count, print the medians")
    ap.add_argument("--json", metavar="FILE", help="write every figure (per round) to FILE")
    ap.add_argument("--force", action="store_true", help="overwrite the --json FILE")
    args = ap.parse_args(argv)

    size = args.size or (128_000_000 if args.quick else 1_000_000_000)
    lat_size = args.latency_size or ((64 << 20) if args.quick else (1 << 30))
    rounds = args.rounds or (1 if args.quick else 3)
    repeat = args.repeat or (3 if args.quick else 5)
    chase_loads = 1 << 18 if args.quick else 1 << 20
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    kernels = [k.strip() for k in args.kernels.split(",") if k.strip()]
    for k in kernels:
        if k not in BW_KERNELS:
            ap.error(f"unknown kernel {k!r}; known: {','.join(BW_KERNELS)}")
    if args.json and os.path.exists(args.json) and not args.force:
        ap.error(f"{args.json} exists; choose another file or pass --force")

    # SIGTERM unwinds like Ctrl-C so the hugepage count is given back.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    flags = cpu_flags()
    nb = Numabench(args.numabench)
    if not nb.exe:
        print("error: numabench not found; pass --numabench PATH (pip install -e . in a venv)", file=sys.stderr)
        return 2
    cpus0 = node_cpus(0)
    if not cpus0 or max(threads) > len(cpus0):
        print(f"error: node 0 has {len(cpus0)} CPU(s) this process may use; --threads {args.threads} asks more",
              file=sys.stderr)
        return 2
    tmpdir = tempfile.TemporaryDirectory(prefix="numabench-ref-")
    likwid, mbw = Likwid(flags), Mbw(Path(tmpdir.name))
    stream = Stream(Path(tmpdir.name)) if not args.no_bandwidth else None
    stream_ntimes = 5 if args.quick else STREAM_NTIMES

    started = datetime.datetime.now().astimezone()
    command = "python " + " ".join([os.path.relpath(__file__)] + (sys.argv[1:] if argv is None else list(argv)))
    print(f"# numabench vs reference tools, {started:%Y-%m-%d %H:%M %Z}")
    print(f"# command: {command}")
    print(f"# CPU: {cpu_model()}, {os.cpu_count()} CPUs, node 0 CPUs used: {cpus0[:max(threads)]}, "
          f"AVX-512: {'yes' if 'avx512f' in flags else 'no'}, AVX2: {'yes' if 'avx2' in flags else 'no'}")
    print(f"# numabench: {nb.exe}; likwid-bench {pkg_version('likwid') or ''}: "
          f"{likwid.exe or 'NOT FOUND (apt-get install likwid)'} domain {likwid.domain}; "
          f"mbw {pkg_version('mbw') or ''}: {mbw.exe or 'NOT FOUND (apt-get install mbw)'}")
    print(f"# bandwidth buffer {size} bytes ({fmt_bytes(size)}) split across each kernel's arrays, 4 KiB pages; "
          f"latency buffer {fmt_bytes(lat_size)}; {rounds} round(s) A B A B; numabench --repeat {repeat}")
    if mbw.modes:
        print("# mbw modes: " + ", ".join(f"-t{t} printed {m['label']} runs {m['runs']} (vs numabench {m['against']})"
                                          for t, m in mbw.modes.items()) + (f"; {mbw.note}" if mbw.note else ""))
    if likwid.tests:
        print("# likwid tests: " + ", ".join(f"{k}={t}" for k, t in likwid.tests.items()))
    if stream:
        if not stream.error:  # build the size used first, so the memcpy probe is known before the rounds
            try:
                stream.build(max(1, size // 3 // 8), stream_ntimes)
            except ToolError as exc:
                stream.error = str(exc)
        print(f"# STREAM 5.10 (benchmarks/reference/stream/stream.c, gcc -O3 -fopenmp, NTIMES {stream_ntimes}): "
              + (stream.error or f"its Copy {'calls memcpy' if stream.copy_is_memcpy else 'is a loop'}, "
                                 f"set against numabench {stream.copy_against}"))
    q0 = quiet_check()
    print(f"# quiet check before: load {q0['loadavg_1m']:.2f}/{q0['loadavg_5m']:.2f}, "
          f"{q0['other_runnable']} other runnable task(s)")
    if args.quick:
        print("# --quick: small buffers and one round; figures are a smoke test, not the targets' conditions")
    print(flush=True)

    errors: list[str] = []
    raw: dict = {"bandwidth": {}, "mbw": {}, "stream": {}, "stream_avg": {}, "stream_best": {}, "latency": {},
                 "peak": {}, "c2c": {}}

    def record(store, key, side, value, cv=None):
        sides = store.setdefault(key, {name: [None] * rounds for name in
                                       ("numabench", "reference", "numabench_cv", "reference_cv")})
        sides[side][r] = value
        sides[side + "_cv"][r] = cv

    def attempt(what, fn):
        try:
            return fn()
        except ToolError as exc:
            errors.append(f"round {r + 1}, {what}: {exc}")
            print(f"  ERROR {what}: {exc}", flush=True)
            return None

    with tmpdir as tmp:
        chase = PlainChase(Path(tmp)) if not args.no_latency else None
        if chase and chase.error:
            errors.append(f"plain_chase: {chase.error}")
        # c2c: the first two CPUs of node 0, numabench then the plain ping-pong each round.
        pong = PingPong(Path(tmp)) if not args.no_c2c and len(cpus0) >= 2 else None
        if pong and pong.error:
            errors.append(f"ping_pong: {pong.error}")
        need = -(-lat_size // HUGE_BYTES) + 2
        page_kinds = ["4k"]
        hp = HugepageReservation(need)
        with hp:
            if not args.no_latency:
                print(f"# hugepages: {hp.note}", flush=True)
                if hp.ok:
                    page_kinds.append("2m")
            for r in range(rounds):
                t0 = time.time()
                q = quiet_check()
                raw.setdefault("quiet", []).append(q)
                print(f"  round {r + 1}: load {q['loadavg_1m']:.2f}, {q['other_runnable']} other runnable task(s)",
                      flush=True)
                if not args.no_bandwidth:
                    for t in threads:
                        for k in kernels:
                            # A: numabench with likwid's vector width, B: likwid, back to back.
                            isa = likwid.isa.get(k, "auto")
                            m = attempt(f"numabench {k} {t}T --isa {isa}",
                                        lambda: nb.run([k], "4k", size, t, repeat, args.sample_seconds, isa))
                            a = m[k]["bandwidth_bytes_per_s"] if m else None
                            a_cv = m[k].get("stats", {}).get("cv") if m else None
                            if m and m[k].get("checksum_ok") is False:
                                errors.append(f"round {r + 1}: numabench read checksum wrong ({t}T)")
                            record(raw["bandwidth"], (k, t), "numabench", a, a_cv)
                            b = None
                            if k in likwid.tests:
                                b = attempt(f"likwid {likwid.tests[k]} {t}T", lambda: likwid.bandwidth(k, size, t))
                            record(raw["bandwidth"], (k, t), "reference", b)
                            print(f"  round {r + 1} {k:8s} {t}T  numabench {a / 1e9 if a else float('nan'):6.2f}"
                                  f"  likwid {b / 1e9 if b else float('nan'):6.2f} GB/s", flush=True)
                            # Against STREAM and glibc memcpy, numabench as a user runs it: --isa auto.
                            if (t == 1 and mbw.exe and k in [mode["against"] for mode in mbw.modes.values()]) or (
                                    stream and stream.exe and k in ("triad", stream.copy_against)):
                                m = attempt(f"numabench {k} {t}T --isa auto",
                                            lambda: nb.run([k], "4k", size, t, repeat, args.sample_seconds))
                                a = m[k]["bandwidth_bytes_per_s"] if m else None
                                a_cv = m[k].get("stats", {}).get("cv") if m else None
                                raw.setdefault("auto_isa", {}).setdefault(f"{k} {t}T", []).append(
                                    m[k].get("isa") if m else None)
                                print(f"  round {r + 1} {k:8s} {t}T  numabench --isa auto "
                                      f"({m[k].get('isa') if m else '?'}) {a / 1e9 if a else float('nan'):6.2f} GB/s",
                                      flush=True)
                            if t == 1 and mbw.exe:
                                for mt, mode in mbw.modes.items():
                                    if mode["against"] == k:
                                        c = attempt(f"mbw -t{mt}", lambda: mbw.copy(mt, size))
                                        record(raw["mbw"], (mt, k), "numabench", a, a_cv)
                                        record(raw["mbw"], (mt, k), "reference", c[0] if c else None,
                                               c[1] if c else None)
                            if stream and stream.exe and k in ("triad", stream.copy_against):
                                key = "triad" if k == "triad" else "copy"
                                st = attempt(f"STREAM {t}T", lambda: stream.run(size, cpus0[:t], stream_ntimes))
                                record(raw["stream"], (k, t), "numabench", a, a_cv)
                                record(raw["stream"], (k, t), "reference", st[key] if st else None,
                                       st[key + "_cv"] if st else None)
                                record(raw["stream_avg"], (k, t), "numabench", a, a_cv)
                                record(raw["stream_avg"], (k, t), "reference", st[key + "_avg"] if st else None,
                                       st[key + "_cv"] if st else None)
                                # Best against best: numabench's fastest sample, STREAM's fastest iteration.
                                record(raw["stream_best"], (k, t), "numabench",
                                       max(m[k]["samples"]) if m and m[k].get("samples") else None, a_cv)
                                record(raw["stream_best"], (k, t), "reference", st[key] if st else None,
                                       st[key + "_cv"] if st else None)
                if not args.no_peak:
                    for mix in PEAK_MIXES:
                        # A: numabench peak on every allowed CPU of node 0, B: likwid-bench on the same CPUs.
                        isa = likwid.isa.get(f"peak {mix}", "auto")
                        m = attempt(f"numabench peak {mix} --isa {isa}",
                                    lambda: nb.peak(mix, size, repeat, args.sample_seconds, isa))
                        a = m["bandwidth_bytes_per_s"] if m else None
                        record(raw["peak"], mix, "numabench", a, m.get("stats", {}).get("cv") if m else None)
                        t_all = m["threads"] if m else len(cpus0)
                        b = None
                        if f"peak {mix}" in likwid.tests:
                            b = attempt(f"likwid {likwid.tests[f'peak {mix}']} {t_all}T",
                                        lambda: likwid.bandwidth(f"peak {mix}", size, t_all))
                        record(raw["peak"], mix, "reference", b)
                        print(f"  round {r + 1} peak {mix:5s} {t_all}T  numabench {a / 1e9 if a else float('nan'):6.2f}"
                              f"  likwid {b / 1e9 if b else float('nan'):6.2f} GB/s", flush=True)
                if not args.no_latency and chase and chase.exe:
                    for pages in page_kinds:
                        m = attempt(f"numabench latency {pages}",
                                    lambda: nb.run(["latency"], pages, lat_size, 1, repeat, args.sample_seconds))
                        a = m["latency"]["latency_ns"] if m else None
                        cpu = m["latency"]["cpus"][0] if m and m["latency"].get("cpus") else cpus0[0]
                        b = attempt(f"plain_chase {pages}",
                                    lambda: chase.latency(lat_size, pages, cpu, chase_loads, repeat))
                        record(raw["latency"], pages, "numabench", a,
                               m["latency"].get("stats", {}).get("cv") if m else None)
                        record(raw["latency"], pages, "reference", b)
                        print(f"  round {r + 1} latency {pages}  numabench {a or float('nan'):6.1f}"
                              f"  plain chase {b or float('nan'):6.1f} ns", flush=True)
                if pong and pong.exe:
                    ca, cb = cpus0[0], cpus0[1]
                    m = attempt(f"numabench c2c {ca}:{cb}", lambda: nb.c2c(ca, cb, repeat))
                    b = attempt(f"ping_pong {ca}:{cb}", lambda: pong.latency(ca, cb, repeat))
                    record(raw["c2c"], (ca, cb), "numabench", m["latency_ns"] if m else None,
                           m.get("stats", {}).get("cv") if m else None)
                    record(raw["c2c"], (ca, cb), "reference", b)
                    print(f"  round {r + 1} c2c {ca}:{cb}  numabench {m['latency_ns'] if m else float('nan'):6.1f}"
                          f"  ping_pong {b or float('nan'):6.1f} ns", flush=True)
                print(f"  round {r + 1} took {time.time() - t0:.0f} s", flush=True)
    consecutive: dict = {}
    if args.consecutive > 0 and not args.no_bandwidth:
        for t in threads:
            print(f"  copy {t}T: {args.consecutive} consecutive numabench runs", flush=True)
            runs = [attempt(f"numabench copy {t}T run {i + 1}",
                            lambda: nb.run(["copy"], "4k", size, t, repeat, args.sample_seconds))
                    for i in range(args.consecutive)]
            consecutive[t] = [m["copy"]["bandwidth_bytes_per_s"] if m else None for m in runs]
    q1 = quiet_check()

    # ------------------------------------------------------------------ report
    rows = []
    print()
    print(f"{'kernel':17s} {'thr':>3s} {'numabench':>10s} {'reference':>10s} {'ratio':>6s} {'(min..max)':>13s}"
          f" {'nb cv':>6s} {'ref cv':>6s} {'target':>8s} verdict  reference")

    def ratio_verdict(s, target):
        return "n/a" if s["ratio"] is None else ("PASS" if s["ratio"] >= target else "FAIL")

    for (k, t), sides in raw["bandwidth"].items():
        s = summarize_pairs(sides)
        ref = f"likwid-bench {likwid.tests[k]}" if k in likwid.tests else "likwid-bench: none"
        rows.append({"kind": "bandwidth", "kernel": k, "threads": t, "unit": "GB/s", "target": f">={BW_TARGET}",
                     "verdict": ratio_verdict(s, BW_TARGET), "reference_tool": ref, **s, "per_round": sides})
    for (k, t), sides in raw["stream"].items():
        s = summarize_pairs(sides)
        gated = k == "triad"  # issue 12: triad >= STREAM's triad; Copy is informational
        rows.append({"kind": "bandwidth", "kernel": k, "threads": t, "unit": "GB/s", "target": ">=1" if gated else "-",
                     "verdict": ratio_verdict(s, 1.0) if gated else "info",
                     "reference_tool": f"STREAM 5.10 {'Triad' if gated else 'Copy'}, best rate (numabench --isa auto)",
                     **s, "per_round": sides})
    for (k, t), sides in raw["stream_avg"].items():
        s = summarize_pairs(sides)
        rows.append({"kind": "bandwidth", "kernel": k, "threads": t, "unit": "GB/s", "target": "-",
                     "verdict": "info", "reference_tool": f"STREAM 5.10 {'Triad' if k == 'triad' else 'Copy'}, "
                                                          "rate of its average time (numabench --isa auto)",
                     **s, "per_round": sides})
    for (k, t), sides in raw["stream_best"].items():
        s = summarize_pairs(sides)
        rows.append({"kind": "bandwidth", "kernel": k, "threads": t, "unit": "GB/s", "target": "-",
                     "verdict": "info", "reference_tool": f"STREAM 5.10 {'Triad' if k == 'triad' else 'Copy'}, "
                                                          "best rate vs numabench's best sample (--isa auto)",
                     **s, "per_round": sides})
    for (mt, k), sides in raw["mbw"].items():
        s = summarize_pairs(sides)
        mode = mbw.modes[mt]
        gated = mode["runs"] == "memcpy"  # issue 12: copy_nt >= glibc memcpy
        rows.append({"kind": "bandwidth", "kernel": k, "threads": 1, "unit": "GB/s", "target": ">=1" if gated else "-",
                     "verdict": ratio_verdict(s, 1.0) if gated else "info",
                     "reference_tool": f"mbw -t{mt} x2 (printed {mode['label']}, runs {mode['runs']}; "
                                       "numabench --isa auto)",
                     **s, "per_round": sides})
    for mix, sides in raw["peak"].items():
        s = summarize_pairs(sides)
        test = likwid.tests.get(f"peak {mix}")
        gated = LIKWID_PEAK_FAMILY[mix][1]
        rows.append({"kind": "peak", "kernel": f"peak {mix}", "threads": len(cpus0), "unit": "GB/s",
                     "target": f">={BW_TARGET}" if gated else "-",
                     "verdict": ratio_verdict(s, BW_TARGET) if gated else "info",
                     "reference_tool": f"likwid-bench {test} (all CPUs)" if test else "likwid-bench: none",
                     **s, "per_round": sides})
    for pages, sides in raw["latency"].items():
        s = summarize_pairs(sides)
        ok = s["ratio"] is not None and abs(s["ratio"] - 1) <= LAT_TOLERANCE
        rows.append({"kind": "latency", "kernel": f"latency {pages}", "threads": 1, "unit": "ns",
                     "target": f"1+-{LAT_TOLERANCE:g}",
                     "verdict": "n/a" if s["ratio"] is None else ("PASS" if ok else "FAIL"),
                     "reference_tool": f"plain_chase.c {pages}", **s, "per_round": sides})
    for (ca, cb), sides in raw["c2c"].items():
        s = summarize_pairs(sides)
        ok = s["ratio"] is not None and abs(s["ratio"] - 1) <= C2C_TOLERANCE
        rows.append({"kind": "c2c", "kernel": f"c2c hitm {ca}:{cb}", "threads": 2, "unit": "ns",
                     "target": f"1+-{C2C_TOLERANCE:g}", "verdict": "n/a" if s["ratio"] is None else
                     ("PASS" if ok else "FAIL"), "reference_tool": "ping_pong.c (one-way = round trip / 2)",
                     **s, "per_round": sides})
    if "4k" in raw["latency"] and "2m" in raw["latency"]:
        for side, label in (("numabench", "numabench"), ("reference", "plain chase")):
            s = summarize_pairs({"numabench": raw["latency"]["2m"][side], "reference": raw["latency"]["4k"][side]})
            s["numabench_cv"] = s["reference_cv"] = None
            target = HUGE_GAIN_TARGET if side == "numabench" else None
            verdict = "info" if target is None else (
                "n/a" if s["ratio"] is None else ("PASS" if s["ratio"] <= target else "FAIL"))
            rows.append({"kind": "latency_2m_vs_4k", "kernel": f"2m/4k {label}", "threads": 1, "unit": "ns",
                         "target": f"<={target}" if target else "-", "verdict": verdict,
                         "reference_tool": f"{label} 4k pages", **s})

    def pct(x, mark=False):
        if x is None:
            return "-"
        return f"{x * 100:.1f}%" + ("*" if mark and x > CV_TARGET else "")

    def cell(x, unit):
        if x is None:
            return "-"
        return f"{x / 1e9:.2f}" if unit == "GB/s" else f"{x:.1f}"

    for row in rows:
        spread = (f"{row['ratio_min']:.3f}..{row['ratio_max']:.3f}" if row["ratio_min"] is not None else "-")
        ratio = f"{row['ratio']:.3f}" if row["ratio"] is not None else "-"
        print(f"{row['kernel']:17s} {row['threads']:3d} {cell(row['numabench'], row['unit']):>10s} "
              f"{cell(row['reference'], row['unit']):>10s} {ratio:>6s} {spread:>13s} "
              f"{pct(row.get('numabench_cv'), row['unit'] == 'GB/s'):>6s} {pct(row.get('reference_cv')):>6s} "
              f"{row['target']:>8s} {row['verdict']:7s}  {row['reference_tool']} ({row['unit']})")
    print()
    print("Bandwidth: GB/s = 1e9 B/s, STREAM counting (read + write bytes, no write-allocate) on both sides;")
    print("  mbw counts a copied byte once, so its MiB/s is shown x 2^20 x 2. Latency: ns per dependent load.")
    print("c2c: one-way ns, round trip / 2, of a HitM ping-pong on one line; both pin the same two CPUs.")
    print("Ratio: median over rounds of numabench/reference within the same round; (min..max) over rounds.")
    print("numabench runs with likwid's vector width against likwid-bench (--isa avx512 for _avx512, avx2 for _avx,")
    print("  sse2 for _sse), and as a user runs it (--isa auto) against STREAM and mbw. auto chose: "
          + (", ".join(f"{key} {'/'.join(sorted({i for i in v if i}))}" for key, v in raw.get("auto_isa", {}).items())
             or "-"))
    print(f"nb cv: numabench's stdev/mean within a run, median over rounds (* above the {CV_TARGET:.0%} target);")
    print("  ref cv: within a run for mbw, (max-min)/avg time for STREAM, over rounds for likwid-bench "
          "and the plain chase.")
    print(f"Quiet check after: load {q1['loadavg_1m']:.2f}/{q1['loadavg_5m']:.2f}, "
          f"{q1['other_runnable']} other runnable task(s). This VM drifts 5-25%: read ratios, not absolutes.")
    if args.quick:
        print("--quick run: the verdicts above are not at the targets' sizes.")
    if hp.note and not hp.ok and not args.no_latency:
        print(f"note: {hp.note}")
    for t, medians in consecutive.items():
        got = [x for x in medians if x is not None]
        if got:
            print(f"copy {t}T, {len(medians)} consecutive runs, medians GB/s: "
                  + ", ".join(f"{x / 1e9:.2f}" for x in got)
                  + f"; min..max {min(got) / 1e9:.2f}..{max(got) / 1e9:.2f}, cv {pct(cv_over(got))}")
    fails = [row["kernel"] + f" {row['threads']}T" for row in rows if row["verdict"] == "FAIL"]
    # The cv target once per kernel and thread count (the likwid rows carry every bandwidth kernel).
    fails += [f"{row['kernel']} {row['threads']}T cv {row['numabench_cv']:.1%}" for row in rows
              if row["reference_tool"].startswith("likwid") and (row.get("numabench_cv") or 0) > CV_TARGET]
    print(f"{len(fails)} target(s) missed" + (": " + ", ".join(fails) if fails else "") + ".")
    for e in errors:
        print(f"error: {e}", file=sys.stderr)

    if args.json:
        doc = {"date": started.isoformat(timespec="seconds"), "command": command, "cpu_model": cpu_model(),
               "avx512": "avx512f" in flags, "options": {"size_bytes": size, "latency_size_bytes": lat_size,
                                                          "rounds": rounds, "repeat": repeat, "threads": threads,
                                                          "kernels": kernels, "quick": args.quick,
                                                          "chase_loads": chase_loads, "c2c": not args.no_c2c,
                                                          "sample_seconds": args.sample_seconds},
               "tools": {"numabench": nb.exe, "likwid": pkg_version("likwid"), "likwid_domain": likwid.domain,
                         "likwid_tests": likwid.tests, "numabench_isa_against_likwid": likwid.isa,
                         "numabench_auto_isa": raw.get("auto_isa", {}), "mbw": pkg_version("mbw"),
                         "mbw_modes": mbw.modes,
                         "stream": None if not stream else {"error": stream.error, "version": "5.10",
                                                                  "copy_is_memcpy": stream.copy_is_memcpy,
                                                                  "ntimes": stream_ntimes}},
               "consecutive_copy_medians": {str(t): v for t, v in consecutive.items()},
               "hugepages": hp.note, "quiet_before": q0, "quiet_per_round": raw.get("quiet", []), "quiet_after": q1,
               "rows": rows, "errors": errors}
        tmp_path = args.json + ".tmp"
        with open(tmp_path, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        os.replace(tmp_path, args.json)
        print(f"wrote {args.json}")
    return 1 if errors else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
