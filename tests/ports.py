"""Ports for the servers the tests start.

A port is free when picked, but a test often binds it a moment later (a unit
told where its peers listen before they start). A port the kernel chose with
bind(("", 0)) comes from the range it also gives outgoing connections, so a
client socket opened meanwhile — one of a pool's connections to PostgreSQL,
say — can take it first. These ports come from below that range instead, and no
port is handed out twice in one test session: a mesh picks all its units'
ports before any of them binds, so two picks of one port would collide.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_LOWEST = 10000
_pick = random.Random()
_given: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback TCP port nothing listens on now, outside the kernel's range for outgoing connections."""
    top = _ephemeral_start()
    for _ in range(200 if top - _LOWEST > 1000 else 0):
        port = _pick.randrange(_LOWEST, top)
        if port in _given:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
