"""Pod-level resources (spec.resources) in the admission model: the QoS class they give, and what
each kubelet version's managers do with them (KEP-5526's examples for 1.35+; the managers leaving
such pods alone in 1.32-1.34; no spec.resources before 1.32)."""

import pytest

from numabench.errors import UsageError
from numabench.kube.admission import AdmittedState, KubeletSettings, NodeDescription, plan_pod
from numabench.kube.admission.memory import machine_state
from numabench.kube.podspec import pod_from_dict
from numabench.kube.qos import BURSTABLE, GUARANTEED, pod_qos

GI = 1 << 30


def KEP(policy, scope):  # noqa: N802 - reads as the settings it makes
    """Settings of a 1.35 kubelet with the PodLevelResourceManagers gate on."""
    return KubeletSettings(policy, scope, feature_gates={"PodLevelResourceManagers": True})


@pytest.fixture
def node():
    """2 NUMA nodes x 8 CPUs (0-7, 8-15), 16Gi each; CPU 0 and 100Mi on node 0 reserved."""
    return NodeDescription.from_dict({"nodes": [{"id": 0, "cpus": "0-7", "memory": "16Gi"},
                                                {"id": 1, "cpus": "8-15", "memory": "16Gi"}],
                                      "reservedMemory": [{"numaNode": 0, "limits": {"memory": "100Mi"}}],
                                      "reservedSystemCPUs": "0"})


def pod(budget, *containers, name="p"):
    """A pod with spec.resources = budget (cpu, memory) and containers (name, cpu, memory or None)."""
    spec = {"resources": {"limits": {"cpu": budget[0], "memory": budget[1]}} if budget else None, "containers": []}
    for cname, cpu, mem in containers:
        c = {"name": cname}
        if cpu:
            c["resources"] = {"limits": {"cpu": cpu, "memory": mem}}
        spec["containers"].append(c)
    return pod_from_dict({"kind": "Pod", "metadata": {"name": name, "uid": name}, "spec": spec})


def test_qos_comes_from_pod_level_resources():
    assert pod_qos(pod(("4", "4Gi"), ("a", None, None))) == GUARANTEED
    p = pod_from_dict({"kind": "Pod", "metadata": {"name": "b"}, "spec": {
        "resources": {"limits": {"cpu": "4"}}, "containers": [{"name": "a", "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"}}}]}})
    assert pod_qos(p) == BURSTABLE  # no pod-level memory limit: not Guaranteed, whatever the containers say


def test_pod_scope_shared_pool_only(node):
    # KEP-5526 pod scope, example 1: one 4-CPU, 4Gi NUMA-aligned pool shared by all three containers
    p = pod(("4", "4Gi"), ("c1", None, None), ("c2", None, None), ("c3", None, None))
    plan = plan_pod(p, node, settings=KEP("single-numa-node", "pod"))
    assert plan.admitted
    pools = {c.cpus for c in plan.containers}
    assert len(pools) == 1 and len(next(iter(pools))) == 4
    assert {c.mems for c in plan.containers} == {(0,)}
    assert plan.state.pod_cpus["p"] == next(iter(pools))
    assert [(b.type, b.size, b.numa_affinity) for b in plan.state.pod_memory["p"]] == [("memory", 4 * GI, (0,))]
    assert all(not c.exclusive_cpus for c in plan.containers)


def test_pod_scope_mixed_exclusive_and_pod_shared(node):
    # example 2: c1 gets an exclusive 2-CPU slice of the pod's 4; c2 and c3 share the other 2
    p = pod(("4", "4Gi"), ("c1", "2", "2Gi"), ("c2", None, None), ("c3", None, None))
    plan = plan_pod(p, node, settings=KEP("single-numa-node", "pod"))
    c1, c2, c3 = plan.containers
    pool = set(plan.state.pod_cpus["p"])
    assert c1.exclusive_cpus and len(c1.cpus) == 2 and set(c1.cpus) <= pool
    assert c2.cpus == c3.cpus == tuple(sorted(pool - set(c1.cpus)))
    assert [b.size for b in c1.memory_blocks] == [2 * GI] and [b.size for b in c2.memory_blocks] == [2 * GI]
    # the container's block is a slice of the pod's: the node keeps 4Gi reserved, not 6Gi
    assert machine_state(node, plan.state)[0].tables["memory"].reserved == 4 * GI


def test_pod_scope_rejects_an_empty_pod_shared_pool(node):
    # example 3: 3 + 2 exclusive CPUs fill the pod's 5, c3 would have no shared pool. The managers
    # give no hints (single-numa-node: TopologyAffinityError); best-effort goes on to AllocatePod.
    p = pod(("5", "5Gi"), ("c1", "3", "3Gi"), ("c2", "2", "2Gi"), ("c3", None, None))
    plan = plan_pod(p, node, settings=KEP("single-numa-node", "pod"))
    assert not plan.admitted and plan.reason == "TopologyAffinityError"
    best = plan_pod(p, node, settings=KEP("best-effort", "pod"))
    assert best.reason == "EmptyPodSharedPoolError" and "leaving no cpus for shared containers" in best.message
    # 4 of the 5 CPUs exclusive: one left for c3
    ok = plan_pod(pod(("5", "5Gi"), ("c1", "3", "3Gi"), ("c2", "1", "1Gi"), ("c3", None, None)), node,
                  settings=KEP("single-numa-node", "pod"))
    assert ok.admitted and len(ok.placement("c3").cpus) == 1
    assert [b.size for b in ok.placement("c3").memory_blocks] == [GI]  # the pod shared pool's memory


def test_pod_budget_below_the_containers_is_refused_by_the_api():
    with pytest.raises(UsageError, match=r"requests.cpu 2 is below what the containers request \(3\)"):
        pod(("2", "4Gi"), ("c1", "3", "3Gi"))


def test_container_scope_ignores_the_pod_budget(node):
    # container scope, example 1: c1 exclusive and pinned; c2 and c3 in the node's shared pool
    p = pod(("4", "4Gi"), ("c1", "2", "2Gi"), ("c2", None, None), ("c3", None, None))
    plan = plan_pod(p, node, settings=KEP("single-numa-node", "container"))
    c1, c2, c3 = plan.containers
    assert c1.exclusive_cpus and c1.memory_pinned and len(c1.cpus) == 2
    assert not c2.exclusive_cpus and not c2.memory_pinned and 0 in c2.cpus and c2.cpus == c3.cpus
    assert c2.cpu_hints is None and c2.memory_hints is None
    assert "p" not in plan.state.pod_cpus
    # example 2: only pod-level resources: nothing exclusive, nothing pinned
    only = plan_pod(pod(("4", "4Gi"), ("c1", None, None), name="q"), node,
                    settings=KEP("single-numa-node", "container"))
    assert not only.placement().exclusive_cpus and not only.placement().memory_pinned


def test_next_pod_sees_the_pod_level_memory(node):
    first = plan_pod(pod(("2", "15Gi"), ("c1", None, None)), node, settings=KEP("single-numa-node", "pod"))
    assert first.admitted
    state = AdmittedState.from_dict(first.to_dict())  # round trip through the pod plan --json shape
    assert state.pod_cpus == first.state.pod_cpus and state.pod_memory == first.state.pod_memory
    second = plan_pod(pod(None, ("c", "1", "2Gi"), name="second"), node, state, policy="single-numa-node")
    assert second.admitted and second.placement().mems == (1,)  # 15Gi of node 0 are the first pod's


def test_versions(node):
    p = pod(("4", "4Gi"), ("c1", "2", "2Gi"), ("c2", None, None))
    old = plan_pod(p, node, settings=KubeletSettings("single-numa-node", "pod", kubelet_version="1.34"))
    assert old.admitted and not any(c.exclusive_cpus or c.memory_pinned for c in old.containers)
    assert any("do not manage pods with pod-level resources" in n for n in old.notes)
    assert any("PodLevelResources" in n for n in plan_pod(p, node, settings=KubeletSettings(
        "single-numa-node", "pod", kubelet_version="1.33")).notes)
    with pytest.raises(UsageError, match="does not know"):
        plan_pod(p, node, settings=KubeletSettings("single-numa-node", "pod", kubelet_version="1.31"))
    new = plan_pod(p, node, settings=KEP("single-numa-node", "pod"))
    assert any("KEP-5526" in n for n in new.notes) and new.placement("c1").exclusive_cpus
    # without the alpha gate a 1.35 kubelet leaves the pod alone, as 1.34 does
    gateless = plan_pod(p, node, settings=KubeletSettings("single-numa-node", "pod"))
    assert not any(c.exclusive_cpus or c.memory_pinned for c in gateless.containers)
    assert any("PodLevelResourceManagers changes that" in n for n in gateless.notes)
