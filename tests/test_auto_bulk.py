"""Automatic runs on many quotes: bulk reads, batched re-checks, the per-run cap (issue 11).

Sample data (clock 2026-11-28 09:30 Paris) has three quotes due today; tests add more.
"""

from __future__ import annotations

import math
import re
from datetime import date
from decimal import Decimal

import pytest

from conftest import SAMPLE_TODAY
from dolirelance.config import Settings
from dolirelance.domain import Contact, Customer, Quote, QuoteStatus
from dolirelance.policy import Decision, DecisionKind, SkipReason, cap_due
from dolirelance.service import Runtime, explain, run_auto
from dolirelance.service.auto import AUTO_BATCH, email_known
from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.smtp_sink import SmtpSink

SAMPLE_DUE = ("expired", "about_to_expire", "contact_without_email")


def _seed_due(fake: FakeDolibarr, sample: SampleData, count: int, *, every_other_contact: bool = True) -> list[int]:
    """``count`` open quotes with step 1 (-5 days) due today at the hotel, half with a CUSTOMER contact."""
    ids = []
    for index in range(count):
        proposal = fake.add_proposal(
            sample.customers["hotel"], date=SAMPLE_TODAY, duree_validite=3, user_id=sample.users["jdupont"]
        )
        fake.add_proposal_line(proposal.id, description="Maintenance", qty=1, subprice=str(100 + index))
        if every_other_contact and index % 2:
            fake.link_contact(proposal.id, sample.contacts["paul_girard"], "CUSTOMER", "external")
        fake.validate_proposal(proposal.id, user_id=sample.users["jdupont"])
        fake.build_proposal_pdf(proposal.id, user_id=sample.users["jdupont"])
        ids.append(proposal.id)
    return ids


def _with_cap(rt: Runtime, cap: int) -> None:
    settings: Settings = rt.settings
    rt.settings = settings.model_copy(update={"auto": settings.auto.model_copy(update={"max_per_run": cap})})


def _per_quote_reads(fake: FakeDolibarr) -> dict[str, int]:
    """Reads of one object (``GET /proposals/12``...), by route."""
    counts = fake.requests_by_path()
    return {
        prefix: sum(n for path, n in counts.items() if re.fullmatch(re.escape(prefix) + r"\d+", path))
        for prefix in ("GET /proposals/", "GET /thirdparties/", "GET /contacts/", "GET /agendaevents/")
    }


async def test_dry_run_reads_in_bulk_and_within_the_bound(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    """250 due quotes: no request per quote, and requests ≤ window pages + event pages + 3 × batches + a constant."""
    _seed_due(fake_dolibarr, sample_data, 250)
    _with_cap(runtime, 1000)
    fake_dolibarr.reset_requests()

    report = await run_auto(runtime, dry_run=True)

    assert report.error is None
    assert len(report.due) == 250 + len(SAMPLE_DUE)
    # the customers have an address: who exactly gets the mail does not change the decision
    assert _per_quote_reads(fake_dolibarr) == dict.fromkeys(_per_quote_reads(fake_dolibarr), 0)
    counts = fake_dolibarr.requests_by_path()
    page = runtime.settings.dolibarr.page_size
    window_pages = math.ceil(len(report.decisions) / page)
    batches = math.ceil(len(report.due) / AUTO_BATCH)
    bound = window_pages + counts["GET /agendaevents"] + 3 * batches + 4
    assert sum(counts.values()) <= bound, counts
    assert counts["GET /thirdparties"] <= batches and counts["GET /contacts"] <= batches


async def test_dry_run_reads_one_quote_only_when_a_contact_role_decides(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    """A customer without address and a BILLING contact with one: only that quote is read, and it has no e-mail."""
    farm = sample_data.customers["ferme"]
    billing = fake_dolibarr.add_contact(farm, "Compta", email="compta@ferme.test")
    proposal = fake_dolibarr.add_proposal(farm, date=SAMPLE_TODAY, duree_validite=3, user_id=sample_data.users["admin"])
    fake_dolibarr.add_proposal_line(proposal.id, description="Audit", qty=1, subprice="850")
    fake_dolibarr.link_contact(proposal.id, billing.id, "BILLING", "external")
    fake_dolibarr.validate_proposal(proposal.id)
    fake_dolibarr.reset_requests()

    report = await run_auto(runtime, dry_run=True)

    decision = next(d for d in report.decisions if d.quote_id == proposal.id)
    assert decision.kind is DecisionKind.SKIPPED and decision.reason is SkipReason.NO_EMAIL
    assert fake_dolibarr.count_requests(f"/proposals/{proposal.id}", "GET") == 1
    assert _per_quote_reads(fake_dolibarr)["GET /proposals/"] == 1


async def test_real_run_rechecks_each_batch_with_one_list_and_one_events_request(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    """120 + 3 due quotes go in two batches: two re-read lists by id, two event reads by quote id; all sent once."""
    seeded = _seed_due(fake_dolibarr, sample_data, 120)
    _with_cap(runtime, 1000)
    fake_dolibarr.reset_requests()

    report = await run_auto(runtime)

    assert report.ok, [o.error for o in report.failed]
    assert len(report.sent) == len(seeded) + len(SAMPLE_DUE) == len(smtp_sink.messages)
    batches = math.ceil(len(report.sent) / AUTO_BATCH)
    rereads = [
        e for e in fake_dolibarr.requests if e.path == "/proposals" and "t.rowid:in:" in e.params.get("sqlfilters", "")
    ]
    by_quote = [
        e
        for e in fake_dolibarr.requests
        if e.path == "/agendaevents" and "t.fk_element:in:" in e.params.get("sqlfilters", "")
    ]
    assert len(rereads) == batches == len(by_quote)
    # quotes without contacts are never read one by one; those with a contact are (their role decides who gets it)
    with_contact = sum(1 for quote_id in seeded if fake_dolibarr.proposals[quote_id].contacts)
    single_reads = _per_quote_reads(fake_dolibarr)["GET /proposals/"]
    assert single_reads <= with_contact + len(SAMPLE_DUE)
    assert _per_quote_reads(fake_dolibarr)["GET /thirdparties/"] == 0


async def test_the_cap_sends_the_most_urgent_and_defers_the_others(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    """Cap 1: the step whose window closes soonest goes out; the two others are deferred, said in the report."""
    _with_cap(runtime, 1)
    dry = await run_auto(runtime, dry_run=True)
    report = await run_auto(runtime)

    urgent = sample_data.quotes["about_to_expire"]  # step 1: its window closes at the end of validity
    assert [o.quote_ref for o in report.sent] == [sample_data.refs["about_to_expire"]]
    assert len(smtp_sink.messages) == 1
    for run in (dry, report):
        deferred = {d.quote_id for d in run.deferred}
        assert deferred == {sample_data.quotes[r] for r in SAMPLE_DUE} - {urgent}
        assert all(d.kind is DecisionKind.SKIPPED and "max_per_run" in d.arithmetic[-1] for d in run.deferred)
        assert run.skipped_by_reason()["deferred"] == 2
        assert run.cap_warning is not None and "max_per_run = 1" in run.cap_warning

    decision, *_ = await explain(runtime, sample_data.refs["expired"])
    assert decision.reason is SkipReason.DEFERRED and "cap of 1" in decision.summary

    _with_cap(runtime, 10)  # the next run (same day, say) takes the deferred ones
    later = await run_auto(runtime)
    assert sorted(o.quote_ref for o in later.sent) == sorted(
        sample_data.refs[r] for r in SAMPLE_DUE if sample_data.quotes[r] != urgent
    )
    assert later.cap_warning is None and later.deferred == []


def _decision(quote_id: int, window_end: date) -> Decision:
    return Decision(quote_id, f"PR{quote_id}", DecisionKind.DUE, None, None, None, window_end, None, "due")


def test_cap_orders_by_window_end_then_amount() -> None:
    """Window closing soonest first, then the largest amount; the order of the decisions is kept."""
    decisions = [
        _decision(1, date(2026, 12, 20)),
        _decision(2, date(2026, 12, 1)),
        _decision(3, date(2026, 12, 20)),
        Decision(4, "PR4", DecisionKind.NOT_DUE, None, None, None, None, None, "not due"),
    ]
    amounts = {1: Decimal("100"), 2: Decimal("5"), 3: Decimal("900")}
    capped = cap_due(decisions, amounts, 2)
    assert [d.quote_id for d in capped] == [1, 2, 3, 4]
    assert [d.reason for d in capped] == [SkipReason.DEFERRED, None, None, None]
    assert capped[3].kind is DecisionKind.NOT_DUE
    assert cap_due(decisions, amounts, 3) == decisions


def _quote(contact_ids: tuple[int, ...] = ()) -> Quote:
    return Quote(
        id=1,
        ref="PR1",
        customer_id=7,
        status=QuoteStatus.OPEN,
        issue_date=None,
        end_of_validity=None,
        total_excl_tax=Decimal(0),
        total_tax=Decimal(0),
        total_incl_tax=Decimal(0),
        currency="EUR",
        contact_ids=contact_ids,
    )


@pytest.mark.parametrize(
    ("customer_email", "contact_email", "linked", "expected"),
    [
        ("a@b.test", None, False, True),  # the customer's address, whatever the contacts
        ("a@b.test", "c@d.test", True, True),
        (None, None, False, False),  # no contact, no address
        (None, None, True, False),  # a linked contact without address cannot receive it either
        (None, "c@d.test", True, None),  # CUSTOMER or BILLING? only the quote read alone says
    ],
)
def test_email_known_from_bulk_reads(
    customer_email: str | None, contact_email: str | None, linked: bool, expected: bool | None
) -> None:
    """Whether the e-mail has an address, without the contacts' roles when they do not matter."""
    customer = Customer(id=7, name="Client", email=customer_email)
    contacts = {5: Contact(id=5, customer_id=7, firstname="", lastname="X", email=contact_email)}
    assert email_known(_quote((5,) if linked else ()), customer, contacts) is expected


async def test_a_quote_without_an_address_takes_no_place_under_the_cap(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    """On 3 December three quotes are due with an address and ``no_email`` is due without one: a cap of 3
    sends the three, and ``no_email`` is "no e-mail address", not a follow-up deferred run after run."""
    _with_cap(runtime, 3)
    day = date(2026, 12, 3)
    dry = await run_auto(runtime, dry_run=True, on=day)
    report = await run_auto(runtime, on=day)
    for run in (dry, report):
        assert run.due_before_cap == 3 and run.deferred == [] and run.cap_warning is None
        no_email = next(d for d in run.decisions if d.quote_id == sample_data.quotes["no_email"])
        assert no_email.kind is DecisionKind.SKIPPED and no_email.reason is SkipReason.NO_EMAIL
    assert len(report.sent) == 3 == len(smtp_sink.messages)


async def test_doctor_warns_when_a_run_would_send_more_than_the_cap(runtime: Runtime) -> None:
    """`doctor`'s check of the automatic follow-ups: three due today, a cap of 2 → a warning with a remedy."""
    from dolirelance.service.checks import auto_cap_check

    _with_cap(runtime, 2)
    check = await auto_cap_check(runtime)
    assert check.warning and not check.ok
    assert "3 due today" in check.detail and "max_per_run = 2" in check.detail and "defers the other 1" in check.detail
    assert check.remedy is not None and "max_per_run" in check.remedy
    _with_cap(runtime, 3)
    assert (await auto_cap_check(runtime)).ok
