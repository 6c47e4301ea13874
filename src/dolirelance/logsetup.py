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

from dolirelance.terminal import PlainLogFormatter

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


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record (as logging's own last resort does)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr


def configure_logging(
    level: int, log_format: LogFormat = LogFormat.TEXT, stream: TextIO | None = None, *, if_unconfigured: bool = False
) -> None:
    """Install one handler writing ``log_format`` lines to ``stream`` (the current stderr by default).

    Only a handler installed here is replaced; others (a host application's, pytest's) stay. With
    ``if_unconfigured``, nothing changes when the root logger already has a handler of someone else.
    """
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if getattr(handler, "_dolirelance", False)]
    if if_unconfigured and len(root.handlers) > len(ours):
        return
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else _CurrentStderrHandler()
    handler.setFormatter(JsonLineFormatter() if log_format is LogFormat.JSON else PlainLogFormatter(TEXT_FORMAT))
    handler._dolirelance = True  # type: ignore[attr-defined]
    for old in ours:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # a line per HTTP request (httpx's to Dolibarr, the pages' access log) only with --debug (docs/operations.md)
    per_request = level if level <= logging.DEBUG else logging.WARNING
    for name in ("httpx", "uvicorn.access"):
        logging.getLogger(name).setLevel(per_request)
