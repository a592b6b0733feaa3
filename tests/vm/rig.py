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
class HmatLb:
    """One ACPI HMAT figure QEMU puts in the guest's firmware (``-numa hmat-lb``): what CPUs of
    `initiator` reach memory of `target` at. `kind` "latency" (ns) or "bandwidth" (MB/s), given as
    QEMU's access-latency / access-bandwidth, which the kernel shows as both read and write.

    Only "access" figures: QEMU writes one full initiator x target table per data type, and the
    kernel applies every entry of each table in turn, so a read-latency table would overwrite an
    access-latency figure of another cell with its 0 ("not given") entry.
    """

    initiator: int
    target: int
    kind: str
    value: int

    def qemu_arg(self) -> str:
        amount = f"latency={self.value}" if self.kind == "latency" else f"bandwidth={self.value}M"
        return (f"hmat-lb,initiator={self.initiator},target={self.target},hierarchy=memory,"
                f"data-type=access-{self.kind},{amount}")


@dataclass(frozen=True)
class HmatCache:
    """A memory-side cache in front of `node` (``-numa hmat-cache``), direct-mapped, write-back."""

    node: int
    level: int
    size_mib: int
    line_bytes: int

    def qemu_arg(self) -> str:
        return (f"hmat-cache,node-id={self.node},size={self.size_mib}M,level={self.level},"
                f"associativity=direct,policy=write-back,line={self.line_bytes}")

    def expected(self) -> dict:
        """As numabench reports it (MemorySideCache.to_dict)."""
        return {"level": self.level, "size_bytes": self.size_mib << 20, "line_size_bytes": self.line_bytes,
                "indexing": "direct-mapped", "write_policy": "write-back"}


@dataclass(frozen=True)
class VmTopology:
    """A guest layout: per node its memory (MiB) and CPUs (empty: memory-only), and optionally
    the firmware's HMAT claims (`-machine hmat=on`); `initiators` names the initiator of each
    memory-only node (QEMU needs one for every node once HMAT is on; a CPU node is its own)."""

    name: str
    node_mem_mib: tuple[int, ...]
    node_cpus: tuple[tuple[int, ...], ...]
    distances: dict = field(default_factory=dict)  # (a, b) -> SLIT distance, both directions given
    hugepages_2m: tuple[int, ...] = ()
    initiators: dict = field(default_factory=dict)  # memory-only node -> its initiator node
    hmat_lb: tuple[HmatLb, ...] = ()
    hmat_caches: tuple[HmatCache, ...] = ()

    @property
    def hmat(self) -> bool:
        return bool(self.hmat_lb or self.hmat_caches or self.initiators)

    def initiator(self, node: int) -> int:
        return node if self.node_cpus[node] else self.initiators[node]

    @property
    def cpus(self) -> int:
        return sum(len(c) for c in self.node_cpus)

    def distance(self, a: int, b: int) -> int:
        return 10 if a == b else self.distances[(a, b)]

    def vng_args(self) -> list[str]:
        args = ["--cpus", str(self.cpus), "--memory", f"{sum(self.node_mem_mib)}M"]
        for node, (mem, cpus) in enumerate(zip(self.node_mem_mib, self.node_cpus)):
            spec = f"{mem}M"
            if cpus:
                spec += ",cpus=" + ("-".join(map(str, (cpus[0], cpus[-1]))) if len(cpus) > 1 else str(cpus[0]))
            elif self.hmat:
                spec += f",initiator={self.initiators[node]}"  # vng passes the rest to -numa node
            args += ["--numa", spec]
        for (a, b), d in sorted(self.distances.items()):
            args += ["--numa-distance", f"{a},{b}={d}"]
        if self.hmat:
            # "--qemu-opt=VALUE": a separate VALUE starting with "-" would be read as vng's own option.
            args += ["--qemu-opt=-machine", "--qemu-opt=hmat=on"]
            for entry in (*self.hmat_lb, *self.hmat_caches):
                args += ["--qemu-opt=-numa", f"--qemu-opt={entry.qemu_arg()}"]
        return args

    def expected_claims(self) -> dict:
        """Per node, what the kernel shows in access0 and access1 (numabench's AccessClass.to_dict()
        without "access"): the node's initiator, and the figures of that initiator -> node (None:
        not given). The kernel links only the node's declared initiator (QEMU marks it in the
        Memory Proximity Domain Attributes) and takes the figures of that pair alone."""
        out = {}
        for node in range(len(self.node_mem_mib)):
            ini = self.initiator(node)
            figures = {e.kind: e.value for e in self.hmat_lb if e.initiator == ini and e.target == node}
            lat, bw = figures.get("latency"), figures.get("bandwidth")
            out[str(node)] = {"initiators": [ini], "read_latency_ns": lat, "write_latency_ns": lat,
                              "read_bandwidth_mb_s": bw, "write_bandwidth_mb_s": bw}
        return out

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
            "hmat": self.hmat,
            "claims": self.expected_claims() if self.hmat else {},
            "memory_side_caches": {str(i): [c.expected() for c in self.hmat_caches if c.node == i]
                                   for i in range(n)},
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
# distances (1 -> 0 is farther than 0 -> 1), and firmware claims (ACPI HMAT) as a CXL machine
# has them: node 3's initiator is node 0, with a slower claim and a memory-side cache in front of
# it; node 1 claims a latency but no bandwidth; node 2 claims nothing (its access classes name
# its initiator with every figure 0).
FOUR_NODE = VmTopology(
    name="four_node",
    node_mem_mib=(1024, 1024, 1024, 1024),
    node_cpus=((0,), (1,), (2,), ()),
    distances={**_symmetric({(0, 2): 21, (1, 2): 21, (0, 3): 24, (1, 3): 30, (2, 3): 28}),
               (0, 1): 21, (1, 0): 31},
    hugepages_2m=(8, 8, 8, 8),
    initiators={3: 0},
    hmat_lb=(HmatLb(0, 0, "latency", 110), HmatLb(0, 0, "bandwidth", 20000), HmatLb(1, 1, "latency", 120),
             HmatLb(0, 3, "latency", 250), HmatLb(0, 3, "bandwidth", 8000)),
    hmat_caches=(HmatCache(node=3, level=1, size_mib=16, line_bytes=64),),
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
    # A developer's shortcut: NUMABENCH_VM_CHECKS=name,name boots once for just those checks.
    with open(os.path.join(workdir, "only.txt"), "w") as f:
        f.write(os.environ.get("NUMABENCH_VM_CHECKS", ""))
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
