"""Automatic runs at the service level: the fake Dolibarr in-process, a real SMTP sink, a SQLite ledger.

Sample data (clock 2026-11-28 09:30 Paris): three quotes are due today, by e-mail —
``expired`` (step 2), ``about_to_expire`` (step 1) and ``contact_without_email`` (step 2, to the
customer's address since its contact has none). The rest are not due, skipped, or not open.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime
from typing import Any

import pytest

from conftest import SAMPLE_TODAY, MutableClock
from dolirelance.domain import Channel, Quote, QuoteFilter
from dolirelance.history import decode_facts
from dolirelance.ledger import FollowUpState
from dolirelance.policy import DecisionKind, SkipReason
from dolirelance.service import AutoReport, Runtime, explain, follow_up, run_auto
from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.smtp_sink import ReceivedMessage, SmtpSink

DUE_TODAY = {"expired": 2, "about_to_expire": 1, "contact_without_email": 2}
SUBJECT_OF_STEP = {1: "Votre devis {ref} — Solaire Rhône-Alpes SARL", 2: "Relance : devis {ref}"}


def _messages_for(sink: SmtpSink, ref: str) -> list[ReceivedMessage]:
    return [m for m in sink.messages if ref in str(m.message["Subject"])]


def _auto_events(fake: FakeDolibarr, quote_id: int | None = None) -> list[dict[str, str]]:
    found = []
    for event in fake.events.values():
        if event.code == "AC_RELANCE_EMAIL" and (quote_id is None or event.fk_element == quote_id):
            facts = decode_facts(event.note)
            if facts.get("auto") == "1":
                found.append(facts)
    return found


def _decision_of(report: AutoReport, quote_id: int) -> Any:
    return next(d for d in report.decisions if d.quote_id == quote_id)


async def test_run_sends_exactly_the_due_quotes_and_records_them(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    report = await run_auto(runtime)

    assert report.ok and report.error is None
    assert {d.quote_id for d in report.due} == {sample_data.quotes[role] for role in DUE_TODAY}
    assert sorted(o.quote_ref for o in report.sent) == sorted(sample_data.refs[role] for role in DUE_TODAY)
    assert all(o.outcome == "recorded" for o in report.outcomes)
    assert len(smtp_sink.messages) == len(DUE_TODAY)
    expected_to = {
        "expired": ["jean.martin@boulangerie-martin.test"],
        "about_to_expire": ["sophie.dupont@garage-dupont.test"],
        "contact_without_email": ["accueil@garage-dupont.test"],  # the contact has none: the customer's
    }
    for role, step in DUE_TODAY.items():
        ref, quote_id = sample_data.refs[role], sample_data.quotes[role]
        (received,) = _messages_for(smtp_sink, ref)
        assert received.rcpt_tos == expected_to[role]
        assert str(received.message["Subject"]) == SUBJECT_OF_STEP[step].format(ref=ref)
        attachments = [(part.get_filename(), part.get_content()) for part in received.message.iter_attachments()]
        assert [name for name, _ in attachments] == [f"{ref}.pdf"]
        assert attachments[0][1].startswith(b"%PDF")
        (facts,) = _auto_events(fake_dolibarr, quote_id)
        assert facts["step"] == str(step) and facts["key"] == f"auto:demo:{quote_id}:step{step}"
        done = next(
            e for e in fake_dolibarr.events.values() if e.code == "AC_RELANCE_EMAIL" and e.fk_element == quote_id
        )
        assert done.percentage == 100 and done.email_to == expected_to[role][0]
        assert done.email_subject == SUBJECT_OF_STEP[step].format(ref=ref)
        todos = [e for e in fake_dolibarr.events.values() if e.code == "AC_RELANCE_TODO" and e.fk_element == quote_id]
        assert len(todos) == 1 and todos[0].percentage == 0
        entry = runtime.ledger.get(f"auto:demo:{quote_id}:step{step}")
        assert entry is not None and entry.state is FollowUpState.RECORDED
    assert report.skipped_by_reason() == {"opt_out": 1}

    # The same day again: everything is already done, nothing goes out.
    again = await run_auto(runtime)
    assert again.ok and again.due == [] and again.outcomes == []
    assert len(smtp_sink.messages) == len(DUE_TODAY)
    expired = _decision_of(again, sample_data.quotes["expired"])
    assert expired.kind is DecisionKind.SKIPPED and expired.reason is SkipReason.ALREADY_DONE
    about = _decision_of(again, sample_data.quotes["about_to_expire"])
    assert about.kind is DecisionKind.NOT_DUE and about.step is not None and about.step.number == 2
    assert len(_auto_events(fake_dolibarr)) == len(DUE_TODAY)


# role -> (day, kind, reason, step, phrase of the summary, recipients)
EXPLAINED: dict[str, tuple[date, DecisionKind, SkipReason | None, int | None, str, list[str]]] = {
    "expired": (SAMPLE_TODAY, DecisionKind.DUE, None, 2, "due: step 2 (2nde relance), due since 2026-11-27",
                ["jean.martin@boulangerie-martin.test"]),
    "about_to_expire": (SAMPLE_TODAY, DecisionKind.DUE, None, 1, "may go out until 2026-12-01",
                        ["sophie.dupont@garage-dupont.test"]),
    "not_yet_due": (SAMPLE_TODAY, DecisionKind.NOT_DUE, None, 1,
                    "not due yet: step 1 (1ère relance) is due from 2027-01-04", ["claire@lefevre-archi.test"]),
    "no_email": (date(2026, 12, 3), DecisionKind.SKIPPED, SkipReason.NO_EMAIL, 2,
                 "the quote has no e-mail address (add one, or follow up by letter)", []),
    "contact_without_email": (SAMPLE_TODAY, DecisionKind.DUE, None, 2, "due: step 2", ["accueil@garage-dupont.test"]),
    "opt_out": (SAMPLE_TODAY, DecisionKind.SKIPPED, SkipReason.OPT_OUT, None,
                '"Ne pas relancer automatiquement" is set on the quote', ["paul.girard@hoteldulac.test"]),
    "signed": (SAMPLE_TODAY, DecisionKind.SKIPPED, SkipReason.NOT_OPEN, None, "the quote is signed",
               ["claire@lefevre-archi.test"]),
    "refused": (SAMPLE_TODAY, DecisionKind.SKIPPED, SkipReason.NOT_OPEN, None, "the quote is refused",
                ["paul.girard@hoteldulac.test"]),
    "draft": (SAMPLE_TODAY, DecisionKind.SKIPPED, SkipReason.NOT_OPEN, None, "the quote is draft, only open quotes",
              ["contact@boulangerie-martin.test"]),
    "two_contacts": (SAMPLE_TODAY, DecisionKind.NOT_DUE, None, 1, "step 1 (1ère relance) is due from 2026-12-03",
                     ["sophie.dupont@garage-dupont.test", "nicolas.dupont@garage-dupont.test"]),
    "no_pdf": (SAMPLE_TODAY, DecisionKind.NOT_DUE, None, 2, "step 2 (2nde relance) is due from 2026-12-07",
               ["paul.girard@hoteldulac.test"]),
}  # fmt: skip


def test_every_sample_role_is_explained() -> None:
    from dolirelance.testing.sample_data import _PLANS

    assert {plan.role for plan in _PLANS} == set(EXPLAINED)


@pytest.mark.parametrize("role", sorted(EXPLAINED))
async def test_explain_gives_the_decision_and_a_readable_reason(
    runtime: Runtime, sample_data: SampleData, role: str
) -> None:
    day, kind, reason, step, phrase, recipients = EXPLAINED[role]
    key = str(sample_data.quotes[role]) if role == "draft" else sample_data.refs[role]  # a draft has no real ref
    decision, quote, _customer, found, *_ = await explain(runtime, key, on=day)
    assert quote.id == sample_data.quotes[role]
    assert (decision.kind, decision.reason) == (kind, reason)
    assert (decision.step.number if decision.step else None) == step
    assert phrase in decision.summary
    assert [r.email for r in found] == recipients
    if step is not None:  # the arithmetic behind it, in the documented sign convention
        assert any(line.startswith("end of validity ") and "→ due from" in line for line in decision.arithmetic)


async def test_explain_shows_the_minus_sign_as_before_the_end_of_validity(
    runtime: Runtime, sample_data: SampleData
) -> None:
    decision, quote, *_ = await explain(runtime, sample_data.refs["two_contacts"])
    assert quote.end_of_validity == date(2026, 12, 8)
    assert "end of validity 2026-12-08, step 1 at -5 days → due from 2026-12-03" in decision.arithmetic


async def test_dry_run_sends_and_writes_nothing_and_decides_like_the_real_run(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    events_before = dict(fake_dolibarr.events)
    fake_dolibarr.reset_requests()
    day = date(2026, 12, 3)  # two_contacts becomes due, no_email is due but has no address
    dry = await run_auto(runtime, dry_run=True, on=day)
    assert dry.dry_run and dry.ok and dry.outcomes == []
    assert smtp_sink.messages == []
    assert fake_dolibarr.events == events_before
    assert {e.method for e in fake_dolibarr.requests} == {"GET"}
    assert runtime.ledger.counts() == dict.fromkeys(FollowUpState, 0)
    no_email = _decision_of(dry, sample_data.quotes["no_email"])
    assert no_email.reason is SkipReason.NO_EMAIL  # the re-read knows the recipients, as the real run does

    clock.set(datetime(2026, 12, 3, 8, 30, tzinfo=UTC))
    real = await run_auto(runtime)
    assert real.today == day

    def table(report: AutoReport) -> list[tuple[int, str, str | None, int | None]]:
        return sorted(
            (d.quote_id, d.kind.value, d.reason.value if d.reason else None, d.step.number if d.step else None)
            for d in report.decisions
        )

    assert table(dry) == table(real)
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == sorted(
        [
            "jean.martin@boulangerie-martin.test",  # expired, step 2
            "accueil@garage-dupont.test",  # contact_without_email, step 2
            "sophie.dupont@garage-dupont.test",  # two_contacts, step 1 (both contacts)
        ]
    )
    # about_to_expire: step 1 could go out until 2026-12-01; step 2 is due from 2026-12-11
    assert _decision_of(real, sample_data.quotes["about_to_expire"]).kind is DecisionKind.NOT_DUE


async def test_catch_up_after_missed_days_within_the_window(
    runtime: Runtime, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    # two_contacts: step 1 due from 2026-12-03, may go out until the end of validity 2026-12-08.
    clock.set(datetime(2026, 12, 6, 7, 45, tzinfo=UTC))  # no run on 3, 4 and 5 December
    report = await run_auto(runtime)
    ref = sample_data.refs["two_contacts"]
    (received,) = _messages_for(smtp_sink, ref)
    assert sorted(received.rcpt_tos) == ["nicolas.dupont@garage-dupont.test", "sophie.dupont@garage-dupont.test"]
    assert str(received.message["Subject"]).startswith("Votre devis")
    assert any(o.quote_ref == ref and o.outcome == "recorded" and o.step == 1 for o in report.outcomes)


async def test_no_catch_up_after_the_window(
    runtime: Runtime, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    clock.set(datetime(2026, 12, 9, 7, 45, tzinfo=UTC))  # the day after two_contacts' step 1 window
    report = await run_auto(runtime)
    assert _messages_for(smtp_sink, sample_data.refs["two_contacts"]) == []
    decision = _decision_of(report, sample_data.quotes["two_contacts"])
    assert decision.kind is DecisionKind.NOT_DUE and decision.step is not None and decision.step.number == 2
    assert decision.due_on == date(2026, 12, 18)


async def test_no_catch_up_after_the_last_step_window(
    runtime: Runtime, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    # expired: step 2 may go out until 2026-12-27 (due day + 30 days), not on the 28th.
    clock.set(datetime(2026, 12, 28, 7, 45, tzinfo=UTC))
    late = await run_auto(runtime)
    assert _messages_for(smtp_sink, sample_data.refs["expired"]) == []
    assert sample_data.quotes["expired"] not in {d.quote_id for d in late.due}
    decision, *_ = await explain(runtime, sample_data.refs["expired"])
    assert decision.reason is SkipReason.WINDOW_PASSED
    assert "could go out until 2026-12-27; it is too late now" in decision.summary


async def test_step_2_supersedes_a_missed_step_1(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    # about_to_expire: step 1 from 2026-11-26 to 12-01 (missed: no run), step 2 from 12-11.
    clock.set(datetime(2026, 12, 12, 7, 45, tzinfo=UTC))
    await run_auto(runtime)
    ref, quote_id = sample_data.refs["about_to_expire"], sample_data.quotes["about_to_expire"]
    (received,) = _messages_for(smtp_sink, ref)
    assert str(received.message["Subject"]) == SUBJECT_OF_STEP[2].format(ref=ref)
    assert [facts["step"] for facts in _auto_events(fake_dolibarr, quote_id)] == ["2"]
    clock.advance(days=1)
    await run_auto(runtime)
    assert len(_messages_for(smtp_sink, ref)) == 1


async def test_minimum_gap_after_a_manual_follow_up(
    runtime: Runtime, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    ref, quote_id = sample_data.refs["expired"], sample_data.quotes["expired"]
    # A manual "1ère relance" (level 1) does not make step 2 ("2nde relance") done, but it is a follow-up.
    manual = await follow_up(runtime, ref, channel=Channel.EMAIL, model="1ère relance", note="Appel au client")
    assert manual.outcome == "recorded"
    smtp_sink.clear()

    report = await run_auto(runtime)
    decision = _decision_of(report, quote_id)
    assert decision.reason is SkipReason.RECENT_FOLLOWUP and decision.retry_on == date(2026, 12, 1)
    assert "minimum gap 3 days; step 2 (2nde relance) may go out from 2026-12-01" in decision.summary
    for _ in range(2):  # 29 and 30 November
        clock.advance(days=1)
        await run_auto(runtime)
        assert _messages_for(smtp_sink, ref) == []

    clock.advance(days=1)  # 2026-12-01: three days after the manual follow-up
    report = await run_auto(runtime)
    (received,) = _messages_for(smtp_sink, ref)
    assert str(received.message["Subject"]) == SUBJECT_OF_STEP[2].format(ref=ref)
    assert _decision_of(report, quote_id).kind is DecisionKind.DUE


def _between_plan_and_send(runtime: Runtime, monkeypatch: pytest.MonkeyPatch, change: Callable[[], None]) -> None:
    """Apply ``change`` to the fake right after the run has listed (planned) its quotes."""
    original = runtime.dolibarr.list_quotes

    async def listed_then_changed(flt: QuoteFilter, **kwargs: Any) -> list[Quote]:
        quotes = await original(flt, **kwargs)
        change()
        return quotes

    monkeypatch.setattr(runtime.dolibarr, "list_quotes", listed_then_changed)


@pytest.mark.parametrize("what", ["opt_out", "signed"])
async def test_quote_changed_between_plan_and_send_is_not_sent(
    runtime: Runtime,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    what: str,
) -> None:
    quote_id = sample_data.quotes["about_to_expire"]
    changes: dict[str, Callable[[], Coroutine[Any, Any, None]] | Callable[[], None]] = {
        "opt_out": lambda: fake_dolibarr.set_proposal_options(quote_id, norelance="1"),
        "signed": lambda: fake_dolibarr.close_proposal(quote_id, 2),
    }
    _between_plan_and_send(runtime, monkeypatch, changes[what])  # type: ignore[arg-type]
    report = await run_auto(runtime)

    assert _messages_for(smtp_sink, sample_data.refs["about_to_expire"]) == []
    assert len(smtp_sink.messages) == len(DUE_TODAY) - 1  # the others still go out
    final = _decision_of(report, quote_id)
    expected = SkipReason.OPT_OUT if what == "opt_out" else SkipReason.NOT_OPEN
    assert final.kind is DecisionKind.SKIPPED and final.reason is expected
    assert _auto_events(fake_dolibarr, quote_id) == []
    entry = runtime.ledger.get(f"auto:demo:{quote_id}:step1")
    assert entry is not None and entry.state is FollowUpState.FAILED  # released, nothing left
    assert entry.error is not None and "no longer due" in entry.error


async def test_a_follow_up_made_between_plan_and_send_stops_the_automatic_one(
    runtime: Runtime,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quote_id = sample_data.quotes["expired"]

    def manual_letter_event() -> None:  # a colleague records a follow-up in Dolibarr meanwhile
        fake_dolibarr.add_event(
            type_code="AC_OTH_AUTO",
            code="AC_RELANCE_LETTER",
            label="Relance devis (courrier)",
            userownerid=sample_data.users["jdupont"],
            percentage=100,
            elementtype="propal",
            fk_element=quote_id,
            socid=sample_data.customers["boulangerie"],
            note="dolirelance: key=manual%3Ax; model=1%C3%A8re%20relance; level=1; channel=letter",
        )

    _between_plan_and_send(runtime, monkeypatch, manual_letter_event)
    report = await run_auto(runtime)
    assert _messages_for(smtp_sink, sample_data.refs["expired"]) == []
    assert _decision_of(report, quote_id).reason is SkipReason.RECENT_FOLLOWUP


async def test_timezone_edge_a_run_at_0030_in_paris_counts_the_new_day(
    runtime: Runtime, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    ref = sample_data.refs["two_contacts"]  # step 1 due from 2026-12-03 (Paris)
    clock.set(datetime(2026, 12, 2, 22, 30, tzinfo=UTC))  # 23:30 on the 2nd in Paris
    report = await run_auto(runtime)
    assert report.today == date(2026, 12, 2)
    assert _messages_for(smtp_sink, ref) == []
    clock.set(datetime(2026, 12, 2, 23, 30, tzinfo=UTC))  # 00:30 on the 3rd in Paris
    report = await run_auto(runtime)
    assert report.today == date(2026, 12, 3)
    assert len(_messages_for(smtp_sink, ref)) == 1
    assert any(o.quote_ref == ref and o.outcome == "recorded" for o in report.outcomes)


async def test_dolibarr_down_the_run_fails_cleanly_and_the_next_one_does_the_work(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    fake_dolibarr.fail_next(200, 503)
    report = await run_auto(runtime)
    assert not report.ok and report.error is not None
    assert "503" in report.error or "unavailable" in report.error.lower()
    assert report.outcomes == [] and smtp_sink.messages == []
    assert runtime.ledger.counts()[FollowUpState.CLAIMED] == 0

    fake_dolibarr.clear_faults()
    report = await run_auto(runtime)
    assert report.ok
    assert sorted(o.quote_ref for o in report.sent) == sorted(sample_data.refs[role] for role in DUE_TODAY)
    assert len(smtp_sink.messages) == len(DUE_TODAY)


async def test_dolibarr_down_while_recording_the_email_is_recorded_later_never_resent(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    fake_dolibarr.fail_next(100, 503, path_prefix="/agendaevents", method="POST")
    report = await run_auto(runtime)
    assert len(smtp_sink.messages) == len(DUE_TODAY)
    assert {o.outcome for o in report.outcomes} == {"sent-not-recorded"}
    assert report.sent and not report.failed
    fake_dolibarr.clear_faults()
    clock.advance(days=1)
    later = await run_auto(runtime)
    assert sorted(o.outcome for o in later.recorded_later) == ["recorded"] * len(DUE_TODAY)
    assert len(smtp_sink.messages) == len(DUE_TODAY)  # recorded, never sent again
    assert len(_auto_events(fake_dolibarr)) == len(DUE_TODAY)


# --------------------------------------------------------------------------- request cost


def _seed_open_quotes(fake: FakeDolibarr, sample: SampleData, count: int, due: int) -> list[int]:
    """``count`` open quotes: ``due`` of them with step 1 due today, the others not due yet.

    Plus a manual follow-up event on every fifth quote, so the history has pages to read.
    """
    customer = sample.customers["hotel"]
    owner = sample.users["jdupont"]
    contact = sample.contacts["paul_girard"]
    due_ids = []
    for index in range(count):
        validity = 3 if index < due else 20 + index % 40  # step 1 (-5 days) is due when validity <= 5
        proposal = fake.add_proposal(customer, date=SAMPLE_TODAY, duree_validite=validity, user_id=owner)
        fake.add_proposal_line(proposal.id, description="Maintenance", qty=1, subprice="300")
        fake.link_contact(proposal.id, contact, "CUSTOMER", "external")
        fake.validate_proposal(proposal.id, user_id=owner)
        if index < due:
            fake.build_proposal_pdf(proposal.id, user_id=owner)
            due_ids.append(proposal.id)
        if index % 5 == 0 and index >= due:
            fake.add_event(
                type_code="AC_OTH_AUTO",
                code="AC_RELANCE_EMAIL",
                label="Relance",
                userownerid=owner,
                percentage=100,
                datep=datetime(2026, 11, 1, 9, tzinfo=UTC),
                elementtype="propal",
                fk_element=proposal.id,
                socid=customer,
                note="dolirelance: key=manual%3Ab; model=1%C3%A8re%20relance; level=1; channel=email",
            )
    return due_ids


async def test_request_cost_is_bounded(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    n = 1000
    due_ids = _seed_open_quotes(fake_dolibarr, sample_data, n, due=8)
    page_size = runtime.settings.dolibarr.page_size
    concurrency = runtime.settings.dolibarr.max_concurrency
    fake_dolibarr.reset_requests()

    report = await run_auto(runtime)

    assert report.ok
    due = {d.quote_id for d in report.due}
    assert set(due_ids) <= due and len(due) == len(due_ids) + len(DUE_TODAY)
    assert len(smtp_sink.messages) == len(due)
    counts = fake_dolibarr.requests_by_path()
    open_quotes = n + len(sample_data.open_quotes)
    proposal_lists = counts["GET /proposals"]
    assert proposal_lists <= math.ceil(open_quotes / page_size) + concurrency
    candidates = len(report.decisions)
    assert candidates < open_quotes  # the end-of-validity filter is applied by Dolibarr
    assert proposal_lists <= math.ceil(candidates / page_size) + concurrency
    relance_events = sum(1 for e in fake_dolibarr.events.values() if e.code.startswith("AC_RELANCE"))
    bulk_event_pages = math.ceil(relance_events / page_size) + concurrency
    event_lists = counts["GET /agendaevents"]
    assert event_lists <= bulk_event_pages + len(due)  # the bulk read, then one re-read per due quote
    per_due = sum(counts.values()) - proposal_lists - event_lists - counts["GET /users/info"]
    assert per_due <= 10 * len(due), counts
    assert all(count <= len(due) + 1 for path, count in counts.items() if path.startswith("GET /proposals/"))
    # the report names the requests the run sent, and how many it sent at once by its end (the pace)
    assert report.dolibarr is not None
    assert report.dolibarr.requests == sum(counts.values())
    assert report.dolibarr.max_concurrency == concurrency
    assert 1 <= report.dolibarr.fewest_at_once <= report.dolibarr.at_once <= concurrency


async def test_claims_protect_a_repeated_run(runtime: Runtime, sample_data: SampleData, smtp_sink: SmtpSink) -> None:
    """Two runs in the same process at once (the ledger decides): each due quote once."""
    import asyncio

    first, second = await asyncio.gather(run_auto(runtime), run_auto(runtime))
    assert len(smtp_sink.messages) == len(DUE_TODAY)
    recorded = [o.quote_ref for o in (*first.outcomes, *second.outcomes) if o.outcome == "recorded"]
    assert sorted(recorded) == sorted(sample_data.refs[role] for role in DUE_TODAY)
