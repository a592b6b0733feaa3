"""The kubelet admission model (kube/admission/), pod spec parsing (kube/podspec.py) and `numabench pod plan`.

Cases come from the kubelet's own behaviour and tests: topologymanager policy_test.go merge cases,
memorymanager policy_static.go rules (single NUMA node or cross-NUMA group, minimal masks preferred),
the Memory Manager docs (Guaranteed pods with hugepages, fractional CPUs pinned too) and the
kubernetes.io blog "single vs cross NUMA node allocation".
"""

import json
import os
from fractions import Fraction

import pytest
from conftest import TESTS_DIR, TREES_DIR

from numabench.errors import UsageError
from numabench.host.topology import read_topology_tree
from numabench.kube.admission import (
    AdmittedState,
    Block,
    Hint,
    KubeletSettings,
    NodeDescription,
    NumaNode,
    load_node,
    load_state,
    merge_hints,
    plan_pod,
)
from numabench.kube.admission.bitmask import is_narrower, iterate_masks
from numabench.kube.podspec import load_pod, pod_from_dict
from numabench.kube.resources import parse_quantity

PODS = os.path.join(TESTS_DIR, "data", "pods")
GI = 1 << 30
MI = 1 << 20


def pod(name):
    return load_pod(os.path.join(PODS, name))


@pytest.fixture
def node():
    return load_node(os.path.join(PODS, "node-two-numa.json"))


def make_pod(name, *containers, init=(), uid=None):
    meta = {"name": name}
    if uid:
        meta["uid"] = uid
    spec = {"containers": [{"name": n, "resources": {"limits": lim}} for n, lim in containers]}
    if init:
        spec["initContainers"] = [{"name": n, "resources": {"limits": lim}, **extra} for n, lim, extra in init]
    return pod_from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})


# --------------------------------------------------------------------------- quantities and pod specs


@pytest.mark.parametrize("text,value", [
    ("1", 1), ("500m", Fraction(1, 2)), ("1.5", Fraction(3, 2)), ("2Ki", 2048), ("1Gi", GI), ("1G", 10**9),
    ("1e3", 1000), ("5E-1", Fraction(1, 2)), ("100Mi", 100 * MI), ("0.5Gi", GI // 2), (3, 3), (0.25, Fraction(1, 4)),
    ("1k", 1000), ("250u", Fraction(1, 4000)), (".5", Fraction(1, 2)), ("-1", -1),
])
def test_quantities(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "1 Gi", "1GB", "Gi", "1.2.3", "abc", None, True, "1Mi5", "1KI"])
def test_bad_quantities_name_the_field(text):
    with pytest.raises(UsageError, match="limits.memory"):
        parse_quantity(text, "container c: limits.memory")


def test_pod_units_and_defaulting():
    p = pod("hugepages.yaml")
    c = p.containers[0]
    assert c.requests == {"cpu": 2, "memory": GI, "hugepages-2Mi": 512 * MI}
    assert c.memory_requests() == {"memory": GI, "hugepages-2Mi": 512 * MI}
    assert c.memory_limit_bytes == GI
    f = pod("guaranteed-fractional.yaml").containers[0]
    assert f.requests["cpu"] == Fraction(1, 2) and f.requests["memory"] == GI  # defaulted from limits


def test_pod_uid_stable_or_from_metadata():
    assert pod("guaranteed-2cpu-4gi.yaml").uid == "11111111-1111-1111-1111-111111111111"
    a, b = pod("burstable.yaml"), pod("burstable.yaml")
    assert a.uid == b.uid and len(a.uid) == 36
    assert a.uid != pod("besteffort.yaml").uid


def test_deployment_template_and_init_containers():
    p = pod("deployment.yaml")
    assert p.name == "bench-deploy"
    assert [c.name for c in p.all_containers] == ["prepare", "bench"]
    assert p.init_containers[0].init and not p.containers[0].init


def test_cronjob_template():
    doc = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj"},
           "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "x"}]}}}}}}
    assert [c.name for c in pod_from_dict(doc).containers] == ["x"]


@pytest.mark.parametrize("doc,needle", [
    ({"kind": "Service", "spec": {}}, "kind 'Service'"),
    ({"kind": "Pod", "spec": {"containers": []}}, "no containers"),
    ({"kind": "Pod", "spec": {"containers": [{"name": "a"}, {"name": "a"}]}}, "two containers are named 'a'"),
    ({"kind": "Pod", "spec": {"containers": [{"image": "x"}]}}, "has no name"),
    ({"kind": "Pod", "spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "2"},
                                                                          "limits": {"cpu": "1"}}}]}},
     "above limits.cpu"),
    ({"kind": "Pod", "spec": {"containers": [{"name": "a", "resources": {"limits": {"memory": "-1Gi"}}}]}},
     "negative"),
    ({"kind": "Pod", "spec": {"containers": [{"name": "a", "resources": {"requests": {"hugepages-2Mi": "2Mi"},
                                                                          "limits": {"hugepages-2Mi": "4Mi"}}}]}},
     "must equal"),
    ({"kind": "Pod", "spec": {"containers": [{"name": "a", "resources": {"limits": {"hugepages-": "2Mi"}}}]}},
     "hugepages-"),
    ({"kind": "Pod", "spec": {"resources": {"limits": {"nvidia.com/gpu": "1"}}, "containers": [{"name": "a"}]}},
     "pod-level resources take only cpu, memory and hugepages"),
    ({"kind": "Pod", "spec": {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}},
                              "containers": [{"name": "a"}]}}, "spec.resources: requests.cpu"),
    ({"apiVersion": "v2", "kind": "Pod", "spec": {"containers": [{"name": "a"}]}}, "apiVersion"),
    (["not", "a", "mapping"], "not a Kubernetes object"),
])
def test_bad_pods(doc, needle):
    with pytest.raises(UsageError) as info:
        pod_from_dict(doc, "p.yaml")
    assert needle in str(info.value)


def test_bad_pod_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\nspec: [\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_pod(str(bad))
    two = tmp_path / "two.yaml"
    two.write_text("kind: Pod\n---\nkind: Pod\n")
    with pytest.raises(UsageError, match="2 documents"):
        load_pod(str(two))
    with pytest.raises(UsageError, match="cannot read"):
        load_pod(str(tmp_path / "missing.yaml"))


# --------------------------------------------------------------------------- bitmasks and hint merging


def test_masks_in_kubelet_order():
    assert iterate_masks([0, 1, 2]) == [0b001, 0b010, 0b100, 0b011, 0b101, 0b110, 0b111]
    assert is_narrower(0b01, 0b10) and not is_narrower(0b10, 0b01)
    assert is_narrower(0b100, 0b011) and not is_narrower(0b011, 0b100)


def H(*nodes, preferred=True):
    return Hint(sum(1 << n for n in nodes) if nodes else None, preferred)


# (name from topologymanager/policy_test.go, providers, best-effort result)
MERGE_CASES = [
    ("Two providers, 1 hint each, same mask, both preferred 1/2", [{"r1": [H(0)]}, {"r2": [H(0)]}], H(0)),
    ("Two providers, 1 hint each, same mask, 1 preferred, 1 not 2/2",
     [{"r1": [H(1)]}, {"r2": [H(1, preferred=False)]}], H(1, preferred=False)),
    # Newer kubelets: merged affinities that differ are never preferred.
    ("Two providers, 1 hint each, 1 wider mask, both preferred 1/2", [{"r1": [H(0)]}, {"r2": [H(0, 1)]}],
     H(0, preferred=False)),
    ("Two providers, 1 no hints, 1 single hint preferred 1/2", [None, {"r": [H(0)]}], H(0)),
    ("Two providers, 1 with 2 hints, 1 with single non-preferred hint matching",
     [{"r1": [H(0), H(1)]}, {"r2": [H(0, 1, preferred=False)]}], H(0, preferred=False)),
    ("Single TopologyHint with Preferred as false and NUMANodeAffinity as nil", [{"r": [Hint(None, False)]}],
     H(0, 1, preferred=False)),
    ("HintProvider returns empty non-nil map[string][]TopologyHint from GetTopologyHints", [{"r": []}],
     H(0, 1, preferred=False)),
    ("Two providers, no common mask", [{"r1": [H(0)]}, {"r2": [H(1)]}], H(0, 1, preferred=False)),
]


@pytest.mark.parametrize("name,providers,expected", MERGE_CASES, ids=[c[0] for c in MERGE_CASES])
def test_best_effort_merge(name, providers, expected):
    best, admit = merge_hints("best-effort", [0, 1], providers)
    assert (best, admit) == (expected, True)
    best_r, admit_r = merge_hints("restricted", [0, 1], providers)
    assert best_r == expected and admit_r == expected.preferred


def test_non_preferred_merge_prefers_the_count_the_widest_provider_needs():
    # bestNonPreferredAffinityCount = 2: of the non-preferred merges {0} and {0,1}, {0,1} wins.
    providers = [{"cpu": [H(0), H(0, 1, preferred=False)]}, {"memory": [H(0, 1)]}]
    assert merge_hints("best-effort", [0, 1], providers)[0] == H(0, 1, preferred=False)


def test_single_numa_node_merge():
    assert merge_hints("single-numa-node", [0, 1], [{"r1": [H(0)]}, {"r2": [H(0)]}]) == (H(0), True)
    # a preferred two-node hint is filtered out: nothing to merge, not admitted
    best, admit = merge_hints("single-numa-node", [0, 1], [{"r1": [H(0)]}, {"r2": [H(0, 1)]}])
    assert (best, admit) == (Hint(None, False), False)
    # only don't-cares: the all-nodes result becomes nil, still preferred
    assert merge_hints("single-numa-node", [0, 1], [None, None]) == (Hint(None, True), True)


def test_none_policy_never_merges():
    assert merge_hints("none", [0, 1], [{"r": [H(1)]}]) == (Hint(None, False), True)
    with pytest.raises(UsageError, match="unknown Topology Manager policy"):
        merge_hints("strict", [0, 1], [])


# --------------------------------------------------------------------------- node descriptions


def test_node_file(node):
    assert node.node_ids == (0, 1) and node.reserved_cpus == (0,)
    assert node.numa_nodes[1].cpus == (4, 5, 6, 7)
    assert node.numa_nodes[0].hugepages_bytes == {"hugepages-2Mi": GI}
    assert node.reserved_memory == {0: {"memory": 512 * MI}, 1: {"memory": 512 * MI}}
    assert len(node.assumptions) == 1 and node.assumptions[0].startswith("CPU places unknown")
    again = NodeDescription.from_dict(json.loads(json.dumps(node.to_dict())), "round trip")
    assert again.numa_nodes == node.numa_nodes and again.reserved_memory == node.reserved_memory


def test_node_from_captured_tree_with_defaults():
    topo = read_topology_tree(os.path.join(TREES_DIR, "two-socket-smt"))
    desc = NodeDescription.from_topology(topo)
    assert desc.node_ids == (0, 1)
    assert desc.numa_nodes[0].hugepages_bytes["hugepages-2Mi"] == 1024 * 2 * MI
    assert desc.reserved_cpus == (0,)
    assert desc.reserved_memory == {0: {"memory": 100 * MI}}
    assert len(desc.assumptions) == 3 and "CPU places unknown" in desc.assumptions[2]
    p = plan_pod(pod("guaranteed-2cpu-4gi.yaml"), desc, policy="single-numa-node")
    assert p.admitted and p.placement().cpus == (1, 2) and p.placement().mems == (0,)


@pytest.mark.parametrize("data,needle", [
    ({}, "no 'nodes' list"),
    ({"nodes": [{"id": 0, "cpus": "0-1"}]}, "has no memory"),
    ({"nodes": [{"id": 0, "cpus": "0-x", "memory": "1Gi"}]}, "cpus"),
    ({"nodes": [{"id": 0, "cpus": "0", "memory": "1Gi"}, {"id": 0, "cpus": "1", "memory": "1Gi"}]}, "twice"),
    ({"nodes": [{"id": 0, "cpus": "0-1", "memory": "1Gi"}, {"id": 1, "cpus": "1", "memory": "1Gi"}]}, "two NUMA"),
    ({"nodes": [{"id": 0, "cpus": "0", "memory": "1Gi"}],
      "reservedMemory": [{"numaNode": 3, "limits": {"memory": "1Gi"}}]}, "node 3, which does not exist"),
    ({"nodes": [{"id": 0, "cpus": "0", "memory": "1Gi"}],
      "reservedMemory": [{"numaNode": 0, "limits": {"memory": "2Gi"}}]}, "reserves more memory"),
    ({"nodes": [{"id": 0, "cpus": "0", "memory": "1Gi"}],
      "reservedMemory": [{"numaNode": 0, "limits": {"cpu": "1"}}]}, "only memory and hugepages"),
    ({"nodes": [{"id": 0, "cpus": "0", "memory": "1Gi"}],
      "reservedMemory": [{"numaNode": 0, "limits": {"memory": "0"}}]}, "is zero"),
    ({"nodes": [{"id": 0, "cpus": "0", "memory": "1Gi"}], "reservedSystemCPUs": "5"}, "in no NUMA node"),
    ({"nodes": [{"id": 0, "cpus": "0", "memory": "1.5"}]}, "whole number of bytes"),
])
def test_bad_node_descriptions(data, needle):
    with pytest.raises(UsageError) as info:
        NodeDescription.from_dict(data, "n.json")
    assert needle in str(info.value)


# --------------------------------------------------------------------------- admission


def test_guaranteed_pod_fitting_one_node(node):
    for policy in ("none", "best-effort", "restricted", "single-numa-node"):
        plan = plan_pod(pod("guaranteed-2cpu-4gi.yaml"), node, policy=policy)
        c = plan.placement()
        assert plan.admitted and plan.qos == "Guaranteed", policy
        assert c.cpus == (1, 2) and c.exclusive_cpus, policy  # CPU 0 is reserved
        assert c.mems == (0,) and c.memory_pinned and c.aligned, policy
        assert c.memory_blocks == (Block((0,), "memory", 4 * GI),), policy
    assert plan.containers[0].hint == H(0)


def test_pod_larger_than_one_node_single_numa_rejects(node):
    plan = plan_pod(pod("guaranteed-2cpu-8gi.yaml"), node, policy="single-numa-node")
    assert not plan.admitted
    assert plan.reason == "TopologyAffinityError"
    assert plan.message == "Resources cannot be allocated with Topology locality"
    assert "memory: {0,1} preferred" in plan.detail and plan.failed_container == "bench"
    assert plan.state.to_dict() == AdmittedState().to_dict()  # nothing taken
    with pytest.raises(UsageError, match="TopologyAffinityError"):
        plan.placement()


def test_pod_larger_than_one_node_restricted_rejects_best_effort_spans_two(node):
    assert plan_pod(pod("guaranteed-2cpu-8gi.yaml"), node, policy="restricted").reason == "TopologyAffinityError"
    plan = plan_pod(pod("guaranteed-2cpu-8gi.yaml"), node, policy="best-effort")
    c = plan.placement()
    assert plan.admitted and c.mems == (0, 1) and c.hint == H(0, 1, preferred=False)
    # memory fills node 0 (6.5Gi allocatable) first, the rest on node 1
    assert c.memory_blocks == (Block((0, 1), "memory", 8 * GI),)
    assert c.cpus == (1, 2)


def test_pod_larger_than_one_node_policy_none_still_pins_both_nodes(node):
    plan = plan_pod(pod("guaranteed-2cpu-8gi.yaml"), node, policy="none")
    c = plan.placement()
    assert plan.admitted and c.mems == (0, 1) and c.hint is None and c.cpus == (1, 2)


def test_pod_larger_than_the_machine_fails_allocation(node):
    p = make_pod("huge", ("c", {"cpu": "1", "memory": "14Gi"}))
    plan = plan_pod(p, node, policy="single-numa-node")
    # no mask has the memory: the Memory Manager gives no hints ("don't care"), then Allocate fails
    assert not plan.admitted and plan.reason == "UnexpectedAdmissionError"
    assert "failed to find NUMA nodes to extend" in plan.detail
    plan = plan_pod(p, node, policy="none")
    assert plan.reason == "UnexpectedAdmissionError" and "failed to get the default NUMA affinity" in plan.detail


def test_fractional_cpu_guaranteed_pins_memory_shares_cpus(node):
    plan = plan_pod(pod("guaranteed-fractional.yaml"), node, policy="single-numa-node")
    c = plan.placement()
    assert plan.qos == "Guaranteed"
    assert not c.exclusive_cpus and c.cpus == tuple(range(8))  # the shared pool, reserved CPU 0 included
    assert c.memory_pinned and c.mems == (0,)
    assert not c.aligned  # shared CPUs on both nodes, memory on one
    assert any("500m CPU is not a whole number" in n for n in plan.notes)
    assert plan.state.cpus == {} and plan.state.memory[plan.pod.uid]["bench"] == [Block((0,), "memory", GI)]


def test_strict_cpu_reservation_removes_reserved_cpus_from_the_pool(node):
    plan = plan_pod(pod("guaranteed-fractional.yaml"), node, policy="none", strict_cpu_reservation=True)
    assert plan.placement().cpus == tuple(range(1, 8))


@pytest.mark.parametrize("name,qos", [("burstable.yaml", "Burstable"), ("besteffort.yaml", "BestEffort")])
def test_burstable_and_besteffort_unpinned(node, name, qos):
    for policy in ("none", "single-numa-node"):
        plan = plan_pod(pod(name), node, policy=policy)
        c = plan.placement()
        assert plan.admitted and plan.qos == qos and c.qos == qos
        assert c.cpus == tuple(range(8)) and not c.exclusive_cpus
        assert c.mems == (0, 1) and not c.memory_pinned and c.numa_affinity is None
        assert plan.state.to_dict()["memory"] == {} and plan.state.to_dict()["cpus"] == {}


def test_hugepages_pinned_with_memory(node):
    plan = plan_pod(pod("hugepages.yaml"), node, policy="single-numa-node")
    c = plan.placement()
    assert c.mems == (0,)
    assert set(c.memory_blocks) == {Block((0,), "memory", GI), Block((0,), "hugepages-2Mi", 512 * MI)}


def test_hugepages_pool_too_small_on_node0_goes_to_node1(node):
    state = AdmittedState(memory={"other": {"c": [Block((0,), "hugepages-2Mi", 768 * MI)]}})
    plan = plan_pod(pod("hugepages.yaml"), node, state, policy="single-numa-node")
    c = plan.placement()
    assert c.mems == (1,) and c.cpus == (4, 5)


def test_hugepages_the_node_lacks_fail_allocation(node):
    p = make_pod("gig", ("c", {"cpu": "1", "memory": "1Gi", "hugepages-1Gi": "1Gi"}))
    plan = plan_pod(p, node, policy="none")
    assert not plan.admitted and "failed to get the default NUMA affinity" in plan.detail


def test_container_scope_vs_pod_scope(node):
    p = pod("two-containers.yaml")
    per_container = plan_pod(p, node, policy="single-numa-node", scope="container")
    a, b = per_container.containers
    assert per_container.admitted
    assert (a.cpus, a.mems, b.cpus, b.mems) == ((1, 2), (0,), (4, 5), (1,))
    # pod scope: 4 CPUs and 8Gi as one request; node 0 has 3 free CPUs, no node has 8Gi
    whole = plan_pod(p, node, policy="single-numa-node", scope="pod")
    assert not whole.admitted and whole.reason == "TopologyAffinityError" and whole.failed_container is None
    assert "the pod" in whole.detail
    spread = plan_pod(p, node, policy="best-effort", scope="pod")
    a, b = spread.containers
    assert spread.admitted and a.hint == b.hint == H(0, 1, preferred=False)
    assert a.mems == (0, 1) and b.mems == (0, 1)


def test_pod_scope_puts_every_container_on_one_node(node):
    p = make_pod("duo", ("a", {"cpu": "1", "memory": "1Gi"}), ("b", {"cpu": "1", "memory": "1Gi"}))
    plan = plan_pod(p, node, policy="single-numa-node", scope="pod")
    a, b = plan.containers
    assert a.hint == b.hint == H(0) and a.mems == b.mems == (0,)
    assert (a.cpus, b.cpus) == ((1,), (2,))


def test_admitted_pods_reduce_free_memory(node):
    first = plan_pod(pod("guaranteed-2cpu-4gi.yaml"), node, policy="single-numa-node")
    second_pod = make_pod("second", ("bench", {"cpu": "2", "memory": "4Gi"}))
    second = plan_pod(second_pod, node, first.state, policy="single-numa-node")
    c = second.placement()
    # node 0 has 2.5Gi left: the second pod goes to node 1, CPUs too
    assert c.mems == (1,) and c.cpus == (4, 5)
    # A third 4Gi pod fits neither node (2.5Gi free each), and the nodes cannot be paired: both are used
    # alone (single vs cross NUMA rule). The Memory Manager then gives no hints at all, the Topology
    # Manager reads that as "don't care" and admits on a CPU hint, and Allocate fails: the kubelet's
    # UnexpectedAdmissionError of kubernetes/kubernetes#128708 and #120733, under every policy.
    third_pod = make_pod("third", ("bench", {"cpu": "1", "memory": "4Gi"}))
    for policy in ("single-numa-node", "restricted", "best-effort"):
        third = plan_pod(third_pod, node, second.state, policy=policy)
        assert third.reason == "UnexpectedAdmissionError", policy
        assert third.message == ("Allocate failed due to [memorymanager] failed to find NUMA nodes to extend the "
                                 "current topology hint, which is unexpected"), policy
    # a 2Gi pod still fits node 0 alone
    fits = plan_pod(make_pod("fits", ("bench", {"cpu": "1", "memory": "2Gi"})), node, second.state,
                    policy="single-numa-node")
    assert fits.placement().mems == (0,) and fits.placement().cpus == (3,)


def test_cross_numa_group_blocks_single_node_allocations(node):
    # The blog's rule: once nodes 0 and 1 hold a cross-NUMA allocation, a small pod can only join the group.
    big = plan_pod(pod("guaranteed-2cpu-8gi.yaml"), node, policy="best-effort")
    small = make_pod("small", ("c", {"cpu": "1", "memory": "1Gi"}))
    assert plan_pod(small, node, big.state, policy="single-numa-node").reason == "TopologyAffinityError"
    joined = plan_pod(small, node, big.state, policy="best-effort").placement()
    assert joined.mems == (0, 1) and joined.hint.preferred is False


def test_exclusive_cpus_taken_by_admitted_pods(node):
    state = AdmittedState(cpus={"x": {"c": (1, 2, 3)}})
    plan = plan_pod(pod("guaranteed-2cpu-4gi.yaml"), node, state, policy="single-numa-node")
    c = plan.placement()
    assert c.cpus == (4, 5) and c.mems == (1,)  # node 0 has no free CPU left
    shared = plan_pod(pod("burstable.yaml"), node, plan.state).placement()
    assert shared.cpus == (0, 6, 7)


def test_not_enough_cpus(node):
    plan = plan_pod(make_pod("wide", ("c", {"cpu": "8", "memory": "1Gi"})), node, policy="best-effort")
    assert plan.reason == "UnexpectedAdmissionError"
    assert "not enough cpus available to satisfy request: requested=8, available=7" in plan.detail


def test_cpus_spill_beyond_the_hint_under_best_effort(node):
    # 5 CPUs: no single node has 5 free; best-effort spans both. takeByTopology takes the whole
    # free NUMA node 1 first, then one CPU of node 0.
    plan = plan_pod(make_pod("five", ("c", {"cpu": "5", "memory": "1Gi"})), node, policy="best-effort")
    c = plan.placement()
    assert c.cpus == (1, 4, 5, 6, 7) and c.cpu_nodes == (0, 1)


def test_init_container_resources_reused(node):
    plan = plan_pod(pod("deployment.yaml"), node, policy="single-numa-node")
    init, app = plan.containers
    assert init.init and init.cpus == (1,)
    assert app.cpus == (1, 2, 3)  # the init container's CPU 1 is reused
    # the checkpoints keep the init container, its block shrunk to what the app did not reuse
    assert plan.state.cpus[plan.pod.uid] == {"prepare": (1,), "bench": (1, 2, 3)}
    assert [b.size for b in plan.state.memory[plan.pod.uid]["prepare"]] == [0]
    assert [b.size for b in plan.state.memory[plan.pod.uid]["bench"]] == [2 * GI]


def test_more_than_8_numa_nodes_needs_the_option():
    desc = NodeDescription.from_dict({"nodes": [{"id": i, "cpus": [2 * i, 2 * i + 1], "memory": "1Gi"}
                                                for i in range(9)]})
    p = make_pod("one", ("c", {"cpu": "1", "memory": "100Mi"}))
    assert plan_pod(p, desc, policy="none").admitted  # policy none: no limit
    with pytest.raises(UsageError, match="refuses more than 8"):
        plan_pod(p, desc, policy="best-effort")
    settings = KubeletSettings("best-effort", topology_policy_options={"max-allowable-numa-nodes": "9"})
    assert plan_pod(p, desc, settings=settings).admitted


def test_sidecar_keeps_its_resources(node):
    p = make_pod("side", ("app", {"cpu": "1", "memory": "1Gi"}),
                 init=[("proxy", {"cpu": "1", "memory": "64Mi"}, {"restartPolicy": "Always"})])
    plan = plan_pod(p, node, policy="single-numa-node")
    proxy, app = plan.containers
    assert proxy.cpus == (1,) and app.cpus == (2,)
    assert set(plan.state.cpus[plan.pod.uid]) == {"proxy", "app"}


def test_state_round_trip_and_plan_output_as_state(node, tmp_path):
    first = plan_pod(pod("guaranteed-2cpu-4gi.yaml"), node, policy="single-numa-node")
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(first.to_dict()))
    state = load_state(str(path))
    assert state.cpus == {first.pod.uid: {"bench": (1, 2)}}
    assert state.memory == {first.pod.uid: {"bench": [Block((0,), "memory", 4 * GI)]}}
    with pytest.raises(UsageError, match="already admitted"):
        plan_pod(pod("guaranteed-2cpu-4gi.yaml"), node, state)


@pytest.mark.parametrize("state,needle", [
    (AdmittedState(cpus={"x": {"c": (0,)}}), "reserved CPUs 0"),
    (AdmittedState(cpus={"x": {"c": (42,)}}), "CPUs 42"),
    (AdmittedState(memory={"x": {"c": [Block((5,), "memory", 1)]}}), "NUMA node 5"),
    (AdmittedState(memory={"x": {"c": [Block((0,), "hugepages-1Gi", GI)]}}), "no such pool"),
])
def test_state_that_does_not_fit_the_node(node, state, needle):
    with pytest.raises(UsageError) as info:
        plan_pod(pod("burstable.yaml"), node, state)
    assert needle in str(info.value)


def test_bad_state_file(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"memory": {"u": {"c": [{"numaAffinity": [0]}]}}}))
    with pytest.raises(UsageError, match="malformed admitted-pods entry"):
        load_state(str(path))


def test_memory_only_node_takes_no_cpu_hints():
    desc = NodeDescription.build([NumaNode(0, (0, 1), 4 * GI), NumaNode(1, (), 8 * GI)])
    # 6Gi: only the memory-only node 1 can hold it (node 0 has 4Gi - 100Mi)
    plan = plan_pod(make_pod("cxl", ("c", {"cpu": "1", "memory": "6Gi"})), desc, policy="best-effort")
    c = plan.placement()
    # CPU hint {0} and memory hint {1} do not intersect; best-effort keeps {0} (not preferred), and
    # Memory Manager extends {0} to the narrowest mask holding 6Gi that contains it: {0,1}.
    assert c.hint == H(0, preferred=False)
    assert c.mems == (0, 1) and c.cpus == (1,)
    assert plan_pod(make_pod("cxl", ("c", {"cpu": "1", "memory": "6Gi"})), desc,
                    policy="single-numa-node").reason == "TopologyAffinityError"


def test_guest_starved_node_plans_misaligned():
    desc = load_node(os.path.join(PODS, "guest-node1-starved.json"))
    p = pod("guest-aligned.yaml")
    c = plan_pod(p, desc, policy="best-effort").placement()
    assert c.cpus == (1,) and c.cpu_nodes == (1,) and c.mems == (0,) and not c.aligned
    assert plan_pod(p, desc, policy="single-numa-node").reason == "TopologyAffinityError"


def test_unknown_scope(node):
    with pytest.raises(UsageError, match="scope"):
        plan_pod(pod("burstable.yaml"), node, scope="node")


# --------------------------------------------------------------------------- the CLI


def test_cli_plan_text_and_exit_codes(cli):
    proc = cli("pod", "plan", os.path.join(PODS, "guaranteed-2cpu-4gi.yaml"), "--node",
               os.path.join(PODS, "node-two-numa.json"), "--policy", "single-numa-node")
    assert proc.returncode == 0, proc.stderr
    assert "admitted" in proc.stdout
    assert "container bench: cpus 1-2 (exclusive, node 0), mems 0 (pinned)" in proc.stdout
    proc = cli("pod", "plan", os.path.join(PODS, "guaranteed-2cpu-8gi.yaml"), "--node",
               os.path.join(PODS, "node-two-numa.json"), "--policy", "single-numa-node")
    assert proc.returncode == 1
    assert "rejected: TopologyAffinityError" in proc.stdout


def test_cli_plan_chains_admitted_state(cli, tmp_path):
    node_file = os.path.join(PODS, "node-two-numa.json")
    first = cli("pod", "plan", os.path.join(PODS, "guaranteed-2cpu-4gi.yaml"), "--node", node_file,
                "--policy", "single-numa-node", "--json")
    assert first.returncode == 0, first.stderr
    state = tmp_path / "state.json"
    state.write_text(first.stdout)
    second = cli("pod", "plan", os.path.join(PODS, "hugepages.yaml"), "--node", node_file,
                 "--policy", "single-numa-node", "--admitted", state, "--json")
    doc = json.loads(second.stdout)
    # CPUs 1-2 are taken: node 0 has one free CPU for a 2-CPU container, so node 1
    assert doc["admitted"] and doc["containers"][0]["cpuset_cpus"] == "4-5"
    assert doc["containers"][0]["cpuset_mems"] == "1"
    assert set(doc["state"]["pods"]) == {"11111111-1111-1111-1111-111111111111", doc["pod"]["uid"]}


def test_cli_plan_sysfs_root_with_reservations(cli):
    tree = os.path.join(TREES_DIR, "two-socket-smt")
    proc = cli("pod", "plan", os.path.join(PODS, "guaranteed-2cpu-4gi.yaml"), "--sysfs-root", tree,
               "--reserved-cpus", "0-15,32-47", "--reserved-memory", "0:memory=1Gi",
               "--reserved-memory", "1:memory=1Gi",
               "--json", "--policy", "single-numa-node")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["containers"][0]["cpus"] == [16, 17] and doc["containers"][0]["mems"] == [1]
    # without CPU places (until the CLI reads them) the node says so; nothing else is assumed
    assert doc["node"]["reservedSystemCPUs"] == "0-15,32-47"
    assert all(a.startswith("CPU places unknown") for a in doc["node"]["assumptions"])


@pytest.mark.parametrize("args,needle", [
    (["--reserved-memory", "zero:memory=1Gi"], "--reserved-memory"),
    (["--reserved-memory", "0:cpu=1"], "type 'cpu'"),
    (["--reserved-cpus", "0-"], "--reserved-cpus"),
    (["--sysfs-root", TREES_DIR], "both describe the node"),
])
def test_cli_plan_bad_options(cli, args, needle):
    proc = cli("pod", "plan", os.path.join(PODS, "burstable.yaml"), "--node",
               os.path.join(PODS, "node-two-numa.json"), *args)
    cli.one_line_error(proc, needle)


def test_cli_plan_bad_pod_one_line(cli, tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("kind: Pod\nspec:\n  containers:\n    - name: a\n      resources: {limits: {memory: lots}}\n")
    proc = cli("pod", "plan", bad, "--node", os.path.join(PODS, "node-two-numa.json"))
    cli.one_line_error(proc, "container a: limits.memory", "'lots' is not a quantity")
