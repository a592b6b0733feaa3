"""numabench.host.noise on captured trees: every finding, each way it can go."""

import json
import os
import shutil

import pytest

from numabench.errors import UsageError
from numabench.host.noise import read_noise

TREES = os.path.join(os.path.dirname(__file__), "..", "data", "trees")


def stat_text(ticks, procs_running=1):
    """/proc/stat with per-CPU lines from {cpu: (busy, idle)} (busy spread over user and system)."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    for cpu, (busy, idle) in sorted(ticks.items()):
        user = busy // 2
        # user nice system idle iowait irq softirq steal guest guest_nice; guest counts inside user
        lines.append(f"cpu{cpu} {user} 0 {busy - user} {idle} 0 0 0 0 {user} 0")
    lines += ["intr 0", "ctxt 0", f"procs_running {procs_running}", "procs_blocked 0"]
    return "\n".join(lines) + "\n"


class Tree:
    """two-socket-smt (CPUs 0-63, siblings n and n+32) with the files noise.py reads."""

    def __init__(self, tmp_path):
        self.root = tmp_path / "tree"
        shutil.copytree(os.path.join(TREES, "two-socket-smt"), self.root)
        self.sys = self.root / "sys"
        self.proc = self.root / "proc"
        for cpu in range(64):
            d = self.sys / f"devices/system/cpu/cpu{cpu}/topology"
            d.mkdir(parents=True)
            (d / "thread_siblings_list").write_text(f"{cpu % 32},{cpu % 32 + 32}\n")
        (self.proc / "loadavg").write_text("0.50 0.40 0.30 1/300 4242\n")
        self.before = {cpu: (100, 900) for cpu in range(64)}
        self.after = {cpu: (105, 995) for cpu in range(64)}  # 5% busy over the sample
        self.running = 1
        self.sleeps = []

    def governor(self, cpu, name):
        d = self.sys / f"devices/system/cpu/cpu{cpu}/cpufreq"
        d.mkdir(parents=True, exist_ok=True)
        (d / "scaling_governor").write_text(name + "\n")

    def write(self, rel, text):
        path = self.sys / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        (self.proc / "stat").write_text(stat_text(self.after, self.running))

    def read(self, cpus=(0, 1)):
        (self.proc / "stat").write_text(stat_text(self.before))
        report = read_noise(cpus, str(self.sys), str(self.proc), sleep=self.sleep)
        json.dumps(report)  # JSON-ready, to go into a result's environment
        return report, {f["name"]: f for f in report["findings"]}


@pytest.fixture
def tree(tmp_path):
    return Tree(tmp_path)


def test_quiet_machine(tree):
    for cpu in (0, 1):
        tree.governor(cpu, "performance")
    tree.write("devices/system/cpu/intel_pstate/no_turbo", "1\n")
    report, f = tree.read()
    assert tree.sleeps == [0.1]
    assert report["cpus"] == [0, 1] and report["ok"] is True
    assert [x["name"] for x in report["findings"]] == ["cpufreq_governor", "turbo", "thp", "load_average",
                                                       "runnable_tasks", "cpu_busy", "smt_siblings_busy"]
    assert all(x["ok"] is True for x in report["findings"])
    assert f["cpufreq_governor"]["value"] == {"0": "performance", "1": "performance"}
    assert f["turbo"]["value"] == "disabled"
    assert f["thp"]["value"] == "madvise"
    assert f["load_average"]["value"] == {"1min": 0.5, "5min": 0.4, "15min": 0.3, "cpus": 64}
    assert f["runnable_tasks"]["value"] == 0
    assert f["cpu_busy"]["value"] == {"0": 0.05, "1": 0.05}
    assert f["smt_siblings_busy"]["value"] == {"32": 0.05, "33": 0.05}


def test_governor_not_performance_warns_naming_cpus(tree):
    tree.governor(0, "performance")
    tree.governor(1, "powersave")
    tree.governor(2, "schedutil")
    report, f = tree.read((0, 1, 2))
    assert f["cpufreq_governor"]["ok"] is False and report["ok"] is False
    assert "CPUs 1-2 are not on the performance governor" in f["cpufreq_governor"]["advice"]
    assert "cpu1/cpufreq/scaling_governor" in f["cpufreq_governor"]["advice"]


def test_unknown_when_files_are_missing(tree):
    (tree.sys / "kernel/mm/transparent_hugepage/enabled").unlink()
    (tree.proc / "loadavg").unlink()
    report, f = tree.read()
    for name in ("cpufreq_governor", "turbo", "thp", "load_average"):
        assert f[name]["ok"] is None, name
    assert f["cpufreq_governor"]["value"] == {"0": None, "1": None}
    assert report["ok"] is True  # unknown is not a warning


@pytest.mark.parametrize("rel, text, value, ok", [
    ("intel_pstate/no_turbo", "0\n", "enabled", False),
    ("intel_pstate/no_turbo", "1\n", "disabled", True),
    ("cpufreq/boost", "1\n", "enabled", False),
    ("cpufreq/boost", "0\n", "disabled", True),
])
def test_turbo(tree, rel, text, value, ok):
    tree.write(f"devices/system/cpu/{rel}", text)
    _, f = tree.read()
    assert (f["turbo"]["value"], f["turbo"]["ok"]) == (value, ok)
    if not ok:
        assert rel in f["turbo"]["advice"]


def test_thp_always_warns(tree):
    tree.write("kernel/mm/transparent_hugepage/enabled", "[always] madvise never\n")
    _, f = tree.read()
    assert (f["thp"]["value"], f["thp"]["ok"]) == ("always", False)
    assert "echo madvise >" in f["thp"]["advice"]


def test_load_average_per_cpu(tree):
    (tree.proc / "loadavg").write_text("40.00 30.00 20.00 9/300 4242\n")
    _, f = tree.read()
    assert f["load_average"]["ok"] is False
    assert "load 40.00 on 64 CPU(s)" in f["load_average"]["advice"]


def test_other_runnable_tasks(tree):
    tree.running = 4
    _, f = tree.read()
    assert (f["runnable_tasks"]["value"], f["runnable_tasks"]["ok"]) == (3, False)


def test_busy_chosen_cpu(tree):
    tree.after[1] = (100 + 60, 900 + 40)  # 60% busy
    report, f = tree.read()
    assert f["cpu_busy"]["value"] == {"0": 0.05, "1": 0.6}
    assert f["cpu_busy"]["ok"] is False and report["ok"] is False
    assert "CPU 1 60%" in f["cpu_busy"]["advice"]
    assert f["smt_siblings_busy"]["ok"] is True


def test_busy_smt_sibling(tree):
    tree.after[33] = (100 + 25, 900 + 75)
    _, f = tree.read()
    assert f["smt_siblings_busy"]["value"] == {"32": 0.05, "33": 0.25}
    assert f["smt_siblings_busy"]["ok"] is False
    assert "CPU 33 25%" in f["smt_siblings_busy"]["advice"] and "smt/control" in f["smt_siblings_busy"]["advice"]
    assert f["cpu_busy"]["ok"] is True


def test_chosen_siblings_are_not_their_own_noise(tree):
    tree.after[32] = (100 + 90, 900 + 10)  # busy, but chosen: the run's own CPU
    _, f = tree.read((0, 32))
    assert f["smt_siblings_busy"]["value"] == {}
    assert f["smt_siblings_busy"]["ok"] is True
    assert f["cpu_busy"]["value"]["32"] == 0.9 and f["cpu_busy"]["ok"] is False


def test_static_stat_is_unknown(tree):
    tree.after = dict(tree.before)  # a captured tree: nothing moves
    _, f = tree.read()
    assert f["cpu_busy"]["value"] == {"0": None, "1": None} and f["cpu_busy"]["ok"] is None
    assert f["smt_siblings_busy"]["ok"] is None


def test_no_siblings_files_is_unknown(tree):
    shutil.rmtree(tree.sys / "devices/system/cpu/cpu0")
    shutil.rmtree(tree.sys / "devices/system/cpu/cpu1")
    _, f = tree.read()
    assert f["smt_siblings_busy"]["ok"] is None and f["smt_siblings_busy"]["value"] is None


def test_bad_cpus(tree):
    with pytest.raises(UsageError, match=r"CPU\(s\) 64,99 are not online \(online: 0-63\)"):
        read_noise([64, 99, 0], str(tree.sys), str(tree.proc), sleep=tree.sleep)
    with pytest.raises(UsageError, match="no CPUs"):
        read_noise([], str(tree.sys), str(tree.proc), sleep=tree.sleep)
