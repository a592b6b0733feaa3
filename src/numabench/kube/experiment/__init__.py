"""A pod experiment: its file (spec), the Jobs it makes (manifests), where they run (backends,
executor), the run loop (orchestrate) and the comparison of its variants (compare)."""
