"""Wire compatibility with tritonclient's gRPC codec.

tritonclient.grpc registers its own `inference.*` protos in protobuf's default descriptor pool,
which collides with ours ("duplicate symbol"), so its side runs in a child process and only
serialized bytes cross over. No server and no network are involved.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from loadmaster.generated.inference import grpc_service_pb2 as pb
from loadmaster.oip.datatypes import DataType
from loadmaster.oip.grpc_codec import request_from_proto, response_to_proto
from loadmaster.oip.types import InferResponse
from tests.loadmaster.oip.samples import ALL_TYPES, SAMPLES, assert_same, sample

# Only look for it: importing it here would break our own protos (see above).
if importlib.util.find_spec("tritonclient") is None:
    pytest.skip("tritonclient is not installed", allow_module_level=True)

# tritonclient's numpy view of BF16 is not the raw bit pattern we hold.
TYPES = [dt for dt in ALL_TYPES if dt is not DataType.BF16]

_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from tritonclient.grpc import InferInput, InferResult, service_pb2
    from tritonclient.grpc._utils import _get_inference_request

    work = sys.argv[1]
    types = sys.argv[2].split(",")
    samples = np.load(work + "/samples.npz", allow_pickle=True)
    inputs = []
    for name in types:
        tensor = InferInput(name, list(samples[name].shape), name)
        tensor.set_data_from_numpy(samples[name])
        inputs.append(tensor)
    request = _get_inference_request(
        "m", inputs, "", "r1", None, 0, False, False, 5, None, {"ratio": 0.5}
    )
    with open(work + "/request.bin", "wb") as out:
        out.write(request.SerializeToString())
    with open(work + "/response.bin", "rb") as src:
        result = InferResult(service_pb2.ModelInferResponse.FromString(src.read()))
    np.savez(work + "/decoded.npz", **{name: result.as_numpy(name) for name in types})
    """
)


def test_tritonclient_grpc_round_trip(tmp_path: Path) -> None:
    names = [dt.value for dt in TYPES]
    np.savez(tmp_path / "samples.npz", **{dt.value: SAMPLES[dt] for dt in TYPES})  # type: ignore[arg-type]
    response = InferResponse("m", tuple(sample(dt, dt.value) for dt in TYPES))
    (tmp_path / "response.bin").write_bytes(response_to_proto(response).SerializeToString())

    subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path), ",".join(names)],
        check=True,
        timeout=120,
    )

    request = request_from_proto(
        pb.ModelInferRequest.FromString((tmp_path / "request.bin").read_bytes())
    )
    assert request.id == "r1"
    assert request.parameters == {"priority": 5, "ratio": 0.5}
    for got, dt in zip(request.inputs, TYPES, strict=True):
        assert_same(got, sample(dt, dt.value))

    decoded = np.load(tmp_path / "decoded.npz", allow_pickle=True)
    for dt in TYPES:
        got, want = decoded[dt.value], SAMPLES[dt]
        assert got.shape == want.shape, dt
        if dt is DataType.BYTES:
            assert got.ravel().tolist() == want.ravel().tolist()
        else:
            assert got.dtype == want.dtype, dt
            assert np.array_equal(got, want), dt
