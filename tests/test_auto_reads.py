"""What an automatic run asks Dolibarr's quote lists for: each read only the properties its use needs.

A real server charges a list row a little per property kept (``testing/cost.py``); the step windows'
read holds many more quotes than are sent, so it asks only what deciding needs, and the due quotes'
re-read just before sending (which also stops a quote signed or opted out since the plan) asks what
sending needs. Against the fake Dolibarr in-process, its request log read back.
"""

from __future__ import annotations

from dolirelance.dolibarr.client import QUOTE_PROPERTIES, WINDOW_QUOTE_PROPERTIES
from dolirelance.service import Runtime, run_auto
from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.smtp_sink import SmtpSink


def proposal_lists(fake: FakeDolibarr) -> list[dict[str, str]]:
    return [entry.params for entry in fake.requests if (entry.method, entry.path) == ("GET", "/proposals")]


async def test_the_window_read_asks_what_deciding_needs_the_re_read_what_sending_needs(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    fake_dolibarr.reset_requests()

    report = await run_auto(runtime)

    assert report.ok and len(report.sent) == len(smtp_sink.messages) > 0
    lists = proposal_lists(fake_dolibarr)
    window = [p for p in lists if "t.fin_validite" in p.get("sqlfilters", "")]
    re_reads = [p for p in lists if "t.rowid:in:" in p.get("sqlfilters", "")]
    assert window and re_reads and len(window) + len(re_reads) == len(lists)
    assert {p["properties"] for p in window} == {WINDOW_QUOTE_PROPERTIES}
    assert {p["properties"] for p in re_reads} == {QUOTE_PROPERTIES}
    # the re-read gives what the follow-up needs: its PDF, its dates, its texts' fields
    for needed in ("last_main_doc", "date_modification", "date_validation", "note_public", "total_ttc"):
        assert needed in QUOTE_PROPERTIES.split(",") and needed not in WINDOW_QUOTE_PROPERTIES.split(",")


async def test_a_dry_run_reads_only_the_window(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    """The plan was made a moment ago: a dry run decides again from it, without re-reading the due quotes."""
    fake_dolibarr.reset_requests()

    report = await run_auto(runtime, dry_run=True)

    assert report.ok and report.due
    assert {p["properties"] for p in proposal_lists(fake_dolibarr)} == {WINDOW_QUOTE_PROPERTIES}
