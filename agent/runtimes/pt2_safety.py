"""Refuse `.pt2` archives that would make `torch.export.load` run code from the file.

`torch.export.load` (torch 2.13) is not safe on untrusted files by itself: it unpickles some
members with `weights_only=False` (pickled weights and constants, and as a fallback for sample
inputs and legacy members that fail the safe unpickler), unpickles "opaque" constants with
plain `pickle.loads`, and loads AOTInductor members, which are native shared libraries. Any of
these runs an attacker's code on the agent.

So before torch sees the file we read its members (with `zipfile`, which lists every member,
including ones outside the folder torch's reader looks at, which its legacy fallback would
read) and demand that every pickle in it passes
torch's own safe unpickler (`weights_only=True`): a pickle that passes refers only to tensor
rebuilding functions, so loading it again unsafely can do nothing more. Members of kinds we
cannot vouch for (compiled code, custom or opaque objects, unknown folders) are refused.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import torch
from torch.export.pt2_archive import constants as pt2

from agent.runtimes.base import RuntimeFailure

_ALLOWED_FILES = frozenset({pt2.ARCHIVE_FORMAT_PATH, pt2.ARCHIVE_VERSION_PATH, "byteorder"})
_ALLOWED_DIRS = (
    pt2.MODELS_DIR,
    pt2.WEIGHTS_DIR,
    pt2.CONSTANTS_DIR,
    pt2.SAMPLE_INPUTS_DIR,
    pt2.EXTRA_DIR,
    ".data/",
)


class _Archive:
    """Members of a one-folder zip, addressed without the folder (as torch addresses them)."""

    def __init__(self, archive: zipfile.ZipFile, where: str) -> None:
        members = archive.namelist()
        roots = {member.split("/", 1)[0] for member in members}
        if len(roots) != 1 or any("/" not in m for m in members):
            raise RuntimeFailure(f"{where}: members must all lie in one top-level folder")
        if len(set(members)) != len(members):
            raise RuntimeFailure(f"{where}: duplicate archive members")
        root = roots.pop() + "/"
        self._archive = archive
        self._root = root
        self.names = [member[len(root) :] for member in members]

    def read(self, name: str) -> bytes:
        return self._archive.read(self._root + name)


def check_pt2_archive(path: Path) -> None:
    """Return when loading `path` with torch.export.load unpickles nothing unsafe."""
    where = path.name
    try:
        with zipfile.ZipFile(path) as archive:
            _check(_Archive(archive, where), where)
    except RuntimeFailure:
        raise
    except Exception as exc:
        raise RuntimeFailure(f"{where}: not a readable torch.export archive: {exc}") from exc


def _check(reader: _Archive, where: str) -> None:
    names = reader.names
    for name in names:
        if name not in _ALLOWED_FILES and not name.startswith(_ALLOWED_DIRS):
            raise RuntimeFailure(f"{where}: refusing archive member {name!r} (not plain weights)")
    prefix, suffix = pt2.MODELS_FILENAME_FORMAT.split("{}")
    models = [n[len(prefix) : -len(suffix)] for n in names if n.startswith(prefix)]
    if "model" not in models:
        raise RuntimeFailure(f"{where}: no {pt2.MODELS_FILENAME_FORMAT.format('model')} inside")
    for model in models:
        for legacy in (f"{pt2.WEIGHTS_DIR}{model}.pt", f"{pt2.CONSTANTS_DIR}{model}.pt"):
            if legacy in names:
                _safe_pickle(reader, legacy, where)
        sample_inputs = pt2.SAMPLE_INPUTS_FILENAME_FORMAT.format(model)
        if sample_inputs in names:
            _safe_pickle(reader, sample_inputs, where)
        _check_payloads(reader, pt2.WEIGHTS_CONFIG_FILENAME_FORMAT.format(model), where)
        _check_payloads(reader, pt2.CONSTANTS_CONFIG_FILENAME_FORMAT.format(model), where)


def _check_payloads(reader: _Archive, config: str, where: str) -> None:
    """Weights/constants configs: pickled payloads must be safe, object payloads are refused."""
    if config not in reader.names:
        return
    document = json.loads(reader.read(config))
    folder = config.rsplit("/", 1)[0] + "/"
    for fqn, meta in dict(document.get("config", {})).items():
        path_name = str(meta.get("path_name", ""))
        if path_name.startswith((pt2.CUSTOM_OBJ_FILENAME_PREFIX, pt2.OPAQUE_OBJ_FILENAME_PREFIX)):
            raise RuntimeFailure(
                f"{where}: refusing {fqn!r}, a pickled Python object, not a tensor"
            )
        if meta.get("use_pickle"):
            _safe_pickle(reader, folder + path_name, where)


def _safe_pickle(reader: _Archive, member: str, where: str) -> None:
    try:
        torch.load(io.BytesIO(reader.read(member)), weights_only=True, map_location="cpu")
    except Exception as exc:
        raise RuntimeFailure(
            f"{where}: refusing member {member!r}: it holds more than tensors ({exc})"
        ) from exc
