"""`numabench qualify` end to end: --from a synthetic two-node result (golden JSON and JUnit), spec
refusals as one line with exit 2, and one small real qualification of this machine whose checks are
chosen so that which pass and which fail is certain."""

import json
import os
import re
import xml.etree.ElementTree as ET

import pytest

from numabench.host.topology import read_topology

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
QDATA_REL = os.path.join("tests", "data", "qualify")
QDATA = os.path.join(ROOT, QDATA_REL)
RESULT_REL = os.path.join(QDATA_REL, "two-node-result.json")


def read(path):
    with open(path) as f:
        return f.read()


def test_from_a_result_that_passes_exits_0(cli):
    proc = cli("qualify", os.path.join(QDATA_REL, "pass.yaml"), "--from", RESULT_REL, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "qualification: two-node pass"
    assert "qualification: PASS (10 passed, 0 failed, 0 skipped)" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_from_a_result_that_fails_matches_the_golden_files(cli, tmp_path):
    out, junit = tmp_path / "q.json", tmp_path / "q.xml"
    proc = cli("qualify", os.path.join(QDATA_REL, "fail.yaml"), "--from", RESULT_REL, "-o", out, "--junit", junit,
               cwd=ROOT)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        "numabench: qualification failed: local_latency_ns_max, remote_local_latency_ratio_max, "
        "node_read_bandwidth_gbps_min, symmetry_pct_max, hugepages_2m_min_per_node, hugepages_1g_min_per_node, "
        "distances, nodes, memory_only_nodes")
    result = json.loads(read(out))
    golden = json.loads(read(os.path.join(QDATA, "fail.qualification.json")))
    assert result["qualification"] == golden
    # The golden's content, beyond "it did not change":
    checks = {c["check"]: c for c in golden["checks"]}
    assert checks["local_latency_ns_max"]["measured"] == 95.0 and checks["local_latency_ns_max"]["status"] == "fail"
    assert checks["node_read_bandwidth_gbps_min"]["measured"] == pytest.approx(92.0)
    assert checks["placement"]["status"] == "pass"
    assert golden["evaluated_from"] == RESULT_REL and golden["verdict"] == "fail"
    # Everything measured is kept; nothing was re-measured.
    source = json.loads(read(os.path.join(QDATA, "two-node-result.json")))
    assert result["measurements"] == source["measurements"] and result["matrix"] == source["matrix"]
    assert any("without measuring" in n for n in result["notes"])

    assert read(junit) == read(os.path.join(QDATA, "fail.junit.xml"))
    suite = ET.parse(junit).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("10", "9", "0")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["nodes"].find("failure").get("message") == "nodes: measured 2, expected == 4"
    assert cases["placement"].find("failure") is None


def test_html_and_prometheus_from_a_result(cli, tmp_path):
    html, prom = tmp_path / "r.html", tmp_path / "m.prom"
    proc = cli("qualify", os.path.join(QDATA_REL, "pass.yaml"), "--from", RESULT_REL, "--html", html,
               "--prometheus", prom, "--json", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["qualification"]["verdict"] == "pass"
    text = read(html)
    assert '<table class="verdicts">' in text and "http://" not in text and "https://" not in text
    assert len(re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+"', text)) == 2
    metrics = read(prom)
    assert 'numabench_qualification_passed{node="gold-1"} 1' in metrics
    assert re.search(r'^numabench_latency_seconds\{node="gold-1",kernel="latency",cpu_node="0",mem_node="1",'
                     r'.*\} 1\.8e-07$', metrics, re.MULTILINE)


@pytest.mark.parametrize("text,needles", [
    ("checks:\n  local_latency_max: 150\n", ("checks.local_latency_max", "unknown key", "local_latency_ns_max")),
    ("checks:\n  nodes: two\n", ("checks.nodes", "expected a non-negative integer", "nodes: 2")),
    ("measure:\n  size: huge\nchecks:\n  nodes: 1\n", ("measure.size", "expected a size")),
])
def test_bad_spec_is_one_line_and_exit_2(cli, tmp_path, text, needles):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    out = tmp_path / "never.json"
    proc = cli("qualify", spec, "-o", out)
    cli.one_line_error(proc, str(spec), *needles)
    assert not out.exists()


def test_refuses_to_overwrite_and_to_write_a_non_prom_file(cli, tmp_path):
    existing = tmp_path / "r.json"
    existing.write_text("{}")
    spec = os.path.join(QDATA, "pass.yaml")
    cli.one_line_error(cli("qualify", spec, "--from", os.path.join(ROOT, RESULT_REL), "-o", existing),
                       "already exists", "--force")
    assert existing.read_text() == "{}"
    cli.one_line_error(cli("qualify", spec, "--from", os.path.join(ROOT, RESULT_REL), "--prometheus",
                           tmp_path / "m.txt"), "*.prom")


def test_from_a_missing_or_foreign_file_is_exit_2(cli, tmp_path):
    spec = os.path.join(QDATA, "pass.yaml")
    cli.one_line_error(cli("qualify", spec, "--from", tmp_path / "absent.json"), "absent.json", "no such file")
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"schema_version": 99, "measurements": []}))
    cli.one_line_error(cli("qualify", spec, "--from", foreign), "schema_version 99")


@pytest.mark.native
def test_qualify_this_machine(cli, tmp_path):
    """A real, small qualification: 16 MiB, one sample. `nodes` is this machine's own count (passes);
    10**9 reserved 2 MiB pages per node cannot exist (fails): exit 1 naming that check."""
    topo = read_topology()
    node_count = len(topo.nodes)
    multi = node_count > 1
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: this machine\n"
        "measure:\n  size: 16M\n  repeat: 1\n"
        "  latency_sweep: {sizes: 16K..64K}\n"
        "  loaded_latency: {delays: [0, 1000], size: 16M}\n"
        "checks:\n"
        f"  nodes: {node_count}\n"
        "  local_latency_ns_max: 1000000000\n"
        "  remote_local_latency_ratio_max: 1000\n"
        "  hugepages_2m_min_per_node: 1000000000\n"
        "  placement: true\n")
    out, junit, html, prom = (tmp_path / n for n in ("r.json", "j.xml", "r.html", "m.prom"))
    proc = cli("qualify", spec, "-o", out, "--junit", junit, "--html", html, "--prometheus", prom, timeout=600)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[-1] == "numabench: qualification failed: hugepages_2m_min_per_node"

    result = json.loads(read(out))
    checks = {c["check"]: c for c in result["qualification"]["checks"]}
    assert checks["nodes"]["status"] == "pass" and checks["nodes"]["measured"] == node_count
    assert checks["local_latency_ns_max"]["status"] == "pass" and checks["local_latency_ns_max"]["measured"] > 0
    assert checks["hugepages_2m_min_per_node"]["status"] == "fail"
    ratio = checks["remote_local_latency_ratio_max"]
    if multi:
        assert ratio["status"] == "pass"
    else:
        assert ratio["status"] == "skipped" and ratio["detail"] == "needs 2+ NUMA nodes"
    # Only latency was asked by the checks: no bandwidth matrix was measured.
    assert "latency_ns" in result["matrix"] and "bandwidth_bytes_per_s" not in result["matrix"]
    assert {m["kernel"] for m in result["measurements"]} <= {"latency", "loaded_latency"}
    assert [p["size_bytes"] for p in result["latency_sweep"]["points"]] == [16384, 32768, 65536]
    allowed_on_node = [c for c in topo.node(result["latency_sweep"]["cpu_node"]).cpus
                       if c in os.sched_getaffinity(0)]
    loaded = result["loaded_latency"]
    if len(allowed_on_node) >= 2:
        assert [p["delay"] for p in loaded["points"]] == [0, 1000]
        assert all(p["inject_bandwidth_bytes_per_s"] > 0 for p in loaded["points"])
    else:
        assert loaded["points"] == [] and "needs 2+" in loaded["skipped"]
    assert checks["placement"]["status"] == "pass"
    assert all(isinstance(v, int) for counters in result["numastat_delta"].values() for v in counters.values())

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "1" and suite.get("tests") == "5"
    text = read(html)
    assert "http://" not in text and "https://" not in text
    images = re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+" alt="([^"]+)"', text)
    assert images == ["latency matrix", "latency vs size"] + (["loaded latency"] if loaded["points"] else [])
    metrics = read(prom)
    assert 'status="fail"} 1' in metrics and 'check="hugepages_2m_min_per_node"' in metrics
    assert "numabench_numastat_delta_pages{" in metrics
