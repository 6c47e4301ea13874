"""Build Dolibarr ``sqlfilters`` strings (the "Universal Search Filter") safely.

A filter is criteria ``(field:operator:value)`` joined with ``and`` / ``or`` and nested with
parentheses. Dolibarr has no escape for parentheses inside a value and its firewall blocks any
``"`` in a query string, so values holding ``(``, ``)`` or ``"`` are refused here rather than
sent as a filter that would match something else.

    >>> str(and_(criterion("t.fk_statut", "=", 1), criterion("t.fin_validite", "<", date(2026, 11, 28))))
    "(t.fk_statut:=:1) and (t.fin_validite:<:'2026-11-28')"
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

__all__ = ["Filter", "and_", "criterion", "like_prefix", "or_"]

OPERATORS = frozenset(
    {"=", "<", ">", "<=", ">=", "<>", "!=", "like", "notlike", "in", "notin", "is", "isnot"}
)
_FIELD = re.compile(r"^[A-Za-z0-9_.]+$")
_FORBIDDEN = ("(", ")", '"')

Scalar = str | int | Decimal | date | datetime | None


@dataclass(frozen=True, slots=True)
class Filter:
    """A piece of sqlfilters text; ``compound`` when it joins several criteria at its top level."""

    text: str
    compound: bool = False

    def __str__(self) -> str:
        return self.text

    def nested(self) -> str:
        """The text to use inside a bigger expression (parenthesized when compound)."""
        return f"({self.text})" if self.compound else self.text


def criterion(field: str, op: str, value: Scalar | Iterable[int], *, tz: ZoneInfo | None = None) -> Filter:
    """One criterion ``(field:op:value)``.

    Strings are single-quoted; ``in``/``notin`` take integers, unquoted and without parentheses
    (``(t.fk_statut:in:2,3)``: a quoted list is an SQL error); ``is``/``isnot`` take ``None``
    (``NULL``). Dates become ``'YYYY-MM-DD'``, datetimes ``'YYYY-MM-DD HH:MM:SS'`` in the server's
    local time: an aware datetime needs ``tz`` (the server timezone), a naive one is taken as local.
    """
    if not _FIELD.match(field):
        raise ValueError(f"invalid sqlfilters field {field!r}: only letters, digits, '_' and '.'")
    op = op.lower()
    if op not in OPERATORS:
        raise ValueError(f"unknown sqlfilters operator {op!r}; expected one of {sorted(OPERATORS)}")
    if op in ("in", "notin"):
        return Filter(f"({field}:{op}:{_int_list(field, value)})")
    if op in ("is", "isnot"):
        if value is not None:
            raise ValueError(f"operator {op!r} only compares with NULL (pass None)")
        return Filter(f"({field}:{op}:NULL)")
    if value is None:
        raise ValueError(f"{field}: compare with None using 'is' / 'isnot'")
    if isinstance(value, (str, int, Decimal, date)):
        return Filter(f"({field}:{op}:{_literal(value, tz=tz, like=op in ('like', 'notlike'))})")
    raise TypeError(f"{field}: operator {op!r} takes one value, not {type(value).__name__}")


def like_prefix(field: str, prefix: str) -> Filter:
    """``(field:like:'prefix%')``. ``_`` and ``%`` in the prefix stay SQL wildcards (no escape exists)."""
    return criterion(field, "like", f"{prefix}%")


def and_(*parts: Filter) -> Filter:
    return _join("and", parts)


def or_(*parts: Filter) -> Filter:
    """``or`` of the parts, always parenthesized so it can be and-ed without surprises."""
    joined = _join("or", parts)
    if not joined.compound:
        return joined
    return Filter(f"({joined.text})", compound=False)


def _join(word: str, parts: tuple[Filter, ...]) -> Filter:
    if not parts:
        raise ValueError(f"{word}_() needs at least one criterion")
    if len(parts) == 1:
        return parts[0]
    return Filter(f" {word} ".join(part.nested() for part in parts), compound=True)


def _int_list(field: str, values: object) -> str:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{field}: 'in' takes a list of integers")
    items = list(values)
    if not items:
        raise ValueError(f"{field}: 'in' needs at least one value")
    for item in items:
        # bool is an int; a bool in an id list is a bug upstream
        if not isinstance(item, int) or isinstance(item, bool):
            raise TypeError(f"{field}: 'in' takes integers only, got {item!r}")
    return ",".join(str(item) for item in items)


def _literal(value: str | int | Decimal | date, *, tz: ZoneInfo | None, like: bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            if tz is None:
                raise ValueError("an aware datetime in sqlfilters needs the server timezone (tz=...)")
            value = value.astimezone(tz)
        return f"'{value.strftime('%Y-%m-%d %H:%M:%S')}'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    return _quote(value, like=like)


def _quote(text: str, *, like: bool) -> str:
    bad = [char for char in _FORBIDDEN if char in text]
    if bad:
        raise ValueError(
            f"cannot filter on {text!r}: Dolibarr's sqlfilters have no escape for {' '.join(bad)}"
        )
    if like and "'" in text:
        # Dolibarr escapes a quote for '=' but not for 'like'
        raise ValueError(f"cannot use {text!r} in a 'like' filter: it contains a single quote")
    return f"'{text}'"
