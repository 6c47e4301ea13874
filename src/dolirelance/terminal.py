"""Values from Dolibarr, templates and users, made safe to print in a terminal with rich.

A customer named ``Dupont [SARL] [/b]`` must print as it is, not as rich markup (which would
raise ``MarkupError``), and a name holding ``ESC [2J`` must not clear the user's screen. Every
value the CLI prints inside a markup string goes through :func:`text`.
"""

from __future__ import annotations

import logging
import re
import unicodedata

from rich.markup import escape

__all__ = ["PlainLogFormatter", "plain", "text"]

# Text direction overrides and isolates: they reorder what the terminal shows (spoofing).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_KEPT = frozenset("\n\t")
_CONTROL_RUN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(value: object) -> str:
    """``value`` as text without control characters (tabs and line breaks kept); no markup escaping."""
    raw = value if isinstance(value, str) else str(value)
    if raw.isprintable() or not _needs_cleaning(raw):
        return raw
    return "".join(char for char in raw if char in _KEPT or not _is_control(char))


def text(value: object) -> str:
    """``value`` as text to put inside a rich markup string: control characters removed, markup escaped."""
    return escape(plain(value))


class PlainLogFormatter(logging.Formatter):
    """Log lines as plain text: a ref or a name with terminal escapes cannot reach the terminal raw."""

    def format(self, record: logging.LogRecord) -> str:
        return plain(super().format(record))


def _needs_cleaning(raw: str) -> bool:
    return bool(_CONTROL_RUN.search(raw)) or any(char in _BIDI_CONTROLS for char in raw)


def _is_control(char: str) -> bool:
    return char in _BIDI_CONTROLS or unicodedata.category(char) == "Cc"
