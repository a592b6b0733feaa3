"""QoS classes as pkg/apis/core/v1/helper/qos/qos.go computes them, after API defaulting."""

import itertools

import pytest

from numabench.kube.podspec import pod_from_dict
from numabench.kube.qos import BEST_EFFORT, BURSTABLE, GUARANTEED, pod_qos


def _ctr(name, requests=None, limits=None):
    resources = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {"name": name, "image": "x", "resources": resources}


def _pod(*containers, init=()):
    spec = {"containers": list(containers)}
    if init:
        spec["initContainers"] = list(init)
    return pod_from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})


def _single_container_oracle(req, lim):
    """One container: after defaulting (request := limit where only a limit is given), Guaranteed iff
    cpu and memory limits exist and every request equals its limit; BestEffort iff nothing is set."""
    effective = dict(req)
    for k, v in lim.items():
        effective.setdefault(k, v)
    if not effective and not lim:
        return BEST_EFFORT
    if set(lim) >= {"cpu", "memory"} and all(effective[k] == lim.get(k) for k in effective) \
            and set(effective) == set(lim):
        return GUARANTEED
    return BURSTABLE


VALUES = (None, "1", "2")


@pytest.mark.parametrize("cpu_req,cpu_lim,mem_req,mem_lim",
                         [c for c in itertools.product(VALUES, VALUES, VALUES, VALUES)
                          # a request above its limit is refused by validation (tested in the model tests)
                          if not (c[0] and c[1] and c[0] > c[1]) and not (c[2] and c[3] and c[2] > c[3])])
def test_every_single_container_combination(cpu_req, cpu_lim, mem_req, mem_lim):
    req = {k: v for k, v in (("cpu", cpu_req), ("memory", mem_req and mem_req + "Gi")) if v}
    lim = {k: v for k, v in (("cpu", cpu_lim), ("memory", mem_lim and mem_lim + "Gi")) if v}
    pod = _pod(_ctr("c", req or None, lim or None))
    assert pod_qos(pod) == _single_container_oracle(req, lim)


def test_limits_only_default_requests_guaranteed():
    assert pod_qos(_pod(_ctr("c", limits={"cpu": "2", "memory": "1Gi"}))) == GUARANTEED


def test_equal_requests_and_limits_guaranteed_in_other_units():
    pod = _pod(_ctr("c", requests={"cpu": "1000m", "memory": "1024Mi"}, limits={"cpu": 1, "memory": "1Gi"}))
    assert pod_qos(pod) == GUARANTEED


def test_fractional_cpu_still_guaranteed():
    assert pod_qos(_pod(_ctr("c", limits={"cpu": "100m", "memory": "64Mi"}))) == GUARANTEED


def test_no_resources_at_all_besteffort():
    assert pod_qos(_pod(_ctr("a"), _ctr("b"))) == BEST_EFFORT


def test_zero_quantities_count_as_absent():
    assert pod_qos(_pod(_ctr("c", requests={"cpu": "0", "memory": "0"}))) == BEST_EFFORT


def test_only_hugepages_and_storage_do_not_make_a_class():
    pod = _pod(_ctr("c", limits={"hugepages-2Mi": "64Mi", "ephemeral-storage": "1Gi"}))
    assert pod_qos(pod) == BEST_EFFORT


def test_missing_memory_limit_burstable():
    assert pod_qos(_pod(_ctr("c", limits={"cpu": "1"}))) == BURSTABLE


def test_request_below_limit_burstable():
    assert pod_qos(_pod(_ctr("c", requests={"cpu": "1", "memory": "1Gi"},
                             limits={"cpu": "2", "memory": "1Gi"}))) == BURSTABLE


def test_one_guaranteed_one_besteffort_container_burstable():
    pod = _pod(_ctr("a", limits={"cpu": "1", "memory": "1Gi"}), _ctr("b"))
    assert pod_qos(pod) == BURSTABLE


def test_init_container_without_limits_makes_burstable():
    pod = _pod(_ctr("a", limits={"cpu": "1", "memory": "1Gi"}), init=[_ctr("init")])
    assert pod_qos(pod) == BURSTABLE


def test_init_container_with_limits_keeps_guaranteed():
    pod = _pod(_ctr("a", limits={"cpu": "1", "memory": "1Gi"}),
               init=[_ctr("init", limits={"cpu": "3", "memory": "64Mi"})])
    assert pod_qos(pod) == GUARANTEED


def test_sums_over_containers():
    # qos.go sums requests and limits over containers before comparing: 1+2 != 2+2.
    pod = _pod(_ctr("a", requests={"cpu": "1", "memory": "1Gi"}, limits={"cpu": "2", "memory": "1Gi"}),
               _ctr("b", requests={"cpu": "2", "memory": "1Gi"}, limits={"cpu": "2", "memory": "1Gi"}))
    assert pod_qos(pod) == BURSTABLE  # 3 != 4
    pod = _pod(_ctr("a", requests={"cpu": "1", "memory": "1Gi"}, limits={"cpu": "1", "memory": "1Gi"}),
               _ctr("b", requests={"cpu": "2", "memory": "2Gi"}, limits={"cpu": "2", "memory": "2Gi"}))
    assert pod_qos(pod) == GUARANTEED


def test_memory_request_without_any_limit_burstable():
    assert pod_qos(_pod(_ctr("c", requests={"memory": "1Gi"}))) == BURSTABLE
