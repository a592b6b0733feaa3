"""Kubernetes side of numabench: what a pod sees of its NUMA alignment, the kubelet's state files
and configuration, pod specs and the admission model."""
