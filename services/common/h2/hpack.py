"""HPACK (RFC 7541) for the platform's own HTTP/2 client: what a gRPC client needs, no more.

The encoder writes every header as a literal that the peer does not index
(requests carry a few short, mostly fixed headers: callers cache the encoded
constant part of a method's block), so it keeps no state. The decoder is
complete: static and dynamic tables, table-size updates and Huffman-coded
strings, since servers index and compress what they send. Huffman strings
decode a nibble at a time through a table built once from the code lengths of
the RFC's canonical code; decoded strings are remembered by their coded bytes,
because a server repeats the same few values (content types, status names).
"""

from __future__ import annotations

STATIC_TABLE: tuple[tuple[str, str], ...] = tuple(
    (name, value)
    for name, _, value in (
        entry.partition(" ")
        for entry in (
            ":authority", ":method GET", ":method POST", ":path /", ":path /index.html", ":scheme http",
            ":scheme https", ":status 200", ":status 204", ":status 206", ":status 304", ":status 400",
            ":status 404", ":status 500", "accept-charset", "accept-encoding gzip, deflate", "accept-language",
            "accept-ranges", "accept", "access-control-allow-origin", "age", "allow", "authorization",
            "cache-control", "content-disposition", "content-encoding", "content-language", "content-length",
            "content-location", "content-range", "content-type", "cookie", "date", "etag", "expect", "expires",
            "from", "host", "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since",
            "last-modified", "link", "location", "max-forwards", "proxy-authenticate", "proxy-authorization",
            "range", "referer", "refresh", "retry-after", "server", "set-cookie", "strict-transport-security",
            "transfer-encoding", "user-agent", "vary", "via", "www-authenticate",
        )
    )
)
STATIC_INDEX = {name: index for index, (name, _) in reversed(list(enumerate(STATIC_TABLE, 1)))}
DEFAULT_TABLE_SIZE = 4096
_ENTRY_OVERHEAD = 32
_CACHE_SIZE = 4096

Headers = tuple[tuple[str, str], ...]

# Code length of every symbol (0-255, then EOS) in the RFC 7541 Appendix B code,
# which is canonical: the codes themselves follow from the lengths.
_HUFFMAN_LENGTHS = bytes.fromhex(
    "0d171c1c1c1c1c1c1c181e1c1c1e1c1c1c1c1c1c1c1c1e1c1c1c1c1c1c1c1c1c060a0a0c0d06080b0a0a080b0806060605"
    "05050606060606060607080f060c0a0d06070707070707070707070707070707070707070707070807080d130d0e060f05"
    "060506050606060507070606060506070605050607070707070f0b0e0d1c141614141616161716171717171718171818"
    "161718171717171516171617171816151416161717151716161815161717151516151716171714161616171616171a1a"
    "1413161716191a1a1a1b1b1a181913151a1b1b1a1b1815151a1a1c1b1b1b14181415161515171616191918181a171a1b"
    "1a1a1b1b1b1b1b1c1b1b1b1b1b1a1e"
)
_EOS = 256
_FAIL = -2


class HpackError(ValueError):
    """A header block that does not decode: a connection error (COMPRESSION_ERROR)."""


def _huffman_codes() -> list[tuple[int, int]]:
    """(code, length) per symbol, rebuilt from the canonical code's lengths."""
    codes = [(0, 0)] * len(_HUFFMAN_LENGTHS)
    code, previous = 0, 0
    for position, symbol in enumerate(sorted(range(len(_HUFFMAN_LENGTHS)), key=lambda s: (_HUFFMAN_LENGTHS[s], s))):
        length = _HUFFMAN_LENGTHS[symbol]
        if position:
            code = (code + 1) << (length - previous)
        previous = length
        codes[symbol] = (code, length)
    return codes


def _nibble_table() -> tuple[list[tuple[int, int]], list[bool]]:
    """A state machine over the code tree's inner nodes: (state, nibble) -> (state, symbol or -1).

    A state accepts (may end a string) when it lies on the all-ones path within 7
    bits of the root: RFC 7541 pads with the EOS code's leading ones only.
    """
    children: list[list[int]] = [[-1, -1]]  # inner nodes; a child >= 0 is a node, < -1 a leaf -(symbol + 2)
    for symbol, (code, length) in enumerate(_huffman_codes()):
        node = 0
        for shift in range(length - 1, -1, -1):
            bit = (code >> shift) & 1
            if shift == 0:
                children[node][bit] = -(symbol + 2)
            else:
                if children[node][bit] == -1:
                    children.append([-1, -1])
                    children[node][bit] = len(children) - 1
                node = children[node][bit]
    accepting = [False] * len(children)
    node, depth = 0, 0
    while node >= 0 and depth <= 7:
        accepting[node] = True
        node, depth = children[node][1], depth + 1
    table: list[tuple[int, int]] = []
    for state in range(len(children)):
        for nibble in range(16):
            node, emitted = state, -1
            for shift in (3, 2, 1, 0):
                child = children[node][(nibble >> shift) & 1]
                if child >= 0:
                    node = child
                    continue
                symbol = -child - 2
                if symbol == _EOS or emitted >= 0:
                    node, emitted = 0, _FAIL
                    break
                node, emitted = 0, symbol
            table.append((node, emitted))
    return table, accepting


_NIBBLES, _ACCEPTING = _nibble_table()


def huffman_decode(data: bytes) -> bytes:
    out = bytearray()
    table = _NIBBLES
    state = 0
    for byte in data:
        state, symbol = table[(state << 4) | (byte >> 4)]
        if symbol >= 0:
            out.append(symbol)
        elif symbol == _FAIL:
            raise HpackError("bad Huffman code")
        state, symbol = table[(state << 4) | (byte & 15)]
        if symbol >= 0:
            out.append(symbol)
        elif symbol == _FAIL:
            raise HpackError("bad Huffman code")
    if not _ACCEPTING[state]:
        raise HpackError("bad Huffman padding")
    return bytes(out)


def encode_integer(value: int, prefix_bits: int, flags: int = 0) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((flags | value,))
    out = bytearray((flags | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_string(text: bytes) -> bytes:
    """A string literal without Huffman coding."""
    if len(text) < 127:
        return bytes((len(text),)) + text
    return encode_integer(len(text), 7) + text


def literal_name(name: str) -> bytes:
    """The start of a literal the peer must not index, up to its value: the static table's
    index of the name when it has one, else the name itself."""
    index = STATIC_INDEX.get(name)
    if index is not None:
        return encode_integer(index, 4)
    return b"\x00" + encode_string(name.encode("ascii"))


def literal(name: str, value: str | bytes) -> bytes:
    """A whole header as a literal the peer must not index."""
    return literal_name(name) + encode_string(value.encode("latin-1") if isinstance(value, str) else value)


class Decoder:
    """One connection's receiving side: the dynamic table survives across header blocks."""

    def __init__(self, max_table_size: int = DEFAULT_TABLE_SIZE) -> None:
        self._limit = max_table_size  # what this side advertised: the peer may not exceed it
        self._capacity = max_table_size
        self._table: list[tuple[str, str]] = []  # newest first
        self._size = 0
        self._strings: dict[bytes, str] = {}
        # Blocks that left the table as it was, with what they decoded to while it was in that
        # state (its generation): a server answering calls alike repeats the same few blocks.
        self._generation = 0
        self._blocks: dict[bytes, tuple[int, Headers]] = {}

    def decode(self, block: bytes) -> Headers:
        known = self._blocks.get(block)
        if known is not None and known[0] == self._generation:
            return known[1]
        generation = self._generation
        headers = self._decode(block)
        if self._generation == generation:
            if len(self._blocks) >= _CACHE_SIZE:
                self._blocks.clear()
            self._blocks[block] = (generation, headers)
        return headers

    def _decode(self, block: bytes) -> Headers:
        headers: list[tuple[str, str]] = []
        position, end = 0, len(block)
        try:
            while position < end:
                first = block[position]
                if first & 0x80:
                    index, position = self._integer(block, position, 7)
                    headers.append(self._entry(index))
                    continue
                if first & 0x40:
                    index, position = self._integer(block, position, 6)
                    name, value, position = self._literal(block, position, index)
                    self._add(name, value)
                elif first & 0x20:
                    size, position = self._integer(block, position, 5)
                    if size > self._limit:
                        raise HpackError(f"table size {size} above the advertised {self._limit}")
                    self._capacity = size
                    self._evict(0)
                    self._generation += 1
                    continue
                else:
                    index, position = self._integer(block, position, 4)
                    name, value, position = self._literal(block, position, index)
                headers.append((name, value))
        except IndexError:
            raise HpackError("truncated header block") from None
        return tuple(headers)

    def _literal(self, block: bytes, position: int, index: int) -> tuple[str, str, int]:
        if index:
            name = self._entry(index)[0]
        else:
            name, position = self._string(block, position)
        value, position = self._string(block, position)
        return name, value, position

    @staticmethod
    def _integer(block: bytes, position: int, prefix_bits: int) -> tuple[int, int]:
        limit = (1 << prefix_bits) - 1
        value = block[position] & limit
        position += 1
        if value < limit:
            return value, position
        shift = 0
        while True:
            byte = block[position]
            position += 1
            value += (byte & 127) << shift
            if not byte & 128:
                return value, position
            shift += 7
            if shift > 28:
                raise HpackError("integer too large")

    def _string(self, block: bytes, position: int) -> tuple[str, int]:
        coded = block[position] & 0x80
        length, position = self._integer(block, position, 7)
        end = position + length
        if end > len(block):
            raise HpackError("truncated string")
        raw = block[position:end]
        if not coded:
            return raw.decode("latin-1"), end
        text = self._strings.get(raw)
        if text is None:
            text = huffman_decode(raw).decode("latin-1")
            if len(self._strings) >= _CACHE_SIZE:
                self._strings.clear()
            self._strings[raw] = text
        return text, end

    def _entry(self, index: int) -> tuple[str, str]:
        if 0 < index <= len(STATIC_TABLE):
            return STATIC_TABLE[index - 1]
        dynamic = index - len(STATIC_TABLE) - 1
        if index <= 0 or dynamic >= len(self._table):
            raise HpackError(f"no header table entry {index}")
        return self._table[dynamic]

    def _add(self, name: str, value: str) -> None:
        self._generation += 1
        size = len(name) + len(value) + _ENTRY_OVERHEAD
        if size > self._capacity:
            self._table.clear()
            self._size = 0
            return
        self._evict(size)
        self._table.insert(0, (name, value))
        self._size += size

    def _evict(self, room: int) -> None:
        while self._table and self._size + room > self._capacity:
            name, value = self._table.pop()
            self._size -= len(name) + len(value) + _ENTRY_OVERHEAD
