"""A real PostgreSQL server for tests: our own cluster on a free loopback port, for the whole session.

`AGENTMESH_TEST_POSTGRES_URL` names a server to use instead (it must let the
tests create schemas). Otherwise `initdb` and `pg_ctl` (on PATH or under
/usr/lib/postgresql/*/bin) make a throwaway cluster in a temporary directory,
run as the `postgres` account when the suite runs as root (the server refuses
root). When the binaries are missing and the suite runs as root on Debian,
the `postgresql` package is installed with apt once; anywhere else the
PostgreSQL tests are skipped with the reason printed.

The cluster trades durability for speed (fsync off): it lives for one test run.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packages import apt_install
from tests.ports import free_port

_STARTUP_SECONDS = 30.0


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def find_binaries() -> tuple[str, str] | str:
    """(initdb, pg_ctl), installed with apt on Debian as root once; else why there are none."""
    failure = apt_install("postgresql", lambda: _binary("initdb") is not None and _binary("pg_ctl") is not None)
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        return failure or "initdb or pg_ctl not found"
    return initdb, pg_ctl


def _as_server_user() -> tuple[list[str], int | None]:
    """The command prefix that runs the server's programs, and the uid that must own its files."""
    if os.geteuid() != 0:
        return [], None
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root and there is no `postgres` account to run the server as") from None
    runner = shutil.which("runuser") or shutil.which("setpriv")
    if runner is None:
        raise RuntimeError("running as root and neither runuser nor setpriv is available")
    if runner.endswith("runuser"):
        return [runner, "-u", "postgres", "--"], account.pw_uid
    return [runner, f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups"], account.pw_uid


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a PostgreSQL server for this test session."""
    given = os.environ.get("AGENTMESH_TEST_POSTGRES_URL", "")
    if given:
        yield given
        return
    binaries = find_binaries()
    if isinstance(binaries, str):
        pytest.skip(f"PostgreSQL tests skipped: {binaries}")
    initdb, pg_ctl = binaries
    prefix, owner = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="agentmesh-pg-"))
    data = root / "data"
    if owner is not None:
        os.chown(root, owner, -1)
    port = free_port()
    subprocess.run([*prefix, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--locale=C.UTF-8", "--no-sync"], check=True, capture_output=True, timeout=120)
    options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}"
               " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400")
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "server.log"),
                    "-w", "-t", str(int(_STARTUP_SECONDS)), "start"], check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True,
                       timeout=60, check=False)
        shutil.rmtree(root, ignore_errors=True)

