"""Password hashing (scrypt), verification, and the rules a new password must meet.

A hash is stored as ``scrypt$n=16384,r=8,p=1$<salt>$<key>`` (salt and key in
standard base64 without padding), so each hash carries its own cost
parameters: raising :data:`N`/:data:`R`/:data:`P` later leaves old hashes
verifiable, and :func:`needs_rehash` tells the caller to store a new one at
the next successful sign-in.

Passwords are NFKC-normalised before hashing, so the same password typed on
different keyboards (composed or decomposed accents, full-width digits)
matches. The rules apply when a password is set, never at sign-in.

Hashing costs tens of milliseconds of CPU by design; async code uses the
``*_async`` variants, which run it in a worker thread. :func:`verify_dummy`
spends the same time for an account that does not exist, so response times do
not reveal which accounts exist.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import unicodedata
from typing import Final

SCHEME: Final = "scrypt"
N: Final = 16384
R: Final = 8
P: Final = 1
SALT_BYTES: Final = 16
KEY_BYTES: Final = 32
MIN_LENGTH: Final = 8
MAX_LENGTH: Final = 1024

# Bounds on what a stored hash may ask for, so a corrupt or hostile value
# cannot make a verification take minutes or gigabytes.
_MAX_N: Final = 1 << 20
_MAX_R: Final = 32
_MAX_P: Final = 16
_MAX_MEMORY: Final = 256 * 1024 * 1024
_KEY_RANGE: Final = range(16, 129)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _secret(password: str) -> bytes:
    return unicodedata.normalize("NFKC", password).encode("utf-8")


def _derive(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # scrypt needs about 128 * n * r bytes; leave headroom over OpenSSL's default cap.
    maxmem = max(64 * 1024 * 1024, 256 * n * r * p)
    return hashlib.scrypt(_secret(password), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=maxmem)


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    """(n, r, p, salt, key) of a well-formed hash within bounds; None otherwise."""
    if not isinstance(encoded, str):
        return None
    parts = encoded.split("$")
    if len(parts) != 4 or parts[0] != SCHEME:
        return None
    try:
        params = dict(item.split("=", 1) for item in parts[1].split(","))
        if set(params) != {"n", "r", "p"} or not all(v.isdigit() and v.isascii() for v in params.values()):
            return None
        n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
        salt, key = _unb64(parts[2]), _unb64(parts[3])
    except (ValueError, binascii.Error):
        return None
    if not (2 <= n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
        return None
    if 128 * n * r > _MAX_MEMORY:
        return None
    if len(salt) < 8 or len(key) not in _KEY_RANGE:
        return None
    return n, r, p, salt, key


def hash_password(password: str) -> str:
    """A new salted scrypt hash of the password, in the self-describing format."""
    salt = os.urandom(SALT_BYTES)
    key = _derive(password, salt, N, R, P, KEY_BYTES)
    return f"{SCHEME}$n={N},r={R},p={P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether the password matches the hash (constant-time compare); False for a malformed hash."""
    parsed = _parse(encoded)
    if parsed is None or not isinstance(password, str):
        return False
    n, r, p, salt, key = parsed
    try:
        candidate = _derive(password, salt, n, r, p, len(key))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(candidate, key)


# A hash nobody's password matches (a random key), with the current parameters.
_DUMMY: Final = f"{SCHEME}$n={N},r={R},p={P}${_b64(os.urandom(SALT_BYTES))}${_b64(os.urandom(KEY_BYTES))}"


def verify_dummy(password: str) -> bool:
    """Spend what a real verification costs, for an unknown account; always False."""
    verify_password(password, _DUMMY)
    return False


def needs_rehash(encoded: str) -> bool:
    """Whether the hash is malformed or weaker than the current parameters (store a new one)."""
    parsed = _parse(encoded)
    if parsed is None:
        return True
    n, r, p, salt, key = parsed
    return n < N or r < R or p < P or len(salt) < SALT_BYTES or len(key) < KEY_BYTES


def check_password_rules(password: str) -> list[str]:
    """What is wrong with a new password; [] when it is acceptable."""
    problems: list[str] = []
    length = len(password)
    if length < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters long")
    if length > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters long")
    if password and password.isspace():
        problems.append("must not be only whitespace")
    if password.isdigit():
        problems.append("must not be only digits")
    return problems


async def hash_password_async(password: str) -> str:
    """:func:`hash_password` in a worker thread, off the event loop."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password: str, encoded: str) -> bool:
    """:func:`verify_password` in a worker thread, off the event loop."""
    return await asyncio.to_thread(verify_password, password, encoded)


async def verify_dummy_async(password: str) -> bool:
    """:func:`verify_dummy` in a worker thread, off the event loop; always False."""
    return await asyncio.to_thread(verify_dummy, password)
