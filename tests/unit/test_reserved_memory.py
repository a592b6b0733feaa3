"""reservedMemory under the Static Memory Manager policy, checked as the kubelet checks it at start.

The cases are the kubelet's own (kubernetes/kubernetes pkg/kubelet/cm/memorymanager), translated:
``memory_manager_test.go::TestValidateReservedMemory/<case>``, ``::TestGetSystemReservedMemory/<case>``,
``::TestNewManager/<case>`` and ``policy_static_test.go::TestStaticPolicyNew/<case>``. Their
``nodeAllocatableReservation`` is the already-summed reservation: here it is given as kubeReserved
with no eviction threshold, which sums the same."""

from fractions import Fraction

import pytest

from numabench.errors import UsageError
from numabench.kube.admission.reserved import (
    NodeAllocatableReservation,
    check_static_reserved_memory,
    reserved_memory_problems,
    static_problems,
)

GB, MB = 1 << 30, 1 << 20
H2M, H1G = "hugepages-2Mi", "hugepages-1Gi"
NODES = (0, 1)  # the tests' machineInfo: NUMA nodes 0 and 1


def allocatable(**per_type):
    """A nodeAllocatableReservation as the kubelet's tests give it (already summed)."""
    names = {"memory": "memory", "h2m": H2M, "h1g": H1G}
    return NodeAllocatableReservation({names[k]: Fraction(v) for k, v in per_type.items()}, {}, Fraction(0))


VALIDATE = "memory_manager_test.go::TestValidateReservedMemory/"
CASES = [
    (VALIDATE + "Node Allocatable not set, reserved not set", allocatable(), {}, None),
    (VALIDATE + "Node Allocatable set to zero, reserved set to zero", allocatable(memory=0), {0: {"memory": 0}},
     None),
    (VALIDATE + "Node Allocatable not set (equal zero), reserved set", allocatable(), {0: {"memory": 12}},
     'the total amount "12" of type "memory" is not equal to the value "0" determined by Node Allocatable feature'),
    (VALIDATE + "Node Allocatable set, reserved not set", allocatable(h2m=5), {},
     'the total amount "0" of type "hugepages-2Mi" is not equal to the value "5" determined by Node Allocatable '
     'feature'),
    (VALIDATE + "Reserved not equal to Node Allocatable", allocatable(memory=5), {0: {"memory": 12}},
     'the total amount "12" of type "memory" is not equal to the value "5" determined by Node Allocatable feature'),
    (VALIDATE + "Reserved contains the NUMA node that does not exist under the machine", allocatable(memory=17),
     {0: {"memory": 12}, 2: {"memory": 5}},
     "the reserved memory configuration references a NUMA node 2 that does not exist on this machine"),
    (VALIDATE + "Reserved total equal to Node Allocatable", allocatable(memory=17, h2m=77, h1g=13),
     {0: {"memory": 12, H2M: 70, H1G: 13}, 1: {"memory": 5, H2M: 7}}, None),
    (VALIDATE + "Reserved total hugapages-2M not equal to Node Allocatable", allocatable(memory=17, h2m=14, h1g=13),
     {0: {"memory": 12, H2M: 70, H1G: 13}, 1: {"memory": 5, H2M: 7}},
     'the total amount "77" of type "hugepages-2Mi" is not equal to the value "14" determined by Node Allocatable '
     'feature'),
    ("memory_manager_test.go::TestGetSystemReservedMemory/Should return error when Allocatable reservation is not "
     "equal to the reserved memory", allocatable(), {0: {"memory": GB}},
     'the total amount "1Gi" of type "memory" is not equal to the value "0" determined by Node Allocatable feature'),
    ("memory_manager_test.go::TestGetSystemReservedMemory/Reserved should be equal to systemReservedMemory",
     allocatable(memory=2 * GB), {0: {"memory": GB}, 1: {"memory": GB}}, None),
]


@pytest.mark.parametrize("upstream,reservation,reserved,error", CASES, ids=[c[0] for c in CASES])
def test_validate_reserved_memory(upstream, reservation, reserved, error):
    problems = reserved_memory_problems(reserved, reservation, NODES)
    assert [p.kubelet_error for p in problems][:1] == ([error] if error else [])


NEW_MANAGER = "memory_manager_test.go::TestNewManager/"
STATIC_CASES = [
    (NEW_MANAGER + "Should create manager with static policy with proper reserved memory", allocatable(memory=2 * GB),
     {0: {"memory": GB}, 1: {"memory": GB}}, None),
    (NEW_MANAGER + "Should return an error when systemReservedMemory (configured with kubelet flag) does not comply "
     "with Node Allocatable feature values", allocatable(memory=2 * GB), {0: {"memory": GB}, 1: {"memory": 2 * GB}},
     'the total amount "3Gi" of type "memory" is not equal to the value "2Gi" determined by Node Allocatable feature'),
    (NEW_MANAGER + "Should return an error when memory reserved for system is empty (systemReservedMemory)",
     allocatable(), {}, "[memorymanager] you should specify the system reserved memory"),
    ("policy_static_test.go::TestStaticPolicyNew/should fail, when machine does not have reserved memory for the "
     "system workloads", allocatable(), {}, "[memorymanager] you should specify the system reserved memory"),
    ("policy_static_test.go::TestStaticPolicyNew/should succeed, when at least one NUMA node has reserved memory",
     allocatable(memory=512 * MB), {0: {}, 1: {"memory": 512 * MB}}, None),
    # validateReservedMemory accepts zero against zero; NewPolicyStatic then refuses it.
    (VALIDATE + "Node Allocatable set to zero, reserved set to zero (then NewPolicyStatic)", allocatable(memory=0),
     {0: {"memory": 0}}, "[memorymanager] you should specify the system reserved memory"),
]


@pytest.mark.parametrize("upstream,reservation,reserved,error", STATIC_CASES, ids=[c[0] for c in STATIC_CASES])
def test_new_manager_static(upstream, reservation, reserved, error):
    problems = static_problems(reserved, reservation, NODES)
    assert [p.kubelet_error for p in problems][:1] == ([error] if error else [])


def test_reservation_adds_kube_system_and_eviction_for_memory_only():
    r = NodeAllocatableReservation({"memory": Fraction(512 * MB), H2M: Fraction(4 * MB), "cpu": Fraction(1)},
                                   {"memory": Fraction(512 * MB)}, Fraction(100 * MB))
    assert r.per_type() == {"memory": 1124 * MB, H2M: 4 * MB}
    assert r.parts("memory") == "kubeReserved 512Mi + systemReserved 512Mi + evictionHard 100Mi"
    assert reserved_memory_problems({0: {"memory": 612 * MB, H2M: 4 * MB}, 1: {"memory": 512 * MB}}, r, NODES) == []


def test_unknown_eviction_threshold_skips_memory_only():
    r = NodeAllocatableReservation({H2M: Fraction(4 * MB)}, {}, None)
    problems = reserved_memory_problems({0: {"memory": 1}}, r, NODES)
    assert [p.rtype for p in problems] == [H2M]


def test_check_names_rule_numbers_and_fix():
    r = NodeAllocatableReservation({"memory": Fraction(512 * MB)}, {"memory": Fraction(512 * MB)}, Fraction(100 * MB))
    with pytest.raises(UsageError) as err:
        check_static_reserved_memory({0: {"memory": GB}}, r, NODES, "kubelet.yaml")
    text = str(err.value)
    assert "kubelet.yaml: reservedMemory memory totals 1Gi over NUMA nodes" in text
    assert "kubeReserved 512Mi + systemReserved 512Mi + evictionHard 100Mi = 1124Mi" in text
    assert "add up to exactly 1124Mi" in text
    with pytest.raises(UsageError, match="the value \"100Mi\".*--assume-default-reservations"):
        check_static_reserved_memory({}, NodeAllocatableReservation(), NODES, "node.json")
    with pytest.raises(UsageError, match="NUMA node 3 that does not exist"):
        check_static_reserved_memory({3: {"memory": 100 * MB}}, NodeAllocatableReservation(), NODES, "x")
    check_static_reserved_memory({1: {"memory": 100 * MB}}, NodeAllocatableReservation(), NODES, "x")  # the default
    with pytest.raises(UsageError, match="you should specify the system reserved memory.*--assume-default"):
        check_static_reserved_memory({}, allocatable(), NODES, "node.json")
