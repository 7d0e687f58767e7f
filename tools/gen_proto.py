"""Generate Python code from proto/ into loadmaster/generated, or check that it is current.

Generation is deterministic for one pinned grpcio-tools, so `--check` regenerates into a
temporary directory and compares byte for byte: `make test` fails on stale generated code.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "loadmaster" / "generated"
PACKAGE = "loadmaster.generated"


def _protos() -> list[Path]:
    return sorted(PROTO_DIR.rglob("*.proto"))


def _fix_imports(out: Path, top_packages: set[str]) -> None:
    """Rewrite protoc's absolute imports (`from inference import x`) into our package."""
    pattern = re.compile(r"^(from|import) (" + "|".join(sorted(top_packages)) + r")(\.| )", re.M)
    for path in out.rglob("*.py*"):
        text = path.read_text()
        fixed = pattern.sub(lambda m: f"{m.group(1)} {PACKAGE}.{m.group(2)}{m.group(3)}", text)
        if fixed != text:
            path.write_text(fixed)


def generate(out: Path) -> None:
    from grpc_tools import protoc  # imported here: only make proto / make test need it

    out.mkdir(parents=True, exist_ok=True)
    protos = _protos()
    bindir = Path(sys.executable).parent
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--mypy_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_grpc_out={out}",
        *[str(p.relative_to(PROTO_DIR)) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    top_packages = {p.relative_to(PROTO_DIR).parts[0] for p in protos}
    for directory in [out, *[d for d in out.rglob("*") if d.is_dir()]]:
        (directory / "__init__.py").touch()
    _fix_imports(out, top_packages)


def _differences(left: Path, right: Path) -> list[str]:
    diffs: list[str] = []
    names = {p.relative_to(left) for p in left.rglob("*") if p.is_file()}
    names |= {p.relative_to(right) for p in right.rglob("*") if p.is_file()}
    for name in sorted(names):
        if "__pycache__" in name.parts:
            continue
        a, b = left / name, right / name
        if not a.exists() or not b.exists() or not filecmp.cmp(a, b, shallow=False):
            diffs.append(str(name))
    return diffs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if generated code is stale")
    args = parser.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / "generated"
            generate(fresh)
            stale = _differences(fresh, OUT_DIR)
        if stale:
            print("generated protobuf code is stale; run `make proto`:", *stale, sep="\n  ")
            return 1
        print("generated protobuf code is current")
        return 0
    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    generate(OUT_DIR)
    print(f"generated {len(_protos())} proto file(s) into {OUT_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
