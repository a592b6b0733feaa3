"""numabench kubelet lint: Memory Manager's real rules on crafted KubeletConfigurations."""

import os
from fractions import Fraction

import pytest
from click.testing import CliRunner

from numabench.cli import main
from numabench.errors import QuantityError
from numabench.kube.kubelet.config import lint_config, load_config
from numabench.kube.resources import parse_quantity

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "data", "kubelet", "configs")
TWO_NODES = os.path.join(os.path.dirname(__file__), "..", "data", "trees", "two-socket-smt")


def lint(name, *extra):
    return CliRunner().invoke(main, ["kubelet", "lint", os.path.join(CONFIGS, name), *extra])


def rules(result, severity="error"):
    return sorted(line.split(": ")[1] for line in result.output.splitlines() if line.startswith(severity + ":"))


@pytest.mark.parametrize("text,value", [
    ("100Mi", 100 << 20), ("1.5Gi", 3 << 29), ("1Gi", 1 << 30), ("1G", 10**9), ("1k", 1000),
    ("128974848", 128974848), ("129e6", 129 * 10**6), ("500m", Fraction(1, 2)), (".5Ki", 512), (1024, 1024),
])
def test_quantities_parse_like_kubernetes(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["1K", "1KB", "1 Gi", "Gi", "", "1.2.3", "1Gb"])
def test_bad_quantities(text):
    with pytest.raises(QuantityError):
        parse_quantity(text)


def test_valid_config_exits_0():
    result = lint("valid.yaml", "--topology-from", TWO_NODES)
    assert result.exit_code == 0, result.output
    assert rules(result) == [] and rules(result, "warning") == []
    assert "policy-change-needs-state-removal" in result.output  # the note about the state files


@pytest.mark.parametrize("name,expected", [
    ("sum-mismatch.yaml", ["reserved-memory-sum"]),
    ("no-cpu-manager.yaml", ["static-needs-cpu-manager"]),
    ("unknown-resource.yaml", ["reserved-memory-resource"]),
    ("duplicate.yaml", ["reserved-memory-duplicate"]),
    ("zero.yaml", ["reserved-memory-zero"]),
    ("hugepages-unbalanced.yaml", ["reserved-memory-sum"]),
    ("uppercase-k.yaml", ["quantity"]),
    ("node-missing.yaml", ["reserved-memory-node"]),
])
def test_broken_configs_exit_1(name, expected):
    result = lint(name, "--topology-from", TWO_NODES)
    assert result.exit_code == 1, result.output
    assert rules(result) == expected
    for line in result.output.splitlines()[:-1]:
        assert "; fix: " in line


def test_sum_message_names_the_parts():
    result = lint("sum-mismatch.yaml")
    line = next(x for x in result.output.splitlines() if "reserved-memory-sum" in x)
    assert "totals 1Gi" in line and "512Mi + systemReserved 512Mi + evictionHard 100Mi = 1124Mi" in line


def test_hugepages_and_decimals_balance():
    result = lint("hugepages-decimal.yaml", "--topology-from", TWO_NODES)
    assert result.exit_code == 0, result.output


def test_best_effort_topology_is_a_warning():
    result = lint("best-effort-topology.yaml")
    assert result.exit_code == 0
    assert rules(result, "warning") == ["topology-manager-not-aligning"]


def test_partial_eviction_hard_does_not_inherit_100mi():
    # systemReserved 1Gi + evictionHard memory 0 (nodefs only given) = 1Gi on node 0.
    result = lint("eviction-partial.yaml")
    assert result.exit_code == 0, result.output
    assert "eviction-default" in result.output


def test_node_existence_needs_a_topology():
    assert lint("node-missing.yaml").exit_code == 0  # sums match; node 5 unknown without a topology


@pytest.mark.parametrize("name,message", [("invalid.yaml", "not valid YAML"), ("not-kubelet.yaml", "kind 'Pod'")])
def test_unreadable_configs_exit_2(name, message):
    result = lint(name)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_missing_file_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["kubelet", "lint", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "cannot read" in result.output


def test_static_without_topology_policy_and_reservation():
    doc = {"kind": "KubeletConfiguration", "memoryManagerPolicy": "Static", "cpuManagerPolicy": "static",
           "evictionHard": {"memory.available": "0"}}
    found = {f.rule for f in lint_config(doc) if f.severity == "error"}
    assert found == {"static-needs-topology-manager", "static-needs-reserved-memory"}


def test_none_policy_only_warns_about_sums():
    doc = {"kind": "KubeletConfiguration", "reservedMemory": [{"numaNode": 0, "limits": {"memory": "1Gi"}}]}
    findings = lint_config(doc)
    assert [(f.severity, f.rule) for f in findings] == [("warning", "reserved-memory-sum")]


def test_percentage_eviction_uses_the_topology(tmp_path):
    cfg = tmp_path / "k.yaml"
    cfg.write_text("kind: KubeletConfiguration\nmemoryManagerPolicy: Static\ncpuManagerPolicy: static\n"
                   "topologyManagerPolicy: restricted\nevictionHard: {memory.available: '1%'}\n"
                   "reservedMemory: [{numaNode: 0, limits: {memory: 1Mi}}]\n")
    without = CliRunner().invoke(main, ["kubelet", "lint", str(cfg)])
    assert without.exit_code == 0 and "eviction-percentage" in without.output
    with_topo = CliRunner().invoke(main, ["kubelet", "lint", str(cfg), "--topology-from", TWO_NODES])
    assert with_topo.exit_code == 1 and "reserved-memory-sum" in with_topo.output


def test_load_config_reads_yaml():
    assert load_config(os.path.join(CONFIGS, "valid.yaml"))["memoryManagerPolicy"] == "Static"


def test_parse_config_gives_typed_settings():
    # The settings pod plan reads come from the same parse as the lint findings.
    from numabench.kube.kubelet.config import load_kubelet_config

    cfg = load_kubelet_config(os.path.join(CONFIGS, "valid.yaml"))
    assert (cfg.memory_manager_policy, cfg.cpu_manager_policy, cfg.topology_manager_policy) == (
        "Static", "static", "single-numa-node")
    assert cfg.topology_manager_scope is None and cfg.reserved_system_cpus is None
    assert cfg.reserved_memory == {0: {"memory": 562 << 20}, 1: {"memory": 562 << 20}}
    assert cfg.reservation.per_type() == {"memory": 1124 << 20}
    assert cfg.reserved_cpu_count == 1  # ceil(kubeReserved cpu 500m)
    assert [f.rule for f in cfg.findings] == [f.rule for f in lint_config(load_config(os.path.join(CONFIGS,
                                                                                                  "valid.yaml")))]


def test_parse_config_options_scope_and_cpus():
    from numabench.kube.kubelet.config import parse_config

    cfg = parse_config({"kind": "KubeletConfiguration", "topologyManagerScope": "pod", "reservedSystemCPUs": "0,32",
                        "cpuManagerPolicyOptions": {"full-pcpus-only": "true"},
                        "topologyManagerPolicyOptions": {"max-allowable-numa-nodes": "16"}})
    assert cfg.topology_manager_scope == "pod" and cfg.reserved_system_cpus == (0, 32)
    assert cfg.cpu_manager_policy_options == {"full-pcpus-only": "true"}
    assert cfg.topology_manager_policy_options == {"max-allowable-numa-nodes": "16"}
    bad = parse_config({"kind": "KubeletConfiguration", "topologyManagerScope": "node", "reservedSystemCPUs": "0-",
                        "cpuManagerPolicyOptions": {"full-pcpus-only": True}})
    assert sorted(f.rule for f in bad.errors) == ["config-type", "config-type", "topology-manager-scope"]
