"""Lists: ``sqlfilters``, ``sortfield``/``sortorder`` and ``limit``/``page``, as Dolibarr applies them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dolirelance.testing import fake_versions
from dolirelance.testing.fake import rows
from dolirelance.testing.fake.records import ApiError
from dolirelance.testing.fake.routes.call import Call
from dolirelance.testing.fake.store import FakeDolibarr
from dolirelance.testing.sqlfilters import (
    Bare,
    BoolOp,
    ColumnKind,
    Row,
    SqlFilterError,
    SqlFilterSqlError,
    SqlFilterSyntaxError,
    compile_filter,
    parse_filter,
    split_sort_fields,
    sql_sort_key,
)


def paginate(items: list[Any], call: Call) -> list[Any]:
    limit = call.int_param("limit", 100)
    page = call.int_param("page", 0)
    if limit <= 0:
        return items
    start = limit * max(page, 0)
    return items[start : start + limit]


@dataclass(frozen=True)
class Listing:
    """One list endpoint as Dolibarr runs it: the SQL columns its ``sqlfilters`` and ``sortfield`` may name,
    each record as a row of them, its default sort, and the words and PHP line of its SQL errors."""

    columns: Mapping[str, ColumnKind]
    row_of: Callable[[FakeDolibarr, Any], Row]
    error_prefix: str
    source: str
    default_sort: str = "t.rowid"
    extrafields_of: str | None = None  # the element whose extrafields are columns too, as ef.<name>

    def columns_for(self, fake: FakeDolibarr) -> Mapping[str, ColumnKind]:
        if self.extrafields_of is None:
            return self.columns
        return rows.with_extrafields(fake, self.columns, self.extrafields_of)


def filter_and_sort(call: Call, records: list[Any], listing: Listing) -> list[Any]:
    memo = call.fake._list_memo if call.fake.cost is not None else None
    memo_key = (
        call.user.id,
        listing.error_prefix,
        tuple(sorted((k, v) for k, v in call.params.items() if k not in _PAGING_PARAMS)),
    )
    if memo is not None and memo_key in memo:
        return memo[memo_key]
    records = filter_and_sort_now(call, records, listing)
    if memo is not None:
        memo[memo_key] = records
    return records


# Parameters that pick a page of a list, not which rows it holds.
_PAGING_PARAMS = frozenset({"limit", "page", "properties", "pagination_data"})


def filter_and_sort_now(call: Call, records: list[Any], listing: Listing) -> list[Any]:
    fake = call.fake
    columns = listing.columns_for(fake)
    default_sort, error_prefix, source = listing.default_sort, listing.error_prefix, listing.source

    def row_of(record: Any) -> Row:
        return listing.row_of(fake, record)

    sqlfilters = call.param("sqlfilters")
    if sqlfilters:
        sqlfilters = fake_versions.accepted_sqlfilters(call.fake.version, sqlfilters)
    sortfield = call.param("sortfield") or default_sort
    sortorder = (call.param("sortorder") or "ASC").upper()
    sort_fields = split_sort_fields(sortfield)
    limit = call.int_param("limit", 100)
    tail = f" ORDER BY {sortfield} {sortorder}" + (f" LIMIT {limit + 1}" if limit > 0 else "")
    try:
        if sqlfilters:
            predicate = compile_filter(sqlfilters, columns)
            records = [record for record in records if predicate(row_of(record))]
        for name in sort_fields:
            if name not in columns:
                raise SqlFilterSqlError(f"Unknown column '{name}' in 'order clause'")
    except SqlFilterSyntaxError as exc:
        raise ApiError(400, exc.message, source=source) from exc
    except SqlFilterSqlError as exc:
        raise ApiError(503, f"{error_prefix} : {exc.render(tail)}", source=source) from exc
    if sort_fields != [default_sort]:
        records = sorted(
            records, key=lambda record: [sql_sort_key(row_of(record).get(f)) for f in sort_fields]
        )
    if sortorder == "DESC":
        records = list(reversed(records))
    return records


def top_level_ids(sqlfilters: str | None, column: str) -> set[int] | None:
    """The ids a top-level ``and`` criterion ``column = n`` / ``column in (...)`` allows, None if none.

    Lets a list read only those rows before the whole filter runs (same answer: the database's index).
    """
    if not sqlfilters:
        return None
    try:
        node = parse_filter(sqlfilters)
    except SqlFilterError:
        return None  # the normal path raises the error Dolibarr gives
    allowed: set[int] | None = None
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, BoolOp):
            if current.op == "and":
                stack += [current.left, current.right]
            continue
        if current.field == column and current.operator in ("=", "in"):
            if not all(isinstance(value, Bare) for value in current.values):
                continue
            ids = {int(value.number) for value in current.values if isinstance(value, Bare)}
            allowed = ids if allowed is None else allowed & ids
    return allowed
