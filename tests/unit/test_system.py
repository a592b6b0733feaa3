import json
import os
import platform
import shutil

import numabench
from numabench.host.system import bracketed_mode, read_environment

DATA = os.path.join(os.path.dirname(__file__), "..", "data")

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme pse avx avx2 avx512f avx512bw pdpe1gb
processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme pse avx avx2 avx512f avx512bw pdpe1gb
"""

def fake_tree(tmp_path):
    """two-socket-smt's sysfs plus cpufreq, cpuinfo, loadavg and a v2 cgroup for proc/self."""
    root = tmp_path / "t"
    shutil.copytree(os.path.join(DATA, "trees", "two-socket-smt"), root)
    shutil.copytree(os.path.join(DATA, "cgroups", "v2-restricted", "sys", "fs"), root / "sys" / "fs")
    shutil.copytree(os.path.join(DATA, "cgroups", "v2-restricted", "proc", "self"), root / "proc" / "self")
    for cpu in (0, 1, 63):
        d = root / f"sys/devices/system/cpu/cpu{cpu}/cpufreq"
        d.mkdir(parents=True)
        (d / "scaling_governor").write_text("performance\n" if cpu != 63 else "powersave\n")
    (root / "proc/cpuinfo").write_text(CPUINFO)
    (root / "proc/loadavg").write_text("0.50 1.25 2.00 1/234 5678\n")
    return root

def test_environment_from_tree(tmp_path):
    root = fake_tree(tmp_path)
    env = read_environment(str(root / "sys"), str(root / "proc"))
    assert env["cpu_model"] == "Intel(R) Xeon(R) Platinum 8480+"
    assert env["cpu_flags"] == {"avx2": True, "avx512f": True, "pdpe1gb": True}
    assert env["thp_enabled"] == "madvise"
    assert env["thp_defrag"] == "madvise"
    assert env["cpufreq_governors"] == {"0": "performance", "1": "performance", "63": "powersave"}
    assert env["loadavg"] == [0.5, 1.25, 2.0]
    assert env["cpuset"]["cgroup_version"] == 2
    assert env["cpuset"]["cgroup_path"] == "/system.slice/bench.service"
    assert env["cpuset"]["cpuset_cpus"] == [0, 1]
    assert env["cpuset"]["mems_allowed"] == [1]
    assert env["numabench_version"] == numabench.__version__
    assert env["python_version"] == platform.python_version()
    json.dumps(env)  # JSON-ready

def test_environment_missing_files_are_none(tmp_path):
    (tmp_path / "sys").mkdir()
    (tmp_path / "proc").mkdir()
    env = read_environment(str(tmp_path / "sys"), str(tmp_path / "proc"))
    for key in ("cpu_model", "cpu_flags", "thp_enabled", "thp_defrag", "cpufreq_governors", "cpuset", "loadavg"):
        assert env[key] is None, key
    assert env["kernel_release"] == os.uname().release

def test_bracketed_mode():
    assert bracketed_mode("always defer defer+madvise [madvise] never") == "madvise"
    assert bracketed_mode("[always] madvise never") == "always"
    assert bracketed_mode("never\n") == "never"
    assert bracketed_mode(None) is None

def test_cpu_without_avx512(tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text("processor : 0\nmodel name : AMD EPYC\nflags : fpu avx2\n")
    env = read_environment(str(tmp_path), str(tmp_path / "proc"))
    assert env["cpu_flags"] == {"avx2": True, "avx512f": False, "pdpe1gb": False}

def test_live_environment():
    env = read_environment()
    uname = os.uname()
    assert (env["kernel_release"], env["kernel_version"], env["machine"]) == (
        uname.release, uname.version, uname.machine)
    assert set(os.sched_getaffinity(0)) <= set(env["cpuset"]["cpus_allowed"])
    assert env["thp_enabled"] in (None, "always", "madvise", "never")
    assert len(env["loadavg"]) == 3
    assert json.loads(json.dumps(env)) == env
