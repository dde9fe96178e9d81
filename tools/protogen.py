"""Generate Python code from protos/ and check that generated/ is fresh.

`python -m tools.protogen generated`            regenerate generated/
`python -m tools.protogen --check generated`    regenerate into a temp dir and diff
`python -m tools.protogen --if-stale generated` regenerate only when a .proto is newer
`python -m tools.protogen --deps build/proto-deps` copy the googleapis contracts for buf

The googleapis contracts (google/api/http.proto and friends) come from the
googleapis-common-protos wheel and the well-known types from grpcio-tools, so
generation needs nothing beyond requirements.txt.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
GOOGLE_DEPS = (
    "google/api/annotations.proto",
    "google/api/http.proto",
    "google/api/field_behavior.proto",
    "google/api/httpbody.proto",
    "google/rpc/status.proto",
    "google/rpc/error_details.proto",
    "google/rpc/code.proto",
)


def _site() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.glob("agentmesh/v1/*.proto"))


def generate(out: Path) -> None:
    """Run protoc with -I protos, so import paths equal proto paths."""
    from grpc_tools import protoc

    out.mkdir(parents=True, exist_ok=True)
    wkt = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{wkt}",
        f"-I{_site()}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *(str(p.relative_to(PROTO_ROOT)) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed; see the messages above")


def _tree(root: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(root)): p
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def check(target: Path) -> list[str]:
    """Return the differences between target and a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh_root = Path(tmp)
        generate(fresh_root)
        fresh, current = _tree(fresh_root), _tree(target)
        problems = [f"missing: {n}" for n in sorted(fresh.keys() - current.keys())]
        problems += [f"not generated: {n}" for n in sorted(current.keys() - fresh.keys())]
        problems += [
            f"stale: {n}"
            for n in sorted(fresh.keys() & current.keys())
            if not filecmp.cmp(fresh[n], current[n], shallow=False)
        ]
        return problems


def is_stale(target: Path) -> bool:
    outputs = list(target.rglob("*_pb2.py"))
    if not outputs:
        return True
    newest_source = max(p.stat().st_mtime for p in proto_files())
    return newest_source > min(p.stat().st_mtime for p in outputs)


def copy_deps(dest: Path) -> None:
    for rel in GOOGLE_DEPS:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_site() / rel, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--if-stale", action="store_true")
    mode.add_argument("--deps", action="store_true")
    ns = parser.parse_args(argv)
    target: Path = ns.target if ns.target.is_absolute() else ROOT / ns.target
    if ns.deps:
        copy_deps(target)
        return 0
    if ns.check:
        problems = check(target)
        for line in problems:
            print(f"gen-check: {line}", file=sys.stderr)
        if problems:
            print("gen-check: generated/ is stale; run `make gen`", file=sys.stderr)
            return 1
        print("gen-check: generated/ is fresh")
        return 0
    if ns.if_stale and not is_stale(target):
        return 0
    if target.exists():
        shutil.rmtree(target)
    generate(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
