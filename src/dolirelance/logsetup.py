"""How the front ends write their logs: text lines for a person, or one JSON object per line for a collector.

Library code logs with the standard :mod:`logging` module; a follow-up's log line carries the quote
ref and the outcome as ``extra`` fields (``quote_ref``, ``outcome``, ``key``, ``step``, ``model``),
which the JSON lines give as their own keys.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# ``extra`` fields copied into the JSON object when a log call gives them.
STRUCTURED_FIELDS = ("quote_ref", "outcome", "key", "step", "model", "channel", "day")


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class JsonLineFormatter(logging.Formatter):
    """``{"time": ..., "level": ..., "logger": ..., "event": ..., "quote_ref": ..., "outcome": ...}``."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for field in STRUCTURED_FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                payload[field] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def configure_logging(level: int, log_format: LogFormat = LogFormat.TEXT, stream: TextIO | None = None) -> None:
    """Replace the root handlers with one writing ``log_format`` lines to ``stream`` (stderr by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLineFormatter() if log_format is LogFormat.JSON else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
