"""Real container runtimes: podman + runc and containerd (ctr and its CRI plugin), no registry.

Every test here is marked ``containers`` and needs root. What a machine lacks is a skip with the
reason printed (-ra): podman, containerd, runc. The image is ``$NUMABENCH_IMAGE`` or
``localhost/numabench:<version>``, built with scripts/build-image.sh when it is missing (about
1-2 minutes with cached bases; .ci/stage-containers.sh builds it first). containerd is started
here with its own root, state and socket under a temporary directory (nothing of a node's own
containerd is touched) and stopped at the end; the images are imported into its ``k8s.io``
namespace, where the CRI plugin looks for them. Settings that these hosts need (runc on cgroup v1
hybrid hosts, ulimits within root's hard limits) come from ``scripts/build-image.sh
--write-containers-conf``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest
from runtimes import BUILD_IMAGE, CGROUP_TOP, IMAGE, PAUSE_IMAGE, Containerd, _need, remove_cgroups, run


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.containers)

@pytest.fixture(scope="session")
def podman_env(tmp_path_factory):
    """The environment for podman: CONTAINERS_CONF with this host's settings."""
    _need("podman", "runc")
    conf = str(tmp_path_factory.mktemp("podman") / "containers.conf")
    run(["bash", BUILD_IMAGE, "--write-containers-conf", conf])
    return {**os.environ, "CONTAINERS_CONF": conf}

def _image_exists(env, image: str) -> bool:
    return run(["podman", "image", "exists", image], env=env, check=False).returncode == 0

@pytest.fixture(scope="session")
def image(podman_env) -> str:
    """The numabench image, built when it is missing."""
    if not _image_exists(podman_env, IMAGE):
        if "NUMABENCH_IMAGE" in os.environ:
            pytest.fail(f"NUMABENCH_IMAGE={IMAGE} does not exist")
        _need("mmdebstrap")
        print(f"building {IMAGE} with scripts/build-image.sh")
        run(["bash", BUILD_IMAGE, "-t", IMAGE], env=podman_env, timeout=1200)
    return IMAGE

@pytest.fixture(scope="session")
def pause_image(podman_env) -> str:
    """The sandbox image for the CRI plugin: catatonit -P (pause mode), the binary podman itself uses."""
    if not _image_exists(podman_env, PAUSE_IMAGE):
        run(["bash", BUILD_IMAGE, "--pause", PAUSE_IMAGE], env=podman_env)
    return PAUSE_IMAGE

@pytest.fixture(scope="session")
def containerd(podman_env, image, pause_image):
    """Our containerd with the numabench and pause images imported; everything removed afterwards."""
    _need("containerd", "ctr", "runc")
    directory = tempfile.mkdtemp(prefix="nb-ctrd-", dir="/var/tmp")
    daemon = Containerd(directory, pause_image)
    try:
        daemon.import_image(podman_env, image)
        daemon.import_image(podman_env, pause_image)
        yield daemon
    finally:
        # Kill what a failed test may have left running, or its shims outlive the daemon.
        tasks = daemon.ctr("tasks", "list", "-q", check=False).stdout.split()
        for task in tasks:
            daemon.ctr("tasks", "kill", "-s", "KILL", task, check=False)
        daemon.stop()
        # The overlay snapshots may still be mounted if a container was killed mid-run.
        subprocess.run(["umount", "-R", "-l", os.path.join(directory, "root")], capture_output=True)
        subprocess.run(["umount", "-R", "-l", os.path.join(directory, "state")], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)

@pytest.fixture
def clean_cgroups():
    """Removes the tests' cgroups afterwards, and fails the test if any stayed."""
    remove_cgroups()
    yield CGROUP_TOP
    left = remove_cgroups()
    assert not left, f"cgroups left behind: {left}"
