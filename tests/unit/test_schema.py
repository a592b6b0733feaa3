"""The typed result schema: v1 files written before the schema was typed still load, unchanged;
bad documents are refused with the file and the field named."""

import json
import os

import pytest

from numabench.errors import ResultError
from numabench.results.schema import (
    SCHEMA_VERSION,
    Measurement,
    Result,
    build_result,
    dumps,
    load,
    parse,
    save,
    to_dataframe,
)

V1 = os.path.join(os.path.dirname(__file__), "..", "data", "results", "v1")
V1_FILES = sorted(f for f in os.listdir(V1) if f.endswith(".json"))


def test_there_are_v1_files_of_every_measuring_command():
    assert V1_FILES == ["loaded.json", "matrix.json", "qualify.json", "run.json"]


@pytest.mark.parametrize("name", V1_FILES)
def test_v1_files_load_and_round_trip_unchanged(name):
    path = os.path.join(V1, name)
    with open(path) as f:
        doc = json.load(f)
    result = load(path)
    assert isinstance(result, Result) and result.schema_version == 1
    assert all(isinstance(m, Measurement) for m in result.measurements)
    assert len(result.measurements) == len(doc["measurements"]) > 0
    # Nothing is lost or changed: optional sections and kernel-specific fields come back as they were.
    assert result.to_dict() == doc
    assert json.loads(dumps(result)) == doc


def test_v1_sections_and_details_are_typed_apart():
    loaded = load(os.path.join(V1, "loaded.json"))
    m = loaded.measurements[0]
    assert m.kernel == "loaded_latency" and m.latency_ns is not None and m.bandwidth_bytes_per_s is None
    assert {"delay", "inject_bandwidth_bytes_per_s", "inject_placement"} <= set(m.details)
    qualify = load(os.path.join(V1, "qualify.json"))
    assert {"matrix", "latency_sweep", "loaded_latency", "qualification", "numastat_delta"} <= set(qualify.sections)


def _doc():
    with open(os.path.join(V1, "run.json")) as f:
        return json.load(f)


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d.update(schema_version=99), "schema_version 99 is not supported"),
    (lambda d: d.update(schema_version="1"), "no integer schema_version"),
    (lambda d: d.update(schema_version=True), "no integer schema_version"),
    (lambda d: d.pop("measurements"), "lacks measurements"),
    (lambda d: d.update(measurements={"a": 1}), "field measurements is a dict, expected a list"),
    (lambda d: d["measurements"].__setitem__(1, []), "measurement 1 is a list, expected an object"),
    (lambda d: d["measurements"][1].__setitem__("samples", "fast"), "measurement 1 field samples is a str"),
    (lambda d: d["measurements"][1].__setitem__("samples", [1.0, None]), "field samples"),
    (lambda d: d["measurements"][0].__setitem__("cpu_node", 0.5), "measurement 0 field cpu_node is a float"),
    (lambda d: d["measurements"][0].__setitem__("threads", True), "field threads is a bool"),
    (lambda d: d["measurements"][2].pop("pages_by_node"), "measurement 2 lacks pages_by_node"),
    (lambda d: d["measurements"][0]["pages_by_node"].update({"0": "many"}), "pages_by_node holds a value"),
    (lambda d: d["measurements"][0].pop("latency_ns"), "neither latency_ns nor bandwidth_bytes_per_s"),
    (lambda d: d.update(errors=["boom"]), "errors holds an entry that is not an object"),
    (lambda d: d.update(interrupted="no"), "field interrupted is a str"),
    (lambda d: d.update(command="numabench run"), "field command is a str"),
])
def test_bad_documents_are_refused_naming_the_field(mutate, needle):
    doc = _doc()
    mutate(doc)
    with pytest.raises(ResultError) as info:
        parse(doc, "x.json")
    assert needle in str(info.value)
    assert str(info.value).startswith("x.json")


def test_top_level_not_an_object():
    with pytest.raises(ResultError, match="x.json: not a numabench result"):
        parse([1, 2], "x.json")


@pytest.mark.parametrize("content, needle", [
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b'{"schema_version": NaN}', "NaN is not a JSON number"),
    (b"[" * 100000 + b"]" * 100000, "not a numabench result"),
    (b"{nope", "not valid JSON"),
])
def test_files_that_are_not_json_results(tmp_path, content, needle):
    path = tmp_path / "r.json"
    path.write_bytes(content)
    with pytest.raises(ResultError, match=needle) as info:
        load(str(path))
    assert str(path) in str(info.value)


def test_a_directory_or_a_missing_file(tmp_path):
    with pytest.raises(ResultError, match="is a directory"):
        load(str(tmp_path))
    with pytest.raises(ResultError, match="no such file"):
        load(str(tmp_path / "absent.json"))


def test_builder_and_save_write_the_current_version(tmp_path):
    m = Measurement(kernel="read", cpu_node=0, mem_node=0, mem_nodes=[0], policy="bind", pages="4k",
                    size_bytes=1 << 20, threads=2, cpus=[0, 1], samples=[1e9, 2e9, 3e9], unit="bytes/s",
                    pages_by_node={"0": 256}, bandwidth_bytes_per_s=2e9, details={"isa": "avx2"})
    result = build_result(environment={}, topology={}, command=["numabench"], options={}, notes=[],
                          measurements=[m], errors=[], interrupted=False, started=1.0, finished=2.0,
                          sections={"matrix": {"rows": [0]}})
    path = tmp_path / "r.json"
    save(result, str(path))
    doc = json.loads(path.read_text())
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    assert doc["measurements"][0]["isa"] == "avx2" and doc["matrix"] == {"rows": [0]}
    with pytest.raises(ResultError, match="already exists"):
        save(result, str(path))
    assert load(str(path)).measurements[0] == m


def test_dataframes_per_measurement_and_per_sample():
    result = load(os.path.join(V1, "run.json"))
    per_m = result.to_dataframe()
    assert list(per_m["kernel"]) == [m.kernel for m in result.measurements]
    per_s = to_dataframe(result, per="sample")
    assert len(per_s) == sum(len(m.samples) for m in result.measurements)
    first = result.measurements[0]
    assert list(per_s[per_s["measurement"] == 0]["value"]) == first.samples
    with pytest.raises(ValueError, match="per must be"):
        result.to_dataframe(per="cell")


def test_the_csv_needs_no_pandas_and_matches_the_dataframe():
    import io

    import pandas as pd

    from numabench.results.schema import csv_text

    result = load(os.path.join(V1, "run.json"))
    ours = pd.read_csv(io.StringIO(csv_text(result)))
    assert ours.equals(pd.read_csv(io.StringIO(result.to_dataframe().to_csv(index=False))))
