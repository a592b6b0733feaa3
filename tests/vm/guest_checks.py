"""Checks run inside the multi-node guest (see rig.py); one process, one boot per topology.

Usage (in the guest): python guest_checks.py TOPOLOGY WORKDIR
Writes WORKDIR/verdicts.json: {check name: {"ok": bool, "detail": str}}, after
every check, so a guest that dies midway still reports what it did.
Timings here mean nothing (emulation, one physical memory): only placement and
behaviour are checked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NUMABENCH = os.path.join(REPO, ".venv", "bin", "numabench")
SMALL = ["--size", "32M", "--repeat", "1"]
HUGE_2M = "/sys/devices/system/node/node{}/hugepages/hugepages-2048kB/{}"

CHECKS: dict[str, list[str]] = {
    "two_node": [
        "topology_matches", "matrix_every_cell_placed", "remote_run_placed", "interleave_spreads_evenly",
        "preferred_lands_on_node", "misaligned_cgroup_v2_reports_remote", "misaligned_cgroup_v2_forbids_node0",
        "first_touch_in_cgroup_follows_cpuset_mems", "hugepages_drawn_from_node_pool",
        "empty_node_pool_clear_error", "loaded_latency_cross_node",
        "pod_aligned_planned_and_executed", "pod_misaligned_planned_and_executed", "pod_experiment_local_backend",
        "peak_and_thread_sweep_placed",
        "c2c_pairs_grouped_and_line_placed",
        "scan_chunks_placed_and_proven",
    ],
    "four_node": [
        "topology_matches", "matrix_memory_only_columns", "memory_only_cpu_node_refused",
        "run_on_memory_only_node", "hugepages_on_memory_only_node", "interleave_spreads_evenly",
        "qualify_placement_checks", "hmat_claims_caches_and_tiers_shown", "matrix_claimed_beside_measured",
        "capture_round_trip_in_cgroup_v2", "peak_and_thread_sweep_placed",
        "c2c_pairs_grouped_and_line_placed",
        "scan_chunks_placed_and_proven",
    ],
}


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def nb(*args, cgroup: str | None = None, timeout: int = 600):
    """Run numabench; inside `cgroup` (a v2 directory) when given."""
    cmd = [NUMABENCH, *args]
    if cgroup:
        script = f'echo $$ > {cgroup}/cgroup.procs && exec "$@"'
        cmd = ["sh", "-c", script, "sh", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def nb_json(*args, cgroup: str | None = None) -> dict:
    rc, out, err = nb(*args, "--json", cgroup=cgroup)
    expect(rc == 0, f"numabench {' '.join(args)} exited {rc}: {err.strip()[-500:]}")
    return json.loads(out)


def share(pages_by_node: dict, node: int) -> float:
    total = sum(pages_by_node.values())
    return pages_by_node.get(str(node), 0) / total if total else 0.0


def assert_placed(m: dict, node: int) -> None:
    expect(share(m["pages_by_node"], node) >= 0.99,
           f"{m['kernel']} cpu {m['cpu_node']} mem {m['mem_node']}: pages {m['pages_by_node']}, not on node {node}")
    expect(m["placement"]["ok"] and m["placement"]["verified_by"] == "move_pages", f"placement {m['placement']}")


def read_int(path: str) -> int:
    with open(path) as f:
        return int(f.read())


def write(path: str, value) -> None:
    with open(path, "w") as f:
        f.write(str(value))


# ---- checks ----------------------------------------------------------------

def topology_matches(expected):
    doc = nb_json("topology")
    nodes = doc["topology"]["nodes"]
    expect([n["id"] for n in nodes] == expected["nodes"], f"node ids {[n['id'] for n in nodes]}")
    for n in nodes:
        nid = str(n["id"])
        expect(list(n["cpus"]) == expected["cpus"][nid], f"node {nid} cpus {n['cpus']}")
        expect(bool(n["memory_only"]) == (n["id"] in expected["memory_only"]), f"node {nid} memory_only")
        got = {str(k): v for k, v in n["distances"].items()}
        expect(got == expected["distances"][nid], f"node {nid} distances {got} != {expected['distances'][nid]}")
        pools = {str(p["page_size_bytes"]): p for p in n["hugepages"]} if isinstance(n["hugepages"], list) \
            else {str(k): v for k, v in n["hugepages"].items()}
        pool = pools.get(str(2 << 20))
        expect(pool is not None and pool["total"] == expected["hugepages_2m"][nid], f"node {nid} 2M pool {pool}")
    cs = doc["cpuset"]
    expect(cs["mems_allowed"] == expected["nodes"], f"mems_allowed {cs['mems_allowed']}")


def _matrix(expected, rows, columns):
    doc = nb_json("matrix", *SMALL)
    mx = doc["matrix"]
    expect(mx["rows"] == rows and mx["columns"] == columns, f"rows {mx['rows']} columns {mx['columns']}")
    for r in rows:
        for c in columns:
            expect(mx["status"][str(r)][str(c)] == "measured", f"cell {r},{c}: {mx['status'][str(r)][str(c)]}")
            expect(mx["distances"][str(r)][str(c)] == expected["distances"][str(r)][str(c)], f"distance {r},{c}")
            expect(mx["latency_ns"][str(r)][str(c)] is not None, f"no latency for {r},{c}")
            expect(mx["bandwidth_bytes_per_s"][str(r)][str(c)] is not None, f"no bandwidth for {r},{c}")
    cells = {(m["kernel"], m["cpu_node"], m["mem_node"]) for m in doc["measurements"]}
    expect(len(cells) == 2 * len(rows) * len(columns), f"{len(cells)} measurements")
    for m in doc["measurements"]:
        assert_placed(m, m["mem_node"])
    return mx


def matrix_every_cell_placed(expected):
    _matrix(expected, [0, 1], [0, 1])


def matrix_memory_only_columns(expected):
    mx = _matrix(expected, [0, 1, 2], [0, 1, 2, 3])
    expect(mx["memory_only"] == [3], f"memory_only {mx['memory_only']}")


def remote_run_placed(expected):
    doc = nb_json("run", "--cpu-node", "0", "--mem-node", "1", "--pages", "4k", "--kernels", "latency,read", *SMALL)
    for m in doc["measurements"]:
        expect(m["cpu_node"] == 0 and m["mem_node"] == 1, f"cells {m['cpu_node']},{m['mem_node']}")
        expect(set(m["cpus"]) <= set(expected["cpus"]["0"]), f"cpus {m['cpus']} not on node 0")
        assert_placed(m, 1)
        expect(m["placement"]["method"] == "mbind", f"method {m['placement']['method']}")


def interleave_spreads_evenly(expected):
    nodes = [n for n in expected["nodes"]]
    doc = nb_json("run", "--policy", "interleave", "--mem-node", ",".join(map(str, nodes)), "--pages", "4k",
                  "--kernels", "read", *SMALL)
    m = doc["measurements"][0]
    expect(m["mem_nodes"] == nodes and m["mem_node"] is None, f"mem_nodes {m['mem_nodes']}")
    for n in nodes:
        got = share(m["pages_by_node"], n)
        expect(abs(got - 1 / len(nodes)) <= 0.02, f"node {n} holds {got:.1%} of {m['pages_by_node']}")
    expect(m["placement"]["ok"], f"placement {m['placement']}")


def preferred_lands_on_node(expected):
    doc = nb_json("run", "--policy", "preferred", "--cpu-node", "0", "--mem-node", "1", "--pages", "4k",
                  "--kernels", "latency", *SMALL)
    assert_placed(doc["measurements"][0], 1)


CGROUP = "/sys/fs/cgroup/nb-misaligned"


def _misaligned_cgroup():
    """A container cgroup as Memory Manager never makes it: CPUs on node 0, memory on node 1."""
    if not os.path.isdir(CGROUP):
        write("/sys/fs/cgroup/cgroup.subtree_control", "+cpuset")
        os.mkdir(CGROUP)
        write(f"{CGROUP}/cpuset.cpus", "0")
        write(f"{CGROUP}/cpuset.mems", "1")
    return CGROUP


def misaligned_cgroup_v2_reports_remote(expected):
    cg = _misaligned_cgroup()
    doc = nb_json("run", "--pages", "4k", "--kernels", "latency,read", *SMALL, cgroup=cg)
    cpuset = doc["environment"]["cpuset"]
    expect(cpuset["cgroup_version"] == 2, f"cgroup version {cpuset['cgroup_version']}")
    expect(cpuset["cpuset_cpus"] == [0] and cpuset["cpuset_mems"] == [1], f"cpuset {cpuset}")
    for m in doc["measurements"]:
        expect(m["cpu_node"] == 0 and m["mem_node"] == 1, f"cells {m['cpu_node']},{m['mem_node']}")
        assert_placed(m, 1)
    expect(any("outside this cgroup's cpuset.mems" in n for n in doc["notes"]), f"notes {doc['notes']}")


def misaligned_cgroup_v2_forbids_node0(expected):
    cg = _misaligned_cgroup()
    rc, out, err = nb("run", "--mem-node", "0", "--kernels", "latency", *SMALL, cgroup=cg)
    lines = err.strip().splitlines()
    expect(rc == 2, f"exit {rc}")
    expect(len(lines) == 1 and lines[0].startswith("numabench: error:"), f"stderr {err!r}")
    expect("cpuset" in lines[0] and "Memory Manager" in lines[0], f"message {lines[0]}")


def first_touch_in_cgroup_follows_cpuset_mems(expected):
    cg = _misaligned_cgroup()
    doc = nb_json("run", "--first-touch", "--pages", "4k", "--kernels", "latency", *SMALL, cgroup=cg)
    m = doc["measurements"][0]
    expect(m["placement"]["method"] == "first-touch", f"method {m['placement']['method']}")
    assert_placed(m, 1)


def hugepages_drawn_from_node_pool(expected):
    from numabench.native.placement import place

    free = [read_int(HUGE_2M.format(n, "free_hugepages")) for n in (0, 1)]
    arena, placement = place(16 << 20, "2m", [1], "bind", 0)
    try:
        during = [read_int(HUGE_2M.format(n, "free_hugepages")) for n in (0, 1)]
        expect(placement.pages_by_node == {1: 8}, f"pages {placement.pages_by_node}")
        expect(during == [free[0], free[1] - 8], f"free 2M pages before {free}, during {during}")
    finally:
        arena.close()
    after = [read_int(HUGE_2M.format(n, "free_hugepages")) for n in (0, 1)]
    expect(after == free, f"free 2M pages after {after}, before {free}")


def hugepages_on_memory_only_node(expected):
    doc = nb_json("run", "--cpu-node", "0", "--mem-node", "3", "--pages", "2m", "--size", "8M", "--repeat", "1",
                  "--kernels", "latency")
    m = doc["measurements"][0]
    expect(m["pages_by_node"] == {"3": 4}, f"pages {m['pages_by_node']}")


def empty_node_pool_clear_error(expected):
    path = HUGE_2M.format(1, "nr_hugepages")
    before = read_int(path)
    write(path, 0)
    try:
        rc, out, err = nb("run", "--cpu-node", "0", "--mem-node", "1", "--pages", "2m", "--size", "16M",
                          "--kernels", "latency", "--repeat", "1")
    finally:
        write(path, before)
    lines = err.strip().splitlines()
    expect(rc == 2, f"exit {rc}: {err}")
    expect(len(lines) == 1 and "node 1" in lines[0] and path in lines[0], f"stderr {err!r}")


def memory_only_cpu_node_refused(expected):
    rc, out, err = nb("run", "--cpu-node", "3", *SMALL)
    expect(rc == 2 and "memory-only" in err and "Traceback" not in err, f"exit {rc}: {err!r}")


def run_on_memory_only_node(expected):
    doc = nb_json("run", "--cpu-node", "0", "--mem-node", "3", "--pages", "4k", "--kernels", "latency,read", *SMALL)
    for m in doc["measurements"]:
        assert_placed(m, 3)


def loaded_latency_cross_node(expected):
    doc = nb_json("loaded", "--cpu-node", "0", "--mem-node", "0", "--inject-cpu-node", "1", "--inject-node", "1",
                  "--delays", "0,1000", "--size", "16M", "--inject-size", "16M", "--repeat", "1")
    points = doc["measurements"]
    expect([p["delay"] for p in points] == [0, 1000], f"delays {[p['delay'] for p in points]}")
    for p in points:
        expect(p["inject_cpus"] == [1] and p["inject_node"] == 1, f"injectors {p['inject_cpus']} {p['inject_node']}")
        expect(p["inject_bandwidth_bytes_per_s"] > 0, "injectors moved no bytes")
        assert_placed(p, 0)
        expect(share(p["inject_placement"]["pages_by_node"], 1) >= 0.99, f"inject pages {p['inject_placement']}")


def c2c_pairs_grouped_and_line_placed(expected):
    """numabench c2c: every ordered pair of the guest's CPUs, grouped by the nodes holding them (one CPU
    a node here: every pair is other-node), each pair's line located on --line-node (the memory-only
    node when there is one), or on the initiator's node by default; a node without CPUs refused."""
    cpu_node = {c: int(n) for n, cpus in expected["cpus"].items() for c in cpus}
    cpus = sorted(cpu_node)
    line_node = expected["memory_only"][0] if expected["memory_only"] else max(expected["nodes"])
    for args, where in ((["--line-node", str(line_node)], lambda m: line_node), ([], lambda m: m["initiator_node"])):
        doc = nb_json("c2c", "--samples", "1", *args)
        ms = doc["measurements"]
        pairs = [(m["initiator_cpu"], m["responder_cpu"]) for m in ms]
        expect(pairs == [(a, b) for a in cpus for b in cpus if a != b], f"pairs {pairs}")
        for m in ms:
            nodes = (cpu_node[m["initiator_cpu"]], cpu_node[m["responder_cpu"]])
            expect((m["initiator_node"], m["responder_node"]) == nodes, f"pair {m['cpus']}: nodes {nodes}")
            expect(nodes[0] != nodes[1] and m["relation"] == "other-node",
                   f"pair {m['cpus']} on nodes {nodes}: relation {m['relation']}")
            expect(m["mem_node"] == where(m) and m["pages_by_node"] == {str(where(m)): 1},
                   f"pair {m['cpus']}: line on {m['pages_by_node']}, asked node {where(m)}")
            assert_placed(m, where(m))
        rel = doc["c2c"]["relations"]
        expect(list(rel) == ["other-node"] and rel["other-node"]["measured"] == len(ms), f"relations {rel}")
    if expected["memory_only"]:
        rc, _, err = nb("c2c", "--nodes", str(expected["memory_only"][0]))
        expect(rc == 2 and "has no CPUs" in err and "Traceback" not in err, f"exit {rc}: {err!r}")


# ---- pods: the kubelet admission model and the local executor (kube/model.py, kube/executor.py) ----

PODS = os.path.join(REPO, "tests", "data", "pods")
POD_RUN = [NUMABENCH, "run", "--json", "--pages", "4k", "--kernels", "latency", "--size", "32M", "--repeat", "1"]


def _pod_exec(*plan_args):
    """Plan and run POD_RUN in the pod's cgroup; (numabench run result, plan)."""
    rc, out, err = nb("pod", "plan", *plan_args, "--json")
    expect(rc == 0, f"pod plan {plan_args} exited {rc}: {out[-500:]} {err[-500:]}")
    plan = json.loads(out)
    rc, out, err = nb("pod", "exec", *plan_args, "--", *POD_RUN)
    expect(rc == 0, f"pod exec exited {rc}: {err.strip()[-800:]}")
    expect("cgroup removed" in err, f"stderr {err[-500:]}")
    pod_dir = f"/sys/fs/cgroup/numabench/kubepods/pod{plan['pod']['uid']}"
    expect(not os.path.exists(pod_dir), f"{pod_dir} left behind")
    return json.loads(out), plan


def pod_aligned_planned_and_executed(expected):
    # Live topology, kubelet defaults (CPU 0 and 100Mi on node 0 reserved, asked for explicitly:
    # without reservations the Static policy refuses to start): 1 CPU + 256Mi lands on node 1.
    doc, plan = _pod_exec(os.path.join(PODS, "guest-aligned.yaml"), "--policy", "single-numa-node",
                          "--assume-default-reservations")
    c = plan["containers"][0]
    expect(plan["admitted"] and c["cpus"] == [1] and c["mems"] == [1], f"plan {c}")
    expect(c["exclusive_cpus"] and c["memory_pinned"] and c["aligned"], f"plan {c}")
    cs = doc["environment"]["cpuset"]
    expect(cs["cgroup_version"] == 2 and cs["cpuset_cpus"] == [1] and cs["cpuset_mems"] == [1], f"cpuset {cs}")
    # The container's cgroup is named after its owner (bench.nb-<pid>-<start time>): see pod cleanup.
    expect(re.fullmatch(rf"/numabench/kubepods/pod{plan['pod']['uid']}/bench\.nb-\d+-\d+", cs["cgroup_path"]),
           f"path {cs['cgroup_path']}")
    expect(cs["kube"] and cs["kube"]["qos_class"] == "Guaranteed", f"kube {cs['kube']}")
    m = doc["measurements"][0]
    expect(m["cpus"] == [1] and m["cpu_node"] == 1 and m["mem_node"] == 1, f"cpus {m['cpus']} cells "
           f"{m['cpu_node']},{m['mem_node']}")
    assert_placed(m, 1)


def pod_misaligned_planned_and_executed(expected):
    # Node 1's memory nearly all reserved: best-effort gives CPU 1 (node 1) and memory on node 0;
    # single-numa-node refuses the same pod.
    pod = os.path.join(PODS, "guest-aligned.yaml")
    node = os.path.join(PODS, "guest-node1-starved.json")
    rc, out, err = nb("pod", "plan", pod, "--node", node, "--policy", "single-numa-node")
    expect(rc == 1 and "TopologyAffinityError" in out, f"single-numa-node: exit {rc}: {out[-500:]}")
    doc, plan = _pod_exec(pod, "--node", node, "--policy", "best-effort")
    c = plan["containers"][0]
    expect(c["cpus"] == [1] and c["cpu_nodes"] == [1] and c["mems"] == [0] and not c["aligned"], f"plan {c}")
    cs = doc["environment"]["cpuset"]
    expect(cs["cpuset_cpus"] == [1] and cs["cpuset_mems"] == [0], f"cpuset {cs}")
    m = doc["measurements"][0]
    expect(m["cpus"] == [1] and m["cpu_node"] == 1 and m["mem_node"] == 0, f"cpus {m['cpus']} cells "
           f"{m['cpu_node']},{m['mem_node']}")
    assert_placed(m, 0)  # the verdict's inputs: CPUs on node 1, every page on node 0
    expect(any("outside this cgroup's cpuset.mems" in n for n in doc["notes"]), f"notes {doc['notes']}")


def pod_experiment_local_backend(expected):
    """The same experiment file as on a cluster, run by the local backend: the aligned variant's pod
    gets node 1's CPU and memory; the misaligned one (Burstable: the shared pool, verdict unpinned)
    runs on node 0 with its memory on node 1."""
    experiment = os.path.join(REPO, "tests", "data", "experiments", "guest.yaml")
    out = os.path.join(os.environ.get("TMPDIR", "/tmp"), "nb-pod-results.json")
    rc, _, err = nb("pod", "run", experiment, "--backend", "local", "-o", out, "--force")
    expect(rc == 0, f"pod run exited {rc}: {err.strip()[-800:]}")
    with open(out) as f:
        rs = json.load(f)
    expect(rs["cleanup_errors"] == [], f"cleanup errors {rs['cleanup_errors']}")
    runs = {r["variant"]: r for r in rs["runs"]}
    aligned, misaligned = runs["aligned"], runs["misaligned"]
    expect(aligned["planned"]["cpus"] == [1] and aligned["planned"]["mems"] == [1], f"plan {aligned['planned']}")
    expect(aligned["verdict"] == "aligned", f"aligned verdict {aligned['verdict']}")
    expect(misaligned["verdict"] == "unpinned", f"misaligned verdict {misaligned['verdict']}")
    for m in aligned["result"]["measurements"]:
        expect(m["cpus"] == [1], f"aligned cpus {m['cpus']}")
        assert_placed(m, 1)
    for m in misaligned["result"]["measurements"]:
        expect(m["cpu_node"] == 0 and m["mem_node"] == 1, f"misaligned cells {m['cpu_node']},{m['mem_node']}")
        assert_placed(m, 1)
    rc, cmp_out, err = nb("pod", "compare", out, "--json", out + ".cmp.json")
    expect(rc == 0, f"pod compare exited {rc}: {err.strip()[-500:]}")
    with open(out + ".cmp.json") as f:
        comparison = json.load(f)
    text = json.dumps(comparison)
    expect("aligned" in text and "misaligned" in text, "compare lacks a variant")


def qualify_placement_checks(expected):
    """numabench qualify in the guest: the placement-based checks (shape, distances, hugepage pools,
    where pages landed) pass against the right spec and fail, named, against a wrong one."""
    specs = os.path.join(REPO, "tests", "data", "qualify", "guest")
    rc, out, err = nb("qualify", os.path.join(specs, "four-node.yaml"), "--json")
    expect(rc == 0, f"qualify exited {rc}: {err.strip()[-800:]}")
    verdicts = {v["check"]: v["status"] for v in json.loads(out)["qualification"]["checks"]}
    expect(verdicts == {"nodes": "pass", "memory_only_nodes": "pass", "distances": "pass",
                        "hugepages_2m_min_per_node": "pass", "placement": "pass"}, f"verdicts {verdicts}")
    rc, out, err = nb("qualify", os.path.join(specs, "four-node-fail.yaml"), "--json")
    expect(rc == 1, f"qualify of the wrong spec exited {rc}: {err.strip()[-500:]}")
    verdicts = {v["check"]: v["status"] for v in json.loads(out)["qualification"]["checks"]}
    expect(verdicts == {"distances": "fail", "hugepages_2m_min_per_node": "fail"}, f"verdicts {verdicts}")


# ---- firmware claims (ACPI HMAT) and memory tiers: rig.FOUR_NODE boots with -machine hmat=on ----

NODE_SYSFS = "/sys/devices/system/node"
TIER_SYSFS = "/sys/devices/virtual/memory_tiering"


def _sysfs_claims(node: int) -> dict:
    """The kernel's own files, read plainly: {access class: {initiators, figures (0 -> None)}}."""
    out = {}
    base = f"{NODE_SYSFS}/node{node}"
    for access in sorted(d for d in os.listdir(base) if d.startswith("access")):
        ini = f"{base}/{access}/initiators"
        entry = {"initiators": sorted(int(x[4:]) for x in os.listdir(ini) if x.startswith("node"))}
        for f in ("read_latency", "write_latency", "read_bandwidth", "write_bandwidth"):
            unit = "_ns" if f.endswith("latency") else "_mb_s"
            entry[f + unit] = read_int(f"{ini}/{f}") or None
        out[int(access[len("access"):])] = entry
    return out


def _sysfs_tiers() -> dict | None:
    """{tier: [nodes]} from memory_tiering/memory_tier<T>/nodelist; None when the kernel has none."""
    from numabench.util.cpulist import parse_cpulist

    if not os.path.isdir(TIER_SYSFS):
        return None
    with_lists = {}
    for d in sorted(os.listdir(TIER_SYSFS)):
        if d.startswith("memory_tier"):
            with open(f"{TIER_SYSFS}/{d}/nodelist") as f:
                with_lists[d[len("memory_tier"):]] = list(parse_cpulist(f.read()))
    return with_lists


def hmat_claims_caches_and_tiers_shown(expected):
    """The guest kernel wrote node*/access*/initiators and memory_side_cache from QEMU's HMAT;
    numabench topology shows exactly the configured figures and cache, as the files say."""
    expect(expected["hmat"], "this topology boots without HMAT (rig.FOUR_NODE)")
    doc = nb_json("topology")["topology"]
    for n in doc["nodes"]:
        nid = n["id"]
        want = expected["claims"][str(nid)]
        got = {a["access"]: {k: v for k, v in a.items() if k != "access"} for a in n["access"]}
        expect(_sysfs_claims(nid) == {0: want, 1: want}, f"node {nid}: sysfs {_sysfs_claims(nid)}, configured {want}")
        expect(got == {0: want, 1: want}, f"node {nid}: numabench shows {got}, configured {want}")
        caches = n["memory_side_caches"]
        expect(caches == expected["memory_side_caches"][str(nid)], f"node {nid}: caches {caches}")
    tiers = _sysfs_tiers()
    release = os.uname().release
    if tiers is None:
        # Memory tiers came with Linux 6.1; an older guest kernel has no such directory.
        expect(tuple(map(int, release.split(".")[:2])) < (6, 1), f"kernel {release} has no {TIER_SYSFS}")
    else:
        expect(sorted(n for ids in tiers.values() for n in ids) == expected["nodes"], f"tiers in sysfs {tiers}")
        expect(doc["memory_tiers"] == tiers, f"numabench tiers {doc['memory_tiers']}, sysfs {tiers}")
    rc, text, err = nb("topology")
    expect(rc == 0, f"topology exited {rc}: {err[-500:]}")
    for line in ("node 3 claimed (HMAT access1, initiators 0): read 250 ns 8000 MB/s, write 250 ns 8000 MB/s",
                 "node 1 claimed (HMAT access1, initiators 1): read 120 ns n/a, write 120 ns n/a",
                 "node 3 memory-side cache L1: 16 MiB, line 64 B, direct-mapped, write-back"):
        expect(line in text, f"topology text lacks {line!r}:\n{text[-1500:]}")
    from numabench.util.cpulist import format_cpulist

    for tier, ids in (tiers or {}).items():
        line = f"memory tier {tier}: nodes {format_cpulist(ids)}"
        expect(line in text, f"topology text lacks {line!r}")


def matrix_claimed_beside_measured(expected):
    """matrix puts each claimed figure beside its measured cell; qualify --from judges those cells.
    Only the logic is checked: the guest's timings mean nothing."""
    workdir = sys.argv[2]
    out = os.path.join(workdir, "matrix-hmat.json")
    rc, text, err = nb("matrix", "--kind", "latency", "--size", "8M", "--repeat", "1", "-o", out, "--force")
    expect(rc == 0, f"matrix exited {rc}: {err.strip()[-800:]}")
    with open(out) as f:
        mx = json.load(f)["matrix"]
    rows, columns = [0, 1, 2], [0, 1, 2, 3]
    claimed = {}
    for r in rows:
        for c in columns:
            expect(mx["latency_ns"][str(r)][str(c)] is not None, f"cell {r}->{c}: {mx['status'][str(r)][str(c)]}")
            want = expected["claims"][str(c)]
            cell = mx["claimed"][str(r)][str(c)]
            if r in want["initiators"]:
                expect(cell is not None and {k: cell[k] for k in want} == want, f"claim {r}->{c}: {cell}")
                if want["read_latency_ns"]:
                    claimed[(r, c)] = want["read_latency_ns"]
            else:
                expect(cell is None, f"cell {r}->{c} has a claim {cell}; its initiators are {want['initiators']}")
    expect(sorted(claimed) == [(0, 0), (0, 3), (1, 1)], f"claimed latency cells {sorted(claimed)}")
    for (r, c), ns in claimed.items():
        expect(f"(claimed {ns})" in text, f"matrix text lacks '(claimed {ns})' for {r}->{c}:\n{text[-1500:]}")
    spec = os.path.join(workdir, "hmat-spec.yaml")
    with open(spec, "w") as f:  # JSON is YAML
        json.dump({"name": "hmat guest", "checks": {"measured_vs_claimed_latency_pct_max": 125,
                                                    "measured_vs_claimed_bandwidth_pct_min": 80}}, f)
    rc, qout, err = nb("qualify", spec, "--from", out, "--json")
    expect(rc == 1, f"qualify --from exited {rc} (the bandwidth check must fail: no bandwidth matrix): {err[-500:]}")
    v = {x["check"]: x for x in json.loads(qout)["qualification"]["checks"]}
    lat = v["measured_vs_claimed_latency_pct_max"]
    worst = max(mx["latency_ns"][str(r)][str(c)] / ns * 100 for (r, c), ns in claimed.items())
    expect(lat["status"] in ("pass", "fail") and abs(lat["measured"] - worst) < 1e-6, f"latency verdict {lat}")
    expect("no claim, not judged: 0->1, 0->2, 1->0, 1->2, 1->3, 2->0, 2->1, 2->2, 2->3" in lat["detail"],
           f"latency detail {lat['detail']}")
    bw = v["measured_vs_claimed_bandwidth_pct_min"]
    expect(bw["status"] == "fail" and "no read bandwidth matrix" in bw["detail"], f"bandwidth verdict {bw}")


CAPTURE_CGROUP = "/sys/fs/cgroup/nb-capture"
CAPTURE_SAME = ("cgroup_version", "cgroup_path", "cpuset_cpus", "cpuset_mems", "cpus_allowed", "mems_allowed", "kube")


def capture_round_trip_in_cgroup_v2(expected):
    """topology --capture inside a cgroup v2 cpuset (CPU 2, memory on the memory-only node 3),
    read back outside it with --sysfs-root: the same cpuset section, claims and tiers."""
    if not os.path.isdir(CAPTURE_CGROUP):
        write("/sys/fs/cgroup/cgroup.subtree_control", "+cpuset")
        os.mkdir(CAPTURE_CGROUP)
        write(f"{CAPTURE_CGROUP}/cpuset.cpus", "2")
        write(f"{CAPTURE_CGROUP}/cpuset.mems", "3")
    dest = os.path.join(sys.argv[2], "capture-v2")
    live = nb_json("topology", "--capture", dest, cgroup=CAPTURE_CGROUP)
    back = nb_json("topology", "--sysfs-root", dest)
    cs = live["cpuset"]
    expect(cs["cgroup_version"] == 2 and cs["cgroup_path"] == "/nb-capture", f"live cpuset {cs}")
    expect(cs["cpuset_cpus"] == [2] and cs["cpuset_mems"] == [3], f"live cpuset {cs}")
    expect(cs["cpus_allowed"] == [2] and cs["mems_allowed"] == [3], f"live cpuset {cs}")
    for key in CAPTURE_SAME:
        expect(back["cpuset"][key] == cs[key], f"{key}: read back {back['cpuset'][key]}, live {cs[key]}")
    expect(back == live, "the read-back document differs from the live one")
    for f in ("cpuset.cpus", "cpuset.mems", "cpuset.cpus.effective", "cpuset.mems.effective"):
        path = os.path.join(dest, "sys/fs/cgroup/nb-capture", f)
        expect(os.path.isfile(path), f"{path} not captured")
    rc, text, err = nb("topology", "--sysfs-root", dest)
    expect(rc == 0 and "cpuset.cpus: 2" in text and "Mems_allowed_list: 3" in text, f"text {text[-800:]}")
    expect("node 3 claimed (HMAT access1, initiators 0)" in text, "the capture lost the HMAT claims")


PEAK_KERNELS = ["peak_1to0", "peak_3to1", "peak_2to1", "peak_1to1", "peak_triad"]


def peak_and_thread_sweep_placed(expected):
    """numabench peak on a remote node (and a memory-only one where the guest has it) and with
    --all-nodes: every mix on the node's allowed CPUs, its pages proven on the memory node asked.
    The thread sweep runs one measurement per count, each count that many CPUs of the node, and
    refuses counts above the node's CPUs with exit 2. Placement and counts only, never timings."""
    cpu_nodes = [n for n in expected["nodes"] if expected["cpus"][str(n)]]
    targets = [(cpu_nodes[0], cpu_nodes[1])] + [(cpu_nodes[0], m) for m in expected["memory_only"]]
    for cpu, mem in targets:
        doc = nb_json("peak", "--node", str(cpu), "--mem-node", str(mem), "--size", "16M", "--repeat", "1",
                      "--sample-seconds", "0.01")
        expect([m["kernel"] for m in doc["measurements"]] == PEAK_KERNELS, f"kernels {doc['measurements']}")
        for m in doc["measurements"]:
            expect(m["cpu_node"] == cpu and m["mem_node"] == mem, f"peak cell {m['cpu_node']}->{m['mem_node']}")
            expect(sorted(m["cpus"]) == sorted(expected["cpus"][str(cpu)]), f"peak cpus {m['cpus']}")
            assert_placed(m, mem)
    doc = nb_json("peak", "--all-nodes", "--mixes", "triad", "--size", "16M", "--repeat", "1",
                  "--sample-seconds", "0.01")
    got = [(m["cpu_node"], m["mem_node"]) for m in doc["measurements"]]
    expect(got == [(n, n) for n in cpu_nodes], f"--all-nodes measured {got}")
    for m in doc["measurements"]:
        assert_placed(m, m["cpu_node"])
    for n in expected["memory_only"]:
        rc, _, err = nb("peak", "--node", str(n), "--size", "16M")
        expect(rc == 2 and "no CPUs" in err and err.count("\n") == 1, f"peak on memory-only node {n}: {rc} {err}")
    cpu, mem = cpu_nodes[-1], cpu_nodes[0]
    ncpus = len(expected["cpus"][str(cpu)])
    doc = nb_json("run", "--cpu-node", str(cpu), "--mem-node", str(mem), "--kernels", "read,triad", "--pages", "4k",
                  "--threads-sweep", "--size", "16M", "--repeat", "1", "--sample-seconds", "0.01")
    counts = sorted({ncpus} | {2 ** i for i in range(8) if 2 ** i < ncpus})
    for kernel in ("read", "triad"):
        ms = [m for m in doc["measurements"] if m["kernel"] == kernel]
        expect([m["threads"] for m in ms] == counts, f"{kernel} sweep threads {[m['threads'] for m in ms]}")
        for m in ms:
            expect(m["thread_sweep"] == counts and len(set(m["cpus"])) == m["threads"], f"sweep cpus {m['cpus']}")
            expect(set(m["cpus"]) <= set(expected["cpus"][str(cpu)]), f"sweep cpus {m['cpus']} off node {cpu}")
            assert_placed(m, mem)
    rc, _, err = nb("run", "--cpu-node", str(cpu), "--kernels", "read", "--threads", f"1,{ncpus + 1}", "--size", "16M")
    expect(rc == 2 and f"--threads {ncpus + 1} but CPU node {cpu}" in err, f"sweep past the node's CPUs: {rc} {err}")


def _scan(node: int, *extra: str) -> dict:
    """A tiny memory scan of `node` (3 chunks of 32 MiB; 1 GiB guest nodes need a small margin)."""
    return nb_json("scan", "--node", str(node), "--chunk", "32M", "--max-chunks", "3", "--margin", "64M",
                   "--repeat", "1", "--sample-seconds", "0.01", *extra)


def _scan_placed(doc: dict, node: int, cpu_node: int, expected) -> None:
    reads = [m for m in doc["measurements"] if m["kernel"] == "scan_read"]
    expect([m["chunk"] for m in reads] == [0, 1, 2], f"chunks {[m['chunk'] for m in reads]}")
    expect(doc["scan"]["chunks_done"] == 3 and doc["scan"]["cpu_node"] == cpu_node, f"scan {doc['scan']}")
    for m in reads:
        assert_placed(m, node)
        expect(m["placement"]["method"] == "mbind", f"method {m['placement']['method']}")
        expect(set(m["cpus"]) <= set(expected["cpus"][str(cpu_node)]), f"cpus {m['cpus']} not on node {cpu_node}")
        phys = m["physical"]
        # Root in the guest: every chunk's frames readable and present.
        expect(phys["readable"] and phys["frames_present"] == (32 << 20) // 4096, f"physical {phys}")


def scan_chunks_placed_and_proven(expected):
    """numabench scan of a remote node (read from node 0's CPUs), and of the memory-only node where
    the topology has one (read from its nearest CPU node): every chunk bound, located on the node by
    move_pages and its physical frames read from pagemap. Placement only, never timings."""
    _scan_placed(_scan(1, "--cpu-node", "0"), 1, 0, expected)
    for node in expected["memory_only"]:
        doc = _scan(node)
        distances = {int(c): d[str(node)] for c, d in expected["distances"].items()
                     if expected["cpus"].get(c)}
        nearest = min(distances, key=lambda c: (distances[c], c))
        _scan_placed(doc, node, nearest, expected)
        expect(any("nearest CPU node" in n for n in doc["notes"]), f"notes {doc['notes']}")


def main() -> int:
    topology, workdir = sys.argv[1], sys.argv[2]
    with open(os.path.join(workdir, "expected.json")) as f:
        expected = json.load(f)
    with open(os.path.join(workdir, "only.txt")) as f:
        only = {n for n in f.read().split(",") if n}
    verdicts = {}
    for name in CHECKS[topology]:
        if only and name not in only:
            continue
        started = time.monotonic()
        try:
            globals()[name](expected)
            verdicts[name] = {"ok": True, "detail": ""}
        except CheckFailed as exc:
            verdicts[name] = {"ok": False, "detail": str(exc)}
        except Exception:
            verdicts[name] = {"ok": False, "detail": traceback.format_exc()[-2000:]}
        verdicts[name]["seconds"] = round(time.monotonic() - started, 1)
        print(f"guest check {name}: {'ok' if verdicts[name]['ok'] else 'FAILED'} "
              f"({verdicts[name]['seconds']} s)", flush=True)
        with open(os.path.join(workdir, "verdicts.json.tmp"), "w") as f:
            json.dump(verdicts, f, indent=1)
        os.replace(os.path.join(workdir, "verdicts.json.tmp"), os.path.join(workdir, "verdicts.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
