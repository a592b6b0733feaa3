"""Does a wider vector stream more from memory? numabench's kernel sets side by side, and likwid-bench's
tests of the same widths, interleaved round by round on the same CPUs and buffer sizes.

    python benchmarks/isa_width.py                          # read, copy, triad; 1 and 2 threads; 8 rounds
    python benchmarks/isa_width.py --kernels triad --threads 1 --rounds 12 --json out.json

Each round times every numabench kernel set once (whole passes lasting about --seconds, in a rotating
order, on one 4 KiB-page buffer bound to node 0 and filled with 1.0) and then, when likwid-bench is
installed, runs its test of every width once. Per round, each set's figure is divided by the widest
set's figure of that round; the printed ratio is the median over rounds, with the quartiles. Bytes are
counted as STREAM and likwid count them (reads + writes, no write-allocate); GB/s = 1e9 B/s.

This is the measurement behind `--isa auto`'s probe (README, "What is measured"): it shows whether the
widest set is the fastest on this machine. Only the standard library, numpy and numabench's native
module are used; likwid-bench runs through its CLI (`-w M0:<bytes>B:T`, or N without M0).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys

from numabench.native import _native

ISAS = ("avx512", "avx2", "sse2", "scalar")
LIKWID = {  # numabench kernel -> likwid test per numabench kernel set of the same width
    "read": {"avx512": "load_avx512", "avx2": "load_avx", "sse2": "load_sse", "scalar": "load"},
    "copy": {"avx512": "copy_avx512", "avx2": "copy_avx", "sse2": "copy_sse", "scalar": "copy"},
    "triad": {"avx512": "stream_avx512_fma", "avx2": "stream_avx_fma", "sse2": "stream_sse", "scalar": "stream"},
    "write": {"avx512": "store_avx512", "avx2": "store_avx", "sse2": "store_sse", "scalar": "store"},
}
OFFSET = 1344  # numabench's default --array-offset


def likwid_rate(exe: str, domain: str, test: str, size: int, threads: int) -> float | None:
    proc = subprocess.run([exe, "-t", test, "-w", f"{domain}:{size}B:{threads}"], capture_output=True, text=True,
                          timeout=300)
    m = re.search(r"^MByte/s:\s*([0-9.]+)", proc.stdout, re.M)
    return float(m.group(1)) * 1e6 if m else None


def quartiles(xs: list[float]) -> tuple[float, float]:
    s = sorted(xs)
    return s[len(s) // 4], s[(3 * len(s)) // 4]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=1_000_000_000, help="bytes split across a kernel's arrays")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--kernels", default="read,copy,triad")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=0.1, help="one timing: whole passes lasting about this")
    ap.add_argument("--no-likwid", action="store_true")
    ap.add_argument("--json", help="write every figure, per round, to this file")
    args = ap.parse_args(argv)
    kernels = [k for k in args.kernels.split(",") if k]
    bad = [k for k in kernels if k not in LIKWID]
    if bad:
        print(f"isa_width: unknown kernel(s) {','.join(bad)}; known: {','.join(LIKWID)}", file=sys.stderr)
        return 2
    allowed = sorted(os.sched_getaffinity(0))
    threads = [int(t) for t in args.threads.split(",")]
    if max(threads) > len(allowed):
        print(f"isa_width: {max(threads)} threads but only {len(allowed)} CPUs allowed", file=sys.stderr)
        return 2
    isas = [i for i in ISAS if _native.isa_supported(i)]
    likwid = None if args.no_likwid else shutil.which("likwid-bench")
    domain = "N"
    available: set[str] = set()
    if likwid:
        available = {ln.split(" - ")[0].strip() for ln in
                     subprocess.run([likwid, "-a"], capture_output=True, text=True).stdout.splitlines() if " - " in ln}
        domains = re.findall(r"Tag (\S+):", subprocess.run([likwid, "-p"], capture_output=True, text=True).stdout)
        domain = "M0" if "M0" in domains else "N"
    print(f"# {len(allowed)} CPUs allowed; numabench kernel sets {', '.join(isas)}; likwid-bench "
          f"{'domain ' + domain if likwid else 'not used'}; {args.rounds} rounds", flush=True)
    out: dict = {"size_bytes": args.size, "rounds": args.rounds, "rows": []}
    for kernel in kernels:
        streams = _native.bw_streams(kernel)
        n = args.size // streams // 8 // 512 * 512
        arena = _native.Arena(streams * (n * 8 + OFFSET) + 4096, "4k")
        try:
            arena.bind("bind", [0])
            arena.populate(allowed[0])
            offsets = [i * (n * 8 + OFFSET) for i in range(streams)]
            for off in offsets:
                _native.bw_run("write", arena, n, [off], allowed[:1], 1, 1.0, "scalar")
            bytes_per_pass = n * _native.bw_bytes_per_elem(kernel)
            for t in threads:
                cpus = allowed[:t]
                one, _, _ = _native.bw_run(kernel, arena, n, offsets, cpus, 1, 3.0, isas[-1], 1, 1)
                passes = max(1, round(args.seconds / float(one[0])))
                nb: dict[str, list[float]] = {i: [] for i in isas}
                lk: dict[str, list[float | None]] = {i: [] for i in isas if LIKWID[kernel][i] in available}
                for r in range(args.rounds):
                    for isa in isas[r % len(isas):] + isas[:r % len(isas)]:
                        secs, _, _ = _native.bw_run(kernel, arena, n, offsets, cpus, 1, 3.0, isa, passes, 1)
                        nb[isa].append(bytes_per_pass * passes / float(secs[0]))
                    for isa in lk:
                        lk[isa].append(likwid_rate(likwid, domain, LIKWID[kernel][isa], args.size, t))
                for isa in isas:
                    ratio = [a / b for a, b in zip(nb[isa], nb[isas[0]])]
                    row = {"kernel": kernel, "threads": t, "isa": isa, "numabench": statistics.median(nb[isa]),
                           "ratio_to_widest": statistics.median(ratio), "quartiles": quartiles(ratio),
                           "per_round": nb[isa]}
                    if isa in lk and lk[isa] and isas[0] in lk:
                        pairs = [(a, b) for a, b in zip(lk[isa], lk[isas[0]]) if a and b]
                        if pairs:
                            row.update(likwid_test=LIKWID[kernel][isa],
                                       likwid=statistics.median(a for a, _ in pairs),
                                       likwid_ratio_to_widest=statistics.median(a / b for a, b in pairs),
                                       likwid_per_round=lk[isa])
                    out["rows"].append(row)
                    lq = (f"  likwid {row['likwid_test']:18s} {row['likwid'] / 1e9:6.2f} GB/s  ratio "
                          f"{row['likwid_ratio_to_widest']:.3f}" if "likwid" in row else "")
                    low, high = row["quartiles"]
                    print(f"{kernel:6s} {t}T {isa:7s} numabench {row['numabench'] / 1e9:6.2f} GB/s  ratio to "
                          f"{isas[0]} {row['ratio_to_widest']:.3f} ({low:.3f}..{high:.3f})" + lq, flush=True)
        finally:
            arena.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
