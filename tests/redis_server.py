"""A real redis-server for tests, started on a free loopback port and stopped afterwards.

Use it from a test module by importing the fixture::

    from tests.redis_server import redis_url  # noqa: F401

The server keeps nothing on disk (no RDB snapshots, no AOF) and listens on
127.0.0.1 only. When the binary is missing and the suite runs as root on
Debian, ``redis-server`` is installed with apt once per session; anywhere else
the Redis tests are skipped with the reason printed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_STARTUP_SECONDS = 10.0
_install_attempt: dict[str, str | None] = {}


def free_port() -> int:
    """A loopback TCP port nothing listens on at the moment of the call."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _install_with_apt() -> str | None:
    """Install redis-server with apt; None on success, else why it failed."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "redis-server"]
    for step in ([install], [["apt-get", "update", "-qq"], install]):
        failure = None
        for command in step:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
            if done.returncode != 0:
                failure = f"`{' '.join(command)}` exited {done.returncode}: {done.stderr.strip()[-300:]}"
                break
        if failure is None and shutil.which("redis-server"):
            return None
    return failure or "apt-get reported success but redis-server is still not on PATH"


def find_redis_server() -> str | None:
    """The redis-server binary, installing it on Debian as root (once per session)."""
    found = shutil.which("redis-server")
    if found:
        return found
    if "result" not in _install_attempt:
        if os.geteuid() == 0 and Path("/etc/debian_version").exists() and shutil.which("apt-get"):
            _install_attempt["result"] = _install_with_apt()
        else:
            _install_attempt["result"] = "redis-server is not installed (install it with your package manager)"
    if _install_attempt["result"] is not None:
        return None
    return shutil.which("redis-server")


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
    binary = find_redis_server()
    if binary is None:
        reason = f"no redis-server: {_install_attempt.get('result')}"
        print(reason, file=sys.stderr)
        pytest.skip(reason)
    with tempfile.TemporaryDirectory(prefix="agentmesh-redis-") as workdir:
        process, port = _start(binary, Path(workdir))
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            _stop(process)
