"""numabench.results.baseline: fingerprints, storing and finding baselines per machine."""

import copy
import json
import os

import pytest

from numabench.errors import ResultError
from numabench.host.system import read_environment
from numabench.host.topology import read_topology
from numabench.results.baseline import (
    BASELINE_DIR_ENV,
    BaselineError,
    default_dir,
    describe_identity,
    find_baseline,
    fingerprint,
    list_baselines,
    live_identity,
    machine_identity,
    save_baseline,
)

TREES = os.path.join(os.path.dirname(__file__), "..", "data", "trees")


def result(**env):
    return {
        "schema_version": 1,
        "finished_unix": 1700000000.0,
        "environment": {"hostname": "ci-1", "cpu_model": "AMD EPYC 9654", "kernel_release": "6.1.0-18-amd64",
                        "thp_enabled": "madvise", "thp_defrag": "madvise", **env},
        "topology": {"nodes": [
            {"id": 1, "cpus": [2, 3], "memory_only": False, "mem_free_bytes": 5,
             "hugepages": [{"page_size_bytes": 2 << 20, "total": 8, "free": 8, "surplus": 0}]},
            {"id": 0, "cpus": [1, 0], "memory_only": False, "mem_free_bytes": 7,
             "hugepages": [{"page_size_bytes": 1 << 30, "total": 0, "free": 0, "surplus": 0},
                           {"page_size_bytes": 2 << 20, "total": 0, "free": 0, "surplus": 0}]},
        ]},
        "measurements": [{"kernel": "latency", "cpu_node": 0, "mem_node": 0, "pages": "4k", "size_bytes": 1 << 26,
                          "threads": 1, "samples": [100.0], "latency_ns": 100.0, "pages_by_node": {"0": 1}}],
    }


def test_identity_is_sorted_and_leaves_out_volatile_fields():
    ident = machine_identity(result())
    assert ident == {
        "cpu_model": "AMD EPYC 9654", "kernel_release": "6.1.0-18-amd64", "thp_enabled": "madvise",
        "thp_defrag": "madvise",
        "nodes": [{"id": 0, "cpus": [0, 1], "memory_only": False}, {"id": 1, "cpus": [2, 3], "memory_only": False}],
        "hugepage_sizes_bytes": [2 << 20, 1 << 30],
    }
    # The hash scheme is part of the on-disk format: stored baselines are found by it.
    assert fingerprint(ident) == "e16cdcd508ab"


def test_fingerprint_ignores_hostname_free_memory_and_pool_counts():
    other = result(hostname="ci-2")
    other["topology"]["nodes"][0]["mem_free_bytes"] = 99
    other["topology"]["nodes"][0]["hugepages"][0]["free"] = 0
    assert fingerprint(machine_identity(other)) == fingerprint(machine_identity(result()))


@pytest.mark.parametrize("change", [
    lambda r: r["environment"].update(cpu_model="Intel Xeon"),
    lambda r: r["environment"].update(kernel_release="6.8.0"),
    lambda r: r["environment"].update(thp_enabled="always"),
    lambda r: r["environment"].update(thp_defrag="never"),
    lambda r: r["topology"]["nodes"][0]["cpus"].append(4),
    lambda r: r["topology"]["nodes"][0].update(memory_only=True, cpus=[]),
    lambda r: r["topology"]["nodes"][1]["hugepages"].pop(0),
    lambda r: r["topology"]["nodes"].pop(),
])
def test_fingerprint_changes_with_each_machine_field(change):
    changed = copy.deepcopy(result())
    change(changed)
    assert fingerprint(machine_identity(changed)) != fingerprint(machine_identity(result()))


def test_describe_identity():
    assert describe_identity(machine_identity(result())) == "AMD EPYC 9654, kernel 6.1.0-18-amd64, 2 nodes, THP madvise"
    assert describe_identity({}) == "unknown CPU, kernel ?, 0 nodes, THP ?"


def test_save_refuses_to_overwrite_then_forces(tmp_path):
    d = tmp_path / "b" / "c"
    stored = save_baseline(result(), str(d))
    assert stored.path == str(d / f"{stored.fingerprint}.json")
    assert json.loads((d / f"{stored.fingerprint}.json").read_text())["environment"]["hostname"] == "ci-1"
    with pytest.raises(ResultError) as info:
        save_baseline(result(hostname="ci-2"), str(d))
    assert stored.path in info.value.message and "--force" in info.value.fix
    save_baseline(result(hostname="ci-2"), str(d), force=True)
    assert json.loads((d / f"{stored.fingerprint}.json").read_text())["environment"]["hostname"] == "ci-2"


def test_list_marks_broken_and_renamed_files(tmp_path):
    good = save_baseline(result(), str(tmp_path))
    (tmp_path / "broken.json").write_text("{nope")
    renamed = result(cpu_model="Other CPU")
    (tmp_path / "aaaaaaaaaaaa.json").write_text(json.dumps(renamed))
    (tmp_path / "notes.txt").write_text("ignored")
    listed = {os.path.basename(b.path): b for b in list_baselines(str(tmp_path))}
    assert set(listed) == {"broken.json", "aaaaaaaaaaaa.json", f"{good.fingerprint}.json"}
    assert listed[f"{good.fingerprint}.json"].error is None
    assert listed[f"{good.fingerprint}.json"].measurements == 1
    assert "not valid JSON" in listed["broken.json"].error
    assert "not aaaaaaaaaaaa: saved by hand?" in listed["aaaaaaaaaaaa.json"].error
    assert list_baselines(str(tmp_path / "missing")) == []


def test_find_baseline(tmp_path):
    stored = save_baseline(result(), str(tmp_path))
    ident = machine_identity(result())
    assert find_baseline(str(tmp_path), stored.fingerprint, ident).path == stored.path
    other = machine_identity(result(cpu_model="Intel Xeon"))
    with pytest.raises(BaselineError) as info:
        find_baseline(str(tmp_path), fingerprint(other), other)
    assert fingerprint(other) in info.value.message and "Intel Xeon" in info.value.message
    assert "1 baseline(s) of other machines" in info.value.message
    assert f"numabench baseline save RESULT.json --dir {tmp_path}" in info.value.fix
    with pytest.raises(BaselineError, match="does not exist"):
        find_baseline(str(tmp_path / "missing"), stored.fingerprint)


def test_find_baseline_names_a_broken_file_of_this_machine(tmp_path):
    (tmp_path / "0123456789ab.json").write_text('{"schema_version": 99, "measurements": []}')
    with pytest.raises(BaselineError) as info:
        find_baseline(str(tmp_path), "0123456789ab")
    assert "0123456789ab.json" in info.value.message and "schema_version 99" in info.value.message
    assert "--force" in info.value.fix


def test_live_identity_matches_a_result_measured_there():
    root = os.path.join(TREES, "two-socket-smt")
    sys_root, proc_root = os.path.join(root, "sys"), os.path.join(root, "proc")
    doc = {"environment": read_environment(sys_root, proc_root),
           "topology": read_topology(sys_root, proc_root).to_dict()}
    ident = live_identity(sys_root, proc_root)
    assert ident == machine_identity(doc)
    assert [n["id"] for n in ident["nodes"]] == [0, 1]
    assert ident["nodes"][0]["cpus"] == list(range(16)) + list(range(32, 48))
    assert ident["kernel_release"] == os.uname().release


def test_default_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(BASELINE_DIR_ENV, str(tmp_path / "env"))
    assert default_dir() == str(tmp_path / "env")
    monkeypatch.delenv(BASELINE_DIR_ENV)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_dir() == str(tmp_path / "xdg" / "numabench" / "baselines")
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_dir() == str(tmp_path / "home" / ".local" / "share" / "numabench" / "baselines")
