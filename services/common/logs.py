"""JSON logs, one compact object per line, carrying the request id of the current call."""

from __future__ import annotations

import json
import logging
import sys
import time

import orjson

from services.common import authctx

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object; extras passed with `extra=` become fields."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def format(self, record: logging.LogRecord) -> str:
        caller = authctx.current()
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "unit": self.unit,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if caller.request_id:
            entry["request_id"] = caller.request_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        try:  # orjson: the edge writes one of these per request, and json.dumps was its largest cost
            return orjson.dumps(entry, default=str).decode()
        except TypeError:  # what orjson will not take (an integer past 64 bits): the standard library's way
            return json.dumps(entry, default=str)


def configure(unit: str, level: str = "INFO", fmt: str = "json") -> None:
    """Send this process's logs to stderr, as JSON unless asked for text."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(unit))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {unit} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
