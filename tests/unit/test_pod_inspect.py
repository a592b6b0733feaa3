"""numabench pod inspect: verdicts on captured/crafted cgroup trees, and one live probe here."""

import json
import os

import pytest
from click.testing import CliRunner

from numabench.cli import main
from numabench.host.podview import alignment_verdict, pod_from_mountinfo, read_hugetlb_limits
from numabench.host.topology import read_topology
from numabench.kube.inspect import inspect_process

DATA = os.path.join(os.path.dirname(__file__), "..", "data")
TWO = os.path.join(DATA, "trees", "two-socket-smt", "sys")  # node 0: 0-15,32-47; node 1: 16-31,48-63
ONE = os.path.join(DATA, "trees", "this-machine", "sys")  # one node, a real capture
UID = "0c6b2f4e-1a2b-4c3d-9e8f-001122334455"
CTR = "3f4a9c2b" * 8


def inspect_tree(name, sysfs=TWO):
    root = os.path.join(DATA, "cgroups", name)
    return inspect_process(proc_root=os.path.join(root, "proc"), fs_root=root, sysfs_root=sysfs, probe_bytes=0)


@pytest.mark.parametrize("tree,verdict,qos,driver,runtime,cpus,mems", [
    ("pod-v2-systemd-guaranteed", "aligned", "Guaranteed", "systemd", "cri-containerd", [2, 3], [0]),
    ("pod-v2-systemd-burstable-crio", "unpinned", "Burstable", "systemd", "crio", list(range(64)), [0, 1]),
    ("pod-v1-cgroupfs-besteffort", "unpinned", "BestEffort", "cgroupfs", None, list(range(64)), [0, 1]),
    ("pod-v1-cgroupfs-guaranteed-remote", "misaligned", "Guaranteed", "cgroupfs", None, [16, 17], [0]),
    ("v1-kubepods-cgroupfs-container", "misaligned", "Burstable", "cgroupfs", None, [6, 7], [1]),
])
def test_trees_from_the_host(tree, verdict, qos, driver, runtime, cpus, mems):
    doc = inspect_tree(tree)
    assert doc["verdict"] == verdict, doc["reason"]
    pod = doc["pod"]
    assert (pod["qos_class"], pod["driver"], pod["runtime"]) == (qos, driver, runtime)
    assert pod["pod_uid"] == UID and pod["container_id"] == CTR and pod["source"] == "cgroup path"
    assert (doc["cpus"], doc["mems"]) == (cpus, mems)
    assert doc["probe"] is None
    json.dumps(doc)  # JSON-ready


def test_reasons_say_why():
    assert "remote-only memory" in inspect_tree("pod-v1-cgroupfs-guaranteed-remote")["reason"]
    assert "probe skipped" in inspect_tree("pod-v2-systemd-guaranteed")["reason"]
    assert "shared pool" in inspect_tree("pod-v1-cgroupfs-besteffort")["reason"]


def test_container_namespace_uses_mount_root_and_bind_mounts():
    doc = inspect_tree("pod-v2-ns-spanning")
    assert doc["cgroup"]["cgroup_path"] == "/"
    assert (doc["cpus"], doc["mems"], doc["cpu_nodes"]) == ([4, 5, 6, 7], [0, 1], [0])
    assert doc["verdict"] == "misaligned"
    assert "allows nodes 0-1" in doc["reason"]
    pod = doc["pod"]
    assert (pod["pod_uid"], pod["container_name"], pod["qos_class"]) == (UID, "bench", None)
    assert pod["source"] == "kubelet bind mounts in mountinfo"
    assert doc["hugetlb_limits"] == {"2MB": 0}


def test_hugetlb_limits_v2_and_v1():
    root = os.path.join(DATA, "cgroups", "pod-v2-systemd-guaranteed")
    assert read_hugetlb_limits(os.path.join(root, "proc"), root) == {"1GB": "max", "2MB": 1 << 30}
    root = os.path.join(DATA, "cgroups", "pod-v1-cgroupfs-besteffort")
    assert read_hugetlb_limits(os.path.join(root, "proc"), root) == {"1GB": "max", "2MB": "max"}
    root = os.path.join(DATA, "cgroups", "v2-no-cpuset")
    assert read_hugetlb_limits(os.path.join(root, "proc"), root) is None


def test_single_node_machine_is_its_own_verdict():
    doc = inspect_tree("pod-v2-systemd-guaranteed", sysfs=ONE)
    assert doc["verdict"] == "single-node"
    assert "Guaranteed" in doc["reason"] and "cannot differ" in doc["reason"]


def test_probe_pages_elsewhere_make_it_misaligned():
    topo = read_topology(TWO, os.path.join(DATA, "trees", "two-socket-smt", "proc"))
    v, reason = alignment_verdict(topo, [2, 3], [0], None, {0: 900, 1: 100})
    assert v == "misaligned" and "90.0%" in reason
    assert alignment_verdict(topo, [2, 3], [0], None, {0: 1000})[0] == "aligned"
    assert alignment_verdict(topo, [2, 40], [0], None, None)[0] == "aligned"  # 40 is node 0 too (SMT)
    assert alignment_verdict(topo, [2, 16], [0, 1], None, None)[0] == "misaligned"  # CPUs span nodes


def test_pod_from_mountinfo_ignores_other_mounts():
    text = ("1 0 254:1 /var/lib/docker/containers/abc/hosts /etc/hosts rw - ext4 /dev/vda1 rw\n"
            f"2 0 254:1 /kubelet/pods/{UID}/volumes/kubernetes.io~empty-dir/x /x rw - ext4 /dev/vda1 rw\n")
    assert pod_from_mountinfo(text) == (UID, None)
    assert pod_from_mountinfo("1 0 254:1 /var/lib/docker/containers/abc/hosts /etc/hosts rw - ext4 d rw\n") == (
        None, None)


def test_live_inspect_with_a_real_probe():
    """This machine, as it is: the probe's pages must all be located on the nodes the cpuset allows."""
    probe_bytes = 4 << 20
    from numabench.measure.probe import first_touch_probe

    doc = inspect_process(probe_bytes=probe_bytes, prober=first_touch_probe)
    online = set(doc["machine"]["online_cpus"])
    assert set(doc["cpus"]) <= online and doc["cpus"]
    probe = doc["probe"]
    assert probe["method"] == "first-touch"
    assert probe["verified_by"] in ("move_pages", "numa_maps")
    pages = {int(k): v for k, v in probe["pages_by_node"].items()}
    assert set(pages) <= set(doc["mems"])
    assert sum(pages.values()) * probe["page_bytes"] == probe_bytes
    assert probe["cpu"] in doc["cpus"]
    if len(doc["machine"]["nodes"]) == 1:
        assert doc["verdict"] == "single-node"
    else:
        assert doc["verdict"] in ("aligned", "misaligned", "unpinned")


def test_cli_json_and_text():
    result = CliRunner().invoke(main, ["pod", "inspect", "--json", "--probe-size", "0"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["probe"] is None and doc["verdict"] in ("aligned", "misaligned", "unpinned", "single-node")
    text = CliRunner().invoke(main, ["pod", "inspect", "--probe-size", "1M"])
    assert text.exit_code == 0, text.output
    assert text.output.startswith(f"verdict: {doc['verdict']}: ")
    assert "probe: 1 MiB by first-touch" in text.output


def test_cli_bad_probe_size_is_one_line():
    result = CliRunner().invoke(main, ["pod", "inspect", "--probe-size", "lots"])
    assert result.exit_code == 2 and "invalid size" in result.output
