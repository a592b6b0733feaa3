"""Boot a QEMU guest with several NUMA nodes and run the project's checks inside.

Our machines have one NUMA node. virtme-ng boots Debian's kernel under QEMU
with software emulation (KVM guests hang on these hosts), with the host's
filesystem as the guest's read-only root, so the guest runs this checkout's
own build. One boot per topology runs the whole batch of checks
(guest_checks.py) and writes their verdicts into a shared writable folder.

The guest's nodes share the host's memory: the guest proves placement and
logic, never remote-memory slowness. Timings inside it mean nothing.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUEST_SCRIPT = os.path.join(REPO, "tests", "vm", "guest_checks.py")
# Emulated devices the checks never use: skipping their drivers saves seconds a boot.
MODULE_BLACKLIST = "kvm,kvm_intel,kvm_amd,ahci,libahci,psmouse,sr_mod,cdrom,floppy,serio_raw,pcspkr,joydev"


@dataclass(frozen=True)
class VmTopology:
    """A guest layout: per node its memory (MiB) and CPUs (empty: memory-only)."""

    name: str
    node_mem_mib: tuple[int, ...]
    node_cpus: tuple[tuple[int, ...], ...]
    distances: dict = field(default_factory=dict)  # (a, b) -> SLIT distance, both directions given
    hugepages_2m: tuple[int, ...] = ()

    @property
    def cpus(self) -> int:
        return sum(len(c) for c in self.node_cpus)

    def distance(self, a: int, b: int) -> int:
        return 10 if a == b else self.distances[(a, b)]

    def vng_args(self) -> list[str]:
        args = ["--cpus", str(self.cpus), "--memory", f"{sum(self.node_mem_mib)}M"]
        for mem, cpus in zip(self.node_mem_mib, self.node_cpus):
            spec = f"{mem}M"
            if cpus:
                spec += ",cpus=" + ("-".join(map(str, (cpus[0], cpus[-1]))) if len(cpus) > 1 else str(cpus[0]))
            args += ["--numa", spec]
        for (a, b), d in sorted(self.distances.items()):
            args += ["--numa-distance", f"{a},{b}={d}"]
        return args

    def kernel_args(self) -> str:
        parts = [f"module_blacklist={MODULE_BLACKLIST}"]
        if self.hugepages_2m:
            pools = ",".join(f"{n}:{c}" for n, c in enumerate(self.hugepages_2m))
            parts += ["hugepagesz=2M", f"hugepages={pools}"]
        return " ".join(parts)

    def expected(self) -> dict:
        """What numabench topology must report inside the guest."""
        n = len(self.node_mem_mib)
        return {
            "name": self.name,
            "nodes": list(range(n)),
            "cpus": {str(i): list(c) for i, c in enumerate(self.node_cpus)},
            "memory_only": [i for i, c in enumerate(self.node_cpus) if not c],
            "distances": {str(a): {str(b): self.distance(a, b) for b in range(n)} for a in range(n)},
            "hugepages_2m": {str(i): c for i, c in enumerate(self.hugepages_2m)},
        }


def _symmetric(pairs: dict) -> dict:
    out = {}
    for (a, b), d in pairs.items():
        out[(a, b)] = d
        out.setdefault((b, a), d)
    return out


TWO_NODE = VmTopology(
    name="two_node",
    node_mem_mib=(1024, 1024),
    node_cpus=((0,), (1,)),
    distances=_symmetric({(0, 1): 21}),
    hugepages_2m=(16, 16),
)

# Three CPU nodes and a memory-only node (like CXL memory), with asymmetric
# distances (1 -> 0 is farther than 0 -> 1).
FOUR_NODE = VmTopology(
    name="four_node",
    node_mem_mib=(1024, 1024, 1024, 1024),
    node_cpus=((0,), (1,), (2,), ()),
    distances={**_symmetric({(0, 2): 21, (1, 2): 21, (0, 3): 24, (1, 3): 30, (2, 3): 28}),
               (0, 1): 21, (1, 0): 31},
    hugepages_2m=(8, 8, 8, 8),
)

TOPOLOGIES = {t.name: t for t in (TWO_NODE, FOUR_NODE)}


def find_vng() -> str | None:
    """The vng launcher: the project's .vng venv (tests/vm/setup.sh), else PATH."""
    local = os.path.join(REPO, ".vng", "bin", "vng")
    if os.access(local, os.X_OK):
        return local
    return shutil.which("vng")


def find_kernel() -> str | None:
    """Newest /boot/vmlinuz-* whose modules include 9p (the host's filesystem in the guest)."""
    for image in sorted(glob.glob("/boot/vmlinuz-*"), reverse=True):
        version = os.path.basename(image)[len("vmlinuz-"):]
        if glob.glob(f"/lib/modules/{version}/kernel/fs/9p*"):
            return image
    return None


def unavailable_reason() -> str | None:
    """Why the rig cannot run here, or None when it can."""
    if find_vng() is None:
        return "virtme-ng (vng) is not installed: run tests/vm/setup.sh"
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 is not installed: run tests/vm/setup.sh (apt qemu-system-x86)"
    if find_kernel() is None:
        return "no /boot/vmlinuz-* with 9p modules: run tests/vm/setup.sh (apt linux-image-amd64)"
    if " " in REPO:
        return f"the checkout path {REPO!r} has a space, which breaks virtme-ng's argument handling"
    if not os.path.exists(os.path.join(REPO, ".venv", "bin", "numabench")):
        return "numabench is not installed in .venv: run scripts/install.sh"
    return None


def run_guest_checks(topology: VmTopology, workdir: str, timeout_s: int = 900) -> dict:
    """Boot once, run every check of this topology inside, return {check: {ok, detail}}.

    Raises RuntimeError with the guest's output tail when no verdicts came back.
    """
    vng = find_vng()
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "expected.json"), "w") as f:
        json.dump(topology.expected(), f)
    verdicts = os.path.join(workdir, "verdicts.json")
    python = os.path.join(REPO, ".venv", "bin", "python")
    guest_cmd = f"{python} {GUEST_SCRIPT} {topology.name} {workdir}"
    cmd = [vng, "--disable-kvm", "--run", find_kernel(), "--force-9p", "--rwdir", workdir,
           *topology.vng_args(), "--append", topology.kernel_args(), "--", guest_cmd]
    env = dict(os.environ)
    # vng runs virtme-run by name: its venv's bin must be on PATH.
    env["PATH"] = os.path.dirname(vng) + os.pathsep + env.get("PATH", "")
    # stdout and stderr through one pipe: QEMU would give each file its own offset.
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout_s, env=env, stdin=subprocess.DEVNULL)
    with open(os.path.join(workdir, "guest.log"), "w") as f:
        f.write(proc.stdout)
    if not os.path.exists(verdicts):
        raise RuntimeError(f"the {topology.name} guest returned no verdicts (exit {proc.returncode}); "
                           f"its output ends with:\n{proc.stdout[-3000:]}")
    with open(verdicts) as f:
        return json.load(f)
