"""generated/ is protoc's fresh output and the contracts pass buf's STANDARD lint."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tools import protogen

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_fresh() -> None:
    assert protogen.check(ROOT / "generated") == []


def test_generated_modules_import_by_proto_path() -> None:
    from agentmesh.v1 import agent_pb2, agent_pb2_grpc  # noqa: F401

    assert agent_pb2.DESCRIPTOR.name == "agentmesh/v1/agent.proto"


def test_buf_lint_passes() -> None:
    buf = ROOT / ".tools/node_modules/.bin/buf"
    if not buf.exists():
        if shutil.which("make") is None or shutil.which("npm") is None:
            pytest.skip("npm is not installed, so buf (@bufbuild/buf) cannot be installed here")
        subprocess.run(["make", "-s", str(buf.relative_to(ROOT))], cwd=ROOT, check=True)
    protogen.copy_deps(ROOT / "build/proto-deps")
    result = subprocess.run([str(buf), "lint"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
