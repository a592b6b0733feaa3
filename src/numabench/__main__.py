"""python -m numabench: the same as the numabench command."""

from numabench.cli import entry

entry()
