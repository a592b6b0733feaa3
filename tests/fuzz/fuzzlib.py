"""A CLI-level mutation fuzzer for numabench: seeds from examples/ and tests/data/, mutated (truncated,
bytes flipped, NUL bytes, wrong types, huge numbers, NaN, deep nesting, YAML alias bombs, a
directory/FIFO/symlink loop/device where a file should be) and hostile option values, run through
every command that reads a file.

Each invocation runs in a forked child (the parent has imported everything once, so a fork costs a
few milliseconds where a new interpreter costs 300) under click's CliRunner, in its own process
group, with an address-space limit, and is killed after `timeout_s`: a kill is a hang. A case passes
when the command ended with a documented exit code (0, 1, 2, 3), printed no traceback, raised
nothing but SystemExit, and, on exit 2, said so in one "numabench: error:" line.
"""

from __future__ import annotations

import json
import os
import random
import resource
import select
import shutil
import signal
import stat
import time
import traceback
from dataclasses import dataclass, field

import yaml
from conftest import doc_paths

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TESTS)
DATA = os.path.join(TESTS, "data")
EXAMPLES = os.path.join(REPO, "examples")
REPRODUCERS = os.path.join(DATA, "fuzz")

DOCUMENTED_EXIT_CODES = {0, 1, 2, 3}
CHILD_MEMORY_BYTES = 4 << 30  # address space: numpy and the loaded modules need ~1.5 GiB of it


def _data(*parts: str) -> str:
    return os.path.join(DATA, *parts)


# --------------------------------------------------------------------------- seeds and targets

SEEDS = {
    "result": [_data("results", "v1", n) for n in ("run.json", "matrix.json", "loaded.json", "qualify.json")]
    + [_data("qualify", "two-node-result.json"), _data("qualify", "fail.qualification.json")],
    "podset": [_data("pod-results", "v1-fake-cluster.json")],
    "spec": [os.path.join(EXAMPLES, "qualify-spec.yaml"), _data("qualify", "pass.yaml"),
             _data("qualify", "fail.yaml"), _data("results", "v1", "qualify-spec.yaml")],
    "pod": [_data("pods", n) for n in ("guaranteed-2cpu-4gi.yaml", "burstable.yaml", "hugepages.yaml",
                                       "two-containers.yaml", "guaranteed-fractional.yaml", "besteffort.yaml")],
    "node": [_data("pods", "node-two-numa.json"), _data("pods", "host-node.json")],
    "experiment": [os.path.join(EXAMPLES, "experiment.yaml"), _data("experiments", "local.yaml"),
                   _data("experiments", "fleet.yaml")],
    "kubeconfig": [os.path.join(EXAMPLES, "kubelet-config.yaml"), _data("kubelet", "configs", "valid.yaml"),
                   _data("kubelet", "configs", "hugepages-decimal.yaml")],
    "topojson": [_data("trees", "two-socket-smt", "expected.json")],
    "memstate": [_data("kubelet", "state", d, "memory_manager_state") for d in ("v1", "two-node", "data-format")],
    "cpustate": [_data("kubelet", "state", d, "cpu_manager_state") for d in ("v1", "v2-pod-entries", "cpu-v1-only")],
}

# argv templates: {f} the mutated file, {out} a fresh output path, {tmp} the case's folder, {seed:KIND}
# an intact seed of that kind. Every command here reads and decides without measuring.
TARGETS = [
    ("result", ["compare", "{seed:result}", "{f}"]),
    ("result", ["compare", "{f}", "{seed:result}", "--json", "{out}.json", "--junit", "{out}.xml"]),
    ("result", ["baseline", "save", "{f}", "--dir", "{tmp}/baselines"]),
    ("result", ["qualify", "{seed:spec}", "--from", "{f}", "-o", "{out}.json"]),
    ("podset", ["pod", "compare", "{f}", "--rounds", "100", "--json", "{out}.json"]),
    ("spec", ["qualify", "{f}", "--from", "{seed:result}"]),
    ("pod", ["pod", "plan", "{f}", "--node", "{seed:node}"]),
    ("node", ["pod", "plan", "{seed:pod}", "--node", "{f}", "--policy", "single-numa-node"]),
    ("experiment", ["pod", "manifests", "{f}", "--run-id", "fz"]),
    ("kubeconfig", ["kubelet", "lint", "{f}", "--json"]),
    ("topojson", ["kubelet", "lint", "{seed:kubeconfig}", "--topology-from", "{f}"]),
    ("memstate", ["kubelet", "state", "--dir", "{dir}"]),
    ("cpustate", ["kubelet", "state", "--dir", "{dir}", "--json"]),
    ("tree", ["topology", "--json", "--sysfs-root", "{tree}"]),
    ("runopt", ["run", "--kernels", "latency", "--repeat", "1", "--size", "4M", "--sample-seconds", "0.05"]),
    ("runopt", ["loaded", "--size", "4M", "--inject-size", "4M", "--delays", "0", "--repeat", "1"]),
    ("runopt", ["matrix", "--kind", "latency", "--size", "4M", "--repeat", "1"]),
    ("runopt", ["peak", "--mixes", "1:0", "--size", "4M", "--repeat", "1", "--sample-seconds", "0.05"]),
    ("runopt", ["scan", "--node", "0", "--chunk", "4M", "--max-chunks", "1", "--repeat", "1",
                "--sample-seconds", "0.05"]),
    ("runopt", ["c2c", "--pairs", "0:1", "--samples", "1"]),
    ("kubeconfig", ["pod", "plan", "{seed:pod}", "--node", "{seed:node}", "--kubelet-config", "{f}"]),
    ("memstate", ["pod", "plan", "{seed:pod}", "--node", "{seed:node}", "--state-dir", "{dir}"]),
]

# Option fuzzing of the measuring commands: one hostile value each time, every one of which must be
# refused before anything is measured (a value that slipped through would measure: slow, and a bug).
RUN_HOSTILE = {
    "--size": ["0", "-1", "16", "127", "nan", "1e999", "18446744073709551616", "9" * 60 + "T", "4M4", "Ki"],
    "--repeat": ["0", "-1", "99999999999999999999", "nan", "1.5", ""],
    "--seed": ["-1", "18446744073709551616", "9" * 5000, "x"],
    "--sample-seconds": ["nan", "inf", "-1", "0", "1e999", "61"],
    "--threads": ["0", "-1", "100000", "9" * 30],
    "--injectors": ["0", "-1", "100000", "9" * 30],
    "--inject-size": ["0", "16", "1e999", "18446744073709551616", "x"],
    "--inject-node": ["-1", "4096", "99999999999999999999"],
    "--cpu-node": ["0-4294967295", "99999999999999999999", "-1", "0,,1", "0:", "\x00"],
    "--node": ["0-4294967295", "99999999999999999999", "-1", "4096", "x"],
    "--chunk": ["0", "16", "1e999", "18446744073709551616", "x"],
    "--samples": ["0", "-1", "99999999999999999999", "nan"],
    "--pairs": ["0:0", "0:4096", "x", "0-1", "0:1:2", "", "-1:0"],
    "--line-node": ["-1", "4096", "99999999999999999999", "x"],
    "--mem-node": ["0-4294967295", "4096", "1-0", " "],
    "--pages": ["3M", "", "1G2", "hugetlb"],
    "--delays": ["18446744073709551616", "-1", "1e3", "0-", "99999999999999999999"],
    "-o": ["", "{tmp}"],
}
RUN_HOSTILE_FOR = {"run": ["--size", "--repeat", "--seed", "--sample-seconds", "--threads", "--cpu-node",
                           "--mem-node", "--pages", "-o"],
                   "loaded": ["--size", "--inject-size", "--delays", "--repeat", "--injectors", "--cpu-node",
                              "--inject-node", "-o"],
                   "matrix": ["--size", "--repeat", "--threads", "--pages", "-o"],
                   "peak": ["--size", "--repeat", "--threads", "--pages", "--mem-node", "-o"],
                   "scan": ["--size", "--chunk", "--repeat", "--threads", "--pages", "--node", "-o"],
                   "c2c": ["--samples", "--pairs", "--line-node", "-o"]}

# Option values that must be refused in one line (or bounded), put in place of a valid one.
HOSTILE_VALUES = ["", "-1", "0", "nan", "NaN", "inf", "-inf", "1e999", "9" * 40, "9" * 5000, "0x10", "1.5",
                  "\x01", "é", "0-4294967295", "4294967295", "-0", "1_000", " 1", "1,", ",", "0-", "5-3",
                  "99999999999999999999Gi", "1e3Ki", "0:memory=1e99Ei", "latency:+nan%", "x:y", "a" * 300]
OPTION_SLOTS = {
    "compare": [["--fail-on", "{v}"], ["--alpha", "{v}"]],
    "pod": [["--reserved-cpus", "{v}"], ["--reserved-memory", "{v}"], ["--rounds", "{v}"], ["--seed", "{v}"],
            ["--run-id", "{v}"], ["--node", "{v}"]],
    "kubelet": [["--topology-from", "{v}"]],
    "qualify": [["--junit", "{v}"]],
}


# --------------------------------------------------------------------------- mutations


def _flip(rng: random.Random, blob: bytes) -> bytes:
    b = bytearray(blob or b"x")
    for _ in range(rng.randint(1, 8)):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def _truncate(rng: random.Random, blob: bytes) -> bytes:
    return blob[: rng.randrange(len(blob) + 1)]


def _nul(rng: random.Random, blob: bytes) -> bytes:
    i = rng.randrange(len(blob) + 1)
    return blob[:i] + b"\0" * rng.randint(1, 4) + blob[i:]


_NUMBERS = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1", b"9" * 30, b"9" * 5000, b"1.5", b"-0",
            b"18446744073709551616", b".nan", b".inf", b"0x7fffffffffffffff", b"1e-999", b"true", b"null", b'"1"']


def _number(rng: random.Random, blob: bytes) -> bytes:
    import re

    spots = [m.span() for m in re.finditer(rb"-?\d+(\.\d+)?([eE][-+]?\d+)?", blob)]
    if not spots:
        return blob + rng.choice(_NUMBERS)
    a, b = rng.choice(spots)
    return blob[:a] + rng.choice(_NUMBERS) + blob[b:]


def _load(blob: bytes, is_json: bool):
    # Through numabench's own limits: the fuzzer must not expand an alias bomb it made itself.
    from numabench.util import docload

    text = blob.decode("utf-8")
    return docload.parse_json(text, "seed") if is_json else docload.parse_yaml(text, "seed", max_nodes=20_000)


def _dump(doc, is_json: bool) -> bytes:
    text = json.dumps(doc, allow_nan=True) if is_json else yaml.safe_dump(doc, default_flow_style=False)
    return text.encode("utf-8")


_WRONG = [None, True, 0, -1, 1.5, float("nan"), 10**30, "", "x", "0-4294967295", [], [1, 2], {}, {"a": 1},
          [[[]]], "9" * 100]


def _wrong_type(rng: random.Random, blob: bytes, is_json: bool) -> bytes:
    doc = _load(blob, is_json)
    paths = list(doc_paths(doc))
    path = rng.choice(paths)
    value = rng.choice(_WRONG)
    if not path:
        return _dump(value, is_json)
    node = doc
    for p in path[:-1]:
        node = node[p]
    if rng.random() < 0.2 and isinstance(node, dict):
        del node[path[-1]]  # a missing key
    else:
        node[path[-1]] = value
    return _dump(doc, is_json)


def _deep(rng: random.Random, blob: bytes, is_json: bool) -> bytes:
    n = rng.choice([70, 200, 1100, 100_000])
    if rng.random() < 0.5:
        return b"[" * n + b"]" * n
    doc = _load(blob, is_json)
    inner: object = 1
    for _ in range(min(n, 900)):
        inner = {"a": inner}
    if isinstance(doc, dict) and doc:
        doc[rng.choice(list(doc))] = inner
        return _dump(doc, is_json)
    return _dump(inner, is_json) if n <= 900 else b'{"a":' * n + b"1" + b"}" * n


def _alias_bomb(rng: random.Random, blob: bytes, is_json: bool) -> bytes:
    levels = rng.choice([4, 9, 12])
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    bomb = "\n".join(lines) + "\n"
    text = blob.decode("utf-8", errors="replace")
    if rng.random() < 0.5 or is_json:
        return bomb.encode()
    # the bomb's last alias as the value of the document's first key
    first = next((ln for ln in text.splitlines() if ln and not ln.startswith((" ", "#", "-"))), None)
    if first and ":" in first:
        key = first.split(":", 1)[0]
        return (bomb + text.replace(first, f"{key}: *a{levels - 1}", 1)).encode()
    return (bomb + text).encode()


def _yaml_oddities(rng: random.Random, blob: bytes, is_json: bool) -> bytes:
    return rng.choice([
        b"", b"\n", b"---\n---\n", b"&a [*a]", b"a: &a\n  b: *a\n", b"!!python/object/apply:os.system ['true']",
        b"a: 1\na: 2\n", b"\xef\xbb\xbf" + blob, blob + b"\n---\n" + blob, b"[1, 2", b"{", b"- - - - -",
        b"a: 2025-13-45", b"a: !!binary '###'", b"a: !!timestamp 99999-01-01", b"\xff\xfe\x00\x01", b"null",
        b"42", b'"a string"', b"a: [1, 2]\n  b: 3", b"? [a, b]\n: c\n", b"<<: *undefined",
    ])


TEXT_MUTATIONS = [_flip, _truncate, _nul, _number]
DOC_MUTATIONS = [_wrong_type, _deep, _alias_bomb, _yaml_oddities]


def mutate_bytes(rng: random.Random, blob: bytes, name: str) -> bytes:
    """One or two mutations of a seed's bytes (structure-aware when the seed parses)."""
    is_json = name.endswith(".json") or blob.lstrip()[:1] in (b"{", b"[")
    out = blob
    for _ in range(rng.choice([1, 1, 1, 2])):
        if rng.random() < 0.5:
            out = rng.choice(TEXT_MUTATIONS)(rng, out)
        else:
            try:
                out = rng.choice(DOC_MUTATIONS)(rng, out, is_json)
            except Exception:  # the text no longer parses (or is over a limit): mutate it as bytes
                out = rng.choice(TEXT_MUTATIONS)(rng, out)
    return out


PATH_KINDS = ["directory", "fifo", "symlink-loop", "missing", "dangling", "device", "sparse-huge", "empty"]


def make_special(kind: str, path: str) -> None:
    """Put something that is not a readable small file at ``path``."""
    if kind == "directory":
        os.makedirs(path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink-loop":
        os.symlink(path + ".b", path)
        os.symlink(path, path + ".b")
    elif kind == "dangling":
        os.symlink(path + ".absent", path)
    elif kind == "device":
        os.symlink("/dev/zero", path)  # read-only use; never an output
    elif kind == "sparse-huge":
        with open(path, "wb") as f:
            f.truncate(200 << 20)
    elif kind == "empty":
        open(path, "wb").close()


# --------------------------------------------------------------------------- one case


@dataclass
class Case:
    """One invocation: argv (with absolute paths) and the files it needs, written into ``folder``."""

    argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)  # name in folder -> content
    specials: dict[str, str] = field(default_factory=dict)  # name in folder -> PATH_KINDS entry
    tree: str | None = None  # a captured tree to copy in as "tree", then mutate per tree_edit
    tree_edit: tuple[str, str, bytes] | None = None  # (relative file, PATH_KIND or "bytes", content)

    def to_json(self) -> dict:
        return {"argv": self.argv, "files": {k: v.hex() for k, v in self.files.items()},
                "specials": self.specials, "tree": os.path.relpath(self.tree, REPO) if self.tree else None,
                "tree_edit": ([self.tree_edit[0], self.tree_edit[1], self.tree_edit[2].hex()]
                              if self.tree_edit else None)}

    @classmethod
    def from_json(cls, doc: dict) -> Case:
        edit = doc.get("tree_edit")
        return cls(argv=list(doc["argv"]), files={k: bytes.fromhex(v) for k, v in doc["files"].items()},
                   specials=dict(doc["specials"]), tree=os.path.join(REPO, doc["tree"]) if doc.get("tree") else None,
                   tree_edit=(edit[0], edit[1], bytes.fromhex(edit[2])) if edit else None)

    def materialize(self, folder: str) -> list[str]:
        """Write the case's files into ``folder``; the argv with {tmp} expanded."""
        for name, blob in self.files.items():
            path = os.path.join(folder, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(blob)
        for name, kind in self.specials.items():
            path = os.path.join(folder, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            make_special(kind, path)
        if self.tree:
            dst = os.path.join(folder, "tree")
            shutil.copytree(self.tree, dst, symlinks=True)
            if self.tree_edit:
                rel, kind, blob = self.tree_edit
                target = os.path.join(dst, rel)
                if os.path.lexists(target):
                    os.remove(target) if not os.path.isdir(target) or os.path.islink(target) else shutil.rmtree(target)
                if kind == "bytes":
                    with open(target, "wb") as f:
                        f.write(blob)
                else:
                    make_special(kind, target)
        return [a.replace("{tmp}", folder).replace("{repo}", REPO) for a in self.argv]


_TREES = [_data("trees", n) for n in ("two-socket-smt", "no-numa", "four-node-cxl")]
_TREE_FILES: dict[str, list[str]] = {}


def _tree_files(tree: str) -> list[str]:
    if tree not in _TREE_FILES:
        out = []
        for dirpath, _, names in os.walk(tree):
            out += [os.path.relpath(os.path.join(dirpath, n), tree) for n in names if n != "expected.json"]
        _TREE_FILES[tree] = sorted(out)
    return _TREE_FILES[tree]


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def make_case(rng: random.Random) -> Case:
    """A random case: a target, a seed, a mutation (of content, of the path's kind, or of an option)."""
    kind, template = rng.choice(TARGETS)
    files: dict[str, bytes] = {}
    specials: dict[str, str] = {}
    argv: list[str] = []
    case = Case(argv=argv, files=files, specials=specials)
    if kind == "tree":
        case.tree = rng.choice(_TREES)
        rel = rng.choice(_tree_files(case.tree))
        if rng.random() < 0.25:
            case.tree_edit = (rel, rng.choice(PATH_KINDS[:6]), b"")
        else:
            case.tree_edit = (rel, "bytes", mutate_bytes(rng, _read(os.path.join(case.tree, rel)), rel))
    seed = rng.choice(SEEDS[kind]) if kind in SEEDS else None
    ext = os.path.splitext(seed)[1] if seed else ""
    fname = f"input{ext}"
    if kind in ("memstate", "cpustate"):
        fname = "state/" + os.path.basename(seed)
    if seed:
        if rng.random() < 0.12:
            specials[fname] = rng.choice(PATH_KINDS)
        else:
            files[fname] = mutate_bytes(rng, _read(seed), seed)
    for a in template:
        a = a.replace("{f}", "{tmp}/" + fname).replace("{out}", "{tmp}/out").replace("{dir}", "{tmp}/state")
        a = a.replace("{tree}", "{tmp}/tree")
        if a.startswith("{seed:"):
            a = "{repo}/" + os.path.relpath(rng.choice(SEEDS[a[6:-1]]), REPO)
        argv.append(a)
    if kind == "runopt":
        option = rng.choice(RUN_HOSTILE_FOR[argv[0]])
        value = rng.choice(RUN_HOSTILE[option])
        argv += [option, value.replace("\\x00", "\x01")]
    elif rng.random() < 0.25 and argv[0] in OPTION_SLOTS:
        slot = rng.choice(OPTION_SLOTS[argv[0]])
        argv += [s.replace("{v}", rng.choice(HOSTILE_VALUES)) for s in slot]
    return case


# --------------------------------------------------------------------------- running


@dataclass
class Outcome:
    status: str  # "ok", "traceback", "hang", "bad-exit", "not-one-line", "crash"
    exit_code: int | None
    detail: str
    seconds: float


def _child(argv: list[str], write_fd: int) -> None:
    """In the forked child: run the command, report what happened as JSON on ``write_fd``."""
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
    report: dict = {}
    try:
        from click.testing import CliRunner

        from numabench.cli import main

        result = CliRunner().invoke(main, argv, catch_exceptions=True)
        exc = result.exception
        # All of stderr (an error line quoting a 5000-digit number is long): judged here, not cut.
        report = {"exit_code": result.exit_code, "stdout": result.stdout[-2000:], "stderr": result.stderr[-200_000:],
                  "exception": None}
        if exc is not None and not isinstance(exc, SystemExit):
            report["exception"] = "".join(traceback.format_exception(*result.exc_info))[-4000:]
    except BaseException:  # noqa: B036 - the child reports everything, then exits
        report = {"exit_code": None, "exception": traceback.format_exc()[-4000:], "stdout": "", "stderr": ""}
    data = json.dumps(report).encode()
    try:
        while data:
            data = data[os.write(write_fd, data):]
    finally:
        os._exit(0)


def judge(report: dict) -> tuple[str, str]:
    """(status, detail) of a child's report."""
    stderr = report.get("stderr", "")
    if report.get("exception") or "Traceback (most recent call last)" in stderr + report.get("stdout", ""):
        return "traceback", report.get("exception") or stderr
    code = report.get("exit_code")
    if code not in DOCUMENTED_EXIT_CODES:
        return "bad-exit", f"exit {code}: {stderr[-500:]}"
    if code == 2:
        errors = [ln for ln in stderr.splitlines() if ln.startswith("numabench: error:")]
        last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        if len(errors) != 1 or not last.startswith("numabench: error:"):
            return "not-one-line", stderr[-800:]
    return "ok", stderr.strip().splitlines()[-1] if stderr.strip() else ""


def run_case(case: Case, folder: str, timeout_s: float) -> Outcome:
    """Materialize ``case`` in ``folder`` (emptied first) and run it in a forked child."""
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    argv = case.materialize(folder)
    r, w = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns into the parent's loop
        try:
            os.close(r)
            os.chdir(folder)
            _child(argv, w)
        finally:
            os._exit(99)
    os.close(w)
    chunks: list[bytes] = []
    deadline = started + timeout_s
    hung = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                hung = True
                break
            ready, _, _ = select.select([r], [], [], left)
            if not ready:
                continue
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        if hung:
            for target in (-pid, pid):
                try:
                    os.kill(target, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        _, status = os.waitpid(pid, 0)
    seconds = time.monotonic() - started
    if hung:
        return Outcome("hang", None, f"no answer in {timeout_s} s", seconds)
    if not chunks:
        return Outcome("crash", None, f"child died: wait status {status}", seconds)
    status_word, detail = judge(json.loads(b"".join(chunks)))
    return Outcome(status_word, json.loads(b"".join(chunks)).get("exit_code"), detail, seconds)


def warm_up() -> None:
    """Import what the commands import, once, in the parent: every fork starts with it loaded."""
    import importlib

    from numabench.cli import COMMANDS

    for spec in COMMANDS.values():
        importlib.import_module(spec.split(":")[0])
    for name in ("numabench.cli.pod_plan_cmd", "numabench.cli.pod_experiment_cmd", "numabench.analysis.compare",
                 "numabench.analysis.qualify", "numabench.results.baseline", "numabench.results.podset",
                 "numabench.kube.experiment.compare", "numabench.kube.experiment.manifests",
                 "numabench.kube.admission.plan", "numabench.kube.kubelet.config", "numabench.kube.kubelet.checkpoint",
                 "numabench.host.topology", "numabench.render.junit", "numabench.render.text", "numpy",
                 "numabench.native._native", "numabench.measure.runner", "numabench.measure.loaded"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def is_special_kind(path: str) -> bool:
    try:
        return not stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return True


def save_reproducer(case: Case, outcome: Outcome, name: str) -> str:
    """Keep a failing case in tests/data/fuzz/NAME.json (replayed by test_reproducers.py)."""
    os.makedirs(REPRODUCERS, exist_ok=True)
    path = os.path.join(REPRODUCERS, f"{name}.json")
    doc = case.to_json()
    doc["found"] = {"status": outcome.status, "detail": outcome.detail.strip().splitlines()[-1:]}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return path


@dataclass
class Tally:
    runs: int = 0
    seconds: float = 0.0
    by_status: dict = field(default_factory=dict)
    by_exit: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)  # (case, outcome)

    def line(self) -> str:
        return (f"{self.runs} invocations in {self.seconds:.0f} s: " +
                ", ".join(f"{k} {v}" for k, v in sorted(self.by_status.items())) +
                "; exit codes " + ", ".join(f"{k}: {v}" for k, v in sorted(self.by_exit.items(), key=str)))


def fuzz(seed: int, runs: int, budget_s: float, folder: str, timeout_s: float = 20.0,
         on_failure=None) -> Tally:
    """Run up to ``runs`` cases from ``random.Random(seed)`` within ``budget_s`` seconds."""
    rng = random.Random(seed)
    # The parent too stays within a bound: a mutation gone wrong must not wake the OOM killer.
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
    warm_up()
    tally = Tally()
    started = time.monotonic()
    while tally.runs < runs and time.monotonic() - started < budget_s:
        case = make_case(rng)
        outcome = run_case(case, folder, timeout_s)
        tally.runs += 1
        tally.by_status[outcome.status] = tally.by_status.get(outcome.status, 0) + 1
        tally.by_exit[outcome.exit_code] = tally.by_exit.get(outcome.exit_code, 0) + 1
        if outcome.status != "ok":
            tally.failures.append((case, outcome))
            if on_failure:
                on_failure(case, outcome)
    tally.seconds = time.monotonic() - started
    return tally
