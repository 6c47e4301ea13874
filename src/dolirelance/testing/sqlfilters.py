"""Parser and evaluator of Dolibarr's Universal Search Filter (the ``sqlfilters`` parameter).

It follows what Dolibarr 20's ``forgeSQLFromUniversalSearchCriteria`` accepts and what MariaDB then does
with the SQL it builds:

* criteria ``(alias.column:operator:value)`` joined by ``and``/``or`` (any case) and nested in
  parentheses; ``and`` binds tighter than ``or`` (SQL precedence);
* operators ``= != <> < > <= >= like notlike in notin is isnot`` (``!=`` is ``<>``);
* values: single-quoted strings, numbers, ``NULL``; ``in`` lists are bare (``(t.fk_statut:in:2,3)``);
  a quoted whole list (``'2,3'``) becomes broken SQL on the real server, so it raises a SQL error;
* dates are quoted literals in server-local time (``'2026-11-28'``, ``'2026-11-28 00:00:00'``,
  ``'20261128'``) compared as datetimes with date/datetime columns;
* ``like`` uses ``%``/``_`` wildcards and ignores case and accents (``hotel`` matches ``Hôtel``), as
  MariaDB's ``utf8mb4_unicode_ci``, the collation Dolibarr creates its tables with, does;
* an unquoted non-numeric value is cast to a number by Dolibarr 20 (``(t.ref:=:PR1)`` becomes
  ``t.ref = 0``); MariaDB then compares the column as a number, so a text column whose value does not
  start with digits equals 0. We reproduce that cast.

Errors: anything that is not criteria, ``and``/``or``, spaces and parentheses raises
:class:`SqlFilterSyntaxError` (the server answers 400); an unknown column or SQL the database rejects
raises :class:`SqlFilterSqlError` (the server answers 503).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import TypeAlias

__all__ = [
    "ColumnKind",
    "Criterion",
    "Node",
    "Predicate",
    "SqlFilterError",
    "SqlFilterSqlError",
    "SqlFilterSyntaxError",
    "compile_filter",
    "parse_filter",
    "split_sort_fields",
    "sql_sort_key",
]

RowValue: TypeAlias = int | float | str | date | datetime | None
Row: TypeAlias = Mapping[str, RowValue]
Predicate: TypeAlias = Callable[[Row], bool]


class ColumnKind(Enum):
    INT = "int"
    FLOAT = "float"
    TEXT = "text"
    DATE = "date"  # row values are ``date`` (or naive local ``datetime`` at midnight)
    DATETIME = "datetime"  # row values are naive ``datetime`` in server-local time


class SqlFilterError(Exception):
    """Base class; ``message`` is the text Dolibarr puts after the HTTP reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SqlFilterSyntaxError(SqlFilterError):
    """Dolibarr refuses the filter before running SQL (HTTP 400)."""


class SqlFilterSqlError(SqlFilterError):
    """The database refuses the SQL built from the filter (HTTP 503).

    For syntax errors ``near`` is the start of the SQL text MariaDB quotes; the caller appends the rest
    of its query (``ORDER BY ... LIMIT ...``) with :meth:`render`.
    """

    def __init__(self, message: str, *, near: str | None = None) -> None:
        super().__init__(message)
        self.near = near

    def render(self, sql_tail: str = "") -> str:
        if self.near is None:
            return self.message
        return f"{_SYNTAX_ERROR} near '{self.near}{sql_tail}' at line 1"


_SYNTAX_ERROR = (
    "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server "
    "version for the right syntax to use"
)


def _sql_syntax_error(near: str) -> SqlFilterSqlError:
    return SqlFilterSqlError(f"{_SYNTAX_ERROR} near '{near}' at line 1", near=near)


_OPERATORS = ("notlike", "isnot", "notin", "like", "in", "is", "<=", ">=", "<>", "!=", "=", "<", ">")
# A criterion as Dolibarr's own check sees it: no parenthesis anywhere inside.
_CRITERION_RE = re.compile(
    r"\(\s*([A-Za-z0-9_.]+)\s*:\s*(" + "|".join(re.escape(op) for op in _OPERATORS) + r")\s*:([^()]*)\)",
    re.IGNORECASE,
)
_CONNECTOR_RE = re.compile(r"(and|or)(?![A-Za-z0-9_])", re.IGNORECASE)
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_LEADING_NUMBER_RE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


class _Null:
    """The SQL ``NULL`` literal."""

    def __repr__(self) -> str:
        return "NULL"


NULL = _Null()


@dataclass(frozen=True, slots=True)
class Quoted:
    """A single-quoted string literal."""

    text: str


@dataclass(frozen=True, slots=True)
class Bare:
    """An unquoted literal: a number, or a word Dolibarr 20 casts to a number."""

    text: str

    @property
    def number(self) -> float:
        return float(self.text) if _NUMBER_RE.match(self.text) else 0.0


Literal: TypeAlias = Quoted | Bare | _Null


@dataclass(frozen=True, slots=True)
class Criterion:
    field: str
    operator: str  # normalised: lower case, "!=" -> "<>"
    values: tuple[Literal, ...]  # one value, or the items of an in/notin list


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # "and" | "or"
    left: Node
    right: Node


Node: TypeAlias = Criterion | BoolOp


def _normalize(text: str) -> str:
    text = text.strip()
    # Dolibarr wraps the filter in parentheses when it is not already (the error message shows it).
    if not (text.startswith("(") and text.endswith(")")):
        text = f"({text})"
    return text


def _bad_syntax(text: str) -> SqlFilterSyntaxError:
    return SqlFilterSyntaxError(
        f"Error when validating parameter sqlfilters -> Bad syntax of the search string: {text}"
    )


def _parse_value(raw: str, operator: str) -> tuple[Literal, ...]:
    value = raw.strip()
    if operator in ("in", "notin"):
        items: list[Literal] = []
        for item in value.split(","):
            item = item.strip()
            if len(item) >= 2 and item.startswith("'") and item.endswith("'"):
                items.append(Quoted(item[1:-1]))
            elif "'" in item:
                # The real server escapes the stray quote and MariaDB fails on what is left.
                raise _sql_syntax_error(f"{_escape_for_sql(value)})))")
            elif item.upper() == "NULL":
                items.append(NULL)
            else:
                items.append(Bare(item))
        return tuple(items)
    if value.upper() == "NULL":
        return (NULL,)
    if len(value) >= 2 and value.startswith("'") and value.endswith("'"):
        return (Quoted(value[1:-1].replace("\\'", "'")),)
    return (Bare(value),)


def _escape_for_sql(value: str) -> str:
    return value.replace("'", "\\'")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self) -> SqlFilterSyntaxError:
        return _bad_syntax(self.text)

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def parse(self) -> Node:
        node = self.parse_or()
        self.skip_spaces()
        if self.pos != len(self.text):
            raise self.fail()
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.accept_connector("or"):
            node = BoolOp("or", node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_primary()
        while self.accept_connector("and"):
            node = BoolOp("and", node, self.parse_primary())
        return node

    def accept_connector(self, word: str) -> bool:
        self.skip_spaces()
        match = _CONNECTOR_RE.match(self.text, self.pos)
        if match and match.group(1).lower() == word:
            self.pos = match.end()
            return True
        return False

    def parse_primary(self) -> Node:
        self.skip_spaces()
        if self.pos >= len(self.text) or self.text[self.pos] != "(":
            raise self.fail()
        match = _CRITERION_RE.match(self.text, self.pos)
        if match:
            operator = match.group(2).lower()
            if operator == "!=":
                operator = "<>"
            self.pos = match.end()
            return Criterion(match.group(1), operator, _parse_value(match.group(3), operator))
        self.pos += 1
        node = self.parse_or()
        self.skip_spaces()
        if self.pos >= len(self.text) or self.text[self.pos] != ")":
            raise self.fail()
        self.pos += 1
        return node


def parse_filter(text: str) -> Node:
    """Parse a sqlfilters string; raise :class:`SqlFilterSyntaxError` when Dolibarr would refuse it."""
    normalized = _normalize(text)
    if normalized.count("(") != normalized.count(")"):
        raise _bad_syntax(normalized)
    node = _Parser(normalized).parse()
    for criterion in _criteria(node):
        if criterion.operator in ("is", "isnot") and criterion.values != (NULL,):
            raise _sql_syntax_error(f"{_escape_for_sql(_literal_text(criterion.values[0]))}))")
    return node


def _literal_text(literal: Literal) -> str:
    if isinstance(literal, Quoted):
        return f"'{literal.text}'"
    if isinstance(literal, Bare):
        return literal.text
    return "NULL"


def _criteria(node: Node) -> list[Criterion]:
    if isinstance(node, Criterion):
        return [node]
    return _criteria(node.left) + _criteria(node.right)


def compile_filter(text: str, columns: Mapping[str, ColumnKind], *, clause: str = "WHERE") -> Predicate:
    """Parse ``text`` and check its fields against ``columns`` (``{"t.fk_statut": ColumnKind.INT}``).

    Rows passed to the returned predicate map the same field names to Python values (``None`` = NULL).
    """
    node = parse_filter(text)
    for criterion in _criteria(node):
        if criterion.field not in columns:
            raise SqlFilterSqlError(f"Unknown column '{criterion.field}' in '{clause}'")
    return _compile(node, columns)


def _compile(node: Node, columns: Mapping[str, ColumnKind]) -> Predicate:
    if isinstance(node, BoolOp):
        left = _compile(node.left, columns)
        right = _compile(node.right, columns)
        if node.op == "and":
            return lambda row: left(row) and right(row)
        return lambda row: left(row) or right(row)
    return _compile_criterion(node, columns[node.field])


def _compile_criterion(criterion: Criterion, kind: ColumnKind) -> Predicate:
    field = criterion.field
    operator = criterion.operator
    if operator in ("is", "isnot"):
        wanted_null = operator == "is"
        return lambda row: (row.get(field) is None) == wanted_null
    if operator in ("like", "notlike"):
        pattern = _like_regex(_without_accents(_literal_as_text(criterion.values[0])))
        negate = operator == "notlike"

        def like(row: Row) -> bool:
            value = row.get(field)
            if value is None or isinstance(criterion.values[0], _Null):
                return False  # NULL LIKE x is NULL: neither true nor false
            return bool(pattern.match(_without_accents(_value_as_text(value)))) != negate

        return like
    if operator in ("in", "notin"):
        members = [_comparable_literal(literal, kind) for literal in criterion.values]
        negate = operator == "notin"

        def member_of(row: Row) -> bool:
            value = row.get(field)
            if value is None:
                return False
            hits = [_compare(value, kind, member) for member in members]
            if negate:
                return all(hit is not None and hit != 0 for hit in hits)
            return any(hit == 0 for hit in hits)

        return member_of
    literal = _comparable_literal(criterion.values[0], kind)
    test = _COMPARATORS[operator]

    def compare(row: Row) -> bool:
        value = row.get(field)
        if value is None:
            return False
        result = _compare(value, kind, literal)
        return result is not None and test(result)

    return compare


_COMPARATORS: dict[str, Callable[[int], bool]] = {
    "=": lambda c: c == 0,
    "<>": lambda c: c != 0,
    "<": lambda c: c < 0,
    ">": lambda c: c > 0,
    "<=": lambda c: c <= 0,
    ">=": lambda c: c >= 0,
}


# What a literal becomes once MariaDB has decided how to compare it with a column of a given kind.
_Comparable: TypeAlias = float | str | datetime | None


def _comparable_literal(literal: Literal, kind: ColumnKind) -> _Comparable:
    if isinstance(literal, _Null):
        return None
    if isinstance(literal, Bare):
        # Dolibarr 20 casts unquoted values to a number before building the SQL.
        return literal.number
    text = literal.text
    if kind in (ColumnKind.DATE, ColumnKind.DATETIME):
        parsed = _parse_sql_datetime(text)
        return parsed if parsed is not None else text
    if kind in (ColumnKind.INT, ColumnKind.FLOAT):
        return _leading_number(text)
    return text


def _compare(value: RowValue, kind: ColumnKind, literal: _Comparable) -> int | None:
    """-1/0/1 like SQL's comparison of ``value`` (column) with ``literal``; None when NULL."""
    if literal is None or value is None:
        return None
    if isinstance(literal, datetime):
        column_dt = _as_datetime(value)
        if column_dt is None:
            return None
        return _cmp(column_dt, literal)
    if isinstance(literal, float):
        return _cmp(_value_as_number(value), literal)
    # A text literal.
    if kind is ColumnKind.TEXT:
        return _cmp(str(value).lower().rstrip(" "), literal.lower().rstrip(" "))
    if kind in (ColumnKind.INT, ColumnKind.FLOAT):
        return _cmp(_value_as_number(value), _leading_number(literal))
    return _cmp(_value_as_text(value), literal)


def _cmp(a: float | str | datetime, b: float | str | datetime) -> int:
    if a < b:  # type: ignore[operator]
        return -1
    if a > b:  # type: ignore[operator]
        return 1
    return 0


def _as_datetime(value: RowValue) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        return _parse_sql_datetime(value)
    return None


def _value_as_number(value: RowValue) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return float(value.strftime("%Y%m%d%H%M%S"))
    if isinstance(value, date):
        return float(value.strftime("%Y%m%d"))
    return _leading_number(str(value))


def _value_as_text(value: RowValue) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _literal_as_text(literal: Literal) -> str:
    if isinstance(literal, Quoted | Bare):
        return literal.text
    return ""


def _leading_number(text: str) -> float:
    """MariaDB's cast of a string to a number: its leading numeric part, else 0."""
    match = _LEADING_NUMBER_RE.match(text)
    return float(match.group(0)) if match else 0.0


_DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y%m%d%H%M%S", "%Y%m%d")


def _parse_sql_datetime(text: str) -> datetime | None:
    text = text.strip()
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _without_accents(text: str) -> str:
    """``Hôtel`` as ``Hotel``: the letters a ``_ci`` collation compares equal at its first level."""
    return "".join(char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char))


def _like_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts) + r"\Z", re.IGNORECASE | re.DOTALL)


def sql_sort_key(value: RowValue) -> tuple[int, float | str]:
    """Sort key ordering like SQL ``ORDER BY``: NULLs first, numbers by value, text case-insensitively."""
    if value is None:
        return (0, 0.0)
    if isinstance(value, int | float):
        return (1, float(value))
    if isinstance(value, datetime | date):
        return (1, _value_as_number(value))
    return (2, str(value).lower())


def split_sort_fields(sortfield: str) -> Sequence[str]:
    """Dolibarr strips everything outside ``[0-9a-z_.]`` from each comma-separated sort field."""
    cleaned = [re.sub(r"[^0-9a-zA-Z_.]", "", part) for part in sortfield.split(",")]
    return [part for part in cleaned if part]
