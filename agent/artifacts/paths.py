"""Names that come from outside (archive entries, object keys, URL paths) made safe to write.

Every file the cache writes is `model_dir / relpath` where relpath passed through here, so a
hostile name can never reach outside the model directory. The check works on the name's text
before anything touches the disk: a check after writing would be too late.
"""

from __future__ import annotations

import re

from agent.artifacts.errors import ArtifactError

_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_relpath(name: str, *, what: str) -> str:
    """Normalize `name` to a relative POSIX path ("a/b"); "" means the directory itself.

    Refused: NUL, backslashes (a zip made on Windows may use them as separators, so "..\\x"
    could mean a traversal), absolute paths (also "C:"), and any ".." component, even one that
    would come back inside ("a/../b"): legitimate tools never write those.
    """
    if "\x00" in name:
        raise ArtifactError(f"{what} {name!r} contains a NUL character")
    if "\\" in name:
        raise ArtifactError(f"{what} {name!r} contains a backslash; use '/' as the separator")
    if name.startswith("/") or _DRIVE.match(name):
        raise ArtifactError(f"{what} {name!r} is an absolute path; it must be relative")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArtifactError(f"{what} {name!r} leaves the model directory")
    return "/".join(parts)


def resolve_symlink(link_path: str, target: str) -> str | None:
    """Where a symlink at `link_path` (a safe relpath) points, as a relpath; None if outside.

    Symlink targets are relative to the link's own directory, so "a/link -> ../b" is "b".
    """
    if target.startswith("/") or "\\" in target or "\x00" in target or _DRIVE.match(target):
        return None
    stack = link_path.split("/")[:-1]
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                return None
            stack.pop()
        else:
            stack.append(part)
    return "/".join(stack)


def single_file_name(name: str) -> str | None:
    """`name` if it can be a file name directly inside the model directory, else None."""
    if not name or name in (".", "..") or any(char in name for char in "/\\\x00"):
        return None
    return name
