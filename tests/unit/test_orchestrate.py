"""The run loop against a small in-process fake of the API calls it uses, built from the real client
objects (V1Job, V1Pod, V1PodStatus, V1ContainerStatus, ApiException). Every test checks that
everything created was deleted."""

import json
import os
import signal

import pytest
from kubernetes.client import (
    V1ContainerState,
    V1ContainerStateRunning,
    V1ContainerStateTerminated,
    V1ContainerStateWaiting,
    V1ContainerStatus,
    V1Job,
    V1JobCondition,
    V1JobStatus,
    V1Node,
    V1NodeList,
    V1ObjectMeta,
    V1Pod,
    V1PodCondition,
    V1PodList,
    V1PodSpec,
    V1PodStatus,
)
from kubernetes.client.exceptions import ApiException

from numabench.kube.experiment.compare import compare_pods
from numabench.kube.experiment.manifests import frame_result
from numabench.kube.experiment.orchestrate import (
    KubernetesBackend,
    PodState,
    classify_pod,
    run_experiment,
)
from numabench.kube.experiment.spec import experiment_from_dict
from numabench.results.podset import load_pod_results as load_result_set

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "experiments")

EXPERIMENT = {
    "version": 1, "name": "exp", "namespace": "bench", "image": "numabench:1", "repetitions": 2,
    "timeoutSeconds": 60, "numabench": {"args": ["--size", "16M", "--kernels", "latency,read"]},
    "variants": [
        {"name": "aligned", "qos": "Guaranteed", "expect": "aligned",
         "resources": {"limits": {"cpu": "2", "memory": "1Gi"}}},
        {"name": "misaligned", "qos": "Burstable", "expect": "unpinned",
         "resources": {"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}},
    ],
}


def fake_result(verdict, latency, bandwidth, cpus=(2, 3), mems=(0,)):
    """A minimal numabench run result that results.validate accepts."""
    return {
        "schema_version": 1, "environment": {"pod": {"verdict": verdict, "reason": "test", "cpus": list(cpus),
                                                     "mems": list(mems), "cpu_nodes": [0]}},
        "measurements": [
            {"kernel": "latency", "cpu_node": 0, "mem_node": 0, "pages": "4k", "size_bytes": 16 << 20, "threads": 1,
             "samples": list(latency), "latency_ns": sorted(latency)[len(latency) // 2],
             "pages_by_node": {"0": 4096}, "placement": {"method": "first-touch"}},
            {"kernel": "read", "cpu_node": 0, "mem_node": 0, "pages": "4k", "size_bytes": 16 << 20, "threads": 2,
             "samples": list(bandwidth), "bandwidth_bytes_per_s": sorted(bandwidth)[len(bandwidth) // 2],
             "pages_by_node": {"0": 4096}, "placement": {"method": "first-touch"}},
        ],
    }


def framed_log(doc, rc=0):
    return "progress on stderr\nNUMABENCH-RESULT-END\n" + frame_result(json.dumps(doc).encode(), rc) + "more noise\n"


# --------------------------------------------------------------------------- pod states


def pod(name, job, phase="Pending", reason=None, message=None, node="worker-1", qos="Guaranteed", container=None,
        conditions=None, created=None, labels=None):
    meta = V1ObjectMeta(name=name, labels={"batch.kubernetes.io/job-name": job, "job-name": job, **(labels or {})},
                        creation_timestamp=created)
    return V1Pod(metadata=meta, spec=V1PodSpec(containers=[], node_name=node),
                 status=V1PodStatus(phase=phase, reason=reason, message=message, qos_class=qos,
                                    container_statuses=[container] if container else None, conditions=conditions))


def cstatus(running=False, terminated=None, waiting=None, restarts=0):
    state = V1ContainerState(
        running=V1ContainerStateRunning() if running else None,
        terminated=None if terminated is None else V1ContainerStateTerminated(exit_code=terminated[0],
                                                                              reason=terminated[1]),
        waiting=None if waiting is None else V1ContainerStateWaiting(reason=waiting[0], message=waiting[1]))
    return V1ContainerStatus(name="numabench", image="numabench:1", image_id="", ready=running,
                             restart_count=restarts, state=state)


def test_classify_success():
    st = classify_pod(pod("p", "j", "Succeeded", container=cstatus(terminated=(0, "Completed"))))
    assert (st.terminal, st.succeeded, st.has_log, st.exit_code, st.node, st.qos_class) == \
        (True, True, True, 0, "worker-1", "Guaranteed")


def test_classify_oomkilled():
    st = classify_pod(pod("p", "j", "Failed", container=cstatus(terminated=(137, "OOMKilled"))))
    assert (st.terminal, st.succeeded, st.reason, st.exit_code, st.has_log) == (True, False, "OOMKilled", 137, True)


def test_classify_topology_affinity_error_has_no_log():
    st = classify_pod(pod("p", "j", "Failed", reason="TopologyAffinityError",
                          message="Pod was rejected: Resources cannot be allocated with Topology locality"))
    assert (st.terminal, st.reason, st.has_log) == (True, "TopologyAffinityError", False)
    assert "Topology locality" in st.message


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff"])
def test_classify_image_pull_is_terminal(reason):
    st = classify_pod(pod("p", "j", "Pending", container=cstatus(waiting=(reason, "not found"))))
    assert (st.terminal, st.phase, st.reason, st.has_log) == (True, "Failed", reason, False)


def test_classify_container_creating_is_not_terminal():
    st = classify_pod(pod("p", "j", "Pending", container=cstatus(waiting=("ContainerCreating", None))))
    assert not st.terminal


def test_classify_unschedulable_keeps_waiting_with_the_reason():
    cond = V1PodCondition(type="PodScheduled", status="False", reason="Unschedulable",
                          message="0/3 nodes are available: 3 Insufficient hugepages-1Gi.")
    st = classify_pod(pod("p", "j", "Pending", node=None, conditions=[cond]))
    assert (st.terminal, st.reason) == (False, "Unschedulable")
    assert "hugepages-1Gi" in st.message


def test_classify_evicted():
    st = classify_pod(pod("p", "j", "Failed", reason="Evicted", message="The node was low on resource: memory.",
                          container=cstatus(terminated=(137, "Error"))))
    assert (st.terminal, st.reason) == (True, "Evicted")


# --------------------------------------------------------------------------- the fake


class FakeCluster:
    """BatchV1Api + CoreV1Api, the calls numabench uses. ``fates[variant]`` is a list of pod
    builders (one per observation; the last one repeats): f(pod name, job name) -> V1Pod."""

    def __init__(self, fates, create_fails=(), logs=None, delete_fails=(), observe_raises=None, qos=None):
        self.fates = fates
        self.create_fails = set(create_fails)
        self.delete_fails = set(delete_fails)
        self.observe_raises = observe_raises
        self.jobs = {}
        self.bodies = []
        self.created = []
        self.deleted = []
        self.steps = {}
        self.log_reads = []
        self.logs = logs or {}
        self.pod_lists = 0

    # BatchV1Api
    def create_namespaced_job(self, namespace, body):
        variant = body["metadata"]["labels"]["numabench.io/variant"]
        if variant in self.create_fails:
            raise ApiException(status=403, reason="Forbidden")
        assert body["metadata"]["name"] not in self.jobs
        self.jobs[body["metadata"]["name"]] = body
        self.bodies.append(body)
        self.created.append(body["metadata"]["name"])
        self.steps[body["metadata"]["name"]] = 0
        return V1Job(metadata=V1ObjectMeta(name=body["metadata"]["name"]))

    def read_namespaced_job(self, name, namespace):
        if name not in self.jobs:
            raise ApiException(status=404, reason="Not Found")
        return V1Job(metadata=V1ObjectMeta(name=name), status=V1JobStatus(conditions=[
            V1JobCondition(type="Failed", status="True", reason="DeadlineExceeded",
                           message="Job was active longer than specified deadline")]))

    def delete_namespaced_job(self, name, namespace, body):
        if name in self.delete_fails:
            raise ApiException(status=500, reason="Internal Server Error")
        if name not in self.jobs:
            raise ApiException(status=404, reason="Not Found")
        del self.jobs[name]
        self.deleted.append((name, body.propagation_policy))

    # CoreV1Api
    def list_namespaced_pod(self, namespace, label_selector):
        self.pod_lists += 1
        if self.observe_raises is not None:
            raise self.observe_raises
        key, _, value = label_selector.partition("=")
        items = []
        for name, job in self.jobs.items():
            if job["spec"]["template"]["metadata"]["labels"].get(key) != value:
                continue
            variant = job["metadata"]["labels"]["numabench.io/variant"]
            fates = self.fates[variant]
            step = min(self.steps[name], len(fates) - 1)
            self.steps[name] += 1
            built = fates[step](f"{name}-pod", name)
            for p in built if isinstance(built, list) else [built]:
                if p is not None:
                    p.metadata.labels.update(job["spec"]["template"]["metadata"]["labels"])
                    items.append(p)
        return V1PodList(items=items)

    def read_namespaced_pod_log(self, name, namespace, container):
        self.log_reads.append(name)
        assert container == "numabench"
        variant = name.split("-")[2]
        return self.logs.get(variant, framed_log(fake_result("aligned", [100, 101, 102], [2e10, 2.1e10, 1.9e10])))

    def list_node(self, label_selector):
        assert label_selector == "numa-zone=two-socket"
        return V1NodeList(items=[V1Node(metadata=V1ObjectMeta(name=n, labels={"kubernetes.io/hostname": n}))
                                 for n in ("node-b", "node-a")])

    def all_deleted(self):
        return sorted(self.created) == sorted(n for n, _ in self.deleted) and not self.jobs


def pending(name, job):
    return pod(name, job, "Pending", node=None, qos=None)


def running(qos="Guaranteed"):
    return lambda name, job: pod(name, job, "Running", qos=qos, container=cstatus(running=True))


def succeeded(qos="Guaranteed"):
    return lambda name, job: pod(name, job, "Succeeded", qos=qos, container=cstatus(terminated=(0, "Completed")))


OK_FATES = {"aligned": [pending, running(), succeeded()],
            "misaligned": [pending, running("Burstable"), succeeded("Burstable")]}


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = 0

    def __call__(self):
        return self.now

    def sleep(self, s):
        self.sleeps += 1
        self.now += s


def go(cluster, exp=None, **kw):
    exp = exp or experiment_from_dict(EXPERIMENT)
    clock = kw.pop("clock", Clock())
    backend = KubernetesBackend(cluster, cluster, exp.namespace)
    lines = []
    result = run_experiment(exp, backend, run_id="abc123", clock=clock, sleep=kw.pop("sleep", clock.sleep),
                            progress=lines.append, **kw)
    return result.to_dict(), lines  # what pod run writes: the tests check the file's content


def by(result, variant, rep):
    return next(r for r in result["runs"] if r["variant"] == variant and r["repetition"] == rep)


# --------------------------------------------------------------------------- the loop


def test_all_succeed_interleaved_and_deleted():
    logs = {"aligned": framed_log(fake_result("aligned", [100, 102, 101], [2e10, 2e10, 2e10])),
            "misaligned": framed_log(fake_result("unpinned", [150, 151, 149], [1e10, 1e10, 1e10], cpus=(0, 1, 2, 3),
                                                 mems=(0, 1)))}
    cluster = FakeCluster(OK_FATES, logs=logs)
    result, lines = go(cluster)
    assert cluster.created == ["nb-exp-aligned-r0-abc123", "nb-exp-misaligned-r0-abc123",
                               "nb-exp-aligned-r1-abc123", "nb-exp-misaligned-r1-abc123"]
    assert cluster.all_deleted()
    assert {p for _, p in cluster.deleted} == {"Foreground"}
    assert [r["status"] for r in result["runs"]] == ["ok"] * 4
    a, m = by(result, "aligned", 0), by(result, "misaligned", 1)
    assert (a["qos_class"], a["qos_expected"], a["qos_ok"], a["verdict"], a["verdict_ok"]) == \
        ("Guaranteed", "Guaranteed", True, "aligned", True)
    assert (m["qos_class"], m["qos_ok"], m["verdict"], m["verdict_ok"]) == ("Burstable", True, "unpinned", True)
    assert a["node"] == "worker-1" and a["exit_code"] == 0
    assert a["result"]["measurements"][0]["samples"] == [100, 102, 101]
    assert result["interrupted"] is False and result["cleanup_errors"] == []
    assert any("Succeeded" in line for line in lines)
    cmp = compare_pods(result, rounds=200)
    lat = next(c for c in cmp["groups"]["all"]["comparisons"][0]["cells"] if c["kernel"] == "latency")
    assert lat["ratio"] == pytest.approx(150 / 101)
    assert lat["ci95"][0] <= lat["ratio"] <= lat["ci95"][1]


def test_create_fails_for_the_second_variant():
    cluster = FakeCluster(OK_FATES, create_fails={"misaligned"})
    result, _ = go(cluster)
    assert cluster.all_deleted() and len(cluster.created) == 2
    assert by(result, "aligned", 0)["status"] == "ok" and by(result, "aligned", 1)["result"] is not None
    m = by(result, "misaligned", 0)
    assert (m["status"], m["reason"]) == ("not-created", "CreateFailed")
    assert "403" in m["message"] and "Role" in m["message"]
    assert len(result["errors"]) == 2


def test_oomkilled_is_recorded_and_the_others_kept():
    oom = lambda name, job: pod(name, job, "Failed", qos="Burstable",
                                container=cstatus(terminated=(137, "OOMKilled")))
    logs = {"misaligned": "Killed\n"}  # no frame: killed before emit printed
    cluster = FakeCluster({**OK_FATES, "misaligned": [pending, oom]}, logs=logs)
    result, _ = go(cluster)
    assert cluster.all_deleted()
    m = by(result, "misaligned", 0)
    assert (m["status"], m["reason"], m["exit_code"]) == ("failed", "OOMKilled", 137)
    assert "no result block" in m["result_error"]
    assert by(result, "aligned", 1)["status"] == "ok"


def test_topology_affinity_error_never_reads_a_log():
    rejected = lambda name, job: pod(name, job, "Failed", reason="TopologyAffinityError",
                                     message="Pod was rejected: Resources cannot be allocated with Topology locality")
    cluster = FakeCluster({**OK_FATES, "aligned": [rejected]})
    result, _ = go(cluster)
    assert cluster.all_deleted()
    a = by(result, "aligned", 0)
    assert (a["status"], a["reason"], a["result"]) == ("failed", "TopologyAffinityError", None)
    assert not any("aligned-r" in n and "misaligned" not in n for n in cluster.log_reads)
    assert by(result, "misaligned", 0)["status"] == "ok"


def test_image_pull_backoff_and_evicted():
    backoff = lambda name, job: pod(name, job, "Pending", container=cstatus(waiting=("ImagePullBackOff", "nope")))
    evicted = lambda name, job: pod(name, job, "Failed", reason="Evicted", qos="Burstable",
                                    message="The node was low on resource: memory.")
    cluster = FakeCluster({"aligned": [pending, backoff], "misaligned": [evicted]})
    result, _ = go(cluster)
    assert cluster.all_deleted()
    assert by(result, "aligned", 1)["reason"] == "ImagePullBackOff"
    assert by(result, "misaligned", 1)["reason"] == "Evicted"
    assert all(r["status"] == "failed" for r in result["runs"])


def test_timeout_keeps_the_last_reason_and_deletes():
    cond = V1PodCondition(type="PodScheduled", status="False", reason="Unschedulable",
                          message="0/3 nodes are available: 3 Insufficient cpu.")
    stuck = lambda name, job: pod(name, job, "Pending", node=None, qos=None, conditions=[cond])
    cluster = FakeCluster({**OK_FATES, "aligned": [stuck]})
    clock = Clock()
    result, _ = go(cluster, clock=clock, timeout_s=10, poll_s=2)
    assert cluster.all_deleted()
    a = by(result, "aligned", 0)
    assert (a["status"], a["reason"]) == ("timeout", "Timeout")
    assert "Unschedulable" in a["message"] and "Insufficient cpu" in a["message"]
    assert by(result, "misaligned", 0)["status"] == "ok"
    assert clock.sleeps >= 5  # the fake clock, not real time, ran out


def test_job_without_pod_reports_the_job_condition():
    cluster = FakeCluster({**OK_FATES, "aligned": [lambda name, job: None]})
    result, _ = go(cluster)
    assert cluster.all_deleted()
    assert by(result, "aligned", 0)["reason"] == "DeadlineExceeded"


def test_keyboard_interrupt_during_wait_deletes_and_marks():
    cluster = FakeCluster(OK_FATES)

    def interrupt(_s):
        raise KeyboardInterrupt

    result, _ = go(cluster, sleep=interrupt)
    assert cluster.created == ["nb-exp-aligned-r0-abc123"]
    assert cluster.all_deleted()
    assert result["interrupted"] is True
    assert (by(result, "aligned", 0)["status"], by(result, "aligned", 0)["reason"]) == ("interrupted", "Interrupted")
    assert (by(result, "misaligned", 1)["status"], by(result, "misaligned", 1)["reason"]) == ("interrupted", "NotRun")


def test_sigterm_during_wait_is_an_interrupt_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    cluster = FakeCluster(OK_FATES)
    result, _ = go(cluster, sleep=lambda _s: os.kill(os.getpid(), signal.SIGTERM))
    assert result["interrupted"] is True and cluster.all_deleted()
    assert signal.getsignal(signal.SIGTERM) is before


def test_unexpected_error_still_deletes():
    cluster = FakeCluster(OK_FATES, observe_raises=RuntimeError("bug"))
    with pytest.raises(RuntimeError, match="bug"):
        go(cluster)
    assert cluster.created and cluster.all_deleted()


def test_api_errors_while_polling_are_retried_until_the_timeout():
    cluster = FakeCluster(OK_FATES, observe_raises=ApiException(status=503, reason="Service Unavailable"))
    result, lines = go(cluster, timeout_s=6, poll_s=2)
    assert cluster.all_deleted() and cluster.pod_lists >= 4
    assert all(r["status"] == "timeout" for r in result["runs"])
    assert any("503" in line for line in lines)


def test_delete_failure_is_reported_not_raised():
    cluster = FakeCluster(OK_FATES, delete_fails={"nb-exp-aligned-r0-abc123"})
    result, _ = go(cluster)
    assert len(result["cleanup_errors"]) == 1 and "nb-exp-aligned-r0-abc123" in result["cleanup_errors"][0]
    assert sorted(cluster.jobs) == ["nb-exp-aligned-r0-abc123"]  # everything else went
    assert by(result, "aligned", 0)["status"] == "ok"


def test_qos_mismatch_and_wrong_verdict_are_flagged():
    logs = {"aligned": framed_log(fake_result("misaligned", [100], [1e10]))}
    cluster = FakeCluster({**OK_FATES, "aligned": [succeeded(qos="Burstable")]}, logs=logs)
    result, _ = go(cluster)
    a = by(result, "aligned", 0)
    assert (a["qos_ok"], a["verdict_ok"]) == (False, False)
    notes = compare_pods(result, rounds=100)["notes"]
    assert any("QoS Burstable" in n for n in notes) and any("expected aligned" in n for n in notes)


def test_tampered_frame_is_no_result():
    log = framed_log(fake_result("aligned", [100], [1e10]))
    lines = log.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("NUMABENCH-RESULT-BEGIN")) + 1
    lines[i] = ("A" if lines[i][0] != "A" else "B") + lines[i][1:]
    cluster = FakeCluster(OK_FATES, logs={"aligned": "\n".join(lines)})
    result, _ = go(cluster)
    a = by(result, "aligned", 0)
    assert (a["status"], a["reason"], a["result"]) == ("failed", "NoResult", None)
    assert a["result_error"]


def test_retried_job_counts_attempts():
    two = lambda name, job: [
        pod(name + "-a", job, "Failed", created=1, container=cstatus(terminated=(1, "Error"))),
        pod(name + "-b", job, "Succeeded", created=2, container=cstatus(terminated=(0, "Completed")))]
    cluster = FakeCluster({**OK_FATES, "aligned": [two]})
    result, _ = go(cluster)
    a = by(result, "aligned", 0)
    assert (a["status"], a["attempts"], a["restarts"], a["pod"]) == ("ok", 2, 1, "nb-exp-aligned-r0-abc123-pod-b")


def test_fleet_discovers_nodes_and_compares_per_node():
    raw = dict(EXPERIMENT, repetitions=1, nodeSelector={"numa-zone": "two-socket"}, fleet={"discover": True})
    exp = experiment_from_dict(raw)

    cluster = FakeCluster({"aligned": [succeeded("Guaranteed")], "misaligned": [succeeded("Burstable")]})
    result, _ = go(cluster, exp=exp)
    assert cluster.all_deleted()
    assert [r["node_target"] for r in result["runs"]] == ["node-a", "node-b", "node-a", "node-b"]
    for body, node in zip(cluster.bodies, ["node-a", "node-b", "node-a", "node-b"]):
        terms = body["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms == [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]
    for r in result["runs"]:
        r["node"] = r["node_target"]  # the fake reports worker-1 for every pod; as if it honoured the pin
    cmp = compare_pods(result, rounds=100)
    assert sorted(cmp["groups"]) == ["node-a", "node-b"]


def test_result_set_file_round_trip(tmp_path):
    from numabench.results.schema import save

    result, _ = go(FakeCluster(OK_FATES))
    path = str(tmp_path / "r.json")
    save(result, path)
    loaded = load_result_set(path)
    assert loaded.runs[0].job == "nb-exp-aligned-r0-abc123"
    assert loaded.to_dict() == json.loads(json.dumps(result))  # the typed record keeps every key
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": 1, "measurements": []}))
    from numabench.errors import ResultError

    with pytest.raises(ResultError, match="not a pod result set"):
        load_result_set(str(bad))
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({**result, "pod_results_version": 99}))
    with pytest.raises(ResultError, match="99"):
        load_result_set(str(newer))


def test_podstate_defaults_are_not_terminal():
    assert PodState().terminal is False and PodState().succeeded is False
