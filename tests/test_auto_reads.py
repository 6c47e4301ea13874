"""What an automatic run asks Dolibarr's quote lists for, and what it says of a row it cannot read.

The step windows' read asks every property sending needs, not only what deciding needs: a real server
charges no more for them (issue 28, measured on a real 20.0.0), and a row Dolibarr sends damaged is then
named by the plan, so a dry run says what the real run will say. The due quotes' re-read just before
sending (which stops a quote signed or opted out since the plan) names the rows it leaves out too.
Against the fake Dolibarr in-process, its request log read back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

import dolirelance.service.auto.run as auto_run
from dolirelance.dolibarr.client import QUOTE_PROPERTIES
from dolirelance.domain import Quote
from dolirelance.policy import DecisionKind
from dolirelance.service import Runtime, run_auto
from dolirelance.service.auto import fresh
from dolirelance.service.auto.report import AutoReport
from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.smtp_sink import SmtpSink


def proposal_lists(fake: FakeDolibarr) -> list[dict[str, str]]:
    return [entry.params for entry in fake.requests if (entry.method, entry.path) == ("GET", "/proposals")]


def named_rows(report: AutoReport) -> set[tuple[str | None, str]]:
    return {(row.row_id, row.field.split(".")[0]) for row in report.rejected}


async def test_the_window_read_and_the_re_read_ask_what_sending_needs(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    fake_dolibarr.reset_requests()

    report = await run_auto(runtime)

    assert report.ok and len(report.sent) == len(smtp_sink.messages) > 0
    lists = proposal_lists(fake_dolibarr)
    window = [p for p in lists if "t.fin_validite" in p.get("sqlfilters", "")]
    re_reads = [p for p in lists if "t.rowid:in:" in p.get("sqlfilters", "")]
    assert window and re_reads and len(window) + len(re_reads) == len(lists)
    assert {p["properties"] for p in window + re_reads} == {QUOTE_PROPERTIES}
    # what the follow-up needs: its PDF, its dates, its texts' fields
    for needed in ("last_main_doc", "date_modification", "date_validation", "note_public", "total_ttc"):
        assert needed in QUOTE_PROPERTIES.split(",")


async def test_a_dry_run_reads_only_the_window(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    """The plan was made a moment ago: a dry run decides again from it, without re-reading the due quotes."""
    fake_dolibarr.reset_requests()

    report = await run_auto(runtime, dry_run=True)

    assert report.ok and report.due
    assert {p["properties"] for p in proposal_lists(fake_dolibarr)} == {QUOTE_PROPERTIES}


async def test_a_dry_run_names_a_damaged_amount_as_the_real_run_does(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    """An amount only the e-mail shows (tax included) is damaged: both runs name the row, neither sends it."""
    victim = (await run_auto(runtime, dry_run=True)).due[0].quote_id
    fake_dolibarr.corrupt_proposal(victim, total_ttc="1e309")

    dry = await run_auto(runtime, dry_run=True)
    real = await run_auto(runtime)

    for report in (dry, real):
        assert (str(victim), "total_ttc") in named_rows(report)
        assert victim not in {d.quote_id for d in report.due}
    assert fake_dolibarr.proposals[victim].ref not in {o.quote_ref for o in real.sent}
    assert len(smtp_sink.messages) == len(real.sent) > 0


async def test_a_quote_damaged_between_the_plan_and_its_sending_is_named_and_not_sent(
    runtime: Runtime,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The re-read leaves the row out: the quote is skipped as damaged (not "no longer in Dolibarr")."""
    damaged: list[int] = []
    read_batch = fresh.read_batch

    async def damage_first_then_read(
        rt: Runtime, ids: Sequence[int], people: fresh.People, *, planned: Mapping[int, Quote] | None = None
    ) -> fresh.FreshBatch:
        if not damaged:  # Dolibarr's row goes bad while the run is between its plan and this batch
            damaged.append(ids[0])
            fake_dolibarr.corrupt_proposal(ids[0], total_ttc="1e309")
        return await read_batch(rt, ids, people, planned=planned)

    monkeypatch.setattr(auto_run, "read_batch", damage_first_then_read)

    report = await run_auto(runtime)

    [victim] = damaged
    assert (str(victim), "total_ttc") in named_rows(report)
    final = next(d for d in report.decisions if d.quote_id == victim)
    assert final.kind is DecisionKind.SKIPPED and "damaged" in final.summary
    assert fake_dolibarr.proposals[victim].ref not in {o.quote_ref for o in report.sent}
    assert len(smtp_sink.messages) == len(report.sent) > 0
