"""Cases made up for issue 11 (not from the kubelet's tests): the same requirements as the
conformance suite, on pods and nodes of our own. Each expected value is worked out by hand from
the kubelet's rules (named per test) and would fail if the model ignored the rule."""

import pytest

from numabench.errors import UsageError
from numabench.kube.admission import KubeletSettings, NodeDescription, plan_pod
from numabench.kube.admission.memory import machine_state
from numabench.kube.podspec import pod_from_dict

GI = 1 << 30


def node(**extra):
    """2 NUMA nodes x 4 CPUs (0-3, 4-7), 4Gi each, CPU 0 and 100Mi on node 0 reserved."""
    return NodeDescription.from_dict({"nodes": [{"id": 0, "cpus": "0-3", "memory": "4Gi"},
                                                {"id": 1, "cpus": "4-7", "memory": "4Gi"}],
                                      "reservedMemory": [{"numaNode": 0, "limits": {"memory": "100Mi"}}],
                                      "reservedSystemCPUs": "0", **extra})


def make(name, apps, inits=(), uid=None):
    def ctr(n, cpu, mem, restart=None):
        c = {"name": n, "resources": {"limits": {"cpu": str(cpu), "memory": mem}}}
        if restart:
            c["restartPolicy"] = restart
        return c
    spec = {"containers": [ctr(*a) for a in apps]}
    if inits:
        spec["initContainers"] = [ctr(*i) for i in inits]
    return pod_from_dict({"kind": "Pod", "metadata": {"name": name, "uid": uid or name}, "spec": spec})


def test_reusable_init_cpus_steer_the_app_hints():
    # generateCPUTopologyHints: every mask must hold the init container's CPUs (node 0). Node 0 has
    # 3 CPUs (1-3) for the app's 4, so the only hint is {0,1}, not preferred: single-numa-node refuses
    # the pod, although node 1 alone could hold the app.
    p = make("steer", [("app", 4, "1Gi")], [("init", 3, "1Gi")])
    plan = plan_pod(p, node(), policy="single-numa-node")
    assert not plan.admitted and plan.reason == "TopologyAffinityError" and plan.failed_container == "app"
    best = plan_pod(p, node(), policy="best-effort")
    app = best.placement("app")
    assert [str(h) for h in app.cpu_hints] == ["{0,1} not preferred"]
    assert set(app.cpus) >= {1, 2, 3} and len(app.cpus) == 4  # the init CPUs reused, one more from node 1


def test_sidecar_cpus_do_not_steer():
    p = make("side", [("app", 4, "1Gi")], [("proxy", 1, "100Mi", "Always")])
    plan = plan_pod(p, node(), policy="single-numa-node")
    assert plan.admitted and plan.placement("app").cpus == (4, 5, 6, 7)


def test_a_sidecar_that_reuses_init_cpus_keeps_them_from_the_app():
    # one node, CPUs 1-3 free: the init container takes 1-2; the sidecar reuses CPU 1 and, running
    # beside the app, withdraws it from the reusable set (updateCPUsToReuse); the app gets 2-3.
    n = NodeDescription.from_dict({"nodes": [{"id": 0, "cpus": "0-3", "memory": "8Gi"}],
                                   "reservedMemory": [{"numaNode": 0, "limits": {"memory": "100Mi"}}],
                                   "reservedSystemCPUs": "0"})
    p = make("s", [("app", 2, "1Gi")], [("init", 2, "1Gi"), ("proxy", 1, "100Mi", "Always")])
    plan = plan_pod(p, n, policy="single-numa-node")
    assert plan.placement("init").cpus == (1, 2) and plan.placement("proxy").cpus == (1,)
    assert plan.placement("app").cpus == (2, 3)


def test_state_keeps_max_of_init_and_apps_until_the_pod_goes():
    # init 3Gi then app 1Gi on node 0: the app reuses 1Gi, the init block shrinks to 2Gi, node 0
    # keeps 3Gi reserved; the next pod's 2Gi no longer fits on node 0 (4Gi - 100Mi - 3Gi).
    first = plan_pod(make("a", [("app", 1, "1Gi")], [("init", 1, "3Gi")]), node(), policy="single-numa-node")
    blocks = {c: [b.size for b in bs] for c, bs in first.state.memory["a"].items()}
    assert blocks == {"init": [2 * GI], "app": [GI]}
    assert machine_state(first.node, first.state)[0].tables["memory"].reserved == 3 * GI
    second = plan_pod(make("b", [("app", 1, "2Gi")]), node(), first.state, policy="single-numa-node")
    assert second.admitted and second.placement().mems == (1,)


def test_takebytopology_keeps_smt_siblings_together():
    # smt 2, split layout: siblings (0,4), (1,5), (2,6), (3,7); CPU 0 reserved, so core (1,5) is the
    # first whole core (fewest free CPUs first among whole cores is a tie: lowest id).
    n = NodeDescription.from_dict({"nodes": [{"id": 0, "cpus": "0-7", "memory": "8Gi"}], "smt": 2,
                                   "reservedMemory": [{"numaNode": 0, "limits": {"memory": "100Mi"}}],
                                   "reservedSystemCPUs": "0"})
    p = make("two", [("c", 2, "1Gi")])
    assert plan_pod(p, n).placement().cpus == (1, 5)
    spread = KubeletSettings(cpu_policy_options={"distribute-cpus-across-cores": "true"})
    # distribute-cpus-across-cores: no whole-core step; the socket's free CPUs in id order
    # (sortAvailableCPUsSpread), which on this numbering is one thread of each core first.
    assert plan_pod(p, n, settings=spread).placement().cpus == (1, 2)


def test_full_pcpus_only_refuses_odd_requests_and_reserved_siblings():
    n = NodeDescription.from_dict({"nodes": [{"id": 0, "cpus": "0-7", "memory": "8Gi"}], "smt": 2,
                                   "reservedMemory": [{"numaNode": 0, "limits": {"memory": "100Mi"}}],
                                   "reservedSystemCPUs": "0"})
    fp = KubeletSettings(cpu_policy_options={"full-pcpus-only": "true"})
    odd = plan_pod(make("odd", [("c", 3, "1Gi")]), n, settings=fp)
    assert odd.reason == "SMTAlignmentError" and "not multiple cpus per core = 2" in odd.message
    # 7 CPUs are free, but core (0,4) holds a reserved CPU: 6 physical CPUs, so 8 -> no, 6 -> yes
    assert plan_pod(make("six", [("c", 6, "1Gi")]), n, settings=fp).placement().cpus == (1, 2, 3, 5, 6, 7)
    eight = plan_pod(make("eight", [("c", 8, "1Gi")]), n, settings=fp)
    assert eight.reason == "SMTAlignmentError" and "available physical CPUs = 6" in eight.message


def test_strict_cpu_reservation_keeps_reserved_cpus_out_of_the_shared_pool():
    burst = pod_from_dict({"kind": "Pod", "metadata": {"name": "b"}, "spec": {"containers": [
        {"name": "c", "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "2"}}}]}})
    assert 0 in plan_pod(burst, node()).placement().cpus
    strict = KubeletSettings(cpu_policy_options={"strict-cpu-reservation": "true"})
    assert 0 not in plan_pod(burst, node(), settings=strict).placement().cpus
    with pytest.raises(UsageError, match="does not exist in kubelet 1.30"):
        plan_pod(burst, node(), settings=KubeletSettings(cpu_policy_options={"strict-cpu-reservation": "true"},
                                                         kubelet_version="1.30"))


def test_prefer_closest_numa_nodes_ranks_equal_masks_by_distance():
    # 4 nodes x 2 CPUs, 4Gi; node 0 is far from 1 (30) and close to 2 (12). 3 CPUs and 5Gi need two
    # nodes: every 2-node mask is a preferred hint of both managers.
    rows = [[10, 30, 12, 30], [30, 10, 30, 30], [12, 30, 10, 30], [30, 30, 30, 10]]
    n = NodeDescription.from_dict({"nodes": [{"id": i, "cpus": [2 * i, 2 * i + 1], "memory": "4Gi",
                                              "distances": rows[i]} for i in range(4)],
                                   "reservedMemory": [{"numaNode": 0, "limits": {"memory": "100Mi"}}],
                                   "reservedSystemCPUs": "7"})
    p = make("three", [("c", 3, "5Gi")])
    assert plan_pod(p, n, policy="restricted").placement().hint.nodes == (0, 1)  # narrowest, lowest ids
    closest = KubeletSettings("restricted", topology_policy_options={"prefer-closest-numa-nodes": "true"})
    assert plan_pod(p, n, settings=closest).placement().hint.nodes == (0, 2)
    with pytest.raises(UsageError, match="added in 1.26"):
        plan_pod(p, n, settings=KubeletSettings("restricted", topology_policy_options={
            "prefer-closest-numa-nodes": "true"}, kubelet_version="1.25"))


@pytest.mark.parametrize("settings,needle", [
    (KubeletSettings(cpu_policy_options={"full-pcpu-only": "true"}),
     "unknown CPU Manager policy option 'full-pcpu-only'"),
    (KubeletSettings(topology_policy_options={"closest": "true"}), "unknown Topology Manager policy option 'closest'"),
    (KubeletSettings(cpu_policy_options={"full-pcpus-only": "yes"}), "is not a boolean"),
    (KubeletSettings(topology_policy_options={"max-allowable-numa-nodes": "4"}), "below the default 8"),
    (KubeletSettings(kubelet_version="2.0"), "is not a version"),
    (KubeletSettings(kubelet_version="1.12"), "outside the releases"),
    (KubeletSettings(cpu_policy_options={"full-pcpus-only": "true", "distribute-cpus-across-cores": "true"}),
     "together"),
    (KubeletSettings("single-numa-node", cpu_policy_options={"align-by-socket": "true"}), "single-numa-node"),
])
def test_bad_options_are_usage_errors(settings, needle):
    with pytest.raises(UsageError, match=needle):
        plan_pod(make("x", [("c", 1, "1Gi")]), node(), settings=settings)


def test_alpha_options_say_they_need_the_gate():
    plan = plan_pod(make("x", [("c", 2, "1Gi")]), node(),
                    settings=KubeletSettings(cpu_policy_options={"align-by-socket": "true"}))
    assert any("CPUManagerPolicyAlphaOptions" in n for n in plan.notes)


def test_sidecars_before_1_29_are_regular_init_containers():
    p = make("side", [("app", 2, "1Gi")], [("proxy", 2, "1Gi", "Always")])
    new = plan_pod(p, node(), policy="single-numa-node")
    # the sidecar keeps CPUs 1-2; node 0 has only CPU 3 left, so the app goes to node 1
    assert new.placement("proxy").cpus == (1, 2) and new.placement("app").cpus == (4, 5)
    old = plan_pod(p, node(), settings=KubeletSettings("single-numa-node", kubelet_version="1.28"))
    assert set(old.placement("app").cpus) == set(old.placement("proxy").cpus)  # reused as an init container
    assert any("no sidecar containers" in n for n in old.notes)


@pytest.mark.parametrize("extra,needle", [
    ({"smt": 3}, "does not divide"),
    ({"smt": 2, "smtLayout": "zigzag"}, "smtLayout"),
    ({"cpuPlaces": [{"cpu": c, "package": 0, "siblings": [c, 9 if c == 0 else c]} for c in range(8)]},
     "outside the node"),
    ({"cpuPlaces": [{"cpu": 0, "package": 0, "siblings": [0]}]}, "have no place"),
    ({"cpuPlaces": [{"package": 0}]}, "cpuPlaces"),
])
def test_bad_cpu_places(extra, needle):
    with pytest.raises(UsageError, match=needle):
        node(**extra)


def test_adjacent_smt_layout_and_sockets():
    n = NodeDescription.from_dict({"nodes": [{"id": 0, "cpus": "0-3", "memory": "4Gi", "socket": 0},
                                             {"id": 1, "cpus": "4-7", "memory": "4Gi", "socket": 0}],
                                   "smt": 2, "smtLayout": "adjacent",
                                   "reservedMemory": [{"numaNode": 0, "limits": {"memory": "100Mi"}}],
                                   "reservedSystemCPUs": "0"})
    topo = n.cpu_topology()
    assert topo.core[1] == 0 and topo.core[2] == topo.core[3] == 2 and topo.num_sockets == 1
    assert n.assumptions == ()
    assert plan_pod(make("two", [("c", 2, "1Gi")]), n).placement().cpus == (2, 3)
