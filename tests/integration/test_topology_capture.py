"""`numabench topology --capture DIR` holds everything `topology` shows; read back with
--sysfs-root it gives the same cpuset section: live, and from inside a restricted cgroup."""

import json
import os

import pytest
from conftest import scratch_cgroup

CPUSET_V1 = "/sys/fs/cgroup/cpuset"
CGROUP_V2 = "/sys/fs/cgroup"
SAME = ("cgroup_version", "cgroup_path", "cpuset_cpus", "cpuset_mems", "cpus_allowed", "mems_allowed", "kube")


def capture_and_read_back(cli, dest, prefix=()):
    live = cli("topology", "--json", "--capture", dest, prefix=prefix)
    assert live.returncode == 0, live.stderr
    back = cli("topology", "--json", "--sysfs-root", dest)
    assert back.returncode == 0, back.stderr
    return json.loads(live.stdout), json.loads(back.stdout)


def assert_same_view(live, back, dest):
    # --capture prints what it captured, so the two outputs are the same document.
    for key in SAME:
        assert back["cpuset"][key] == live["cpuset"][key], key
    assert back == live


def test_capture_holds_what_topology_shows(cli, tmp_path):
    dest = str(tmp_path / "cap")
    live, back = capture_and_read_back(cli, dest)
    assert_same_view(live, back, dest)
    # ... and the capture's cpuset view is the live one.
    now = json.loads(cli("topology", "--json").stdout)["cpuset"]
    for key in SAME:
        assert back["cpuset"][key] == now[key], key
    for rel in ("proc/self/status", "proc/self/cgroup", "proc/self/mountinfo", "proc/meminfo", "capture.json"):
        assert os.path.isfile(os.path.join(dest, rel)), rel
    with open(os.path.join(dest, "proc/self/status")) as f:
        keys = {line.split(":")[0] for line in f}
    assert keys == {"Cpus_allowed", "Cpus_allowed_list", "Mems_allowed", "Mems_allowed_list"}
    with open(os.path.join(dest, "capture.json")) as f:
        info = json.load(f)
    assert info["kernel_release"] == os.uname().release
    assert info["numabench_version"] and info["date_utc"].endswith("+00:00")
    if now["cpuset_dir"] is not None:  # the cpuset files themselves are in the capture
        assert back["cpuset"]["cpuset_dir"] == os.path.join(dest, now["cpuset_dir"].lstrip("/"))
        assert os.path.isdir(back["cpuset"]["cpuset_dir"])


def test_capture_refuses_an_existing_capture(cli, tmp_path):
    dest = str(tmp_path / "cap")
    assert cli("topology", "--capture", dest).returncode == 0
    cli.one_line_error(cli("topology", "--capture", dest), "already exists", "empty directory")


@pytest.fixture
def restricted_cpuset():
    """A cgroup v1 cpuset child with cpuset.cpus = the highest allowed CPU; removed at teardown."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a cgroup")
    if not os.path.isdir(CPUSET_V1) or not os.access(CPUSET_V1, os.W_OK):
        pytest.skip(f"{CPUSET_V1} is not a writable cgroup v1 cpuset hierarchy")
    cpu = max(os.sched_getaffinity(0))
    with scratch_cgroup(CPUSET_V1, "numabench-capture", (("cpuset.cpus", cpu), ("cpuset.mems", "0"))) as path:
        yield path, cpu


def test_capture_inside_a_restricted_cgroup_keeps_the_restriction(cli, tmp_path, restricted_cpuset):
    path, cpu = restricted_cpuset
    dest = str(tmp_path / "cap")
    # The capture runs inside the cgroup; the read-back runs outside it, from the files alone.
    join = ("sh", "-c", f'echo $$ > {path}/cgroup.procs && exec "$@"', "sh")
    live, back = capture_and_read_back(cli, dest, prefix=join)
    assert live["cpuset"]["cgroup_path"] == "/" + os.path.basename(path)
    assert live["cpuset"]["cpuset_cpus"] == [cpu] and live["cpuset"]["cpus_allowed"] == [cpu]
    assert_same_view(live, back, dest)
    text = cli("topology", "--sysfs-root", dest).stdout
    assert f"cpuset.cpus: {cpu}" in text and f"Cpus_allowed_list: {cpu}" in text


def _v2_unavailable() -> str | None:
    """Why a cgroup v2 cpuset child cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root to create a cgroup"
    try:
        with open(os.path.join(CGROUP_V2, "cgroup.controllers")) as f:
            controllers = f.read().split()
    except OSError:
        return (f"{CGROUP_V2} is not a cgroup v2 hierarchy (no cgroup.controllers: cgroup v1 or none); "
                "the v2 round trip runs in the multi-node guest: tests/vm, capture_round_trip_in_cgroup_v2")
    if "cpuset" not in controllers:
        return f"the cpuset controller is not available in {CGROUP_V2}/cgroup.controllers"
    return None


@pytest.fixture
def restricted_cpuset_v2():
    """A cgroup v2 child with cpuset.cpus = the highest allowed CPU; removed at teardown."""
    reason = _v2_unavailable()
    if reason:
        pytest.skip(reason)
    try:  # the child's cpuset files exist only once the parent hands the controller down
        with open(os.path.join(CGROUP_V2, "cgroup.subtree_control"), "w") as f:
            f.write("+cpuset")
    except OSError as exc:
        pytest.skip(f"cannot enable cpuset in {CGROUP_V2}/cgroup.subtree_control ({exc.strerror})")
    cpu = max(os.sched_getaffinity(0))
    with scratch_cgroup(CGROUP_V2, "numabench-capture", (("cpuset.cpus", cpu),)) as path:
        yield path, cpu


def test_capture_inside_a_restricted_cgroup_v2_keeps_the_restriction(cli, tmp_path, restricted_cpuset_v2):
    path, cpu = restricted_cpuset_v2
    dest = str(tmp_path / "cap")
    join = ("sh", "-c", f'echo $$ > {path}/cgroup.procs && exec "$@"', "sh")
    live, back = capture_and_read_back(cli, dest, prefix=join)
    assert live["cpuset"]["cgroup_version"] == 2
    assert live["cpuset"]["cgroup_path"] == "/" + os.path.basename(path)
    assert live["cpuset"]["cpuset_cpus"] == [cpu] and live["cpuset"]["cpus_allowed"] == [cpu]
    assert_same_view(live, back, dest)
    for name in ("cpuset.cpus", "cpuset.mems", "cpuset.cpus.effective", "cpuset.mems.effective"):
        assert os.path.isfile(os.path.join(dest, path.lstrip("/"), name)), name
    text = cli("topology", "--sysfs-root", dest).stdout
    assert f"cpuset.cpus: {cpu}" in text and f"Cpus_allowed_list: {cpu}" in text
