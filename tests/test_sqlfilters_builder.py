from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from dolirelance.dolibarr.sqlfilters import and_, criterion, like_prefix, or_

PARIS = ZoneInfo("Europe/Paris")


def test_integer_and_string_criteria() -> None:
    assert str(criterion("t.fk_statut", "=", 1)) == "(t.fk_statut:=:1)"
    assert str(criterion("t.ref", "=", "PR2611-0001")) == "(t.ref:=:'PR2611-0001')"
    assert str(criterion("t.elementtype", "=", "propal")) == "(t.elementtype:=:'propal')"


def test_in_list_is_unquoted_and_without_parentheses() -> None:
    assert str(criterion("t.fk_statut", "in", [2, 3])) == "(t.fk_statut:in:2,3)"
    assert str(criterion("t.fk_soc", "notin", (1,))) == "(t.fk_soc:notin:1)"


@pytest.mark.parametrize("values", [["2", "3"], "2,3", [], [True]])
def test_in_list_refuses_anything_but_integers(values: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        criterion("t.fk_statut", "in", values)  # type: ignore[arg-type]


def test_is_null() -> None:
    assert str(criterion("ef.norelance", "is", None)) == "(ef.norelance:is:NULL)"
    with pytest.raises(ValueError):
        criterion("ef.norelance", "is", 0)
    with pytest.raises(ValueError):
        criterion("ef.norelance", "=", None)


def test_dates_are_quoted_local_literals() -> None:
    assert str(criterion("t.fin_validite", "<", date(2026, 11, 28))) == "(t.fin_validite:<:'2026-11-28')"
    instant = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    assert str(criterion("t.datep", ">=", instant, tz=PARIS)) == "(t.datep:>=:'2026-11-28 00:30:00')"
    assert (
        str(criterion("t.datep", ">=", instant, tz=ZoneInfo("UTC"))) == "(t.datep:>=:'2026-11-27 23:30:00')"
    )
    naive = datetime(2026, 11, 28, 8, 0)
    assert str(criterion("t.datep", "<", naive)) == "(t.datep:<:'2026-11-28 08:00:00')"


def test_aware_datetime_without_server_timezone_is_refused() -> None:
    with pytest.raises(ValueError, match="server timezone"):
        criterion("t.datep", ">=", datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("value", ["(PROV12)", "a)b", 'say "hi"'])
def test_values_without_possible_escape_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="no escape"):
        criterion("t.ref", "=", value)


def test_single_quote_allowed_for_equality_but_not_like() -> None:
    assert str(criterion("t.nom", "=", "L'Atelier")) == "(t.nom:=:'L'Atelier')"
    with pytest.raises(ValueError, match="single quote"):
        criterion("t.nom", "like", "%L'Atelier%")


def test_bad_field_and_operator() -> None:
    with pytest.raises(ValueError, match="field"):
        criterion("t.ref) or (1", "=", 1)
    with pytest.raises(ValueError, match="operator"):
        criterion("t.ref", "==", 1)


def test_like_prefix() -> None:
    assert str(like_prefix("t.code", "AC_RELANCE")) == "(t.code:like:'AC_RELANCE%')"


def test_and_or_nesting() -> None:
    status = criterion("t.fk_statut", "=", 1)
    opt_out = or_(criterion("ef.norelance", "is", None), criterion("ef.norelance", "=", 0))
    assert str(opt_out) == "((ef.norelance:is:NULL) or (ef.norelance:=:0))"
    assert (
        str(and_(status, opt_out)) == "(t.fk_statut:=:1) and ((ef.norelance:is:NULL) or (ef.norelance:=:0))"
    )
    inner = and_(criterion("t.a", "=", 1), criterion("t.b", "=", 2))
    assert str(or_(inner, criterion("t.c", "=", 3))) == "(((t.a:=:1) and (t.b:=:2)) or (t.c:=:3))"
    assert str(and_(status)) == "(t.fk_statut:=:1)"
    assert str(or_(status)) == "(t.fk_statut:=:1)"
    with pytest.raises(ValueError):
        and_()
