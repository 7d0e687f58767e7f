"""What the admin-command tests share: a fake scheduler over real gRPC and a CLI runner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadmaster.cli.main import main
from tests.loadmaster.client.fakes import FakeScheduler, start_grpc


class Cli:
    """Runs `loadmaster ARGS --scheduler ADDRESS` and returns (status, stdout, stderr)."""

    def __init__(self, address: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.address = address
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        status = main([*args, "--scheduler", self.address])
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err
        return status, out, err

    def json(self, *args: str) -> Any:
        status, out, err = self(*args, "--json")
        assert status == 0, err
        return json.loads(out)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def fake() -> FakeScheduler:
    return FakeScheduler()


@pytest.fixture
def address(fake: FakeScheduler) -> Iterator[str]:
    server, address = start_grpc(fake)
    yield address
    server.stop(0)


@pytest.fixture
def cli(address: str, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(address, capsys)
