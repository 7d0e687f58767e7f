"""TorchScript runtime: values, signatures (embedded, settings, default), dtypes, failures."""

from __future__ import annotations

import contextlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.runtimes.base import ModelSettings, RuntimeFailure, Signature
from agent.runtimes.torchscript import TorchScriptRuntime
from loadmaster.oip.datatypes import DataType
from loadmaster.oip.errors import BadRequest, InferenceFailed
from tests.agent.runtimes.tiny import Fails, Payload, Scale, TwoHeads, script_plain, spec, tensor


def loaded(model_dir: Path, settings: ModelSettings | None = None) -> TorchScriptRuntime:
    runtime = TorchScriptRuntime("m", model_dir, settings or ModelSettings(), "cpu")
    timings = runtime.load()
    assert min(timings.deserialize_s, timings.to_device_s, timings.warmup_s) >= 0
    return runtime


def test_predicts_what_the_module_computes(scripted_mlp: Path, mlp: torch.nn.Module) -> None:
    runtime = loaded(scripted_mlp)
    rows = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    [out] = runtime.predict([tensor("x", rows)], {})
    expected = mlp(torch.from_numpy(rows)).detach().numpy()
    assert (out.name, out.datatype, out.shape) == ("scores", DataType.FP32, (5, 3))
    np.testing.assert_allclose(out.data, expected, rtol=1e-6)


def test_embedded_signature(scripted_mlp: Path) -> None:
    assert loaded(scripted_mlp).signature() == Signature(
        inputs=(spec("x", DataType.FP32, -1, 4),), outputs=(spec("scores", DataType.FP32, -1, 3),)
    )


def test_default_signature_without_one_embedded(tmp_path: Path) -> None:
    runtime = loaded(script_plain(Scale(2.0, 1.0), tmp_path / "scale"))
    assert runtime.signature() == Signature(
        inputs=(spec("input-0", DataType.FP32, -1, -1),),
        outputs=(spec("output-0", DataType.FP32, -1, -1),),
    )
    [out] = runtime.predict([tensor("input-0", [[1.0, 2.0]])], {})
    np.testing.assert_array_equal(out.data, [[3.0, 5.0]])


def test_settings_override_embedded_signature(scripted_mlp: Path) -> None:
    settings = ModelSettings(outputs=(spec("logits", DataType.FP32, -1, 3),))
    runtime = loaded(scripted_mlp, settings)
    assert runtime.signature().inputs == (spec("x", DataType.FP32, -1, 4),)
    [out] = runtime.predict([tensor("x", np.zeros((1, 4)))], {})
    assert out.name == "logits"


@pytest.mark.parametrize("datatype", [DataType.FP16, DataType.BF16])
def test_half_precision_round_trips(tmp_path: Path, datatype: DataType) -> None:
    settings = ModelSettings(inputs=(spec("x", datatype, -1),), outputs=(spec("y", datatype, -1),))
    runtime = loaded(script_plain(Scale(2.0, 0.5), tmp_path / "half"), settings)
    values = torch.tensor([1.0, -3.5, 0.25], dtype=torch.float16)
    if datatype is DataType.BF16:
        raw = values.to(torch.bfloat16).view(torch.uint16).numpy()
    else:
        raw = values.numpy()
    [out] = runtime.predict([tensor("x", raw, datatype)], {})
    assert (out.datatype, out.data.dtype.str) == (datatype, raw.dtype.str)
    torch_dtype = torch.bfloat16 if datatype is DataType.BF16 else torch.float16
    decoded = torch.from_numpy(out.data.copy()).view(torch_dtype).float().tolist()
    assert decoded == [2.5, -6.5, 1.0]


def test_dict_outputs_take_their_keys_and_inputs_go_in_order(tmp_path: Path) -> None:
    settings = ModelSettings(
        inputs=(spec("a", DataType.FP32, -1), spec("b", DataType.FP32, -1)),
        outputs=(spec("total", DataType.FP32, -1), spec("difference", DataType.FP32, -1)),
    )
    runtime = loaded(script_plain(TwoHeads(), tmp_path / "heads"), settings)
    outputs = runtime.predict([tensor("b", [1.0]), tensor("a", [10.0])], {})
    assert [(o.name, o.data.tolist()) for o in outputs] == [
        ("total", [11.0]),
        ("difference", [9.0]),
    ]


def test_bad_input_is_a_bad_request(scripted_mlp: Path) -> None:
    runtime = loaded(scripted_mlp)
    with pytest.raises(BadRequest, match="dimension 1 must be 4"):
        runtime.predict([tensor("x", [[1.0, 2.0]])], {})


def test_model_error_is_inference_failed_with_its_message(tmp_path: Path) -> None:
    runtime = loaded(script_plain(Fails(), tmp_path / "fails"))
    with pytest.raises(InferenceFailed) as caught:
        runtime.predict([tensor("input-0", np.zeros((3, 1)))], {})
    assert "ValueError: too many rows for this model" in caught.value.message
    assert "Traceback" not in caught.value.message


def test_wrong_declared_signature_fails_the_load(scripted_mlp: Path) -> None:
    settings = ModelSettings(inputs=(spec("x", DataType.FP32, -1, 5),))
    with pytest.raises(RuntimeFailure, match="warm-up"):
        loaded(scripted_mlp, settings)


def test_corrupt_archive_is_a_load_failure(tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"not a zip")
    with pytest.raises(RuntimeFailure, match=r"cannot load model\.pt"):
        loaded(tmp_path)


def test_unload_releases_the_module(scripted_mlp: Path) -> None:
    runtime = loaded(scripted_mlp)
    runtime.unload()
    with pytest.raises(RuntimeFailure, match="not loaded"):
        runtime.predict([tensor("x", np.zeros((1, 4)))], {})


@pytest.mark.parametrize("style", ["raw pickle", "torch.save archive"])
def test_malicious_model_pt_runs_no_code(tmp_path: Path, style: str) -> None:
    marker = tmp_path / "pwned"
    model_dir = tmp_path / "evil"
    model_dir.mkdir()
    if style == "raw pickle":
        (model_dir / "model.pt").write_bytes(pickle.dumps(Payload(marker)))
    else:
        torch.save(Payload(marker), str(model_dir / "model.pt"))
    with pytest.raises(RuntimeFailure, match="cannot load"):
        loaded(model_dir)
    assert not marker.exists()
    with contextlib.suppress(RuntimeError):  # a raw pickle fails after running the payload
        torch.load(str(model_dir / "model.pt"), weights_only=False)  # the payload is live...
    assert marker.exists()  # ...so only TorchScript's restricted loader kept it from running
