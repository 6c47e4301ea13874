"""Rows from Dolibarr are validated to sane ranges one by one: a bad row is named and left out, never a crash."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dolirelance.dolibarr import DolibarrClient, wire
from dolirelance.domain import AgendaEvent, Contact, Customer, Quote, QuoteFilter, QuoteStatus
from dolirelance.errors import DolibarrResponseError
from dolirelance.testing import FakeDolibarr, SampleData, create_app
from dolirelance.testing.fake_dolibarr import REMOVED
from test_dolibarr_client import quote_item

PARIS = ZoneInfo("Europe/Paris")
GOOD_QUOTE: dict[str, Any] = {
    **quote_item(7),
    "socid": "3",
    "statut": 1,
    "ref_client": "",
    "note_public": "",
    "array_options": [],
    "contacts_ids": ["1"],
}


def quotes_of(rows: list[Any]) -> tuple[list[Quote], list[wire.RejectedRow]]:
    rejected: list[wire.RejectedRow] = []
    quotes = wire.parse_rows(wire.WireQuote, rows, "GET /proposals", lambda w: w.to_domain(PARIS), rejected)
    return quotes, rejected


@pytest.mark.parametrize(
    ("changes", "field", "shown"),
    [
        ({"total_ht": "NaN"}, "total_ht", "'NaN'"),
        ({"total_ttc": "1e309"}, "total_ttc", "'1e309'"),
        ({"total_ht": "1e999999999"}, "total_ht", "'1e999999999'"),
        ({"total_tva": "Infinity"}, "total_tva", "'Infinity'"),
        ({"date": "garbage"}, "date", "'garbage'"),
        ({"fin_validite": 253402214400}, "fin_validite", "253402214400"),  # year 9999
        ({"status": 99, "statut": 99}, "status", "99"),
        ({"ref": REMOVED}, "ref", "(missing)"),
        ({"ref": None}, "ref", "None"),
        ({"note_public": "x" * 70_000}, "note_public", "'xxxx"),
    ],
)
def test_a_malformed_quote_is_rejected_alone_and_named(changes: dict[str, Any], field: str, shown: str) -> None:
    """The bad row is named (ref, id, field, value, what to fix); the good rows on both sides go on."""
    bad = {**GOOD_QUOTE, "id": "8", "ref": "PR2611-0008"}
    for key, value in changes.items():
        if value is REMOVED:
            bad.pop(key)
        else:
            bad[key] = value
    quotes, rejected = quotes_of([GOOD_QUOTE, bad, {**GOOD_QUOTE, "id": "9", "ref": "PR2611-0009"}])
    assert [q.id for q in quotes] == [7, 9]
    assert len(rejected) == 1
    row = rejected[0]
    assert row.kind == "quote" and row.row_id == "8" and row.field == field
    assert row.value.startswith(shown)
    assert len(row.value) <= 60
    expected_name = "quote id 8" if field == "ref" else "quote PR2611-0008 (id 8)"
    assert row.describe().startswith(f"{expected_name}: field {field} = ")
    assert "in Dolibarr" in row.remedy


def test_amounts_are_kept_to_eight_decimals_and_dates_in_range() -> None:
    """A tiny exponent cannot reach the formatting code as 1E-999999999."""
    (quote,), rejected = quotes_of([{**GOOD_QUOTE, "total_ht": "1e-999999999", "total_tva": 0.1}])
    assert rejected == []
    assert quote.total_excl_tax == Decimal(0) and quote.total_tax == Decimal("0.1")
    assert quote.end_of_validity == date(2026, 11, 18)


def test_single_bad_quote_error_names_it_and_the_fix() -> None:
    """GET /proposals/{id} of a damaged quote: an error naming the quote and what to correct in Dolibarr."""
    with pytest.raises(DolibarrResponseError) as caught:
        wire.parse(wire.WireQuote, {**GOOD_QUOTE, "fin_validite": "garbage"}, "GET /proposals/{id}")
    assert "quote PR2611-0007 (id 7): field fin_validite = 'garbage'" in caught.value.message
    assert caught.value.remedy == (
        "correct the end of validity date of this quote in Dolibarr; until then it is left out"
    )


# ------------------------------------------------------------------------------ property tests

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["NaN", "-Infinity", "1e309", "1e999999999", "", "0", "12", "9" * 30, "garbage"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)

_EVENT = {"id": "28", "code": "AC_RELANCE_EMAIL", "datep": 1795701600, "percentage": "100", "socid": "1"}
_CUSTOMER = {"id": "3", "name": "Boulangerie Martin", "email": "a@b.fr"}
_CONTACT = {"id": "5", "socid": "3", "lastname": "Zola", "email": ""}
_MODELS: list[tuple[type[Any], dict[str, Any], Any]] = [
    (wire.WireQuote, GOOD_QUOTE, lambda w: w.to_domain(PARIS)),
    (wire.WireEvent, _EVENT, lambda w: w.to_domain(PARIS)),
    (wire.WireCustomer, _CUSTOMER, lambda w: w.to_domain()),
    (wire.WireContact, _CONTACT, lambda w: w.to_domain()),
]


def _assert_sane(value: object) -> None:
    if isinstance(value, Quote):
        for amount in (value.total_excl_tax, value.total_tax, value.total_incl_tax):
            assert amount.is_finite() and abs(amount) < wire.MAX_AMOUNT
            assert amount == amount.quantize(Decimal("1e-8"))
        for day in (value.issue_date, value.end_of_validity):
            assert day is None or wire.MIN_YEAR <= day.year <= wire.MAX_YEAR
        assert isinstance(value.status, QuoteStatus)
        assert value.ref.strip()
    if isinstance(value, AgendaEvent):
        assert wire.MIN_YEAR <= value.start.year <= wire.MAX_YEAR
        assert value.end is None or wire.MIN_YEAR <= value.end.year <= wire.MAX_YEAR
    if isinstance(value, (Customer, Contact)):
        assert value.id is not None


@settings(max_examples=80, deadline=None)
@given(
    which=st.integers(0, len(_MODELS) - 1),
    changes=st.dictionaries(
        st.sampled_from(
            sorted({key for _, base, _ in _MODELS for key in base} | {"datef", "rowid", "statut", "nom", "email"})
        ),
        _json,
        max_size=4,
    ),
    whole=st.one_of(st.none(), _json),
)
def test_any_json_row_parses_sanely_or_is_rejected_alone(
    which: int, changes: dict[str, Any], whole: Any
) -> None:
    """Whatever a Dolibarr could send for a row: a sane value, or one RejectedRow; never another exception."""
    model, base, convert = _MODELS[which]
    row = whole if whole is not None else {**base, **changes}
    rejected: list[wire.RejectedRow] = []
    values = wire.parse_rows(model, [base, row], "GET /x", convert, rejected)
    assert len(values) + len(rejected) == 2
    assert len(values) >= 1  # the good row always goes through
    for value in values:
        _assert_sane(value)
    for bad in rejected:
        assert len(bad.value) <= 60 and bad.describe() and bad.remedy
        json.dumps(bad.describe())  # printable text


# ------------------------------------------------------------------------------ through the client


async def test_client_lists_skip_bad_rows_and_keep_them_for_the_report(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    """GET /proposals with damaged rows: every good quote comes back, the bad ones are kept by name."""
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    async with DolibarrClient(
        "http://dolibarr.test/api/index.php", sample_data.api_keys["admin"], transport=transport
    ) as client:
        ids = [q.id for q in await client.list_quotes(QuoteFilter())]
        first, second = ids[0], ids[1]
        fake_dolibarr.corrupt_proposal(first, total_ht="NaN")
        fake_dolibarr.corrupt_proposal(second, fin_validite=253402214400)
        assert client.rejected_rows == []
        quotes = await client.list_quotes(QuoteFilter())
    assert [q.id for q in quotes] == ids[2:]
    named = {(row.ref, row.field) for row in client.rejected_rows}
    assert named == {
        (fake_dolibarr.proposals[first].ref, "total_ht"),
        (fake_dolibarr.proposals[second].ref, "fin_validite"),
    }
