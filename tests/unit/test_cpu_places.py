"""host.cpus: each CPU's package, core, SMT siblings and last-level cache, checked on this machine,
on a hand-made tree and on hwloc's captured trees against hwloc's own counts (.console)."""

import glob
import os
import re

import pytest
from conftest import TESTS_DIR, extract_tree

from numabench.errors import TopologyError
from numabench.host.cpus import places_from_dict, read_cpu_places
from numabench.util.cpulist import parse_cpulist

CORPUS = os.path.join(TESTS_DIR, "data", "hwloc")

# Trees whose .console counts differ from the raw files on purpose, each with hwloc's reason.
HWLOC_DIFFERS = {
    # The .test file: "4th socket conflicts, ignored" and "3rd L3 conflicts, ignored".
    "40intel64-4n10c+pci-conflicts": {"Package", "L3Cache"},
    # s390: hwloc builds packages from book/drawer ids; physical_package_id is 0 everywhere.
    "20s390-2g6s4c": {"Package"},
    # AMD Bulldozer: the two cores of a compute unit are thread siblings in sysfs; hwloc knows them
    # as cores from CPUID. The kubelet, like numabench, sees what sysfs says.
    "64amd64-4s2n4ca2co": {"Core"},
    # POWER7: physical_package_id is -1 (unknown) in sysfs; hwloc takes packages from the device tree.
    "256ppc-8n8s4t": {"Package"},
    # IA64: sysfs has 8 distinct physical_package_id values for 16 CPUs; hwloc's 16 packages come from
    # elsewhere (not read here). numabench, like the kubelet's cadvisor, follows sysfs.
    "16ia64-8n2s": {"Package"},
}


def _write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_hand_made_tree_two_packages_smt(tmp_path):
    root = str(tmp_path)
    # 2 packages x 2 cores x 2 threads; siblings are cpu n and n+4 (Intel's numbering).
    for cpu in range(8):
        base = f"devices/system/cpu/cpu{cpu}"
        core = cpu % 4
        _write(root, f"{base}/topology/physical_package_id", f"{core // 2}\n")
        _write(root, f"{base}/topology/core_id", f"{core % 2}\n")
        _write(root, f"{base}/topology/thread_siblings_list", f"{core},{core + 4}\n")
        _write(root, f"{base}/cache/index0/type", "Data\n")
        _write(root, f"{base}/cache/index0/level", "1\n")
        _write(root, f"{base}/cache/index0/shared_cpu_list", f"{core},{core + 4}\n")
        _write(root, f"{base}/cache/index3/type", "Unified\n")
        _write(root, f"{base}/cache/index3/level", "3\n")
        _write(root, f"{base}/cache/index3/shared_cpu_list", "0-1,4-5\n" if core < 2 else "2-3,6-7\n")
    places = read_cpu_places(range(8), root)
    assert places[5].siblings == (1, 5) and places[5].core_key == 1 and places[5].package == 0
    assert places[6].package == 1 and places[6].llc == (2, 3, 6, 7) and places[6].llc_level == 3
    assert len({p.core_key for p in places.values()}) == 4
    assert places_from_dict([p.to_dict() for p in places.values()]) == places


def test_missing_files_give_the_conservative_reading(tmp_path):
    (place,) = read_cpu_places([3], str(tmp_path)).values()
    assert (place.package, place.core_key, place.siblings, place.llc, place.llc_level) == (0, 3, (3,), (), None)


def test_garbage_is_a_named_error(tmp_path):
    _write(str(tmp_path), "devices/system/cpu/cpu0/topology/core_id", "banana\n")
    with pytest.raises(TopologyError, match="core_id"):
        read_cpu_places([0], str(tmp_path))
    with pytest.raises(TopologyError, match="malformed"):
        places_from_dict([{"package": 1}])


def test_this_machine():
    cpus = parse_cpulist(open("/sys/devices/system/cpu/online").read())
    places = read_cpu_places(cpus)
    for p in places.values():
        assert p.cpu in p.siblings and all(places[s].siblings == p.siblings for s in p.siblings if s in places)
        if p.llc:
            assert p.cpu in p.llc


def _trees():
    return sorted(os.path.basename(p)[: -len(".tar.bz2")] for p in glob.glob(os.path.join(CORPUS, "*.tar.bz2")))


@pytest.mark.parametrize("name", _trees())
def test_hwloc_counts(name, tmp_path):
    console = os.path.join(CORPUS, f"{name}.console")
    sys_root = os.path.join(extract_tree(os.path.join(CORPUS, f"{name}.tar.bz2"), tmp_path), "sys")
    online = os.path.join(sys_root, "devices/system/cpu/online")
    if not os.path.exists(console):
        pytest.skip(f"{name}: hwloc has no .console for it")
    with open(console, errors="replace") as f:
        counts = {m.group(2): int(m.group(1)) for m in re.finditer(r"depth \S+:\s+(\d+) (\w+) \(type", f.read())}
    if os.path.exists(online):
        with open(online) as f:
            cpus = parse_cpulist(f.read())
    else:  # old kernels: every cpuN directory with a topology/ is a present CPU
        cpu_dir = os.path.join(sys_root, "devices/system/cpu")
        cpus = sorted(int(n[3:]) for n in os.listdir(cpu_dir) if re.fullmatch(r"cpu\d+", n)
                      and os.path.isdir(os.path.join(cpu_dir, n, "topology")))
    if counts.get("PU") != len(cpus):
        pytest.skip(f"{name}: hwloc shows {counts.get('PU')} of {len(cpus)} CPUs (a cgroup-restricted capture)")
    places = read_cpu_places(cpus, sys_root)
    ours = {"Package": len({p.package for p in places.values()}),
            "Core": len({p.core_key for p in places.values()}),
            "L3Cache": len({p.llc for p in places.values() if p.llc_level == 3})}
    if not any(p.llc_level for p in places.values()):
        del ours["L3Cache"]  # the capture has no cache/ directories; hwloc read caches from CPUID
    for level, n in ours.items():
        if level in counts and level not in HWLOC_DIFFERS.get(name, set()):
            assert n == counts[level], f"{name}: {level} {n}, hwloc {counts[level]}"
