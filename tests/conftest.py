"""Make `src/` importable when numabench is not installed (an installed package wins)."""

import os
import sys

try:
    import numabench  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
