"""The kubelet's own files: resource-manager checkpoints (checkpoint) and the KubeletConfiguration
lint (config)."""
