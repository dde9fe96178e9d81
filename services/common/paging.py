"""List paging shared by every unit: page_size/page_token (AIP) or limit/offset (seed 003).

Page tokens are opaque to clients; they carry the next offset, so a token from
one list cannot smuggle anything but a position into another.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from services.common.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    offset: int

    def next_token(self, total: int) -> str:
        """The token of the page after this one, empty when this is the last."""
        following = self.offset + self.limit
        return encode_token(following) if following < total else ""


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    kind, _, number = raw.partition(":")
    if kind != "o" or not number.isascii() or not number.isdigit() or len(number) > 9:
        raise InvalidArgument.field("page_token", "is not a token this service issued")
    return int(number)


def page_of(request: Any, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> Page:
    """Read the paging fields of a List request; bad values are INVALID_ARGUMENT."""
    size = int(getattr(request, "page_size", 0) or 0) or int(getattr(request, "limit", 0) or 0)
    if size < 0:
        field = "page_size" if getattr(request, "page_size", 0) else "limit"
        raise InvalidArgument.field(field, "must not be negative")
    limit = min(size or default, maximum)
    token = getattr(request, "page_token", "")
    if token:
        return Page(limit, _decode_token(token))
    offset = int(getattr(request, "offset", 0) or 0)
    if offset < 0:
        raise InvalidArgument.field("offset", "must not be negative")
    return Page(limit, offset)
