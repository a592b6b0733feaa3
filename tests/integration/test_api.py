"""The public Python API, as the README's example uses it."""

import pytest

import numabench
from numabench.errors import ResultError, TopologyError, UsageError

pytestmark = pytest.mark.native


def test_the_readme_example(tmp_path):
    topo = numabench.topology()
    assert topo.nodes and topo.online_cpus
    specs = numabench.plan(kernels=["latency", "read"], size="8M", repeat=2, pages="4k")
    assert [s.kernels for s in specs] == [("latency", "read")]
    result = numabench.run_specs(specs, sample_noise=False)
    assert isinstance(result, numabench.Result) and not result.interrupted
    assert [m.kernel for m in result.measurements] == ["latency", "read"]
    assert all(isinstance(m, numabench.Measurement) and m.placement_ok for m in result.measurements)
    df = result.to_dataframe()
    assert list(df["kernel"]) == ["latency", "read"]
    assert df["latency_ns"][0] > 0 and df["bandwidth_bytes_per_s"][1] > 0
    assert len(result.to_dataframe(per="sample")) == 4

    path = tmp_path / "r.json"
    from numabench.results.schema import save

    save(result, str(path))
    again = numabench.load(str(path))
    assert again.to_dict() == result.to_dict()
    comparison = numabench.compare(str(path), again, fail_on=["latency:+5%"])
    assert comparison["verdict"] == "pass" and comparison["rows"]


def test_run_is_plan_then_run_specs():
    result = numabench.run(kernels=["latency"], size="1M", repeat=1, pages="4k")
    assert [m.kernel for m in result.measurements] == ["latency"]
    assert "noise" in result.environment


def test_api_errors_are_the_projects_own():
    with pytest.raises(UsageError, match="unknown kernel"):
        numabench.plan(kernels=["fastest"])
    with pytest.raises(TopologyError, match="node 4095 does not exist"):
        numabench.plan(cpu_node=4095)
    with pytest.raises(ResultError, match="no such file"):
        numabench.load("/nonexistent/result.json")
    assert issubclass(ResultError, numabench.NumabenchError)
    with pytest.raises(AttributeError):
        numabench.no_such_function  # noqa: B018
