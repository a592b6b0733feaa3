"""A small CRI client: the RuntimeService and ImageService calls the kubelet makes, over gRPC.

Every call has a deadline and maps gRPC failures to ``errors.CriError`` (a ``BackendError``) naming
the call; the stubs are the vendored, generated ``proto`` package (``pip install 'numabench[cri]'``
for grpcio and protobuf).
"""

from __future__ import annotations

from numabench.errors import CriError, UsageError

DEFAULT_SOCKET = "/run/containerd/containerd.sock"
CALL_TIMEOUT_S = 60.0
# Creating or stopping a sandbox mounts, starts and kills processes: give the runtime longer.
SLOW_CALL_TIMEOUT_S = 180.0


def _modules():
    """(grpc, api_pb2, api_pb2_grpc), or a UsageError saying what to install."""
    try:
        import grpc

        from numabench.kube.cri.proto import api_pb2, api_pb2_grpc
    except ImportError as exc:
        raise UsageError(f"the CRI backend needs grpcio and protobuf ({exc})",
                         "pip install 'numabench[cri]'") from None
    except Exception as exc:  # protobuf's VersionError: a runtime older than the generated code
        raise UsageError(f"the CRI stubs do not load with this protobuf ({exc})",
                         "pip install 'numabench[cri]' (it pins protobuf and grpcio)") from None
    return grpc, api_pb2, api_pb2_grpc


class CriClient:
    """RuntimeService and ImageService of the runtime at ``socket`` (a unix socket path).

    Raises (every method):
        CriError: the runtime refused the call or could not be reached (the message says which).
    """

    def __init__(self, socket: str = DEFAULT_SOCKET):
        grpc, api, stubs = _modules()
        self.socket = socket
        self.api = api
        self._grpc = grpc
        self._channel = grpc.insecure_channel(f"unix://{socket}")
        self.runtime = stubs.RuntimeServiceStub(self._channel)
        self.images = stubs.ImageServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> CriClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, what: str, method, request, timeout: float = CALL_TIMEOUT_S):
        try:
            return method(request, timeout=timeout)
        except self._grpc.RpcError as exc:
            code = exc.code().name if hasattr(exc, "code") else "UNKNOWN"
            detail = exc.details() if hasattr(exc, "details") else str(exc)
            fix = ("is the runtime running? give its socket with --cri-socket" if code == "UNAVAILABLE"
                   else "see the runtime's log (journalctl -u containerd)")
            raise CriError(f"CRI {what} failed ({code}: {detail})", fix) from None

    def version(self):
        """``VersionResponse``: runtime name and version, CRI version (also a connectivity check)."""
        return self._call("Version", self.runtime.Version, self.api.VersionRequest(), timeout=10.0)

    def image_present(self, image: str) -> bool:
        """Whether the runtime has ``image`` (nothing is pulled: the experiment's image must be there)."""
        resp = self._call("ImageStatus", self.images.ImageStatus,
                          self.api.ImageStatusRequest(image=self.api.ImageSpec(image=image)))
        return resp.HasField("image")

    def run_pod_sandbox(self, config) -> str:
        resp = self._call("RunPodSandbox", self.runtime.RunPodSandbox,
                          self.api.RunPodSandboxRequest(config=config), SLOW_CALL_TIMEOUT_S)
        return resp.pod_sandbox_id

    def create_container(self, sandbox_id: str, config, sandbox_config) -> str:
        resp = self._call("CreateContainer", self.runtime.CreateContainer,
                          self.api.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=config,
                                                          sandbox_config=sandbox_config), SLOW_CALL_TIMEOUT_S)
        return resp.container_id

    def start_container(self, container_id: str) -> None:
        self._call("StartContainer", self.runtime.StartContainer,
                   self.api.StartContainerRequest(container_id=container_id), SLOW_CALL_TIMEOUT_S)

    def container_status(self, container_id: str):
        """``ContainerStatus`` (state, exit_code, reason, message, log_path)."""
        return self._call("ContainerStatus", self.runtime.ContainerStatus,
                          self.api.ContainerStatusRequest(container_id=container_id)).status

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        """Stops every container of the sandbox and the sandbox; one already gone is fine (CRI: idempotent)."""
        self._call("StopPodSandbox", self.runtime.StopPodSandbox,
                   self.api.StopPodSandboxRequest(pod_sandbox_id=sandbox_id), SLOW_CALL_TIMEOUT_S)

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """Removes the sandbox and its containers; one already gone is fine (CRI: idempotent)."""
        self._call("RemovePodSandbox", self.runtime.RemovePodSandbox,
                   self.api.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id), SLOW_CALL_TIMEOUT_S)

    def list_pod_sandboxes(self, labels: dict[str, str]):
        """Sandboxes carrying every label of ``labels`` (``PodSandbox`` messages)."""
        flt = self.api.PodSandboxFilter(label_selector=labels)
        return list(self._call("ListPodSandbox", self.runtime.ListPodSandbox,
                               self.api.ListPodSandboxRequest(filter=flt)).items)

    def remove_sandbox(self, sandbox_id: str) -> None:
        """StopPodSandbox then RemovePodSandbox: what the kubelet does to delete a pod."""
        self.stop_pod_sandbox(sandbox_id)
        self.remove_pod_sandbox(sandbox_id)
