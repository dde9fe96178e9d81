"""Secrets at rest, sealed with AES-256-GCM: agents' provider keys, integrations' URLs and secrets.

Each value gets a fresh random 96-bit nonce, and is bound to the record it
belongs to (its id is the associated data), so a sealed value copied onto
another record's row does not open. The key comes from AGENTMESH_ENCRYPTION_KEY
(64 hex digits or base64 of 32 bytes are used as they are; any other text is
stretched with HMAC-SHA256); without it, one is derived from the JWT secret,
which is why rotating that secret makes stored keys unreadable (the start-up
warnings say so).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.common.settings import Settings

_VERSION = "v1"
_NONCE_BYTES = 12
_DERIVED_LABEL = b"agentmesh agent unit: provider keys at rest v1"
_PASSPHRASE_LABEL = b"agentmesh encryption key from passphrase v1"


class SecretUnreadable(Exception):
    """A sealed value that does not open: another key sealed it, or it was altered."""


def _raw_key(text: str) -> bytes | None:
    """The key as given, when the text is exactly 32 bytes in hex or base64."""
    candidates: list[bytes] = []
    with contextlib.suppress(ValueError):
        candidates.append(bytes.fromhex(text))
    padded = text + "=" * (-len(text) % 4)
    for altchars in (b"+/", b"-_"):
        try:
            candidates.append(base64.b64decode(padded, altchars=altchars, validate=True))
        except (binascii.Error, ValueError):
            continue
    return next((c for c in candidates if len(c) == 32), None)


def key_from_settings(settings: Settings) -> bytes:
    """The 32-byte sealing key: AGENTMESH_ENCRYPTION_KEY, else one derived from the JWT secret."""
    configured = settings.encryption_key.strip()
    if configured:
        raw = _raw_key(configured)
        if raw is not None:
            return raw
        return hmac.new(configured.encode(), _PASSPHRASE_LABEL, hashlib.sha256).digest()
    return hmac.new(settings.jwt_secret.encode(), _DERIVED_LABEL, hashlib.sha256).digest()


class SecretBox:
    """Seals and opens short secrets; the sealed form is text fit for a TEXT column."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the sealing key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        return cls(key_from_settings(settings))

    def seal(self, plaintext: str, bound_to: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), bound_to.encode())
        return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, sealed: str, bound_to: str) -> str:
        version, _, body = sealed.partition(".")
        if version != _VERSION or not body:
            raise SecretUnreadable("not a value this unit sealed")
        try:
            raw = base64.urlsafe_b64decode(body)
            opened = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], bound_to.encode())
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise SecretUnreadable("the value does not open with the current key") from exc
        return opened.decode()
