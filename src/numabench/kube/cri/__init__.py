"""The CRI backend of ``pod run``: pods started through the node's container runtime, as the kubelet does.

- ``configs``: the kubelet's CRI messages for a planned pod (pure): cgroup parent per QoS class and
  driver, ``PodSandboxConfig``, ``ContainerConfig`` with ``LinuxContainerResources``; CRI log parsing.
- ``client``: ``CriClient``, the RuntimeService/ImageService calls with deadlines and errors that
  name the call.
- ``backend``: ``CriBackend`` (the ``orchestrate`` backend calls) and ``remove_leftovers``.
- ``proto``: ``api.proto`` of kubernetes/cri-api, vendored with its licence, and the stubs generated
  from it.

Why the stubs are generated once and committed, not at build time: installing numabench then needs
no protoc/grpcio-tools (the pod image does not carry the CRI at all), the generated code is
reviewable, and a test proves it is what ``proto/generate.sh`` makes from the vendored file. The
price is a pin: protobuf's generated code refuses an older runtime, so the ``[cri]`` extra names
the versions the stubs were generated for.
"""
