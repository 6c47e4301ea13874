"""What the quotes overview and the report ask Dolibarr: only the properties they use, and at once.

A real Dolibarr charges a list row a little more for each property it keeps (``testing/cost.py``):
lists that only show a few properties ask for those. The report's two paged queries (our events,
the quotes of the period) are independent: the second does not wait for the first.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote_plus

import pytest

from dolirelance.dolibarr.client import STREAM_PAGE_SIZE
from dolirelance.dolibarr.paging import ID_LIST_URL_CHARS, ids_by_url_length
from dolirelance.domain import QuoteFilter, QuoteStatus
from dolirelance.service import Runtime, iter_quote_rows
from dolirelance.service.report import effectiveness_report
from dolirelance.testing import FakeDolibarr, SampleData


def asked_properties(fake: FakeDolibarr, path: str) -> set[str]:
    asked = [
        entry.params.get("properties", "") for entry in fake.requests if entry.method == "GET" and entry.path == path
    ]
    assert asked, f"no GET {path}"
    return {name for text in asked for name in text.split(",")}


async def test_the_quotes_overview_reads_only_what_it_shows(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    """Rows read for showing: no note, contacts or PDF path; the amounts and days still right."""
    fake_dolibarr.reset_requests()
    rows = [row async for page in iter_quote_rows(runtime, QuoteFilter(), shown_only=True) for row in page]
    properties = asked_properties(fake_dolibarr, "/proposals")
    assert {"ref", "socid", "fin_validite", "total_ht", "array_options"} <= properties
    assert not {"note_public", "contacts_ids", "last_main_doc", "lines"} & properties
    # only open quotes are asked for: their status is known; no sales rep picked: no author
    assert not {"status", "user_author_id"} & properties
    assert rows and all(row.quote.status is QuoteStatus.OPEN for row in rows)
    events = asked_properties(fake_dolibarr, "/agendaevents")
    assert {"code", "datep", "elementid", "note_private"} <= events and "array_options" not in events
    full = [row async for page in iter_quote_rows(runtime, QuoteFilter()) for row in page]
    shown = [(r.quote.ref, r.quote.total_excl_tax, r.quote.end_of_validity, r.quote.opt_out) for r in rows]
    assert shown == [(r.quote.ref, r.quote.total_excl_tax, r.quote.end_of_validity, r.quote.opt_out) for r in full]
    assert len(rows) == len(full) > 5


async def test_the_overview_asks_the_status_when_several_are_listed(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    flt = QuoteFilter(statuses=(QuoteStatus.OPEN, QuoteStatus.SIGNED))
    fake_dolibarr.reset_requests()
    rows = [row async for page in iter_quote_rows(runtime, flt, shown_only=True) for row in page]
    assert "status" in asked_properties(fake_dolibarr, "/proposals")
    assert {row.quote.status for row in rows} == {QuoteStatus.OPEN, QuoteStatus.SIGNED}


@pytest.mark.parametrize("dolibarr_version", ["20.0.0", "22.0.4"])
async def test_the_overview_asks_the_author_only_to_pick_a_sales_reps_quotes_by_it(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, dolibarr_version: str
) -> None:
    """22 cannot list a customer's representatives: the quote's author stands in, so it is asked for."""
    fake_dolibarr.reset_requests()
    mine = [row async for page in iter_quote_rows(runtime, QuoteFilter(), sales_rep="jdupont", shown_only=True)
            for row in page]  # fmt: skip
    by_author = dolibarr_version.startswith("22")
    assert ("user_author_id" in asked_properties(fake_dolibarr, "/proposals")) is by_author
    assert mine and all(row.quote.status is QuoteStatus.OPEN for row in mine)
    if by_author:
        assert all(row.quote.author_id == sample_data.users["jdupont"] for row in mine)


async def test_the_report_reads_its_events_and_its_quotes_side_by_side(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    """While the events list is still being answered, the quotes of the period are already asked for."""
    fake_dolibarr.hang_next(1, 60, path_prefix="/agendaevents", method="GET")
    fake_dolibarr.reset_requests()
    report = asyncio.ensure_future(effectiveness_report(runtime))
    for _ in range(10_000):  # no clock involved: the in-process requests progress as the loop turns
        if fake_dolibarr.hanging and fake_dolibarr.count_requests("/proposals", "GET"):
            break
        await asyncio.sleep(0)
    assert fake_dolibarr.hanging == 1, "the events list should be in progress"
    assert fake_dolibarr.count_requests("/proposals", "GET") >= 1, "the quotes were not asked for meanwhile"
    assert not report.done()
    fake_dolibarr.release_hangs()
    result = await report
    assert result.period.end == sample_data.today
    properties = asked_properties(fake_dolibarr, "/proposals")
    assert "date_signature" in properties and not {"note_public", "contacts_ids", "lines"} & properties


def test_ids_are_chunked_by_the_url_they_make() -> None:
    """A page of 500 quotes' ids is one events request; long ids make shorter lists, never a long URL."""
    assert [len(chunk) for chunk in ids_by_url_length(list(range(10_000, 10_500)))] == [500]
    seven_digits = list(range(1_000_000, 1_001_200))
    chunks = ids_by_url_length(seven_digits)
    assert [value for chunk in chunks for value in chunk] == seven_digits  # all, in order
    assert all(len(quote_plus(",".join(map(str, chunk)))) <= ID_LIST_URL_CHARS for chunk in chunks)
    assert len(chunks) == 3 and ids_by_url_length([]) == []


async def test_the_overview_reads_the_history_of_a_page_of_quotes_in_one_request(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    customer = sample_data.customers["boulangerie"]
    for _ in range(STREAM_PAGE_SIZE - len(sample_data.open_quotes)):
        quote = fake_dolibarr.add_proposal(customer, date=sample_data.today, duree_validite=30)
        fake_dolibarr.validate_proposal(quote.id)
    fake_dolibarr.reset_requests()
    rows = [row async for page in iter_quote_rows(runtime, QuoteFilter(), shown_only=True) for row in page]
    assert len(rows) == STREAM_PAGE_SIZE
    assert fake_dolibarr.count_requests("/agendaevents", "GET") == 1
