"""The measurement session on synthetic parts: what is kept on failure, Ctrl-C and SIGTERM."""

import os
import signal

import pytest

from numabench.errors import HugepageError
from numabench.host.topology import read_topology_tree
from numabench.measure.session import Session
from numabench.results.schema import Measurement

TREES = os.path.join(os.path.dirname(__file__), "..", "data", "trees")


def topo():
    return read_topology_tree(os.path.join(TREES, "two-socket-smt"))


def point(kernel="latency", value=100.0):
    return Measurement(kernel=kernel, cpu_node=0, mem_node=0, mem_nodes=[0], policy="bind", pages="4k",
                       size_bytes=1 << 20, threads=1, cpus=[0], samples=[value], unit="ns",
                       pages_by_node={"0": 256}, latency_ns=value, placement={"ok": True})


def test_parts_are_kept_and_failures_recorded():
    with Session(topology=topo(), command=["numabench", "test"], options={"repeat": 1}) as s:
        got = s.measure("a", lambda: [point(value=1.0), point(value=2.0)])
        s.measure("b", lambda: (_ for _ in ()).throw(HugepageError("no pool", "reserve some")),
                  failure={"cpu_node": 0, "pages": "2m"})
        s.measure("c", lambda: [point(value=3.0)])
    assert [m.latency_ns for m in got] == [1.0, 2.0]
    result = s.result()
    assert [m.latency_ns for m in result.measurements] == [1.0, 2.0, 3.0]
    assert result.errors == [{"cpu_node": 0, "pages": "2m", "error": "no pool: reserve some",
                              "type": "HugepageError"}]
    assert result.interrupted is False and "interrupted_by" not in result.sections
    assert result.command == ["numabench", "test"] and result.options == {"repeat": 1}
    # The same record every measuring command writes: environment (with the pod verdict) and topology.
    assert "kernel_release" in result.environment and result.topology["nodes"]


def _interrupted_after_one():
    yield point(value=1.0)
    raise KeyboardInterrupt


def test_ctrl_c_keeps_what_was_yielded_and_stops_the_session():
    with Session(topology=topo()) as s:
        s.measure("a", _interrupted_after_one)
        later = s.measure("b", lambda: [point(value=9.0)])
    assert later == [] and s.interrupted and s.interrupted_by == "SIGINT"
    assert s.exit_code_if_interrupted == 130
    result = s.result()
    assert [m.latency_ns for m in result.measurements] == [1.0]
    assert result.interrupted is True and result.sections["interrupted_by"] == "SIGINT"


def _terminated_after_one():
    yield point(value=1.0)
    os.kill(os.getpid(), signal.SIGTERM)
    yield point(value=2.0)  # never reached: the handler raises first


def test_sigterm_is_an_interruption_and_its_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    with Session(topology=topo()) as s:
        assert signal.getsignal(signal.SIGTERM) != before
        s.measure("a", _terminated_after_one)
    assert signal.getsignal(signal.SIGTERM) == before
    assert s.interrupted_by == "SIGTERM" and s.exit_code_if_interrupted == 143
    assert [m.latency_ns for m in s.result().measurements] == [1.0]


def test_other_exceptions_are_not_swallowed():
    with Session(topology=topo()) as s:
        with pytest.raises(ZeroDivisionError):
            s.measure("a", lambda: [1 / 0])
