"""Property tests for every document loader: arbitrary JSON-like documents, seeds with a value
replaced, and arbitrary bytes, written to a file and loaded through the command's own loader. The
invariant: a value or numabench's own error (NumabenchError, exit 2), never another exception, in
bounded time (deadline) and memory (docload's caps)."""

import json
import os

import yaml
from conftest import doc_paths
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numabench.analysis.qualify import load_spec
from numabench.errors import NumabenchError
from numabench.kube.admission.node import load_node
from numabench.kube.experiment.spec import load_experiment
from numabench.kube.kubelet.checkpoint import parse_cpu_manager_state, parse_memory_manager_state
from numabench.kube.kubelet.config import lint_file
from numabench.kube.podspec import load_pod
from numabench.results.podset import load_pod_results
from numabench.results.schema import load as load_result

DATA = os.path.join(os.path.dirname(__file__), "..", "data")
EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
SETTINGS = settings(max_examples=150, deadline=5000, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70), st.floats(allow_nan=False),
                    st.text(max_size=12), st.sampled_from(["0-3", "1Gi", "500m", "latency", "4k", "Guaranteed"]))
DOCS = st.recursive(SCALARS, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                    st.dictionaries(st.text(max_size=10), kids, max_size=4)),
                    max_leaves=25)


def _read(*parts):
    with open(os.path.join(*parts), "rb") as f:
        return f.read()


def replaced(seed_doc, data):
    """The seed with one value (chosen by hypothesis) replaced by an arbitrary document."""
    doc = json.loads(json.dumps(seed_doc))
    paths = [p for p in doc_paths(doc) if p]
    if not paths:
        return data.draw(DOCS)
    path = data.draw(st.sampled_from(paths))
    node = doc
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = data.draw(DOCS)
    return doc


LOADERS = {
    # name: (loader taking a path, file name, seed file)
    "result": (load_result, "r.json", (DATA, "results", "v1", "run.json")),
    "matrix-result": (load_result, "r.json", (DATA, "results", "v1", "matrix.json")),
    "qualify-result": (load_result, "r.json", (DATA, "results", "v1", "qualify.json")),
    "pod-results": (load_pod_results, "p.json", (DATA, "pod-results", "v1-fake-cluster.json")),
    "pod": (load_pod, "pod.yaml", (DATA, "pods", "two-containers.yaml")),
    "node": (load_node, "node.json", (DATA, "pods", "node-two-numa.json")),
    "experiment": (load_experiment, "e.yaml", (EXAMPLES, "experiment.yaml")),
    "qualify-spec": (load_spec, "s.yaml", (EXAMPLES, "qualify-spec.yaml")),
    "kubelet-config": (lint_file, "k.yaml", (EXAMPLES, "kubelet-config.yaml")),
}


def check(loader, path):
    try:
        loader(path)
    except NumabenchError:
        pass


def _write(tmp_path, name, blob):
    path = tmp_path / name
    path.write_bytes(blob)
    return str(path)


def _dump(doc, name):
    return (json.dumps(doc) if name.endswith(".json") else yaml.safe_dump(doc)).encode()


def _make(kind):
    loader, name, seed = LOADERS[kind]
    seed_text = _read(*seed)
    seed_doc = json.loads(seed_text) if name.endswith(".json") else yaml.safe_load(seed_text)

    @SETTINGS
    @given(data=st.data())
    def test(tmp_path, data):
        choice = data.draw(st.sampled_from(["replace", "any-doc", "bytes", "cut"]))
        if choice == "replace":
            blob = _dump(replaced(seed_doc, data), name)
        elif choice == "any-doc":
            blob = _dump(data.draw(DOCS), name)
        elif choice == "cut":
            blob = seed_text[: data.draw(st.integers(0, len(seed_text)))]
        else:
            blob = data.draw(st.binary(max_size=300))
        check(loader, _write(tmp_path, name, blob))

    test.__name__ = f"test_{kind.replace('-', '_')}"
    return test


for _kind in LOADERS:
    globals()[f"test_{_kind.replace('-', '_')}"] = _make(_kind)


STATES = [(parse_memory_manager_state, "memory_manager_state"), (parse_cpu_manager_state, "cpu_manager_state")]


@SETTINGS
@given(data=st.data())
def test_checkpoints_v1_v2_v3(data):
    """Checkpoints of every captured format (v1; v2 with pod entries; the data-wrapped format), with a
    value replaced, or as arbitrary text."""
    parse, name = data.draw(st.sampled_from(STATES))
    folder = data.draw(st.sampled_from(["v1", "v2-pod-entries", "two-node", "data-format"]))
    seed_text = _read(DATA, "kubelet", "state", folder, name).decode()
    choice = data.draw(st.sampled_from(["replace", "text", "cut"]))
    if choice == "replace":
        text = json.dumps(replaced(json.loads(seed_text), data))
    elif choice == "cut":
        text = seed_text[: data.draw(st.integers(0, len(seed_text)))]
    else:
        text = data.draw(st.text(max_size=300))
    try:
        parse(text, name)
    except NumabenchError:
        pass
