"""python -m numabench: the same as the numabench command."""

from numabench.cli import main

main(prog_name="numabench")
