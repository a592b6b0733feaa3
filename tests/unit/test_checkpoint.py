"""memory_manager_state / cpu_manager_state: the kubelet's own checksum vectors, every format,
and hostile files through the CLI (exit 2, one line, the recovery steps)."""

import json
import os
import stat

import pytest
from click.testing import CliRunner

from numabench.cli import main
from numabench.kube.kubelet.checkpoint import (
    _MEM_LAYOUTS,
    CheckpointError,
    _load_json,
    fnv32a,
    load_cpu_manager_state,
    load_memory_manager_state,
    parse_cpu_manager_state,
    parse_memory_manager_state,
    spew_for_hash,
)
from numabench.util import docload

STATE = os.path.join(os.path.dirname(__file__), "..", "data", "kubelet", "state")
RECOVERY = ("drain the node", "stop the kubelet", "remove", "start the kubelet", "uncordon")


def read_state(case, name):
    with open(os.path.join(STATE, case, name)) as f:
        return f.read()


MEM_V1 = read_state("v1", "memory_manager_state")


def test_fnv32a_known_values():
    # Go: fnv.New32a() over "" is the offset basis; "a" is 0xe40c292c (FNV reference vectors).
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C


def test_spew_print_of_the_kubelet_vector():
    lay = _MEM_LAYOUTS[0]
    value = lay.struct.decode(_load_json(MEM_V1), dict(lay.initial), "")
    value["Checksum"] = 0
    text = spew_for_hash(lay.struct, value, "MemoryManagerCheckpoint")
    assert text == (
        "(*state.MemoryManagerCheckpoint){PolicyName:(string)static MachineState:(state.NUMANodeMap)map[0:<*>"
        "{NumberOfAssignments:(int)0 MemoryMap:(map[v1.ResourceName]*state.MemoryTable)map[memory:<*>"
        "{TotalMemSize:(uint64)2048 SystemReserved:(uint64)512 Allocatable:(uint64)1536 Reserved:(uint64)512 "
        "Free:(uint64)1024}] Cells:([]int)[]}] Entries:(state.ContainerMemoryAssignments)map[pod:map[container1:"
        "[{NUMAAffinity:([]int)[0] Type:(v1.ResourceName)memory Size:(uint64)512}]]] Checksum:(checksum.Checksum)0}")
    assert fnv32a(text.encode()) == 4215593881


@pytest.mark.parametrize("case,fmt,field,stored", [
    ("v1", "v1", "checksum", 4215593881),
    ("v2-pod-entries", "v2", "checksum", 1278640530),
    ("data-format", "v3 (data)", "dataChecksum", 1849615440),
])
def test_memory_manager_vectors_verify(case, fmt, field, stored):
    s = load_memory_manager_state(os.path.join(STATE, case, "memory_manager_state"))
    assert (s.format, s.checksum.field, s.checksum.stored, s.checksum.verified) == (fmt, field, stored, True)
    assert s.policy_name == "static"  # data format: the data wins over the legacy "other"
    assert s.machine_state[0]["memory"]["memory"] == {
        "total": 2048, "systemReserved": 512, "allocatable": 1536, "reserved": 512, "free": 1024}
    assert s.entries == {"pod": {"container1": [{"numa_affinity": [0], "type": "memory", "size_bytes": 512}]}}


def test_memory_pod_entries():
    s = load_memory_manager_state(os.path.join(STATE, "v2-pod-entries", "memory_manager_state"))
    assert s.pod_entries == {"pod": [{"numa_affinity": [0], "type": "memory", "size_bytes": 512}]}


@pytest.mark.parametrize("case,fmt,default,entries,pod_entries", [
    ("v1", "v3", (7, 8, 9), {"pod": {"container1": (4, 5, 6), "container2": (1, 2, 3)}}, {}),
    ("v2-pod-entries", "v3", (1, 2), {"pod1": {"container1": (5, 6), "container2": (3, 4)}}, {"pod2": (7, 8, 9)}),
    ("data-format", "v4 (data)", (7, 8, 9), {"pod": {"container1": (4, 5, 6), "container2": (1, 2, 3)}}, {}),
    ("cpu-v1-only", "v1", (7, 8, 9), {"": {"containerID1": (4, 5, 6), "containerID2": (1, 2, 3)}}, {}),
])
def test_cpu_manager_vectors_verify(case, fmt, default, entries, pod_entries):
    s = load_cpu_manager_state(os.path.join(STATE, case, "cpu_manager_state"))
    assert s.checksum.verified
    assert (s.format, s.default_cpuset, s.entries, s.pod_entries) == (fmt, default, entries, pod_entries)


def test_keys_are_matched_case_insensitively_like_go():
    # The kubelet's tests write "defaultCPUSet"; the field's tag is "defaultCpuSet".
    s = parse_cpu_manager_state('{"POLICYNAME":"none","defaultCPUSet":"1-3","checksum":1694838852}')
    assert (s.policy_name, s.default_cpuset, s.checksum.verified) == ("none", (1, 2, 3), True)


def test_zero_checksum_is_shown_as_not_verified():
    s = parse_memory_manager_state('{"policyName":"None"}')
    assert (s.checksum.stored, s.checksum.verified) == (0, False)
    assert "not verified" in s.checksum.detail


def test_changed_content_fails_its_checksum():
    with pytest.raises(CheckpointError) as err:
        parse_memory_manager_state(MEM_V1.replace('"size":512', '"size":513'), "/x/memory_manager_state")
    assert "checksum 4215593881 does not match" in str(err.value)
    assert "/x/memory_manager_state" in str(err.value)


def test_null_makes_a_nil_map_and_changes_the_hash():
    # Go prints a nil map as <nil>, an empty one as map[]: same JSON meaning, different checksum.
    with pytest.raises(CheckpointError, match="does not match"):
        parse_memory_manager_state(MEM_V1.replace('"cells":[]', '"cells":null'))


HOSTILE = {
    "truncated": MEM_V1[: len(MEM_V1) // 2],
    "empty": "",
    "wrong-type": MEM_V1.replace('"size":512', '"size":"512"'),
    "float-for-int": MEM_V1.replace('"size":512', '"size":512.0'),
    "negative-uint": MEM_V1.replace('"size":512', '"size":-512'),
    "huge-number": MEM_V1.replace('"size":512', '"size":' + "9" * 5000),
    "bad-numa-key": MEM_V1.replace('"machineState":{"0"', '"machineState":{"zero"'),
    "top-level-array": "[1,2,3]",
    "nan": MEM_V1.replace('"size":512', '"size":NaN'),
    "deep": "[" * 100000,
    "data-not-json": '{"data":"{","dataChecksum":1}',
    "data-bad-checksum": '{"data":"{}","dataChecksum":1234}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_memory_state_is_one_line_exit_2(tmp_path, name):
    (tmp_path / "memory_manager_state").write_text(HOSTILE[name])
    result = CliRunner().invoke(main, ["kubelet", "state", "--dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line
    assert str(tmp_path / "memory_manager_state") in line
    for step in RECOVERY:
        assert step in line


def test_hostile_cpu_state_bad_cpuset(tmp_path):
    (tmp_path / "cpu_manager_state").write_text('{"policyName":"static","defaultCpuSet":"0-999999999999"}')
    result = CliRunner().invoke(main, ["kubelet", "state", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "defaultCpuSet" in result.output and "uncordon" in result.output


def test_non_utf8(tmp_path):
    (tmp_path / "memory_manager_state").write_bytes(b'{"policyName":"\xff\xfe"}')
    result = CliRunner().invoke(main, ["kubelet", "state", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "not UTF-8" in result.output and "uncordon" in result.output


def test_directory_instead_of_file(tmp_path):
    (tmp_path / "memory_manager_state").mkdir()
    result = CliRunner().invoke(main, ["kubelet", "state", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "is a directory" in result.output and "remove" in result.output


def test_unreadable_file(tmp_path, monkeypatch):
    f = tmp_path / "cpu_manager_state"
    f.write_text(read_state("v1", "cpu_manager_state"))
    f.chmod(0)
    if os.access(f, os.R_OK):  # root reads any file: make open() answer as it would to a user
        def denied(path, *args, **kwargs):
            raise PermissionError(13, "Permission denied", path)
        monkeypatch.setattr(docload, "_open", denied)
    try:
        result = CliRunner().invoke(main, ["kubelet", "state", "--dir", str(tmp_path)])
    finally:
        f.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert result.exit_code == 2
    assert "permission denied" in result.output and "root" in result.output


def test_no_state_files(tmp_path):
    result = CliRunner().invoke(main, ["kubelet", "state", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "neither" in result.output and "--dir" in result.output


def test_state_table_two_nodes():
    result = CliRunner().invoke(main, ["kubelet", "state", "--dir", os.path.join(STATE, "two-node")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    node0_memory = next(line.split() for line in lines if line.startswith("0 ") and " memory " in line)
    assert node0_memory[:6] == ["0", "memory", "64", "GiB", "562", "MiB"]
    bench = next(line.split() for line in lines if " bench " in line)
    # pod, container, NUMA, memory, hugepages-2Mi, CPUs
    assert bench == ["0c6b2f4e-1a2b-4c3d-9e8f-001122334455", "bench", "0", "4", "GiB", "1", "GiB", "1"]
    db = next(line.split() for line in lines if " db " in line)
    assert db[-1] == "16-17" and db[2] == "1"
    assert result.output.count("verified: FNV-32a") == 2


def test_state_json_only_cpu(tmp_path):
    (tmp_path / "cpu_manager_state").write_text(read_state("v1", "cpu_manager_state"))
    result = CliRunner().invoke(main, ["kubelet", "state", "--dir", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["memory_manager"] is None
    assert doc["missing"] == [str(tmp_path / "memory_manager_state")]
    assert doc["cpu_manager"]["entries"]["pod"]["container1"] == [4, 5, 6]
    assert doc["cpu_manager"]["checksum"]["verified"] is True
