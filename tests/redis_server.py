"""A real redis-server for tests, started on a free loopback port and stopped afterwards.

Use it from a test module by importing the fixture::

    from tests.redis_server import redis_url  # noqa: F401

The server keeps nothing on disk (no RDB snapshots, no AOF) and listens on
127.0.0.1 only. When the binary is missing and the suite runs as root on
Debian, ``redis-server`` is installed with apt once per session; anywhere else
the Redis tests are skipped with the reason printed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packages import apt_install
from tests.ports import free_port

_STARTUP_SECONDS = 10.0




def find_redis_server() -> tuple[str | None, str]:
    """The redis-server binary (installed with apt on Debian as root, once per session), or why there is none."""
    failure = apt_install("redis-server", lambda: shutil.which("redis-server") is not None)
    return shutil.which("redis-server"), failure or ""


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _start(binary: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start the server, choosing another port if the first one was taken meanwhile."""
    problem = ""
    for _attempt in range(3):
        port = free_port()
        log = (workdir / f"redis-{port}.log").open("wb")
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(workdir), "--daemonize", "no"]
        with log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
        deadline = time.monotonic() + _STARTUP_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            if _answers_ping(port):
                return process, port
            time.sleep(0.02)
        _stop(process)
        problem = (workdir / f"redis-{port}.log").read_text(errors="replace")[-500:]
    raise RuntimeError(f"redis-server did not answer PING: {problem}")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a redis-server of this test session (tests keep to keys of their own)."""
    binary, failure = find_redis_server()
    if binary is None:
        reason = f"no redis-server: {failure}"
        print(reason, file=sys.stderr)
        pytest.skip(reason)
    with tempfile.TemporaryDirectory(prefix="agentmesh-redis-") as workdir:
        process, port = _start(binary, Path(workdir))
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            _stop(process)
