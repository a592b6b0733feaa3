"""Generated gRPC stubs of the Container Runtime Interface (``runtime.v1``).

``api.proto`` is vendored unchanged from kubernetes/cri-api (``pkg/apis/runtime/v1/api.proto``),
with its licence (``LICENSE``, Apache-2.0). ``api_pb2.py`` and ``api_pb2_grpc.py`` are generated
from it by ``generate.sh``; do not edit them. The versions below are checked by
tests/containers/test_cri_stubs.py (the stubs must be what generate.sh makes from api.proto).
"""

CRI_API_VERSION = "v0.36.3"
CRI_API_COMMIT = "1733b6a9fa123c5887eefa14523c532b12827f73"
GRPC_TOOLS_VERSION = "1.85.1"  # gencode: protobuf 7.35.1, grpcio >= 1.85.1 (pyproject's [cri] extra)
