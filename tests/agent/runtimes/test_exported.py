"""torch.export runtime: signature from the graph, values, and refusal of unsafe archives."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.runtimes.base import ModelSettings, RuntimeFailure, Signature
from agent.runtimes.exported import ExportedRuntime
from loadmaster.oip.datatypes import DataType
from loadmaster.oip.errors import BadRequest
from tests.agent.runtimes.tiny import Payload, TwoHeads, spec, tensor


def loaded(model_dir: Path, settings: ModelSettings | None = None) -> ExportedRuntime:
    runtime = ExportedRuntime("m", model_dir, settings or ModelSettings(), "cpu")
    runtime.load()
    return runtime


def test_signature_comes_from_the_graph(exported_mlp: Path) -> None:
    assert loaded(exported_mlp).signature() == Signature(
        inputs=(spec("input", DataType.FP32, -1, 4),),
        outputs=(spec("output-0", DataType.FP32, -1, 3),),
    )


def test_predicts_what_the_module_computes(exported_mlp: Path, mlp: torch.nn.Module) -> None:
    rows = np.random.default_rng(1).normal(size=(1, 4)).astype(np.float32)
    [out] = loaded(exported_mlp).predict([tensor("input", rows)], {})
    np.testing.assert_allclose(out.data, mlp(torch.from_numpy(rows)).detach().numpy(), rtol=1e-6)


def test_static_dimension_is_enforced(exported_mlp: Path) -> None:
    with pytest.raises(BadRequest, match="dimension 1 must be 4"):
        loaded(exported_mlp).predict([tensor("input", np.zeros((2, 5)))], {})


def test_dict_outputs_and_mixed_dtypes(tmp_path: Path) -> None:
    model_dir = tmp_path / "heads"
    model_dir.mkdir()
    example = (torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, 3, dtype=torch.float64))
    program = torch.export.export(TwoHeads(), example)
    torch.export.save(program, str(model_dir / "model.pt2"))
    runtime = loaded(model_dir)
    assert runtime.signature() == Signature(
        inputs=(spec("a", DataType.FP64, 2, 3), spec("b", DataType.FP64, 2, 3)),
        outputs=(spec("difference", DataType.FP64, 2, 3), spec("total", DataType.FP64, 2, 3)),
    )
    ones = np.ones((2, 3))
    outputs = runtime.predict(
        [tensor("a", ones * 5, DataType.FP64), tensor("b", ones, DataType.FP64)], {}
    )
    assert [(o.name, o.data[0, 0]) for o in outputs] == [("difference", 4.0), ("total", 6.0)]


def test_settings_rename_outputs(exported_mlp: Path) -> None:
    runtime = loaded(exported_mlp, ModelSettings(outputs=(spec("scores", DataType.FP32, -1, 3),)))
    [out] = runtime.predict([tensor("input", np.zeros((2, 4)))], {})
    assert out.name == "scores"


def _tamper(source: Path, target: Path, member_suffix: str, payload: bytes) -> None:
    """Copy a .pt2 archive, replacing the member whose name ends with `member_suffix`."""
    target.mkdir()
    with (
        zipfile.ZipFile(source / "model.pt2") as old,
        zipfile.ZipFile(target / "model.pt2", "w", zipfile.ZIP_STORED) as new,
    ):
        for info in old.infolist():
            data = payload if info.filename.endswith(member_suffix) else old.read(info)
            new.writestr(info.filename, data)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_archive_with_a_malicious_pickle_is_refused(exported_mlp: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil"
    _tamper(exported_mlp, evil, "data/sample_inputs/model.pt", pickle.dumps(Payload(marker)))
    with pytest.raises(RuntimeFailure, match="holds more than tensors"):
        loaded(evil)
    assert not marker.exists()
    # The same archive given straight to torch runs the payload: the refusal is what saved us.
    with pytest.raises(Exception):  # noqa: B017 - torch fails after the payload ran
        torch.export.load(str(evil / "model.pt2"))
    assert marker.exists()


def test_archive_with_unknown_members_is_refused(exported_mlp: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    evil.mkdir()
    buffer = io.BytesIO((exported_mlp / "model.pt2").read_bytes())
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("model/data/aotinductor/model/model.so", b"\x7fELF")
    (evil / "model.pt2").write_bytes(buffer.getvalue())
    with pytest.raises(RuntimeFailure, match="refusing archive member 'data/aotinductor"):
        loaded(evil)


def test_not_an_archive_is_a_load_failure(tmp_path: Path) -> None:
    (tmp_path / "model.pt2").write_bytes(b"garbage")
    with pytest.raises(RuntimeFailure, match=r"not a readable torch\.export archive"):
        loaded(tmp_path)


class _KeywordScale(torch.nn.Module):
    def forward(self, x: torch.Tensor, *, scale: torch.Tensor) -> torch.Tensor:
        return x * scale


def test_keyword_inputs_are_refused(tmp_path: Path) -> None:
    program = torch.export.export(_KeywordScale(), (torch.ones(2),), {"scale": torch.ones(2)})
    torch.export.save(program, str(tmp_path / "model.pt2"))
    with pytest.raises(RuntimeFailure, match="plain positional arguments"):
        loaded(tmp_path)
