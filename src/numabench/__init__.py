"""numabench: NUMA memory benchmarks with verified page placement.

The public API (see `numabench.api` and the README): `topology()`, `plan(...)`, `run_specs(specs)`,
`run(...)`, `load(path)`, `compare(baseline, current)`, the `Result`/`Measurement` records and the
`NumabenchError` tree. Every other module is private.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "topology": "numabench.api", "plan": "numabench.api", "run_specs": "numabench.api", "run": "numabench.api",
    "load": "numabench.api", "compare": "numabench.api",
    "Result": "numabench.results.schema", "Measurement": "numabench.results.schema",
    "NumabenchError": "numabench.errors",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    # Imported on first use (PEP 562): `import numabench` stays light, and modules that import
    # `numabench.__version__` do not pull in the measuring layers.
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'numabench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
