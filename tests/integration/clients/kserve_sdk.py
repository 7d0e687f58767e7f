"""The KServe SDK's client classes, imported with this process's command line hidden.

Importing anything from `kserve` runs `kserve/model_server.py`, which parses `sys.argv` with
its own server options at import time: `--grpc` is then an ambiguous abbreviation of
`--grpc_port` and the import exits the process. The SDK is imported here with `sys.argv`
reduced to the program name, and re-exported.
"""

from __future__ import annotations

import sys

_argv = sys.argv
sys.argv = _argv[:1]
try:
    from kserve.inference_client import InferenceGRPCClient, InferenceRESTClient, RESTConfig
    from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput
finally:
    sys.argv = _argv

__all__ = [
    "InferInput",
    "InferRequest",
    "InferenceGRPCClient",
    "InferenceRESTClient",
    "RESTConfig",
    "RequestedOutput",
]
