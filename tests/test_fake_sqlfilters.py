"""The fake's Universal Search Filter parser and evaluator, against Dolibarr 20 / MariaDB behaviour."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from dolirelance.testing.sqlfilters import (
    ColumnKind,
    SqlFilterSqlError,
    SqlFilterSyntaxError,
    compile_filter,
    parse_filter,
)

COLUMNS = {
    "t.rowid": ColumnKind.INT,
    "t.fk_statut": ColumnKind.INT,
    "t.ref": ColumnKind.TEXT,
    "t.email": ColumnKind.TEXT,
    "t.total_ht": ColumnKind.FLOAT,
    "t.datep": ColumnKind.DATE,
    "t.fin_validite": ColumnKind.DATETIME,
    "t.date_signature": ColumnKind.DATETIME,
    "ef.norelance": ColumnKind.INT,
}

ROWS = [
    {"t.rowid": 1, "t.fk_statut": 1, "t.ref": "PR2611-0001", "t.email": "contact@boulangerie.test",
     "t.total_ht": 910.0, "t.datep": date(2026, 10, 19), "t.fin_validite": datetime(2026, 11, 18, 10, 0),
     "t.date_signature": None, "ef.norelance": None},
    {"t.rowid": 2, "t.fk_statut": 2, "t.ref": "PR2611-0002", "t.email": None,
     "t.total_ht": 4140.0, "t.datep": date(2026, 11, 8), "t.fin_validite": datetime(2026, 11, 28, 0, 0),
     "t.date_signature": datetime(2026, 11, 20, 9, 0), "ef.norelance": 1},
    {"t.rowid": 3, "t.fk_statut": 3, "t.ref": "(PROV3)", "t.email": "Accueil@Garage-Dupont.test",
     "t.total_ht": 0.0, "t.datep": date(2026, 11, 27), "t.fin_validite": datetime(2026, 12, 12, 0, 0),
     "t.date_signature": None, "ef.norelance": 0},
]  # fmt: skip


def ids(text: str) -> list[int]:
    predicate = compile_filter(text, COLUMNS)
    return [int(row["t.rowid"]) for row in ROWS if predicate(row)]  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(t.fk_statut:=:1)", [1]),
        ("(t.fk_statut:!=:1)", [2, 3]),
        ("(t.fk_statut:<>:1)", [2, 3]),
        ("(t.fk_statut:<:2)", [1]),
        ("(t.fk_statut:>:2)", [3]),
        ("(t.fk_statut:<=:2)", [1, 2]),
        ("(t.fk_statut:>=:2)", [2, 3]),
        ("(t.fk_statut:in:2,3)", [2, 3]),
        ("(t.fk_statut:notin:2,3)", [1]),
        ("(t.ref:in:'PR2611-0001','PR2611-0002')", [1, 2]),
        ("(t.ref:like:'PR2611-000%')", [1, 2]),
        ("(t.ref:like:'PR2611-000_')", [1, 2]),
        ("(t.ref:notlike:'PR%')", [3]),
        ("(t.email:like:'%garage%')", [3]),  # case-insensitive like MariaDB's default collation
        ("(t.email:notlike:'%garage%')", [1]),  # NULL is neither like nor not like
        ("(t.date_signature:is:null)", [1, 3]),
        ("(t.date_signature:isnot:NULL)", [2]),
        ("(t.email:=:NULL)", []),  # = NULL is never true
        ("(t.fin_validite:<:'2026-11-28')", [1]),
        ("(t.fin_validite:<:'2026-11-28 00:00:00')", [1]),
        ("(t.fin_validite:<=:'20261128')", [1, 2]),
        ("(t.datep:>=:'2026-11-08 00:00:00')", [2, 3]),
        ("(t.total_ht:>:1000.5)", [2]),
        ("(ef.norelance:=:1)", [2]),
        ("(ef.norelance:is:NULL) or (ef.norelance:=:0)", [1, 3]),
        ("(t.fk_statut:=:1) or (t.fk_statut:=:2)", [1, 2]),
        ("(t.fk_statut:=:1) OR (t.fk_statut:=:2) AND (t.rowid:=:1)", [1]),  # and binds tighter
        ("((t.fk_statut:=:1) or (t.fk_statut:=:2)) and (t.rowid:=:2)", [2]),
        ("(((t.fk_statut:>=:1)) and ((t.ref:like:'PR%') or (t.rowid:=:3)))", [1, 2, 3]),
        ("t.fk_statut:=:3", [3]),  # Dolibarr wraps an unparenthesised criterion
        ("(t.ref:=:'pr2611-0001')", [1]),  # = is case-insensitive too
        ("(t.ref:=:PR1)", [1, 2, 3]),  # Dolibarr casts PR1 to 0; every ref here casts to 0 as well
    ],
)
def test_filters_select_expected_rows(text: str, expected: list[int]) -> None:
    assert ids(text) == expected


def test_unquoted_number_compared_with_text_column_is_numeric() -> None:
    rows = [{"t.ref": "12abc"}, {"t.ref": "abc"}]
    predicate = compile_filter("(t.ref:=:12)", {"t.ref": ColumnKind.TEXT})
    assert [predicate(row) for row in rows] == [True, False]


@pytest.mark.parametrize(
    "text",
    [
        "t.fk_statut=1",
        "(t.fk_statut:=:1) xor (t.rowid:=:1)",
        "(t.fk_statut:=:1) and",
        "(t.fk_statut:=:1))",
        "((t.fk_statut:=:1)",
        "(t.fk_statut:~:1)",
        "(t.fk_statut:=:1) ; drop table",
        "(t.ref:=:'a(b)')",
        "(t.fk_statut:=:1)(t.rowid:=:1)",
    ],
)
def test_bad_syntax_is_a_400_error(text: str) -> None:
    with pytest.raises(SqlFilterSyntaxError) as caught:
        compile_filter(text, COLUMNS)
    assert caught.value.message.startswith(
        "Error when validating parameter sqlfilters -> Bad syntax of the search string: ("
    )


def test_bad_syntax_message_shows_the_wrapped_filter() -> None:
    with pytest.raises(SqlFilterSyntaxError) as caught:
        parse_filter("t.fk_statut=1")
    assert caught.value.message.endswith(": (t.fk_statut=1)")


def test_unknown_column_is_a_503_sql_error() -> None:
    with pytest.raises(SqlFilterSqlError) as caught:
        compile_filter("(t.status:=:1)", COLUMNS)
    assert caught.value.message == "Unknown column 't.status' in 'WHERE'"


def test_quoted_in_list_is_a_sql_syntax_error_like_mariadb() -> None:
    with pytest.raises(SqlFilterSqlError) as caught:
        compile_filter("(t.fk_statut:in:'2,3')", COLUMNS)
    assert caught.value.render(" ORDER BY t.rowid ASC LIMIT 101") == (
        "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server "
        "version for the right syntax to use near '\\'2,3\\'))) ORDER BY t.rowid ASC LIMIT 101' at line 1"
    )


def test_is_with_a_value_other_than_null_is_a_sql_error() -> None:
    with pytest.raises(SqlFilterSqlError):
        compile_filter("(t.fk_statut:is:1)", COLUMNS)
