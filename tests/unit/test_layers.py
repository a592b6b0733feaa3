"""The package's layers: the import-linter contracts hold, and what measures nothing works
without the compiled extension (compare, qualify --from, kubelet lint, pod plan need no C compiler)."""

import os
import pkgutil
import subprocess
import sys

import pytest

import numabench

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "tests", "data")
V1 = os.path.join(DATA, "results", "v1")
PURE = ("numabench.analysis", "numabench.results", "numabench.render", "numabench.kube", "numabench.host",
        "numabench.util", "numabench.constants", "numabench.errors")

# Run as `python -c`: any import of the extension fails as it would where it was never built.
BLOCK = """
import importlib.abc, sys
class NoExtension(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "numabench.native._native":
            raise ImportError("the native extension is blocked for this test")
sys.meta_path.insert(0, NoExtension())
"""


def _python(code, *args):
    return subprocess.run([sys.executable, "-c", BLOCK + code, *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


def test_import_linter_contracts_hold():
    lint = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    assert os.path.exists(lint), "import-linter is part of the test extra: pip install -e '.[test]'"
    proc = subprocess.run([lint], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" not in proc.stdout.lower().replace("0 broken", "")


def test_pure_modules_import_without_the_extension():
    names = [m.name for p in PURE for m in pkgutil.walk_packages(
        [os.path.join(os.path.dirname(numabench.__file__), *p.split(".")[1:])], p + ".")
        if os.path.isdir(os.path.join(os.path.dirname(numabench.__file__), *p.split(".")[1:]))]
    names += [p for p in PURE if "." in p and p.count(".") == 1]
    assert len(names) > 30
    proc = _python("import importlib, sys\nfor n in sys.argv[1:]: importlib.import_module(n)\n"
                   "assert 'numabench.native._native' not in sys.modules\nprint('ok')", *names)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_the_extension_block_really_blocks():
    proc = _python("import numabench.native._native")
    assert proc.returncode != 0 and "blocked for this test" in proc.stderr


@pytest.mark.parametrize("args", [
    ["--version"],
    ["--help"],
    ["compare", os.path.join(V1, "run.json"), os.path.join(V1, "run.json")],
    ["qualify", os.path.join(V1, "qualify-spec.yaml"), "--from", os.path.join(V1, "qualify.json")],
    ["kubelet", "lint", os.path.join(DATA, "kubelet", "configs", "best-effort-topology.yaml")],
    ["pod", "plan", os.path.join(DATA, "pods", "guaranteed-2cpu-4gi.yaml"), "--node",
     os.path.join(DATA, "pods", "node-two-numa.json"), "--policy", "single-numa-node"],
])
def test_commands_that_measure_nothing_run_without_the_extension(args):
    proc = _python("import sys\nfrom numabench.cli import main\nsys.argv = ['numabench', *sys.argv[1:]]\n"
                   "try:\n    main()\nfinally:\n"
                   "    assert 'numabench.native._native' not in sys.modules, 'the extension was imported'\n", *args)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), proc.stderr
    assert proc.stdout.strip()
