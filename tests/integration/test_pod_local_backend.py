"""`numabench pod run --backend local` end to end on this machine: each variant's pod admitted by the
kubelet model, run in its cgroup, its framed result collected; then `pod compare`. Tiny sizes."""

import json
import os

import pytest

from numabench.host.topology import read_topology
from numabench.kube.experiment.executor import TOP, CgroupError, find_hierarchies
from numabench.util.cpulist import format_cpulist

pytestmark = [pytest.mark.root, pytest.mark.native]

EXPERIMENT = os.path.join(os.path.dirname(__file__), "..", "data", "experiments", "local.yaml")


@pytest.fixture(scope="module")
def machine():
    try:
        hierarchies = find_hierarchies()
    except CgroupError as exc:
        pytest.skip(str(exc))
    allowed = os.sched_getaffinity(0)
    topo = read_topology()
    if len(topo.online_cpus) < 2 or not {0, 1} <= allowed:
        pytest.skip("needs CPUs 0 and 1 (reservedSystemCPUs 0, one exclusive CPU for the aligned pod)")
    return hierarchies, topo


def leftovers(hierarchies):
    return [h.path(TOP) for h in hierarchies if os.path.isdir(h.path(TOP)) and os.listdir(h.path(TOP))
            and any(e.startswith("pod") or e in ("burstable", "besteffort") for e in os.listdir(h.path(TOP)))]


def test_aligned_and_misaligned_on_this_machine(machine, cli, tmp_path):
    hierarchies, topo = machine
    before = leftovers(hierarchies)
    out = tmp_path / "results.json"
    proc = cli.run("pod", "run", EXPERIMENT, "--backend", "local", "-o", out, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Succeeded" in proc.stderr
    rs = json.loads(out.read_text())
    assert rs["kind"] == "numabench-pod-results" and rs["backend"] == "local" and rs["cleanup_errors"] == []
    runs = {r["variant"]: r for r in rs["runs"]}
    a, m = runs["aligned"], runs["misaligned"]
    # The model: CPU 0 reserved, so the Guaranteed pod gets CPU 1 alone; the Burstable one the shared pool.
    assert a["planned"]["cpuset_cpus"] == "1" and a["planned"]["exclusive_cpus"] is True
    assert m["planned"]["exclusive_cpus"] is False and m["planned"]["cpus"] == sorted(topo.online_cpus)
    assert (a["qos_class"], m["qos_class"]) == ("Guaranteed", "Burstable")
    assert a["qos_ok"] is True and m["qos_ok"] is True
    for r in (a, m):
        assert r["status"] == "ok" and r["exit_code"] == 0
        pod = r["result"]["environment"]["pod"]
        assert pod["verdict"] in ("aligned", "misaligned", "unpinned", "single-node") and r["verdict"] == pod["verdict"]
        # What the pod saw from inside is what the model planned.
        assert pod["cpus"] == r["planned"]["cpus"] and pod["mems"] == r["planned"]["mems"]
        assert {m_["kernel"] for m_ in r["result"]["measurements"]} == {"latency", "read"}
        assert all(m_["size_bytes"] == 16 << 20 for m_ in r["result"]["measurements"])
    if len(topo.node_ids) == 1:
        assert a["verdict"] == "single-node" and a["verdict_ok"] is None
    assert leftovers(hierarchies) == before  # every cgroup the runs made is gone

    cmp_json = tmp_path / "cmp.json"
    md = tmp_path / "cmp.md"
    proc = cli.run("pod", "compare", out, "--json", cmp_json, "--markdown", md, "--rounds", "200")
    assert proc.returncode == 0, proc.stderr
    cmp = json.loads(cmp_json.read_text())
    cells = cmp["groups"]["all"]["comparisons"][0]["cells"]
    assert {c["kernel"] for c in cells} == {"latency", "read"}
    assert all(c["ratio"] > 0 and c["ci95"][0] <= c["ratio"] <= c["ci95"][1] for c in cells)
    ev = {e["variant"]: e for e in cmp["evidence"]}
    assert ev["aligned"]["cpuset_cpus"] == "1" and ev["aligned"]["cpuset_as_planned"] is True
    assert ev["misaligned"]["cpuset_cpus"] == format_cpulist(topo.online_cpus)
    assert ev["misaligned"]["cpuset_as_planned"] is True
    assert all(ev[v]["verdict"] and sum(ev[v]["pages_by_node"].values()) > 0 for v in ev)
    assert "alignment evidence per pod" in proc.stdout and "| aligned |" in md.read_text()


def test_rejected_pod_is_recorded_as_topology_affinity_error(machine, cli, tmp_path):
    """More whole CPUs than the machine has: the model rejects it as the kubelet would, nothing runs."""
    exp = tmp_path / "too-big.yaml"
    with open(EXPERIMENT) as f:
        text = f.read()
    exp.write_text(text.replace('limits: {cpu: "1", memory: 512Mi}',
                                                   'limits: {cpu: "64", memory: 512Mi}'))
    out = tmp_path / "results.json"
    proc = cli.run("pod", "run", exp, "--backend", "local", "-o", out, timeout=300)
    assert proc.returncode == 3, proc.stderr
    assert "aligned r0: TopologyAffinityError" in proc.stderr.splitlines()[-1]
    runs = {r["variant"]: r for r in json.loads(out.read_text())["runs"]}
    assert (runs["aligned"]["status"], runs["aligned"]["reason"]) == ("failed", "TopologyAffinityError")
    assert runs["aligned"]["result"] is None and runs["misaligned"]["status"] == "ok"
