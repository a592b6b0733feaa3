#!/usr/bin/env bash
# Regenerate api_pb2.py and api_pb2_grpc.py from the vendored api.proto (run from anywhere).
# Needs grpcio-tools (the test extra). The file is compiled under its package path, so the stubs
# import each other as numabench.kube.cri.proto and register "numabench/kube/cri/proto/api.proto" in
# protobuf's default pool (no clash with another copy of the CRI in the same process).
# Updating the CRI: copy pkg/apis/runtime/v1/api.proto of the new cri-api tag over api.proto, set
# CRI_API_VERSION/CRI_API_COMMIT in __init__.py, run this, and raise the [cri] extra's pins to the
# versions named at the top of the generated files.
set -euo pipefail
src=$(cd "$(dirname "$0")/../../../.." && pwd)   # .../src
out=${1:-$src}
python="${PYTHON:-python3}"
"$python" -m grpc_tools.protoc -I "$src" --python_out="$out" --grpc_python_out="$out" \
    "$src/numabench/kube/cri/proto/api.proto"
