"""Server-sent events as OpenAI-compatible servers stream them: `data:` payloads until `[DONE]`.

Read from the raw byte stream, not line by line through aiohttp's reader, so
a long chunk (a big JSON delta) is never refused for its length.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

DONE = "[DONE]"
MAX_EVENT_BYTES = 4 * 1024 * 1024


class EventTooLarge(ValueError):
    """A line grew past MAX_EVENT_BYTES without ending: not a chat-completions stream."""


async def data_events(chunks: AsyncIterator[bytes]) -> AsyncGenerator[str, None]:
    """Each event's data (its `data:` lines joined by newlines), ending at `[DONE]` or at the end of input."""
    pending = b""
    data: list[str] = []
    async for chunk in chunks:
        *lines, pending = (pending + chunk).split(b"\n")
        if len(pending) > MAX_EVENT_BYTES:
            raise EventTooLarge(f"a line of more than {MAX_EVENT_BYTES} bytes")
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
            if line:
                _field(line, data)
                continue
            if data:  # a blank line ends the event
                event, data = "\n".join(data), []
                if event == DONE:
                    return
                yield event
    if pending:
        _field(pending.rstrip(b"\r").decode("utf-8", errors="replace"), data)
    if data:
        event = "\n".join(data)
        if event != DONE:
            yield event


def _field(line: str, data: list[str]) -> None:
    """Keep `data:` values; comments (`:`) and other fields (event, id, retry) carry nothing we use."""
    name, _, value = line.partition(":")
    if name == "data":
        data.append(value[1:] if value.startswith(" ") else value)
