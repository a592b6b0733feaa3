"""Every generated manifest against the official schemas of each Kubernetes version kubernetes-validate
ships from 1.29 on; QoS classes as promised (kube/qos.py); no privileges; hugepage volumes; framing."""

import os

import kubernetes_validate as kv
import pytest
from kubernetes_validate import utils as kv_utils

from numabench.errors import UsageError
from numabench.kube.experiment.manifests import (
    RUNNER_ROLE_RULES,
    FramingError,
    frame_result,
    job_manifest,
    parse_framed,
    plan_runs,
    rbac_manifests,
)
from numabench.kube.experiment.spec import experiment_from_dict, load_experiment
from numabench.kube.podspec import pod_from_dict
from numabench.kube.qos import pod_qos

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
FILES = [os.path.join(ROOT, "examples", "experiment.yaml"),
         os.path.join(ROOT, "tests", "data", "experiments", "local.yaml"),
         os.path.join(ROOT, "tests", "data", "experiments", "fleet.yaml")]
VERSIONS = sorted({kv_utils.major_minor(v) for v in kv_utils.all_versions()
                   if tuple(map(int, kv_utils.major_minor(v).split("."))) >= (1, 29)},
                  key=lambda v: tuple(map(int, v.split("."))))


def all_docs(path):
    exp = load_experiment(path)
    runs = plan_runs(exp, "abc123")
    return exp, runs, rbac_manifests(exp) + [r.manifest for r in runs]


def test_the_package_ships_the_versions_we_support():
    assert VERSIONS[0] == "1.29" and "1.33" in VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", FILES, ids=os.path.basename)
def test_manifests_validate_strictly(path, version):
    _, _, docs = all_docs(path)
    for doc in docs:
        assert kv.validate(doc, version, strict=True) == version


def test_the_validator_refuses_a_broken_job():
    _, runs, _ = all_docs(FILES[0])
    broken = runs[0].manifest
    broken["spec"]["template"]["spec"]["containers"][0]["privilegd"] = True  # misspelt: strict schemas refuse it
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, VERSIONS[-1], strict=True)


@pytest.mark.parametrize("path", FILES, ids=os.path.basename)
def test_each_job_has_the_qos_its_variant_promises(path):
    _, runs, _ = all_docs(path)
    seen = set()
    for r in runs:
        assert pod_qos(pod_from_dict(r.manifest)) == r.variant.qos
        seen.add(r.variant.qos)
    if path == FILES[0]:
        assert seen == {"Guaranteed", "Burstable", "BestEffort"}


def test_job_shape_labels_and_no_privileges():
    _, runs, _ = all_docs(FILES[0])
    job = runs[0].manifest
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    assert (spec["backoffLimit"], spec["ttlSecondsAfterFinished"], spec["activeDeadlineSeconds"]) == (0, 3600, 1800)
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert {labels[k] for k in ("numabench.io/experiment", "numabench.io/variant", "numabench.io/repetition",
                                "numabench.io/run")} == {"alignment-worth", "aligned", "0", "abc123"}
    c = pod["containers"][0]
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["securityContext"]["allowPrivilegeEscalation"] is False and "privileged" not in c["securityContext"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["command"][:6] == ["numabench", "pod", "emit", "--", "numabench", "run"]
    assert "--json" in c["command"]
    assert pod["nodeSelector"] == {"numa-zone": "two-socket"}
    assert pod["tolerations"][0]["key"] == "numa-zone"
    assert [(r.variant.name, r.repetition) for r in runs[:4]] == [("aligned", 0), ("misaligned", 0), ("shared", 0),
                                                                  ("aligned", 1)]


def test_hugepage_volume_only_where_hugepages_are_asked():
    _, runs, _ = all_docs(FILES[0])
    by_variant = {r.variant.name: r.manifest["spec"]["template"]["spec"] for r in runs}
    vols = {v["name"]: v for v in by_variant["aligned"]["volumes"]}
    assert vols["hugepages-2mi"]["emptyDir"] == {"medium": "HugePages-2Mi"}
    assert {"name": "hugepages-2mi", "mountPath": "/hugepages-2Mi"} in by_variant["aligned"]["containers"][0][
        "volumeMounts"]
    assert not any(v.get("emptyDir", {}).get("medium", "").startswith("HugePages")
                   for v in by_variant["shared"]["volumes"])


def test_remote_variant_binds_its_memory_node():
    exp = load_experiment(FILES[2])
    m = job_manifest(exp, exp.variant("remote"), 0, "abc123", "worker-1", 0)
    cmd = m["spec"]["template"]["spec"]["containers"][0]["command"]
    assert cmd[cmd.index("--mem-node") + 1] == "1" and cmd[cmd.index("--cpu-node") + 1] == "0"


def test_fleet_pins_each_job_to_its_node_and_keeps_the_users_terms():
    _, runs, _ = all_docs(FILES[2])
    assert [r.node for r in runs] == ["worker-1", "worker-2", "worker-3"] * 2
    terms = runs[1].manifest["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["worker-2"]}]}]
    assert runs[1].manifest["metadata"]["labels"]["numabench.io/node"] == "worker-2"
    assert len({r.job_name for r in runs}) == len(runs)


def test_rbac_is_least_privilege():
    exp, _, _ = all_docs(FILES[0])
    docs = rbac_manifests(exp)
    assert [d["kind"] for d in docs] == ["ServiceAccount", "Role", "RoleBinding"]
    verbs = {(g, r): set(rule["verbs"]) for rule in docs[1]["rules"] for g in rule["apiGroups"]
             for r in rule["resources"]}
    assert verbs == {("batch", "jobs"): {"create", "get", "delete"}, ("", "pods"): {"list"},
                     ("", "pods/log"): {"get"}}
    assert docs[1]["rules"] is RUNNER_ROLE_RULES
    discover = experiment_from_dict({"name": "d", "image": "i", "nodeSelector": {"a": "b"}, "fleet": {"discover": True},
                                     "variants": [{"name": "v"}]})
    kinds = [d["kind"] for d in rbac_manifests(discover)]
    assert kinds[-2:] == ["ClusterRole", "ClusterRoleBinding"]
    assert rbac_manifests(discover)[-2]["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]


def test_too_long_job_name_is_refused():
    exp = experiment_from_dict({"name": "a" * 24, "image": "i", "variants": [{"name": "b" * 16}], "repetitions": 1000,
                                "fleet": {"nodes": ["n"]}})
    assert len(plan_runs(exp, "abcdef")[-1].job_name) == 59  # the longest names the file allows still fit
    with pytest.raises(UsageError, match="63"):
        plan_runs(exp, "a-run-id-given-by-hand")
    exp_ok = experiment_from_dict({"name": "short", "image": "i", "variants": [{"name": "v"}]})
    assert plan_runs(exp_ok, "abcdef")[0].job_name == "nb-short-v-r0-abcdef"


# --------------------------------------------------------------------------- framing


def test_frame_round_trip_among_noise():
    payload = b'{"schema_version": 1, "x": "NUMABENCH-RESULT-END"}\n'
    log = "noise\n" + frame_result(b"older", 1) + "interleaved stderr\n" + frame_result(payload, 3) + "tail\n"
    framed = parse_framed(log)
    assert (framed.payload, framed.exit_code) == (payload, 3)
    body_lines = frame_result(b"x" * 5000, 0).splitlines()[1:-1]
    assert body_lines and max(len(line) for line in body_lines) <= 76


@pytest.mark.parametrize("damage, needle", [
    (lambda log: "just logs\n", "no result block"),
    (lambda log: log.replace("NUMABENCH-RESULT-END\n", ""), "no NUMABENCH-RESULT-END"),
    (lambda log: log.replace("bytes=", "bytes=1"), "does not match"),
    (lambda log: log.replace(" v1 ", " v9 "), "malformed result header"),
    (lambda log: log.replace(log.splitlines()[1], "!!!!" + log.splitlines()[1][4:]), "does not decode"),
])
def test_frame_damage_is_named(damage, needle):
    log = frame_result(b'{"a": 1}', 0)
    with pytest.raises(FramingError, match=needle):
        parse_framed(damage(log))
