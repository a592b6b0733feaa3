"""pod plan against a real node: its KubeletConfiguration (--kubelet-config), the kubelet's checkpoint
files (--state-dir, --write-checkpoints), reservedMemory checked by the Static policy's rule, and
one-line exit 2 for every bad config or checkpoint."""

import json
import os

import pytest
from conftest import extract_tree

from numabench.kube.admission.memory import Block
from numabench.kube.admission.replay import replay_checkpoints
from numabench.kube.kubelet.checkpoint import (
    dump_cpu_manager_state,
    dump_memory_manager_state,
    load_cpu_manager_state,
    load_memory_manager_state,
    parse_memory_manager_state,
)

HERE = os.path.dirname(__file__)
DATA = os.path.join(HERE, "..", "data")
PODS = os.path.join(DATA, "pods")
CONFIGS = os.path.join(DATA, "kubelet", "configs")
STATE = os.path.join(DATA, "kubelet", "state")
TWO_SOCKETS = os.path.join(DATA, "trees", "two-socket-smt")
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "kubelet-config.yaml")
NODE = os.path.join(PODS, "node-two-numa.json")
POD = os.path.join(PODS, "guaranteed-2cpu-4gi.yaml")


def plan_json(cli, *args):
    proc = cli("pod", "plan", *args, "--json")
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


# --------------------------------------------------------------------------- --kubelet-config


def test_example_config_sets_policy_reservations_and_cpus(cli):
    doc = plan_json(cli, POD, "--node", NODE, "--kubelet-config", EXAMPLE)
    assert doc["kubelet"]["topology_manager_policy"] == "single-numa-node"
    assert doc["kubelet"]["topology_manager_scope"] == "container"
    assert doc["node"]["reservedSystemCPUs"] == "0-1"
    assert doc["node"]["reservedMemory"] == [{"numaNode": 0, "limits": {"memory": 612 << 20}},
                                             {"numaNode": 1, "limits": {"memory": 512 << 20}}]
    assert doc["admitted"] and doc["containers"][0]["cpuset_mems"] == "0"
    assert not set(doc["containers"][0]["cpus"]) & {0, 1}


def test_flags_override_the_config(cli):
    doc = plan_json(cli, POD, "--node", NODE, "--kubelet-config", EXAMPLE, "--policy", "restricted",
                    "--scope", "pod", "--reserved-cpus", "0", "--cpu-manager-policy-options", "full-pcpus-only=true",
                    "--topology-manager-policy-options", "prefer-closest-numa-nodes=true", "--kubelet-version", "1.31")
    k = doc["kubelet"]
    assert (k["topology_manager_policy"], k["topology_manager_scope"], k["kubelet_version"]) == ("restricted", "pod",
                                                                                               "1.31")
    assert k["cpu_manager_policy_options"] == {"full-pcpus-only": "true"}
    assert k["topology_manager_policy_options"] == {"prefer-closest-numa-nodes": "true"}
    assert doc["node"]["reservedSystemCPUs"] == "0"


def test_config_options_and_strict_reservation_reach_the_settings(cli, tmp_path):
    cfg = tmp_path / "k.yaml"
    with open(EXAMPLE) as f:
        cfg.write_text(f.read() + "cpuManagerPolicyOptions: {strict-cpu-reservation: \"true\"}\n"
                       "topologyManagerPolicyOptions: {max-allowable-numa-nodes: \"16\"}\ntopologyManagerScope: pod\n")
    k = plan_json(cli, POD, "--node", NODE, "--kubelet-config", cfg)["kubelet"]
    assert k["strict_cpu_reservation"] and k["topology_manager_scope"] == "pod"
    assert k["cpu_manager_policy_options"] == {"strict-cpu-reservation": "true"}
    assert k["topology_manager_policy_options"] == {"max-allowable-numa-nodes": "16"}


def test_reserved_cpus_from_kube_reserved_cpu(cli):
    # valid.yaml: no reservedSystemCPUs, kubeReserved cpu 500m -> ceil = 1 CPU, and a note saying how it was taken.
    doc = plan_json(cli, POD, "--sysfs-root", TWO_SOCKETS, "--kubelet-config", os.path.join(CONFIGS, "valid.yaml"))
    assert doc["node"]["reservedSystemCPUs"] == "0"
    assert any("kubeReserved + systemReserved cpu" in n for n in doc["notes"])


@pytest.mark.parametrize("config,needles", [
    ("sum-mismatch.yaml", ["sum-mismatch.yaml: reservedMemory memory totals 1Gi over NUMA nodes",
                           "kubeReserved 512Mi + systemReserved 512Mi + evictionHard 100Mi = 1124Mi",
                           "is not equal to the value"]),
    ("hugepages-unbalanced.yaml", ["reservedMemory hugepages-"]),
    ("no-cpu-manager.yaml", ["cpuManagerPolicy none", "Static with CPU Manager static only"]),
    ("uppercase-k.yaml", ["uppercase-k.yaml: quantity"]),
    ("duplicate.yaml", ["reserved-memory-duplicate"]),
    ("zero.yaml", ["reserved-memory-zero"]),
    ("invalid.yaml", ["not valid YAML"]),
    ("not-kubelet.yaml", ["kind 'Pod'"]),
])
def test_bad_configs_exit_2_in_one_line(cli, config, needles):
    proc = cli("pod", "plan", POD, "--sysfs-root", TWO_SOCKETS, "--kubelet-config", os.path.join(CONFIGS, config))
    cli.one_line_error(proc, *needles)


def test_config_missing_directory_and_wrong_types(cli, tmp_path):
    cli.one_line_error(cli("pod", "plan", POD, "--node", NODE, "--kubelet-config", tmp_path / "nope.yaml"),
                       "cannot read", "nope.yaml")
    cli.one_line_error(cli("pod", "plan", POD, "--node", NODE, "--kubelet-config", tmp_path), "cannot read")
    bad = tmp_path / "types.yaml"
    bad.write_text("kind: KubeletConfiguration\nmemoryManagerPolicy: Static\ncpuManagerPolicy: static\n"
                   "cpuManagerPolicyOptions: {full-pcpus-only: true}\n")
    cli.one_line_error(cli("pod", "plan", POD, "--node", NODE, "--kubelet-config", bad), "types.yaml: config-type",
                       "cpuManagerPolicyOptions")
    scope = tmp_path / "scope.yaml"
    scope.write_text("kind: KubeletConfiguration\nmemoryManagerPolicy: Static\ncpuManagerPolicy: static\n"
                     "topologyManagerScope: node\n")
    cli.one_line_error(cli("pod", "plan", POD, "--node", NODE, "--kubelet-config", scope), "topologyManagerScope")
    cli.one_line_error(cli("pod", "plan", POD, "--node", NODE, "--kubelet-version", "1.12"), "--kubelet-version")
    cli.one_line_error(cli("pod", "plan", POD, "--node", NODE, "--cpu-manager-policy-options", "full-pcpus-only"),
                       "NAME=VALUE")


def test_static_without_reserved_cpus_or_memory(cli, tmp_path):
    cfg = tmp_path / "k.yaml"
    cfg.write_text("kind: KubeletConfiguration\nmemoryManagerPolicy: Static\ncpuManagerPolicy: static\n"
                   "reservedMemory: [{numaNode: 0, limits: {memory: 100Mi}}]\n")
    cli.one_line_error(cli("pod", "plan", POD, "--sysfs-root", TWO_SOCKETS, "--kubelet-config", cfg),
                       "kubereserved.cpu to be greater than zero", "reservedSystemCPUs")
    cfg.write_text("kind: KubeletConfiguration\nmemoryManagerPolicy: Static\ncpuManagerPolicy: static\n"
                   "reservedSystemCPUs: \"0\"\nevictionHard: {memory.available: '0'}\n")
    cli.one_line_error(cli("pod", "plan", POD, "--sysfs-root", TWO_SOCKETS, "--kubelet-config", cfg),
                       "you should specify the system reserved memory")


# --------------------------------------------------------------------------- reservedMemory without a config


def test_no_reserved_memory_is_refused_unless_assumed(cli):
    proc = cli("pod", "plan", POD, "--sysfs-root", TWO_SOCKETS)
    cli.one_line_error(proc, "totals 0", "= 100Mi", "--assume-default-reservations")
    doc = plan_json(cli, POD, "--sysfs-root", TWO_SOCKETS, "--assume-default-reservations")
    assert doc["node"]["reservedMemory"] == [{"numaNode": 0, "limits": {"memory": 100 << 20}}]
    assert any(n.startswith("assumed (--assume-default-reservations): reservedMemory NUMA node 0: memory 100")
               for n in doc["notes"])


def test_assumed_reservation_follows_the_config(cli, tmp_path):
    cfg = tmp_path / "k.yaml"
    cfg.write_text("kind: KubeletConfiguration\nmemoryManagerPolicy: Static\ncpuManagerPolicy: static\n"
                   "reservedSystemCPUs: \"0\"\nsystemReserved: {memory: 1Gi, hugepages-2Mi: 4Mi}\n")
    cli.one_line_error(cli("pod", "plan", POD, "--sysfs-root", TWO_SOCKETS, "--kubelet-config", cfg),
                       "--assume-default-reservations")
    doc = plan_json(cli, POD, "--sysfs-root", TWO_SOCKETS, "--kubelet-config", cfg, "--assume-default-reservations")
    assert doc["node"]["reservedMemory"] == [{"numaNode": 0, "limits": {"hugepages-2Mi": 4 << 20,
                                                                          "memory": (1 << 30) + (100 << 20)}}]


def test_reserved_memory_flag_is_checked_against_the_config(cli):
    proc = cli("pod", "plan", POD, "--node", NODE, "--kubelet-config", EXAMPLE, "--reserved-memory", "0:memory=1Gi")
    cli.one_line_error(proc, "--reserved-memory: reservedMemory memory totals 1Gi", "= 1124Mi")
    doc = plan_json(cli, POD, "--node", NODE, "--kubelet-config", EXAMPLE, "--reserved-memory", "1:memory=1124Mi")
    assert doc["node"]["reservedMemory"] == [{"numaNode": 1, "limits": {"memory": 1124 << 20}}]


# --------------------------------------------------------------------------- checkpoints


def test_kubelet_vectors_replay(tmp_path):
    state, notes = replay_checkpoints(os.path.join(STATE, "v2-pod-entries"))
    assert state.memory == {"pod": {"container1": [Block((0,), "memory", 512)]}}
    assert state.pod_memory == {"pod": [Block((0,), "memory", 512)]}
    assert state.cpus == {"pod1": {"container1": (5, 6), "container2": (3, 4)}}
    assert state.pod_cpus == {"pod2": (7, 8, 9)}
    assert notes == []
    state, _ = replay_checkpoints(os.path.join(STATE, "data-format"))  # memory v3 / cpu v4 (data + dataChecksum)
    assert state.memory == {"pod": {"container1": [Block((0,), "memory", 512)]}}
    assert state.cpus == {"pod": {"container1": (4, 5, 6), "container2": (1, 2, 3)}}


@pytest.mark.parametrize("case", ["v1", "v2-pod-entries", "two-node"])
def test_writer_reproduces_the_kubelet_checksums(case):
    # memory_manager_state_test / state_checkpoint_test vectors: decoding then writing gives back the
    # kubelet's own checksum (so the files we write are ones the kubelet verifies).
    mem = load_memory_manager_state(os.path.join(STATE, case, "memory_manager_state"))
    text = dump_memory_manager_state(mem.policy_name, mem.machine_state, mem.entries, mem.pod_entries)
    assert json.loads(text)["checksum"] == mem.checksum.stored
    with open(os.path.join(STATE, case, "memory_manager_state")) as f:
        assert json.loads(text) == json.loads(f.read())
    if case == "v1":  # byte for byte: json.Marshal's compact form
        with open(os.path.join(STATE, case, "memory_manager_state")) as f:
            assert text == f.read().strip()


@pytest.mark.parametrize("case", ["v2-pod-entries", "two-node"])
def test_cpu_writer_reproduces_the_kubelet_checksums(case):
    cpu = load_cpu_manager_state(os.path.join(STATE, case, "cpu_manager_state"))
    text = dump_cpu_manager_state(cpu.policy_name, cpu.default_cpuset, cpu.entries, cpu.pod_entries)
    assert json.loads(text)["checksum"] == cpu.checksum.stored


def test_plan_chain_through_checkpoints_matches_admitted_json(cli, tmp_path):
    ckpt = tmp_path / "kubelet"
    first = plan_json(cli, POD, "--node", NODE, "--policy", "single-numa-node", "--write-checkpoints", ckpt)
    assert first["admitted"]
    state = cli("kubelet", "state", "--dir", ckpt, "--json")
    assert state.returncode == 0, state.stderr
    doc = json.loads(state.stdout)
    assert doc["memory_manager"]["checksum"]["verified"] and doc["cpu_manager"]["checksum"]["verified"]
    uid = first["pod"]["uid"]
    assert doc["cpu_manager"]["entries"][uid]["bench"] == first["containers"][0]["cpus"]
    node0 = doc["memory_manager"]["machine_state"]["0"]["memory"]["memory"]
    assert node0["reserved"] == 4 << 30 and node0["systemReserved"] == 512 << 20
    (tmp_path / "first.json").write_text(json.dumps(first))
    hp = os.path.join(PODS, "hugepages.yaml")
    via_ckpt = plan_json(cli, hp, "--node", NODE, "--policy", "single-numa-node", "--state-dir", ckpt)
    via_json = plan_json(cli, hp, "--node", NODE, "--policy", "single-numa-node", "--admitted", tmp_path / "first.json")
    assert via_ckpt["containers"] == via_json["containers"]
    assert via_ckpt["containers"][0]["cpuset_mems"] == "1"  # node 0 has too few free CPUs left
    assert any("replayed from" in n for n in via_ckpt["notes"])
    # The machine state written is the one the replayed pods rebuild on this node (validateState agrees).
    assert not any("machineState does not match" in n for n in via_ckpt["notes"])


def test_replay_of_a_real_two_node_checkpoint(cli):
    doc = plan_json(cli, POD, "--sysfs-root", TWO_SOCKETS, "--reserved-cpus", "0", "--reserved-memory",
                    "0:memory=100Mi", "--policy", "single-numa-node", "--state-dir", os.path.join(STATE, "two-node"))
    assert doc["admitted"]
    assert not set(doc["containers"][0]["cpus"]) & {0, 1, 16, 17}
    assert set(doc["state"]["pods"]) >= {"0c6b2f4e-1a2b-4c3d-9e8f-001122334455", "7d2e9f10-5b6a-4c8d-9e0f-a1b2c3d4e5f6"}
    # That checkpoint came from a 64 GiB-per-node machine: the kubelet here would refuse it, and the plan says so.
    note = next(n for n in doc["notes"] if "machineState does not match" in n)
    assert "node 0 memory total 64 GiB" in note and "validateState" in note


def _mem_v1():
    with open(os.path.join(STATE, "v1", "memory_manager_state")) as f:
        return f.read()


@pytest.mark.parametrize("name,text,needle", [
    ("truncated", _mem_v1()[:80], "truncated"),
    ("wrong-type", _mem_v1().replace('"size":512', '"size":"512"'), "cannot unmarshal string"),
    ("bad-checksum", _mem_v1().replace('"size":512', '"size":513'), "does not match"),
    ("empty", "", "empty"),
])
def test_hostile_checkpoints_exit_2(cli, tmp_path, name, text, needle):
    (tmp_path / "memory_manager_state").write_text(text)
    proc = cli("pod", "plan", POD, "--node", NODE, "--state-dir", tmp_path)
    cli.one_line_error(proc, str(tmp_path / "memory_manager_state"), needle, "uncordon")


def test_checkpoint_dirs_missing_and_conflicts(cli, tmp_path):
    cli.one_line_error(cli("pod", "plan", POD, "--node", NODE, "--state-dir", tmp_path / "nope"), "is not a directory")
    cli.one_line_error(cli("pod", "plan", POD, "--node", NODE, "--admitted-from-checkpoints", tmp_path), "neither")
    (tmp_path / "cpu_manager_state").mkdir()
    cli.one_line_error(cli("pod", "plan", POD, "--node", NODE, "--state-dir", tmp_path), "is a directory")
    os.rmdir(tmp_path / "cpu_manager_state")
    with open(os.path.join(STATE, "cpu-v1-only", "cpu_manager_state")) as f:
        (tmp_path / "cpu_manager_state").write_text(f.read())
    cli.one_line_error(cli("pod", "plan", POD, "--node", NODE, "--state-dir", tmp_path), "v1 format")
    cli.one_line_error(cli("pod", "plan", POD, "--node", NODE, "--state-dir", tmp_path, "--admitted", NODE),
                       "--admitted and --state-dir")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cli.one_line_error(cli("pod", "plan", POD, "--node", NODE, "--write-checkpoints", blocker / "sub"), "cannot make")


def test_written_checkpoint_parses_as_the_kubelet_would():
    text = dump_memory_manager_state("Static", {0: {"number_of_assignments": 1, "cells": [0], "memory": {
        "memory": {"total": 10, "systemReserved": 1, "allocatable": 9, "reserved": 2, "free": 7}}}},
        {"p<&>": {"c": [{"numa_affinity": [0], "type": "memory", "size_bytes": 2}]}})
    assert "\\u003c\\u0026\\u003e" in text  # json.Marshal's HTML-safe escapes
    s = parse_memory_manager_state(text)
    assert s.checksum.verified and s.entries == {"p<&>": {"c": [{"numa_affinity": [0], "type": "memory",
                                                                 "size_bytes": 2}]}}


def test_exec_shares_the_node_options(cli):
    proc = cli("pod", "exec", POD, "--node", NODE, "--kubelet-config", os.path.join(CONFIGS, "zero.yaml"), "--", "true")
    cli.one_line_error(proc, "zero.yaml: reserved-memory-zero")
    proc = cli("pod", "exec", POD, "--sysfs-root", TWO_SOCKETS, "--", "true")
    cli.one_line_error(proc, "--assume-default-reservations")


def test_text_head_shows_options_version_and_source(cli):
    proc = cli("pod", "plan", POD, "--node", NODE, "--kubelet-config", EXAMPLE, "--cpu-manager-policy-options",
               "full-pcpus-only=true", "--kubelet-version", "1.30")
    assert proc.returncode == 0, proc.stderr
    assert "options full-pcpus-only=true; kubelet 1.30 rules" in proc.stdout.splitlines()[0]
    assert f"note: kubelet settings from {EXAMPLE}" in proc.stdout


_HEAD = "kind: KubeletConfiguration\nmemoryManagerPolicy: Static\ncpuManagerPolicy: static\nreservedSystemCPUs: \"0\"\n"


@pytest.mark.parametrize("name,text,needle", [
    ("truncated", _HEAD + "reservedMemory: [{numaNode: 0, limits: {memory:", "not valid YAML"),
    ("list-not-map", _HEAD + "kubeReserved: [memory, 1Gi]\nreservedMemory: [{numaNode: 0, limits: {memory: 100Mi}}]\n",
     "kubeReserved is list, not a mapping"),
    ("reserved-not-list", _HEAD + "reservedMemory: {numaNode: 0}\n", "reservedMemory is not a list"),
    ("numa-not-int", _HEAD + "reservedMemory: [{numaNode: zero, limits: {memory: 100Mi}}]\n", "is not an int32"),
    ("bad-cpus", _HEAD.replace('"0"', '"0-"') + "reservedMemory: [{numaNode: 0, limits: {memory: 100Mi}}]\n",
     "reservedSystemCPUs"),
    ("bad-percentage", _HEAD + "evictionHard: {memory.available: 'x%'}\n", "not a percentage"),
    ("policy-case", _HEAD.replace("Static", "static") + "reservedMemory: [{numaNode: 0, limits: {memory: 100Mi}}]\n",
     "memoryManagerPolicy 'static' is not a policy"),
])
def test_malformed_configs_exit_2_naming_file_and_problem(cli, tmp_path, name, text, needle):
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(text)
    cli.one_line_error(cli("pod", "plan", POD, "--sysfs-root", TWO_SOCKETS, "--kubelet-config", cfg),
                       f"{name}.yaml", needle)


def test_binary_config_exits_2(cli, tmp_path):
    cfg = tmp_path / "bin.yaml"
    cfg.write_bytes(b"\xff\xfe\x00kind")
    cli.one_line_error(cli("pod", "plan", POD, "--node", NODE, "--kubelet-config", cfg), "bin.yaml", "not UTF-8")


# huge-number: docload refuses the 5000-digit integer before the Go-typed decoding sees it.
@pytest.mark.parametrize("name,text,needle", [
    ("top-level-array", "[1,2,3]", "not a JSON object"),
    ("huge-number", _mem_v1().replace('"size":512', '"size":' + "9" * 5000), "5000 digits"),
    ("deep", "[" * 100000, "corrupt"),
    ("data-bad-checksum", '{"data":"{}","dataChecksum":1234}', "dataChecksum 1234 does not match"),
])
def test_more_hostile_checkpoints_exit_2(cli, tmp_path, name, text, needle):
    (tmp_path / "memory_manager_state").write_text(text)
    cli.one_line_error(cli("pod", "plan", POD, "--node", NODE, "--state-dir", tmp_path), "memory_manager_state",
                       needle)


def test_bad_cpu_checkpoint_exit_2(cli, tmp_path):
    (tmp_path / "cpu_manager_state").write_text('{"policyName":"static","defaultCpuSet":"0-3","entries":{"p":{"c":7}}}')
    cli.one_line_error(cli("pod", "plan", POD, "--node", NODE, "--state-dir", tmp_path), "cpu_manager_state",
                       "cannot unmarshal")


def test_node_file_reservation_checked_against_the_config(cli, tmp_path):
    # node-two-numa.json reserves 512Mi on each node (1Gi); a config without reservedMemory supplies the sum.
    cfg = tmp_path / "k.yaml"
    cfg.write_text(_HEAD + "kubeReserved: {memory: 924Mi}\n")  # 924Mi + evictionHard 100Mi = 1Gi
    doc = plan_json(cli, POD, "--node", NODE, "--kubelet-config", cfg)
    assert doc["node"]["reservedMemory"][0]["limits"] == {"memory": 512 << 20}
    cfg.write_text(_HEAD + "kubeReserved: {memory: 512Mi}\n")
    cli.one_line_error(cli("pod", "plan", POD, "--node", NODE, "--kubelet-config", cfg),
                       "node-two-numa.json: reservedMemory memory totals 1Gi", "= 612Mi")


def test_percentage_eviction_uses_the_sysfs_capacity(cli, tmp_path):
    cfg = tmp_path / "k.yaml"
    cfg.write_text(_HEAD + "evictionHard: {memory.available: '1%'}\n"
                   "reservedMemory: [{numaNode: 0, limits: {memory: 1Mi}}]\n")
    # From sysfs the capacity is known: 1% of it is not 1Mi, so the kubelet would refuse to start.
    cli.one_line_error(cli("pod", "plan", POD, "--sysfs-root", TWO_SOCKETS, "--kubelet-config", cfg), "totals 1Mi")
    # A node file: the percentage cannot be resolved here; the plan goes on and says what was not checked.
    doc = plan_json(cli, POD, "--node", NODE, "--kubelet-config", cfg)
    assert any("is a percentage" in n and "not checked" in n for n in doc["notes"])


# --------------------------------------------------------------------------- wiring of the model's newer inputs

HWLOC = os.path.join(DATA, "hwloc")
POD_LEVEL = os.path.join(DATA, "kubelet-conformance",
                         "cpustatic-allocatepod-scope-pod-should-allocate-exclusive-cpus-to-a-guaranteed-pod-with-"
                         "pod-level-resources-and--2")


def test_sysfs_cpu_places_reach_take_by_topology(cli, tmp_path):
    """hwloc's memorysidecaches tree: 2 sockets x 20 cores x 2 threads, siblings n and n+40. A
    2-CPU pod gets one whole core (both threads), as the kubelet's takeByTopology gives it."""
    root = extract_tree(os.path.join(HWLOC, "memorysidecaches.tar.bz2"), tmp_path)
    pod = tmp_path / "pod.yaml"
    pod.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: two, uid: two}\nspec:\n  containers:\n  - name: c\n"
                   "    resources:\n      requests: {cpu: '2', memory: 1Gi}\n      limits: {cpu: '2', memory: 1Gi}\n")
    doc = plan_json(cli, str(pod), "--sysfs-root", root, "--assume-default-reservations",
                    "--reserved-cpus", "0")
    (cpus,) = [c["cpus"] for c in doc["containers"]]
    assert len(cpus) == 2 and cpus[1] == cpus[0] + 40, cpus  # SMT siblings, not 1 and 2
    assert not any("CPU places unknown" in n for n in doc["notes"]), doc["notes"]


def test_feature_gates_flag_and_config(cli, tmp_path):
    args = [os.path.join(POD_LEVEL, "pod.yaml"), "--node", os.path.join(POD_LEVEL, "node.yaml"),
            "--policy", "best-effort", "--scope", "pod", "--assume-default-reservations"]
    doc = plan_json(cli, *args, "--feature-gates", "PodLevelResourceManagers=true")
    assert doc["kubelet"]["feature_gates"] == {"PodLevelResourceManagers": True}
    config = tmp_path / "kubelet.yaml"
    config.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                      "memoryManagerPolicy: Static\ncpuManagerPolicy: static\nreservedSystemCPUs: '0'\n"
                      "reservedMemory: [{numaNode: 0, limits: {memory: 100Mi}}]\n"
                      "featureGates: {PodLevelResourceManagers: true}\n")
    args = args[:-1]
    assert plan_json(cli, *args, "--kubelet-config", str(config))["kubelet"]["feature_gates"] == \
        {"PodLevelResourceManagers": True}
    off = plan_json(cli, *args, "--kubelet-config", str(config), "--feature-gates", "PodLevelResourceManagers=false")
    assert off["kubelet"]["feature_gates"] == {"PodLevelResourceManagers": False}


@pytest.mark.parametrize("args,needle", [
    (["--feature-gates", "PodLevelResourceManagers=maybe"], "--feature-gates"),
    (["--kubelet-version", "1.10"], "1.22"),
    (["--kubelet-version", "banana"], "not a version"),
])
def test_bad_version_or_gates_exit_2_in_one_line(cli, args, needle):
    proc = cli("pod", "plan", POD, "--node", NODE, *args)
    assert proc.returncode == 2 and needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
