"""Where a template text comes from (model, variant, field, file) and the line an error happened on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType


@dataclass(frozen=True)
class Source:
    model: str
    lang: str | None  # None = the base texts
    field: str
    file: Path | None

    def where(self, line: int | None = None) -> str:
        variant = f", variant {self.lang!r}" if self.lang else ""
        place = f"model {self.model!r}{variant}, {self.field}"
        if self.file is not None:
            place += f" ({self.file}{f':{line}' if line else ''})"
        elif line:
            place += f", line {line}"
        return place

    @property
    def filename(self) -> str:
        # Jinja puts this in its rewritten traceback frames: how we find the failing line.
        return str(self.file) if self.file else f"<{self.model}|{self.lang or ''}|{self.field}>"


def template_line(tb: TracebackType | None, filename: str) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
