"""The CRI backend without a runtime: the kubelet's CRI messages for a planned pod, the pod cgroup
names per QoS class and driver, the CRI log format, the one admission step the local and cri
backends share, cleanup of a killed runner's pods (against a fake runtime), the CLI's CRI options,
and the one-line messages when an extra is missing (the import blocked in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner

pytest.importorskip("grpc", reason="the [cri] extra (grpcio, protobuf) builds the CRI messages")

from numabench.cli import main  # noqa: E402
from numabench.errors import BackendError, CriError, UsageError  # noqa: E402
from numabench.kube.cri.configs import (  # noqa: E402
    CGROUP_PARENT_ANNOTATION,
    LOG_DIR_ANNOTATION,
    MANAGED_LABEL,
    RUNNER_HOST_LABEL,
    RUNNER_PID_LABEL,
    CriLogLines,
    CriPod,
    cgroup_parent,
    container_config,
    hugepage_limits,
    parse_cri_log,
    sandbox_config,
)

DATA = os.path.join(os.path.dirname(__file__), "..", "data")
EXPERIMENT = os.path.join(DATA, "experiments", "local.yaml")
TREE = os.path.join(DATA, "trees", "two-socket-smt")
UID = "0f0e0d0c-0b0a-0908-0706-050403020100"


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize("qos, driver, root, want", [
    ("Guaranteed", "cgroupfs", "/", f"/kubepods/pod{UID}"),
    ("Burstable", "cgroupfs", "/", f"/kubepods/burstable/pod{UID}"),
    ("BestEffort", "cgroupfs", "/numabench", f"/numabench/kubepods/besteffort/pod{UID}"),
    ("Guaranteed", "systemd", "/ignored", f"kubepods-pod{UID.replace('-', '_')}.slice"),
    ("Burstable", "systemd", "/", f"kubepods-burstable-pod{UID.replace('-', '_')}.slice"),
])
def test_pod_cgroup_names_follow_the_kubelet(qos, driver, root, want):
    assert cgroup_parent(qos, UID, driver, root) == want


@pytest.mark.parametrize("qos, driver", [("guaranteed", "cgroupfs"), ("Guaranteed", "systemd.slice")])
def test_unknown_qos_or_driver_is_refused(qos, driver):
    with pytest.raises(UsageError):
        cgroup_parent(qos, UID, driver)


def _pod(**kw):
    base = dict(name="p", uid=UID, namespace="ns", qos="Guaranteed", image="img", command=("numabench", "run"),
                cpuset_cpus="2-3", cpuset_mems="1", memory_limit_bytes=1 << 30,
                hugepage_limits_bytes={2 << 20: 64 << 20}, labels={MANAGED_LABEL: "numabench"},
                annotations={LOG_DIR_ANNOTATION: "/tmp/x"}, log_directory="/tmp/x")
    base.update(kw)
    return CriPod(**base)


def test_container_config_carries_the_planned_resources_and_no_privilege():
    cfg = container_config(_pod())
    res = cfg.linux.resources
    assert (res.cpuset_cpus, res.cpuset_mems, res.memory_limit_in_bytes) == ("2-3", "1", 1 << 30)
    # A size the pod did not ask for gets 0: it may not use it (GetHugepageLimitsFromResources).
    assert {(h.page_size, h.limit) for h in res.hugepage_limits} == {("2MB", 64 << 20), ("1GB", 0)}
    sc = cfg.linux.security_context
    assert sc.run_as_user.value == 65532 and sc.run_as_group.value == 65532
    assert sc.readonly_rootfs and sc.no_new_privs and list(sc.capabilities.drop_capabilities) == ["ALL"]
    assert sc.seccomp.profile_type == 0  # RuntimeDefault
    assert list(cfg.command) == ["numabench", "run"] and cfg.image.image == "img"
    assert cfg.log_path == "numabench/0.log" and cfg.labels[MANAGED_LABEL] == "numabench"


def test_unlimited_memory_is_zero_in_the_cri():
    assert container_config(_pod(memory_limit_bytes=None)).linux.resources.memory_limit_in_bytes == 0


def test_sandbox_config_host_network_runtime_default_and_the_pod_cgroup():
    parent = cgroup_parent("Burstable", UID)
    sb = sandbox_config(_pod(qos="Burstable"), parent)
    assert sb.linux.cgroup_parent == parent
    ns = sb.linux.security_context.namespace_options
    assert ns.network == 2  # NODE: no CNI needed
    assert sb.linux.security_context.seccomp.profile_type == 0
    assert (sb.metadata.name, sb.metadata.uid, sb.metadata.namespace) == ("p", UID, "ns")
    assert sb.labels["io.kubernetes.pod.uid"] == UID and sb.annotations[LOG_DIR_ANNOTATION] == "/tmp/x"
    assert sb.log_directory == "/tmp/x"


def test_hugepage_size_without_a_hugetlb_name_is_refused():
    with pytest.raises(UsageError, match="2Mi or 1Gi"):
        hugepage_limits({64 << 10: 1 << 20})


# --------------------------------------------------------------------------- the CRI log


LOG = ("2026-01-01T00:00:00.000000001Z stdout P abc\n"
       "2026-01-01T00:00:00.000000002Z stderr F err\n"
       "2026-01-01T00:00:00.000000003Z stdout F def\n"
       "2026-01-01T00:00:00.000000004Z stdout F \n"
       "2026-01-01T00:00:00.000000005Z stderr P tail")


def test_whole_log_keeps_split_lines_whole_per_stream():
    assert parse_cri_log(LOG) == "err\nabcdef\n\ntail\n"


def test_log_fed_in_pieces_gives_the_same_lines():
    reader = CriLogLines()
    got = []
    for i in range(0, len(LOG), 7):  # cuts inside timestamps, tags and text
        got += reader.feed(LOG[i:i + 7])
    got += reader.flush()
    assert got == [("stderr", "err\n"), ("stdout", "abcdef\n"), ("stdout", "\n"), ("stderr", "tail\n")]


def test_garbage_lines_are_not_output():
    assert parse_cri_log("not a cri line\n2026 bogus F x\n") == ""


# --------------------------------------------------------------------------- one admission step


@pytest.fixture
def exp():
    from numabench.kube.experiment.spec import experiment_from_dict

    with open(EXPERIMENT) as f:
        raw = yaml.safe_load(f)
    return experiment_from_dict(raw, source=EXPERIMENT)


@pytest.fixture
def topo():
    from numabench.host.topology import read_topology_tree

    return read_topology_tree(TREE)


def test_local_and_cri_backends_plan_through_the_same_admission(exp, topo):
    from numabench.kube.experiment.backends import admit, model_node
    from numabench.kube.experiment.manifests import plan_runs

    node = model_node(exp, topo)
    runs = {r.variant.name: r for r in plan_runs(exp, "abc123")}
    aligned = admit(exp, node, runs["aligned"], "h")
    assert aligned.rejected is None and aligned.plan.qos == "Guaranteed"
    assert aligned.planned["exclusive_cpus"] is True and len(aligned.planned["cpus"]) == 1
    assert aligned.planned["cpus"][0] != 0  # reservedSystemCPUs: "0" is never exclusive
    assert aligned.planned["hugepage_limits_bytes"] == {}
    shared = admit(exp, node, runs["misaligned"], "h")
    assert shared.planned["exclusive_cpus"] is False and shared.planned["cpus"] == list(node.all_cpus)


def test_a_rejected_pod_is_failed_with_the_kubelets_reason(exp, topo):
    from dataclasses import replace

    from numabench.kube.experiment.backends import admit, model_node
    from numabench.kube.experiment.manifests import plan_runs

    exp = replace(exp, local=replace(exp.local, reserved_cpus="0-63"))
    run = next(r for r in plan_runs(exp, "abc123") if r.variant.name == "aligned")
    adm = admit(exp, model_node(exp, topo), run, "h")
    assert adm.placement is None and adm.rejected.terminal and adm.rejected.phase == "Failed"
    assert adm.rejected.reason in ("TopologyAffinityError", "UnexpectedAdmissionError")


def test_fleet_and_bad_reserved_cpus_are_refused_by_both_backends(exp, topo):
    from dataclasses import replace

    from numabench.kube.experiment.backends import model_node

    with pytest.raises(UsageError, match="reservedSystemCPUs"):
        model_node(replace(exp, local=replace(exp.local, reserved_cpus="x")), topo, "cri")


# --------------------------------------------------------------------------- lifecycle on a fake runtime


class FakeRuntime:
    """The CriClient calls, recorded; ``fail`` names a call that raises CriError."""

    socket = "/fake.sock"

    def __init__(self, fail=None, sandboxes=()):
        self.fail, self.calls, self.sandboxes = fail, [], list(sandboxes)

    def _call(self, name):
        self.calls.append(name)
        if name == self.fail:
            raise CriError(f"CRI {name} failed (UNKNOWN: boom)", "see the runtime's log")

    def version(self):
        self._call("Version")

    def image_present(self, image):
        self._call("ImageStatus")
        return image != "missing"

    def run_pod_sandbox(self, config):
        self._call("RunPodSandbox")
        self.sandboxes.append(SimpleNamespace(id="sb1", labels=dict(config.labels),
                                              annotations=dict(config.annotations)))
        return "sb1"

    def create_container(self, sandbox, config, sb_config):
        self._call("CreateContainer")
        return "c1"

    def start_container(self, cid):
        self._call("StartContainer")

    def container_status(self, cid):
        self._call("ContainerStatus")
        return SimpleNamespace(state=2, exit_code=0, reason="", message="")

    def list_pod_sandboxes(self, labels):
        self._call("ListPodSandbox")
        return [s for s in self.sandboxes if all(s.labels.get(k) == v for k, v in labels.items())]

    def remove_sandbox(self, sid):
        self._call(f"remove {sid}")
        self.sandboxes = [s for s in self.sandboxes if s.id != sid]


def test_a_refused_call_removes_what_was_made(exp, topo, tmp_path):
    from numabench.kube.cri.backend import CriBackend
    from numabench.kube.experiment.manifests import plan_runs

    fake = FakeRuntime(fail="CreateContainer")
    be = CriBackend(exp, client=fake, topology=topo, log_root=str(tmp_path), cgroup_root="/numabench-unit")
    with pytest.raises(BackendError, match="CreateContainer"):
        be.create(plan_runs(exp, "abc123")[0], 60)
    assert fake.calls[-1] == "remove sb1" and fake.sandboxes == []
    assert os.listdir(tmp_path) == []  # the log directory went too


def test_a_sandbox_that_cannot_be_removed_names_crictl(exp, topo, tmp_path):
    from numabench.kube.cri.backend import CriBackend
    from numabench.kube.experiment.manifests import plan_runs

    fake = FakeRuntime(fail="remove sb1")
    be = CriBackend(exp, client=fake, topology=topo, log_root=str(tmp_path), cgroup_root="/numabench-unit")
    run = plan_runs(exp, "abc123")[0]
    be.create(run, 60)
    state = be.observe([run])[run.job_name]
    assert state.succeeded and state.planned["cgroup_parent"].startswith("/numabench-unit/kubepods/pod")
    with pytest.raises(BackendError, match="crictl rmp -f sb1"):
        be.delete(run)


def test_missing_image_is_refused_before_anything_is_made(exp, topo):
    from dataclasses import replace

    from numabench.kube.cri.backend import CriBackend

    fake = FakeRuntime()
    with pytest.raises(CriError, match="never pulls"):
        CriBackend(replace(exp, image="missing"), client=fake, topology=topo)
    assert "RunPodSandbox" not in fake.calls


def _sandbox(sid, host, pid, log_dir):
    return SimpleNamespace(id=sid, labels={MANAGED_LABEL: "numabench", RUNNER_HOST_LABEL: host,
                                           RUNNER_PID_LABEL: str(pid)},
                           annotations={LOG_DIR_ANNOTATION: log_dir, CGROUP_PARENT_ANNOTATION: ""})


def test_leftovers_of_dead_runners_go_live_ones_stay(tmp_path):
    from numabench.kube.cri.backend import LOG_DIR_PREFIX, remove_leftovers

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ours = tmp_path / f"{LOG_DIR_PREFIX}dead"
    ours.mkdir()
    foreign = tmp_path / "not-ours"
    foreign.mkdir()
    fake = FakeRuntime(sandboxes=[
        _sandbox("live", "h", os.getpid(), ""),
        _sandbox("dead", "h", dead.pid, str(ours)),
        _sandbox("elsewhere", "other-host", os.getpid(), str(foreign)),
    ])
    assert remove_leftovers(fake, "h").removed == ["dead", "elsewhere"]
    assert [s.id for s in fake.sandboxes] == ["live"]
    assert not ours.exists() and foreign.exists()  # an annotation cannot make us delete someone else's files


# --------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize("argv, needle", [
    (["pod", "run", EXPERIMENT, "--backend", "local", "--cri-socket", "/x", "-o", "OUT"], "--cri-socket: only for"),
    (["pod", "run", EXPERIMENT, "--backend", "cri", "--kubeconfig", "k", "-o", "OUT"], "--kubeconfig/--context"),
    (["pod", "run", EXPERIMENT, "--backend", "cri", "--cgroup-driver", "systemd", "--cgroup-root", "/x", "-o",
      "OUT"], "--cgroup-root applies to the cgroupfs driver"),
    (["pod", "exec", os.path.join(DATA, "pods", "guaranteed-2cpu-4gi.yaml"), "--image", "x"],
     "--image is for --runtime cri"),
])
def test_cri_options_where_they_do_not_apply(argv, needle, tmp_path):
    argv = [str(tmp_path / "out.json") if a == "OUT" else a for a in argv]
    res = CliRunner().invoke(main, argv)
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output


def test_an_absent_runtime_is_one_line_naming_the_socket_option(tmp_path):
    res = CliRunner().invoke(main, ["pod", "run", EXPERIMENT, "--backend", "cri", "--cri-socket",
                                    str(tmp_path / "none.sock"), "-o", str(tmp_path / "r.json")])
    assert res.exit_code == 2
    assert "CRI Version failed (UNAVAILABLE" in res.output and "--cri-socket" in res.output
    assert not (tmp_path / "r.json").exists()


# --------------------------------------------------------------------------- missing extras


BLOCKED = textwrap.dedent("""
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == {top!r}:
                raise ImportError(f"No module named {{name!r}} (blocked by the test)")
    sys.meta_path.insert(0, Block())
    from numabench.cli import main
    sys.argv = ["numabench", *{argv!r}]
    sys.exit(main())
""")


def _blocked(top: str, argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKED.format(top=top, argv=argv)], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("top, argv, line", [
    ("grpc", ["pod", "run", EXPERIMENT, "--backend", "cri", "-o", "OUT"],
     "numabench: error: the CRI backend needs grpcio and protobuf (No module named 'grpc' (blocked by the test)): "
     "pip install 'numabench[cri]'"),
    ("grpc", ["pod", "exec", os.path.join(DATA, "pods", "guaranteed-2cpu-4gi.yaml"), "--node",
              os.path.join(DATA, "pods", "node-two-numa.json"), "--runtime", "cri"],
     "pip install 'numabench[cri]'"),
    ("kubernetes", ["pod", "run", EXPERIMENT, "-o", "OUT"],
     "numabench: error: the kubernetes backend needs the kubernetes Python client: "
     "pip install 'numabench[cluster]' (or use --backend local)"),
    ("matplotlib", ["qualify", os.path.join(DATA, "qualify", "pass.yaml"), "--from",
                    os.path.join(DATA, "qualify", "two-node-result.json"), "--html", "OUT"],
     "numabench: error: qualify --html needs matplotlib: pip install 'numabench[report]'"),
])
def test_a_missing_extra_is_one_line_naming_the_pip_install(top, argv, line, tmp_path):
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    proc = _blocked(top, argv)
    assert proc.returncode == 2, proc.stderr
    err = [x for x in proc.stderr.splitlines() if x.startswith("numabench: error:")]
    assert len(err) == 1 and line in err[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(tmp_path / "out")
