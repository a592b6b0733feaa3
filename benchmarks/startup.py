"""Start-up time of the numabench command, side by side with a bare `python -c pass`.

Interleaved (A B C A B C ...) so that drift hits every command alike; prints the median of each and
the difference to the bare interpreter, which is what numabench itself costs.

    python benchmarks/startup.py --rounds 20 [--numabench PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--numabench", default=os.path.join(os.path.dirname(sys.executable), "numabench"))
    args = ap.parse_args()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "numabench --version": [args.numabench, "--version"],
        "numabench topology": [args.numabench, "topology"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():
        timed(argv)  # warm the page cache once, untimed
    for _ in range(args.rounds):
        for name, argv in commands.items():
            times[name].append(timed(argv))
    bare = statistics.median(times["python -c pass"])
    print(f"{'command':22s} {'median ms':>10s} {'min ms':>8s} {'minus bare python':>18s}  ({args.rounds} rounds)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:22s} {median * 1e3:10.1f} {min(values) * 1e3:8.1f} {(median - bare) * 1e3:18.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
