"""What the quotes overview and the report ask Dolibarr: only the properties they use, and at once.

A real Dolibarr charges a list row a little more for each property it keeps (``testing/cost.py``):
lists that only show a few properties ask for those. The report's two paged queries (our events,
the quotes of the period) are independent: the second does not wait for the first.
"""

from __future__ import annotations

import asyncio

from dolirelance.domain import QuoteFilter
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
    events = asked_properties(fake_dolibarr, "/agendaevents")
    assert {"code", "datep", "elementid", "note_private"} <= events and "array_options" not in events
    full = [row async for page in iter_quote_rows(runtime, QuoteFilter()) for row in page]
    shown = [(r.quote.ref, r.quote.total_excl_tax, r.quote.end_of_validity, r.quote.opt_out) for r in rows]
    assert shown == [(r.quote.ref, r.quote.total_excl_tax, r.quote.end_of_validity, r.quote.opt_out) for r in full]
    assert len(rows) == len(full) > 5


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
