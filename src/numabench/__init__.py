"""numabench: NUMA memory benchmarks with verified page placement."""

__version__ = "0.1.0"
