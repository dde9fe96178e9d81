"""Debian packages the tests' real servers come from, installed with apt when the suite runs as root.

`apt_install` tries once per package per session: `apt-get install` alone first
(fast when the package lists are fresh), then after `apt-get update`. Anywhere
apt cannot be used, it says why, so the tests that need the server are skipped
with that reason printed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

_attempts: dict[str, str | None] = {}


def apt_install(package: str, installed: Callable[[], bool]) -> str | None:
    """Install `package` unless `installed()`; None once it is there, else why it is not."""
    if installed():
        return None
    if package not in _attempts:
        if os.geteuid() == 0 and Path("/etc/debian_version").exists() and shutil.which("apt-get"):
            _attempts[package] = _run_apt(package, installed)
        else:
            _attempts[package] = f"{package} is not installed (install it with your package manager)"
    return _attempts[package]


def _run_apt(package: str, installed: Callable[[], bool]) -> str | None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    failure = None
    for step in ([install], [["apt-get", "update", "-qq"], install]):
        failure = None
        for command in step:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
            if done.returncode != 0:
                failure = f"`{' '.join(command)}` exited {done.returncode}: {done.stderr.strip()[-300:]}"
                break
        if failure is None and installed():
            return None
    return failure or f"apt-get reported success but {package} is still missing"
