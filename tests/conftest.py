"""Make `src/` importable when numabench is not installed (an installed package wins),
and share what the native and integration tests need: the CLI, root, hugepage pools."""

import contextlib
import errno
import os
import subprocess
import sys
import time

import pytest

try:
    import numabench  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
TREES_DIR = os.path.join(TESTS_DIR, "data", "trees")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

HUGEPAGE_DIR = "/sys/kernel/mm/hugepages"
NR_HUGEPAGES_2M = "/proc/sys/vm/nr_hugepages"
NR_HUGEPAGES_1G = f"{HUGEPAGE_DIR}/hugepages-1048576kB/nr_hugepages"


def cpu_flags() -> set:
    """The CPU's feature flags from /proc/cpuinfo (empty where the file has none, e.g. not x86)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# Every ISA the CPU has by its own flags, not by what the extension claims: a broken probe must
# fail test_isa_probe_agrees_with_cpuinfo, not quietly leave a kernel untested.
_FLAGS = cpu_flags()
CPU_ISAS = (["scalar"] + (["sse2"] if "sse2" in _FLAGS else [])
            + (["avx2"] if {"avx2", "fma"} <= _FLAGS else [])
            + (["avx512"] if "avx512f" in _FLAGS else []))


@contextlib.contextmanager
def scratch_cgroup(parent, name, settings=()):
    """A child cgroup PARENT/NAME-<pid> with each (file, value) of settings written in order; yields
    its path and removes it afterwards. Skips the test when it cannot be made."""
    path = os.path.join(parent, f"{name}-{os.getpid()}")
    try:
        os.mkdir(path)
    except OSError as exc:
        pytest.skip(f"cannot create {path}: {exc}")
    try:
        for file, value in settings:
            with open(os.path.join(path, file), "w") as f:
                f.write(str(value))
        yield path
    finally:
        # Every process run in it has exited (subprocess.run waits); the kernel may still be
        # detaching the last task for a moment (EBUSY).
        for _ in range(50):
            try:
                os.rmdir(path)
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    raise
                time.sleep(0.05)
        else:
            os.rmdir(path)


@contextlib.contextmanager
def kernel_arrays(n, offsets, total, sentinel):
    """An arena of `total` bytes filled with `sentinel`, with arrays a, b, c of n doubles at the byte
    offsets holding small integers and halves, so every sum, b + 3*c and mix the kernels compute is
    exact in float64 whatever the order or FMA. Yields {"arena", "mem", "views", "offsets"}."""
    import numpy as np

    from numabench.native import _native

    arena = _native.Arena(total)
    mem = np.frombuffer(arena, dtype=np.float64)
    mem[:] = sentinel
    views = [mem[o // 8: o // 8 + n] for o in offsets]
    idx = np.arange(n, dtype=np.float64)
    views[0][:] = (idx % 97) * 0.5 + 1.0
    views[1][:] = (idx % 89) - 40.0
    views[2][:] = (idx % 13) * 0.5
    state = {"arena": arena, "mem": mem, "views": views, "offsets": offsets}
    try:
        yield state
    finally:
        # Every view must go before the arena can close.
        del views, mem, idx
        state.clear()
        arena.close()


def extract_tree(archive, dest):
    """Extract a captured sysfs tree (an hwloc .tar.bz2) into dest; return its one top directory."""
    import tarfile

    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # Python without PEP 706: the archives are vendored and reviewed
            tar.extractall(dest)
    (top,) = os.listdir(dest)
    return os.path.join(str(dest), top)


def cgroup_v2_view(cpus=tuple(range(16)), mems=(0, 1, 2, 3)):
    """A CpusetView of a process in the cgroup v2 root allowed exactly these CPUs and memory nodes."""
    from numabench.host.cgroups import CpusetView

    return CpusetView(cgroup_version=2, cgroup_path="/", cpuset_cpus=cpus, cpuset_mems=mems, cpus_allowed=cpus,
                      mems_allowed=mems, cpuset_dir="/sys/fs/cgroup")


def doc_paths(doc, prefix=()):
    """Every path into a JSON/YAML document (the root, keys, list indexes), depth first: where the
    fuzz and the property tests put a wrong value."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from doc_paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from doc_paths(v, prefix + (i,))


def pytest_runtest_setup(item):
    # Probe the capability (euid 0), not the platform; -ra prints the reason.
    if item.get_closest_marker("root") is not None and not IS_ROOT:
        pytest.skip(f"needs root (euid is {os.geteuid()}): reserves hugepages / creates cgroups")


# --------------------------------------------------------------------------- the CLI


def numabench_command():
    """argv prefix that runs the installed `numabench` console script of this interpreter.

    `python -m numabench.cli` does not work (cli is a package without __main__);
    the console script next to sys.executable is what users run.
    """
    script = os.path.join(os.path.dirname(sys.executable), "numabench")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "numabench"]


def run_cli(*args, env=None, cwd=None, timeout=120, prefix=()):
    """Run `numabench ARGS`; returns the CompletedProcess (text mode)."""
    full_env = dict(os.environ)
    full_env.pop("NUMABENCH_SYSFS_ROOT", None)
    if env:
        full_env.update(env)
    return subprocess.run(
        [*prefix, *numabench_command(), *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


def assert_one_line_error(proc, *needles):
    """Exit 2, exactly one stderr line starting 'numabench: error:', containing every needle."""
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("numabench: error:"), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


class Cli:
    """What the `cli` fixture gives: cli.run(*args, env=..., cwd=...), cli.one_line_error(proc, *needles)."""

    command = staticmethod(numabench_command)
    run = staticmethod(run_cli)
    one_line_error = staticmethod(assert_one_line_error)

    def __call__(self, *args, **kwargs):
        return run_cli(*args, **kwargs)


@pytest.fixture
def cli():
    return Cli()


# --------------------------------------------------------------------------- hugepages


def read_int(path):
    with open(path) as f:
        return int(f.read().strip())


def write_int(path, value):
    with open(path, "w") as f:
        f.write(f"{value}\n")


def node_hugepage_file(node, page_kb, name):
    return f"/sys/devices/system/node/node{node}/hugepages/hugepages-{page_kb}kB/{name}"


class HugepagePool:
    """Sets a hugepage pool's size, reading it back; gives every old value back at teardown."""

    def __init__(self):
        self._saved = []

    def _remember(self, path):
        if not any(p == path for p, _ in self._saved):
            self._saved.append((path, read_int(path)))

    def reserve(self, path, pages):
        """Write `pages` to `path` and return what the kernel actually reserved."""
        if not os.path.exists(path):
            pytest.skip(f"{path} does not exist: this kernel has no such hugepage size")
        self._remember(path)
        try:
            write_int(path, pages)
        except OSError as exc:
            pytest.skip(f"cannot write {path}: {exc}")
        return read_int(path)

    def require(self, path, pages):
        """At least `pages` free pages in the pool at `path`, growing it (never shrinking
        someone else's reservation); skip with the reason when the kernel gives fewer."""
        if not os.path.exists(path):
            pytest.skip(f"{path} does not exist: this kernel has no such hugepage size")
        free_path = os.path.join(os.path.dirname(path), "free_hugepages")
        if path == NR_HUGEPAGES_2M:
            free_path = f"{HUGEPAGE_DIR}/hugepages-2048kB/free_hugepages"
        total, free = read_int(path), read_int(free_path)
        if free >= pages:
            return free
        wanted = total + pages - free
        got = self.reserve(path, wanted)
        if got < wanted:
            pytest.skip(f"asked {path} for {wanted} hugepages ({pages} free), the kernel reserved only {got}")
        return read_int(free_path)

    def short_by_one(self, path):
        """Pages to ask for so that the pool at `path` is one page short: its free
        pages plus one, with overcommit (surplus pages) turned off. An empty pool
        asks for 1. Never takes pages another user of this machine reserved."""
        if not os.path.exists(path):
            pytest.skip(f"{path} does not exist: this kernel has no such hugepage size")
        overcommit = os.path.join(os.path.dirname(path), "nr_overcommit_hugepages")
        free_path = os.path.join(os.path.dirname(path), "free_hugepages")
        if path == NR_HUGEPAGES_2M:
            overcommit = "/proc/sys/vm/nr_overcommit_hugepages"
            free_path = f"{HUGEPAGE_DIR}/hugepages-2048kB/free_hugepages"
        if os.path.exists(overcommit) and read_int(overcommit) != 0:
            self._remember(overcommit)
            write_int(overcommit, 0)
        return read_int(free_path) + 1

    def restore(self):
        for path, value in reversed(self._saved):
            try:
                write_int(path, value)
            except OSError:
                pass
        self._saved.clear()


@pytest.fixture
def hugepage_pool():
    pool = HugepagePool()
    try:
        yield pool
    finally:
        pool.restore()
