"""Follow-ups end to end at the service level: one quote or many, recorded in Dolibarr.

Against the fake Dolibarr (in-process) and a real SMTP server on loopback. Every test checks what
Dolibarr then holds (events, to-dos, files) and what the SMTP server received.
"""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, timedelta
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from pypdf import PdfReader

from conftest import SAMPLE_TODAY, MutableClock, without_backoff
from dolirelance.config import Settings
from dolirelance.domain import Channel, QuoteFilter
from dolirelance.errors import DolibarrAuthError, FollowUpError, NoEmailAddress, QuoteNotOpen
from dolirelance.history import decode_facts
from dolirelance.ledger import FollowUpState
from dolirelance.service import (
    FollowUpOutcome,
    MassSelection,
    Runtime,
    follow_up,
    history_view,
    mass_follow_up,
    open_runtime,
    plan_mass,
    quotes_overview,
    retry_unrecorded,
    upcoming,
)
from dolirelance.testing import AgendaEventRecord, FakeDolibarr, SampleData, create_app
from dolirelance.testing.fake_dolibarr import ApiError
from dolirelance.testing.smtp_sink import SmtpSink

TODAY = SAMPLE_TODAY
FIRST, SECOND = "1ère relance", "2nde relance"
NO_EMAIL_MESSAGE = (
    "{ref} (Ferme des Trois Chênes) has no e-mail address: add one to the customer or to a "
    "CUSTOMER contact of the quote, or follow up by letter"
)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    without_backoff(monkeypatch)


# --------------------------------------------------------------------------- helpers


def relance_events(fake: FakeDolibarr, quote_id: int | None = None) -> list[AgendaEventRecord]:
    return sorted(
        (
            e
            for e in fake.events.values()
            if e.code.startswith("AC_RELANCE") and (quote_id is None or e.fk_element == quote_id)
        ),
        key=lambda e: e.id,
    )


def done_events(fake: FakeDolibarr, quote_id: int | None = None) -> list[AgendaEventRecord]:
    return [e for e in relance_events(fake, quote_id) if e.code != "AC_RELANCE_TODO"]


def todos(fake: FakeDolibarr, quote_id: int | None = None) -> list[AgendaEventRecord]:
    return [e for e in relance_events(fake, quote_id) if e.code == "AC_RELANCE_TODO"]


def quote_files(fake: FakeDolibarr, quote_id: int) -> dict[str, bytes]:
    return {f.name: f.content for f in fake.proposal_files(fake.proposals[quote_id])}


def pdf_pages(data: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def attachments(message: EmailMessage) -> list[tuple[str, bytes]]:
    return [(part.get_filename() or "", part.get_content()) for part in message.iter_attachments()]


def addresses(message: EmailMessage, header: str) -> list[str]:
    return [addr for _, addr in getaddresses([str(v) for v in message.get_all(header, [])])]


def writes(fake: FakeDolibarr) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.requests if r.method != "GET"]


@asynccontextmanager
async def runtime_with(
    settings: Settings, fake: FakeDolibarr, clock: MutableClock, **sections: dict[str, Any]
) -> AsyncIterator[Runtime]:
    """A runtime on modified settings, e.g. ``followup={"attach_other_pdfs": True}``."""
    changed = settings.model_copy(
        update={name: getattr(settings, name).model_copy(update=values) for name, values in sections.items()}
    )
    async with open_runtime(changed, transport=httpx.ASGITransport(app=create_app(fake)), now=clock) as rt:
        yield rt


async def mass(
    rt: Runtime,
    selection: MassSelection,
    channel: Any,
    tmp_path: Path,
    *,
    progress: Callable[[FollowUpOutcome], None] | None = None,
    **plan_options: Any,
) -> tuple[list[Any], Any]:
    items = await plan_mass(rt, selection, channel=channel, **plan_options)
    report = await mass_follow_up(rt, items, channel=channel, out_dir=tmp_path / "out", progress=progress)
    return items, report


# --------------------------------------------------------------------------- 1. individual e-mail


async def test_individual_email_is_sent_with_the_quote_pdf_and_recorded(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    ref, quote_id = sample_data.refs["about_to_expire"], sample_data.quotes["about_to_expire"]
    outcome = await follow_up(runtime, ref, channel=Channel.EMAIL, note="Appel sans réponse")

    assert outcome.outcome == "recorded" and outcome.model == FIRST
    # what the SMTP server received
    assert len(smtp_sink.messages) == 1
    received = smtp_sink.messages[0]
    message = received.message
    assert received.rcpt_tos == ["sophie.dupont@garage-dupont.test"]
    assert addresses(message, "To") == ["sophie.dupont@garage-dupont.test"]
    assert addresses(message, "From") == ["devis@solaire-ra.example"]
    assert "Julie Dupont" in str(message["From"])  # sender_display_name = "user"
    assert addresses(message, "Reply-To") == ["julie.dupont@solaire-rhone-alpes.test"]
    assert ref in str(message["Subject"])
    assert str(message["Message-ID"]) == outcome.message_id
    files = attachments(message)
    assert [name for name, _ in files] == [f"{ref}.pdf"]
    assert files[0][1] == quote_files(fake_dolibarr, quote_id)[f"{ref}.pdf"]
    assert ref in "".join(pdf_pages(files[0][1]))

    # what Dolibarr holds
    [done] = done_events(fake_dolibarr)
    assert done.id == outcome.event_id
    assert (done.code, done.type_code, done.percentage) == ("AC_RELANCE_EMAIL", "AC_OTH_AUTO", 100)
    assert (done.elementtype, done.fk_element) == ("propal", quote_id)
    assert done.socid == sample_data.customers["garage"]
    assert done.contact_id == sample_data.contacts["sophie_dupont"]
    assert done.userownerid == sample_data.users["jdupont"]
    assert done.email_msgid == outcome.message_id
    assert "sophie.dupont@garage-dupont.test" in (done.email_to or "")
    assert ref in done.label
    assert "Appel sans réponse" in done.note
    assert done.note.strip().splitlines()[-1].startswith("dolirelance:")
    facts = decode_facts(done.note)
    next_date = TODAY + timedelta(days=15)
    assert facts["key"] == outcome.key
    assert (facts["model"], facts["level"], facts["channel"], facts["next"]) == (
        FIRST,
        "1",
        "email",
        next_date.isoformat(),
    )
    [todo] = todos(fake_dolibarr)
    assert todo.id == outcome.todo_event_id
    assert (todo.type_code, todo.percentage) == ("AC_OTH", 0)
    assert (todo.elementtype, todo.fk_element, todo.socid) == ("propal", quote_id, sample_data.customers["garage"])
    assert fake_dolibarr.day_of_epoch(todo.datep) == next_date
    assert todo.userownerid == sample_data.users["jdupont"]  # the customer's sales representative
    # the ledger knows it is done
    entry = runtime.ledger.get(outcome.key or "")
    assert entry is not None and entry.state is FollowUpState.RECORDED and entry.event_id == done.id


async def test_email_goes_to_every_customer_contact_and_keeps_an_explicit_next_date(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    ref = sample_data.refs["two_contacts"]
    outcome = await follow_up(runtime, ref, channel=Channel.EMAIL, next_date=date(2026, 12, 20))
    assert outcome.outcome == "recorded"
    [received] = smtp_sink.messages
    expected = ["sophie.dupont@garage-dupont.test", "nicolas.dupont@garage-dupont.test"]
    assert sorted(received.rcpt_tos) == sorted(expected)
    assert sorted(addresses(received.message, "To")) == sorted(expected)
    [done] = done_events(fake_dolibarr)
    assert decode_facts(done.note)["next"] == "2026-12-20"
    assert done.note.startswith("dolirelance:")  # no user note: only the facts line
    [todo] = todos(fake_dolibarr)
    assert fake_dolibarr.day_of_epoch(todo.datep) == date(2026, 12, 20)


async def test_email_falls_back_to_the_customer_address(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    outcome = await follow_up(runtime, sample_data.refs["contact_without_email"], channel=Channel.EMAIL)
    assert outcome.outcome == "recorded"
    [received] = smtp_sink.messages
    assert received.rcpt_tos == ["accueil@garage-dupont.test"]
    [done] = done_events(fake_dolibarr)
    assert done.email_to == "accueil@garage-dupont.test"


async def test_quote_without_pdf_gets_it_built_first(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    ref, quote_id = sample_data.refs["no_pdf"], sample_data.quotes["no_pdf"]
    assert quote_files(fake_dolibarr, quote_id) == {}
    outcome = await follow_up(runtime, ref, channel=Channel.EMAIL)
    assert outcome.outcome == "recorded"
    assert fake_dolibarr.count_requests("/documents/builddoc", "PUT") == 1
    [received] = smtp_sink.messages
    [(name, content)] = attachments(received.message)
    assert name == f"{ref}.pdf"
    assert content == quote_files(fake_dolibarr, quote_id)[f"{ref}.pdf"]
    assert ref in "".join(pdf_pages(content))
    assert len(done_events(fake_dolibarr, quote_id)) == 1


async def test_other_pdfs_are_attached_only_when_configured(
    settings: Settings,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    clock: MutableClock,
) -> None:
    ref, quote_id = sample_data.refs["about_to_expire"], sample_data.quotes["about_to_expire"]
    main_pdf = quote_files(fake_dolibarr, quote_id)[f"{ref}.pdf"]
    fake_dolibarr.upload_file(quote_id, "plan-toiture.pdf", main_pdf)
    fake_dolibarr.upload_file(quote_id, "notes.txt", b"pas un pdf")
    fake_dolibarr.upload_file(quote_id, f"relance-{ref}-2026-11-01-abcdef12.pdf", main_pdf)

    async with runtime_with(settings, fake_dolibarr, clock) as rt:  # default: the quote PDF only
        assert (await follow_up(rt, ref, channel=Channel.EMAIL, force=True)).outcome == "recorded"
    async with runtime_with(settings, fake_dolibarr, clock, followup={"attach_other_pdfs": True}) as rt:
        assert (await follow_up(rt, ref, channel=Channel.EMAIL, force=True)).outcome == "recorded"

    first, second = (m.message for m in smtp_sink.messages)
    assert [name for name, _ in attachments(first)] == [f"{ref}.pdf"]
    assert sorted(name for name, _ in attachments(second)) == sorted([f"{ref}.pdf", "plan-toiture.pdf"])
    for _, content in attachments(second):
        PdfReader(io.BytesIO(content))  # every attachment is a readable PDF


async def test_next_date_in_the_past_is_refused_before_anything_happens(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    with pytest.raises(FollowUpError, match="in the past"):
        await follow_up(
            runtime, sample_data.refs["about_to_expire"], channel=Channel.EMAIL, next_date=TODAY - timedelta(days=1)
        )
    assert smtp_sink.messages == [] and relance_events(fake_dolibarr) == []
    assert writes(fake_dolibarr) == []


# --------------------------------------------------------------------------- 2. individual letter


async def test_individual_letter_is_filed_in_the_quote_and_recorded(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    ref, quote_id = sample_data.refs["expired"], sample_data.quotes["expired"]
    out = tmp_path / "lettre.pdf"
    outcome = await follow_up(runtime, ref, channel=Channel.LETTER, note="Envoyé par La Poste", letter_out=out)

    assert outcome.outcome == "recorded"
    assert smtp_sink.messages == []
    name = outcome.file_name or ""
    assert name.startswith(f"relance-{ref}-{TODAY.isoformat()}-") and name.endswith(".pdf")
    files = quote_files(fake_dolibarr, quote_id)
    assert set(files) == {f"{ref}.pdf", name}
    assert files[name] == out.read_bytes()
    pages = pdf_pages(files[name])
    quote_pages = pdf_pages(files[f"{ref}.pdf"])
    assert len(pages) > len(quote_pages)
    assert f"Relance de notre proposition {ref}" in pages[0]
    assert "Boulangerie Martin" in pages[0]
    assert any("Audit énergétique" in page for page in pages[1:])  # the quote follows the letter
    assert pages[-len(quote_pages) :] == quote_pages

    [done] = done_events(fake_dolibarr)
    assert (done.code, done.type_code, done.percentage, done.fk_element) == (
        "AC_RELANCE_LETTER",
        "AC_OTH_AUTO",
        100,
        quote_id,
    )
    assert done.contact_id == sample_data.contacts["jean_martin"]
    assert done.userownerid == sample_data.users["jdupont"]
    assert not done.email_msgid
    facts = decode_facts(done.note)
    assert (facts["channel"], facts["file"], facts["model"]) == ("letter", name, FIRST)
    assert "Envoyé par La Poste" in done.note
    [todo] = todos(fake_dolibarr)
    assert todo.percentage == 0 and fake_dolibarr.day_of_epoch(todo.datep) == TODAY + timedelta(days=15)


# --------------------------------------------------------------------------- 3. a second follow-up


async def test_second_follow_up_moves_the_open_todo_and_takes_the_next_level(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """The quote keeps one open to-do: the first follow-up's, moved to the second's next date with its key
    (two agenda writes: the done event and the move), never a closed to-do nobody did."""
    ref, quote_id = sample_data.refs["about_to_expire"], sample_data.quotes["about_to_expire"]
    first = await follow_up(runtime, ref, channel=Channel.EMAIL)
    clock.advance(days=4)
    before = len(fake_dolibarr.requests)
    second = await follow_up(runtime, ref, channel=Channel.LETTER, force=True)

    assert (first.model, second.model) == (FIRST, SECOND)
    assert len(smtp_sink.messages) == 1
    [todo] = todos(fake_dolibarr, quote_id)
    assert todo.id == first.todo_event_id == second.todo_event_id and todo.percentage == 0
    assert fake_dolibarr.day_of_epoch(todo.datep) == TODAY + timedelta(days=4 + 15)
    assert decode_facts(todo.note) == {"key": second.key, "quote": ref}
    assert f"Prochaine relance du devis {ref} (dernière : {SECOND}, courrier)." in todo.note
    agenda_writes = [
        f"{r.method} {r.path}" for r in fake_dolibarr.requests[before:] if r.method != "GET" and "agenda" in r.path
    ]
    assert agenda_writes == ["POST /agendaevents", f"PUT /agendaevents/{todo.id}"]
    levels = [decode_facts(e.note)["level"] for e in done_events(fake_dolibarr, quote_id)]
    assert levels == ["1", "2"]
    # the level after the last one stays the last one
    third = await follow_up(runtime, ref, channel=Channel.LETTER, force=True)
    assert third.model == SECOND
    assert [(t.id, t.percentage, decode_facts(t.note)["key"]) for t in todos(fake_dolibarr, quote_id)] == [
        (todo.id, 0, third.key)
    ]


# --------------------------------------------------------------------------- 4. mass follow-ups


async def test_mass_prefer_email_mixes_channels_and_goes_on_after_an_smtp_refusal(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    refs = sample_data.refs
    smtp_sink.refuse_recipient("jean.martin@boulangerie-martin.test")
    seen: list[str] = []
    items, report = await mass(
        runtime,
        MassSelection(refs=(refs["expired"], refs["no_email"], refs["two_contacts"], refs["about_to_expire"])),
        "prefer-email",
        tmp_path,
        progress=lambda o: seen.append(o.quote_ref),
    )
    by_ref = {o.quote_ref: o for o in report.outcomes}
    assert seen == [item.row.quote.ref for item in items]  # progress for each quote, in order
    assert by_ref[refs["expired"]].outcome == "failed"
    assert "jean.martin@boulangerie-martin.test" in (by_ref[refs["expired"]].error or "")
    assert by_ref[refs["no_email"]].channel is Channel.LETTER
    assert by_ref[refs["no_email"]].outcome == "recorded"
    for role in ("two_contacts", "about_to_expire"):
        assert by_ref[refs[role]].channel is Channel.EMAIL and by_ref[refs[role]].outcome == "recorded"
    assert [o.quote_ref for o in report.failed] == [refs["expired"]]

    # SMTP received the two e-mails that were accepted, nothing for the refused one
    assert sorted(r for m in smtp_sink.messages for r in m.rcpt_tos) == sorted(
        [
            "sophie.dupont@garage-dupont.test",
            "nicolas.dupont@garage-dupont.test",
            "sophie.dupont@garage-dupont.test",
        ]
    )
    # Dolibarr: nothing at all for the failed quote, a done event and a to-do for the others
    assert relance_events(fake_dolibarr, sample_data.quotes["expired"]) == []
    assert quote_files(fake_dolibarr, sample_data.quotes["expired"]).keys() == {f"{refs['expired']}.pdf"}
    for role, code in (
        ("no_email", "AC_RELANCE_LETTER"),
        ("two_contacts", "AC_RELANCE_EMAIL"),
        ("about_to_expire", "AC_RELANCE_EMAIL"),
    ):
        quote_id = sample_data.quotes[role]
        assert [e.code for e in done_events(fake_dolibarr, quote_id)] == [code]
        assert [t.percentage for t in todos(fake_dolibarr, quote_id)] == [0]
    ferme_todo = todos(fake_dolibarr, sample_data.quotes["no_email"])[0]
    assert ferme_todo.userownerid == sample_data.users["admin"]  # the ferme's sales representative
    # the letter: in the batch PDF and filed in the quote
    letter_name = by_ref[refs["no_email"]].file_name or ""
    assert letter_name in quote_files(fake_dolibarr, sample_data.quotes["no_email"])
    assert report.letters_count == 1 and report.letters_pdf is not None
    assert report.letters_pdf.parent == tmp_path / "out"
    assert f"Relance de notre proposition {refs['no_email']}" in pdf_pages(report.letters_pdf.read_bytes())[0]


async def test_mass_letters_form_one_pdf_in_the_configured_order(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    refs = sample_data.refs
    roles = ["no_pdf", "expired", "no_email"]  # Hôtel du Lac, Boulangerie Martin, Ferme des Trois Chênes
    items, report = await mass(runtime, MassSelection(refs=tuple(refs[r] for r in roles)), "letter", tmp_path)
    expected_order = [refs["expired"], refs["no_email"], refs["no_pdf"]]  # by customer name
    assert [item.row.quote.ref for item in items] == expected_order
    assert all(o.outcome == "recorded" for o in report.outcomes) and smtp_sink.messages == []
    assert report.letters_count == 3 and report.letters_pdf is not None and report.letters_pdf.exists()

    batch_pages = pdf_pages(report.letters_pdf.read_bytes())
    starts = [
        next(i for i, text in enumerate(batch_pages) if f"Relance de notre proposition {ref}" in text)
        for ref in expected_order
    ]
    assert starts == sorted(starts) and starts[0] == 0
    for outcome in report.outcomes:
        quote_id = next(i for r, i in sample_data.quotes.items() if refs[r] == outcome.quote_ref)
        filed = quote_files(fake_dolibarr, quote_id)[outcome.file_name or ""]
        letter_pages = pdf_pages(filed)
        assert len(letter_pages) >= 2  # the letter, then the quote
        start = starts[expected_order.index(outcome.quote_ref)]
        assert batch_pages[start : start + len(letter_pages)] == letter_pages
        assert [e.code for e in done_events(fake_dolibarr, quote_id)] == ["AC_RELANCE_LETTER"]
    # duplex (the demo configuration): every letter starts on a recto
    assert all(start % 2 == 0 for start in starts)


async def test_mass_letters_done_side_by_side_keep_the_plan_order_in_the_batch_and_report(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    refs = sample_data.refs
    roles = ["no_pdf", "expired", "no_email"]
    items = await plan_mass(runtime, MassSelection(refs=tuple(refs[r] for r in roles)), channel="letter")
    order = [item.row.quote.ref for item in items]
    ids = [item.row.quote.id for item in items]
    # the first quote of the plan is read slowly: it is held until the two others are filed
    fake_dolibarr.hang_next(1, 60.0, path_prefix=f"/proposals/{ids[0]}", method="GET")
    shown: list[str] = []

    async def release_once_the_others_are_filed() -> None:
        while not all(done_events(fake_dolibarr, quote_id) for quote_id in ids[1:]):
            await asyncio.sleep(0.02)
        assert not done_events(fake_dolibarr, ids[0]) and shown == []  # nothing shown out of order
        fake_dolibarr.release_hangs()

    releaser = asyncio.create_task(asyncio.wait_for(release_once_the_others_are_filed(), 60))
    report = await mass_follow_up(
        runtime, items, channel="letter", out_dir=tmp_path, progress=lambda o: shown.append(o.quote_ref)
    )
    await releaser
    first_filed = min(ids, key=lambda quote_id: done_events(fake_dolibarr, quote_id)[0].id)
    assert first_filed != ids[0]  # they were done side by side, the first one last
    assert [o.quote_ref for o in report.outcomes] == shown == order
    assert all(o.outcome == "recorded" for o in report.outcomes)
    assert report.letters_count == 3 and report.letters_pdf is not None
    batch_pages = pdf_pages(report.letters_pdf.read_bytes())
    starts = [
        next(i for i, text in enumerate(batch_pages) if f"Relance de notre proposition {ref}" in text) for ref in order
    ]
    assert starts == sorted(starts) and starts[0] == 0  # the print batch in the plan's order


async def test_mass_goes_on_when_dolibarr_fails_on_one_quote(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    refs = sample_data.refs
    selection = MassSelection(refs=(refs["about_to_expire"], refs["two_contacts"], refs["contact_without_email"]))
    items = await plan_mass(runtime, selection, channel="email")
    order = [item.row.quote.ref for item in items]
    ids = [item.row.quote.id for item in items]
    # Dolibarr fails on the second quote only (the follow-ups run side by side): every attempt at
    # reading it fails (the client retries a GET three times)
    fake_dolibarr.fail_next(4, 503, path_prefix=f"/proposals/{ids[1]}", method="GET")
    shown: list[str] = []

    report = await mass_follow_up(
        runtime, items, channel="email", out_dir=tmp_path, progress=lambda o: shown.append(o.quote_ref)
    )
    outcomes = {o.quote_ref: o for o in report.outcomes}
    assert [o.quote_ref for o in report.failed] == [order[1]]
    assert "503" in (outcomes[order[1]].error or "")
    assert outcomes[order[0]].outcome == "recorded"
    assert outcomes[order[2]].outcome == "recorded"
    assert [o.quote_ref for o in report.outcomes] == shown == order  # the plan's order, whatever ended first
    assert len(smtp_sink.messages) == 2
    assert relance_events(fake_dolibarr, ids[1]) == []


async def test_mass_letter_upload_failure_keeps_that_quote_out_of_the_batch(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    refs = sample_data.refs
    items = await plan_mass(runtime, MassSelection(refs=(refs["expired"], refs["no_email"])), channel="letter")
    assert [item.row.quote.ref for item in items] == [refs["expired"], refs["no_email"]]
    fake_dolibarr.fail_next(1, 503, path_prefix="/documents/upload", method="POST")  # one letter's upload
    report = await mass_follow_up(runtime, items, channel="letter", out_dir=tmp_path)
    assert [o.quote_ref for o in report.outcomes] == [refs["expired"], refs["no_email"]]  # the plan's order
    assert sorted(o.outcome for o in report.outcomes) == ["failed", "recorded"]
    # whichever of the two letters, done side by side, was uploaded first
    failed = next(o for o in report.outcomes if o.outcome == "failed")
    done = next(o for o in report.outcomes if o.outcome == "recorded")
    role = {refs[r]: r for r in ("expired", "no_email")}
    assert "filed" in (failed.error or "")
    assert relance_events(fake_dolibarr, sample_data.quotes[role[failed.quote_ref]]) == []
    assert quote_files(fake_dolibarr, sample_data.quotes[role[failed.quote_ref]]).keys() == {f"{failed.quote_ref}.pdf"}
    assert report.letters_count == 1 and report.letters_pdf is not None
    text = "".join(pdf_pages(report.letters_pdf.read_bytes()))
    assert f"proposition {done.quote_ref}" in text and f"proposition {failed.quote_ref}" not in text
    entry = runtime.ledger.get(failed.key or "")
    assert entry is not None and entry.state is FollowUpState.FAILED  # released, nothing left


async def test_mass_dry_run_plans_without_doing_anything(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    items = await plan_mass(runtime, MassSelection(all_open=True), channel="prefer-email")
    assert {item.row.quote.ref for item in items} == {sample_data.refs[r] for r in sample_data.open_quotes}
    by_ref = {item.row.quote.ref: item for item in items}
    assert by_ref[sample_data.refs["no_email"]].channel is Channel.LETTER
    assert by_ref[sample_data.refs["expired"]].channel is Channel.EMAIL
    assert all(item.model == FIRST for item in items)
    assert writes(fake_dolibarr) == []
    assert relance_events(fake_dolibarr) == [] and smtp_sink.messages == []
    assert not (tmp_path / "letters").exists()
    assert sum(runtime.ledger.counts().values()) == 0


def _refs(items: list[Any]) -> set[str]:
    return {item.row.quote.ref for item in items}


async def test_mass_selection_filters(
    runtime: Runtime,
    settings: Settings,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    clock: MutableClock,
) -> None:
    refs = sample_data.refs
    open_refs = {refs[r] for r in sample_data.open_quotes}
    expired = {refs[r] for r in ("expired", "no_email", "contact_without_email", "opt_out", "no_pdf")}
    assert _refs(await plan_mass(runtime, MassSelection(expired=True), channel="letter")) == expired
    assert _refs(await plan_mass(runtime, MassSelection(all_open=True), channel="letter")) == open_refs
    garage = {refs[r] for r in ("about_to_expire", "contact_without_email", "two_contacts")}
    assert _refs(await plan_mass(runtime, MassSelection(customer="Garage Dupont"), channel="letter")) == garage
    assert (
        _refs(await plan_mass(runtime, MassSelection(customer=str(sample_data.customers["garage"])), channel="letter"))
        == garage
    )
    assert _refs(await plan_mass(runtime, MassSelection(customer="Garage", expired=True), channel="letter")) == {
        refs["contact_without_email"]
    }
    assert _refs(await plan_mass(runtime, MassSelection(sales_rep="jdupont"), channel="letter")) == open_refs - {
        refs["no_email"]
    }
    # another user's login needs the right to read users (jdupont does not have it): the error names it
    with pytest.raises(DolibarrAuthError, match=r"user\.user\.lire"):
        await plan_mass(runtime, MassSelection(sales_rep="admin"), channel="letter")
    async with runtime_with(settings, fake_dolibarr, clock, dolibarr={"api_key": SecretStr("demo-admin-key")}) as rt:
        assert _refs(await plan_mass(rt, MassSelection(sales_rep="admin"), channel="letter")) == {refs["no_email"]}
    with pytest.raises(FollowUpError, match="no customer matches"):
        await plan_mass(runtime, MassSelection(customer="Inconnue SARL"), channel="letter")
    with pytest.raises(FollowUpError, match="no quotes selected"):
        await plan_mass(runtime, MassSelection(), channel="letter")
    with pytest.raises(FollowUpError, match="not found"):
        await plan_mass(runtime, MassSelection(refs=("PR9999-0001",)), channel="letter")

    # --due: the next follow-up date is reached
    assert _refs(await plan_mass(runtime, MassSelection(due=True), channel="letter")) == set()
    await follow_up(runtime, refs["about_to_expire"], channel=Channel.EMAIL, next_date=TODAY + timedelta(days=5))
    await follow_up(runtime, refs["two_contacts"], channel=Channel.EMAIL, next_date=TODAY + timedelta(days=20))
    assert _refs(await plan_mass(runtime, MassSelection(due=True), channel="letter")) == set()
    clock.advance(days=5)
    due_items = await plan_mass(runtime, MassSelection(due=True), channel="letter")
    assert _refs(due_items) == {refs["about_to_expire"]}
    assert due_items[0].model == SECOND  # the level after the last one received
    assert fake_dolibarr.count_requests("/agendaevents", "GET") <= 40  # bulk reads, never per quote


async def test_mass_model_override_per_quote_and_refusal_of_closed_quotes(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    refs = sample_data.refs
    selection = MassSelection(refs=(refs["about_to_expire"], refs["two_contacts"], refs["signed"], refs["refused"]))
    with pytest.raises(FollowUpError, match="unknown model"):
        await plan_mass(runtime, selection, channel="email", model="3ème relance")
    items, report = await mass(runtime, selection, "email", tmp_path, per_quote_models={refs["two_contacts"]: SECOND})
    models = {item.row.quote.ref: item.model for item in items}
    assert models[refs["two_contacts"]] == SECOND and models[refs["about_to_expire"]] == FIRST
    outcomes = {o.quote_ref: o for o in report.outcomes}
    assert outcomes[refs["signed"]].outcome == "failed" and "signed" in (outcomes[refs["signed"]].error or "")
    assert outcomes[refs["refused"]].outcome == "failed" and "refused" in (outcomes[refs["refused"]].error or "")
    assert relance_events(fake_dolibarr, sample_data.quotes["signed"]) == []
    assert relance_events(fake_dolibarr, sample_data.quotes["refused"]) == []
    [done] = done_events(fake_dolibarr, sample_data.quotes["two_contacts"])
    assert decode_facts(done.note)["model"] == SECOND
    assert len(smtp_sink.messages) == 2

    # one model for all
    items = await plan_mass(runtime, MassSelection(refs=(refs["expired"],)), channel="email", model=SECOND)
    assert [item.model for item in items] == [SECOND]


# --------------------------------------------------------------------------- 5. sent, not recorded


async def test_email_sent_but_not_recorded_is_recorded_later_and_never_sent_again(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    ref, quote_id = sample_data.refs["about_to_expire"], sample_data.quotes["about_to_expire"]
    fake_dolibarr.fail_next(1, 503, path_prefix="/agendaevents", method="POST")
    outcome = await follow_up(runtime, ref, channel=Channel.EMAIL, note="Relance téléphonique aussi")
    assert outcome.outcome == "sent-not-recorded" and outcome.ok
    assert "dolirelance retry" in (outcome.error or "")
    assert len(smtp_sink.messages) == 1
    assert relance_events(fake_dolibarr, quote_id) == []
    [pending] = runtime.ledger.to_record()
    assert pending.key == outcome.key

    recorded = await retry_unrecorded(runtime)
    assert [o.outcome for o in recorded] == ["recorded"]
    assert len(smtp_sink.messages) == 1  # never sent again
    [done] = done_events(fake_dolibarr, quote_id)
    assert done.code == "AC_RELANCE_EMAIL" and done.email_msgid == outcome.message_id
    assert "Relance téléphonique aussi" in done.note
    assert decode_facts(done.note)["key"] == outcome.key
    [todo] = todos(fake_dolibarr, quote_id)
    assert todo.percentage == 0 and fake_dolibarr.day_of_epoch(todo.datep) == TODAY + timedelta(days=15)

    assert await retry_unrecorded(runtime) == []  # a second retry does nothing
    assert len(relance_events(fake_dolibarr, quote_id)) == 2 and len(smtp_sink.messages) == 1


async def test_done_event_written_but_todo_lost_is_completed_by_retry(
    runtime: Runtime,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Dolibarr fails between the done event and the to-do: retry adds the to-do, not a second done event."""
    ref, quote_id = sample_data.refs["about_to_expire"], sample_data.quotes["about_to_expire"]
    add_event = fake_dolibarr.add_event
    calls = 0

    def flaky_add_event(**fields: Any) -> AgendaEventRecord:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ApiError(503, "Injected failure", source="fake_dolibarr.py:0")
        return add_event(**fields)

    monkeypatch.setattr(fake_dolibarr, "add_event", flaky_add_event)
    outcome = await follow_up(runtime, ref, channel=Channel.EMAIL)
    assert outcome.outcome == "sent-not-recorded"
    assert [e.code for e in relance_events(fake_dolibarr, quote_id)] == ["AC_RELANCE_EMAIL"]

    [recorded] = await retry_unrecorded(runtime)
    assert recorded.outcome == "recorded"
    assert [e.code for e in done_events(fake_dolibarr, quote_id)] == ["AC_RELANCE_EMAIL"]
    [todo] = todos(fake_dolibarr, quote_id)
    assert todo.percentage == 0 and fake_dolibarr.day_of_epoch(todo.datep) == TODAY + timedelta(days=15)
    assert len(smtp_sink.messages) == 1
    assert await retry_unrecorded(runtime) == []


async def test_letter_filed_but_not_recorded_keeps_its_file_name(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    ref, quote_id = sample_data.refs["expired"], sample_data.quotes["expired"]
    fake_dolibarr.fail_next(1, 503, path_prefix="/agendaevents", method="POST")
    outcome = await follow_up(runtime, ref, channel=Channel.LETTER)
    assert outcome.outcome == "sent-not-recorded"
    assert outcome.file_name in quote_files(fake_dolibarr, quote_id)
    [recorded] = await retry_unrecorded(runtime)
    assert recorded.outcome == "recorded"
    [done] = done_events(fake_dolibarr, quote_id)
    assert done.code == "AC_RELANCE_LETTER"
    assert decode_facts(done.note).get("file") == outcome.file_name
    [line] = await history_view(runtime, quote=ref)
    assert line.record.file_name == outcome.file_name
    assert smtp_sink.messages == []


# --------------------------------------------------------------------------- 6. errors users hit


async def test_quote_without_any_email_is_refused_with_the_remedy(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    ref = sample_data.refs["no_email"]
    with pytest.raises(NoEmailAddress) as caught:
        await follow_up(runtime, ref, channel=Channel.EMAIL)
    assert caught.value.message == NO_EMAIL_MESSAGE.format(ref=ref)
    assert smtp_sink.messages == [] and relance_events(fake_dolibarr) == [] and writes(fake_dolibarr) == []


@pytest.mark.parametrize("role", ["signed", "refused", "draft"])
async def test_quote_that_is_not_open_is_refused_with_its_status(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, role: str
) -> None:
    ref = sample_data.refs[role]
    # a draft's ref "(PROVn)" is blocked by Dolibarr's firewall: by id, like the CLI allows
    key = str(sample_data.quotes[role]) if role == "draft" else ref
    for channel in (Channel.EMAIL, Channel.LETTER):
        with pytest.raises(QuoteNotOpen) as caught:
            await follow_up(runtime, key, channel=channel)
        assert caught.value.message.startswith(f"{ref} (")
        assert f" is {role}" in caught.value.message
    assert smtp_sink.messages == [] and relance_events(fake_dolibarr) == [] and writes(fake_dolibarr) == []


async def test_unknown_model_is_refused_with_the_known_ones(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    with pytest.raises(FollowUpError) as caught:
        await follow_up(runtime, sample_data.refs["expired"], channel=Channel.EMAIL, model="Relance finale")
    assert "unknown model 'Relance finale'" in caught.value.message
    assert FIRST in (caught.value.remedy or "") and SECOND in (caught.value.remedy or "")
    assert smtp_sink.messages == [] and relance_events(fake_dolibarr) == []


@pytest.mark.parametrize("login", ["stagiaire", "lecteur"])
async def test_user_without_rights_stops_before_anything_is_sent_or_written(
    settings: Settings,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    clock: MutableClock,
    tmp_path: Path,
    login: str,
) -> None:
    """``stagiaire`` has only propal.lire (Dolibarr will not even tell it who it is); ``lecteur`` may also
    read itself. Both stop at once, naming agenda.myactions.create."""
    if login == "lecteur":
        fake_dolibarr.add_user("lecteur", api_key="lecteur-key", rights={"propal.lire", "user.self.creer"})
    key = "lecteur-key" if login == "lecteur" else sample_data.api_keys["stagiaire"]
    items = await plan_mass_as_jdupont(settings, fake_dolibarr, clock, sample_data.refs["expired"])
    fake_dolibarr.reset_requests()
    async with runtime_with(settings, fake_dolibarr, clock, dolibarr={"api_key": SecretStr(key)}) as rt:
        for channel in (Channel.EMAIL, Channel.LETTER):
            with pytest.raises(DolibarrAuthError) as caught:
                await follow_up(rt, sample_data.refs["expired"], channel=channel)
            assert "agenda.myactions.create (create agenda events)" in caught.value.message
            if login == "lecteur":
                assert caught.value.message == (
                    "the Dolibarr user lecteur lacks the right(s): agenda.myactions.create (create agenda events)"
                )
            else:
                assert "user.self.creer" in (caught.value.remedy or "")
        with pytest.raises(DolibarrAuthError, match=r"agenda\.myactions\.create"):
            await mass_follow_up(rt, items, channel="letter", out_dir=tmp_path / "out")
    assert smtp_sink.messages == [] and relance_events(fake_dolibarr) == [] and writes(fake_dolibarr) == []
    assert {r.path for r in fake_dolibarr.requests} <= {"/status", "/users/info"}  # stopped at once
    assert not (tmp_path / "out").exists()


async def plan_mass_as_jdupont(settings: Settings, fake: FakeDolibarr, clock: MutableClock, ref: str) -> list[Any]:
    async with runtime_with(settings, fake, clock) as rt:
        return await plan_mass(rt, MassSelection(refs=(ref,)), channel="letter")


# --------------------------------------------------------------------------- 7. history and upcoming


async def _some_history(runtime: Runtime, sample_data: SampleData, fake: FakeDolibarr, clock: MutableClock) -> None:
    """Follow-ups on open quotes, and on two quotes later signed and refused."""
    refs = sample_data.refs
    await follow_up(runtime, refs["about_to_expire"], channel=Channel.EMAIL, note="Premier contact")
    await follow_up(runtime, refs["expired"], channel=Channel.LETTER, note="Courrier")
    await follow_up(runtime, refs["two_contacts"], channel=Channel.EMAIL, next_date=TODAY + timedelta(days=3))
    await follow_up(runtime, refs["not_yet_due"], channel=Channel.EMAIL, note="Cabinet")
    clock.advance(days=1)
    await follow_up(runtime, refs["about_to_expire"], channel=Channel.EMAIL, note="Deuxième", force=True)
    # the cabinet quote is then signed; the hotel one refused after a follow-up
    await follow_up(runtime, refs["no_pdf"], channel=Channel.EMAIL, note="Hôtel")
    fake.close_proposal(sample_data.quotes["not_yet_due"], 2)
    fake.close_proposal(sample_data.quotes["no_pdf"], 3)


async def test_history_per_quote_per_customer_and_open(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    refs = sample_data.refs
    await _some_history(runtime, sample_data, fake_dolibarr, clock)
    fake_dolibarr.reset_requests()

    lines = await history_view(runtime, quote=refs["about_to_expire"])
    assert [line.record.note for line in lines] == ["Deuxième", "Premier contact"]  # newest first
    newest = lines[0]
    done = next(e for e in done_events(fake_dolibarr) if e.id == newest.record.event_id)
    assert newest.customer_name == "Garage Dupont SAS"
    assert newest.quote_ref == refs["about_to_expire"] and newest.quote_open
    assert newest.record.model == SECOND and newest.record.channel is Channel.EMAIL
    assert newest.user_name == "Julie Dupont"
    assert newest.record.done_at.timestamp() == done.datep
    assert newest.record.next_date == TODAY + timedelta(days=1 + 15)
    assert newest.record.file_name is None

    [letter] = await history_view(runtime, quote=refs["expired"])
    assert letter.record.channel is Channel.LETTER and letter.record.note == "Courrier"
    assert letter.record.file_name and letter.record.file_name in quote_files(
        fake_dolibarr, sample_data.quotes["expired"]
    )
    # a closed quote's own history is still shown
    [signed] = await history_view(runtime, quote=refs["not_yet_due"])
    assert signed.record.note == "Cabinet" and not signed.quote_open

    # per customer: every quote of the customer, closed ones too (by name and by id)
    hotel = await history_view(runtime, customer="Hôtel du Lac")
    assert [(line.quote_ref, line.quote_open, line.record.note) for line in hotel] == [(refs["no_pdf"], False, "Hôtel")]
    garage = await history_view(runtime, customer=str(sample_data.customers["garage"]))
    assert sorted(line.quote_ref for line in garage) == sorted(
        [refs["about_to_expire"], refs["about_to_expire"], refs["two_contacts"]]
    )
    assert {line.customer_name for line in garage} == {"Garage Dupont SAS"}

    # --open: only the follow-ups of quotes still open
    open_lines = await history_view(runtime, open_only=True)
    assert sorted(line.quote_ref for line in open_lines) == sorted(
        [refs["about_to_expire"], refs["about_to_expire"], refs["expired"], refs["two_contacts"]]
    )
    assert all(line.quote_open for line in open_lines)
    with pytest.raises(FollowUpError, match="say which history"):
        await history_view(runtime)

    # bulk reads: a handful of event pages for the six views, never one request per quote
    assert fake_dolibarr.count_requests("/agendaevents", "GET") <= 6
    assert fake_dolibarr.count_requests("/proposals", "GET") <= 12


async def test_customer_history_covers_every_customer_the_name_matches(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    other = fake_dolibarr.add_thirdparty(
        name="Dupont Frères", client=1, email="contact@dupont-freres.test", sales_rep_ids=[sample_data.users["jdupont"]]
    )
    proposal = fake_dolibarr.add_proposal(other.id, date=TODAY, duree_validite=30, user_id=sample_data.users["jdupont"])
    fake_dolibarr.validate_proposal(proposal.id, user_id=sample_data.users["jdupont"])
    fake_dolibarr.build_proposal_pdf(proposal.id)
    await follow_up(runtime, proposal.ref, channel=Channel.EMAIL)
    await follow_up(runtime, sample_data.refs["two_contacts"], channel=Channel.EMAIL)
    lines = await history_view(runtime, customer="Dupont")  # Garage Dupont SAS and Dupont Frères
    assert sorted((line.customer_name, line.quote_ref) for line in lines) == sorted(
        [("Dupont Frères", proposal.ref), ("Garage Dupont SAS", sample_data.refs["two_contacts"])]
    )


async def test_history_reads_a_bounded_number_of_event_pages(
    settings: Settings,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    clock: MutableClock,
) -> None:
    """Many follow-ups on many quotes: the --open view costs event pages, not requests per quote."""
    extra = _seed_open_quotes(fake_dolibarr, sample_data, 60)
    for quote_id in extra:
        fake_dolibarr.add_event(
            type_code="AC_OTH_AUTO",
            code="AC_RELANCE_EMAIL",
            label="Relance",
            note="dolirelance: key=x; model=1%C3%A8re%20relance; level=1; channel=email",
            percentage=100,
            userownerid=sample_data.users["jdupont"],
            authorid=sample_data.users["jdupont"],
            socid=sample_data.customers["garage"],
            elementtype="propal",
            fk_element=quote_id,
        )
    async with runtime_with(settings, fake_dolibarr, clock, dolibarr={"page_size": 25, "max_concurrency": 1}) as rt:
        fake_dolibarr.reset_requests()
        lines = await history_view(rt, open_only=True)
    assert len(lines) == 60
    assert fake_dolibarr.count_requests("/agendaevents", "GET") <= math.ceil(60 / 25) + 1
    assert fake_dolibarr.count_requests("/proposals", "GET") <= math.ceil((60 + 8) / 25) + 1


async def test_upcoming_lists_the_users_own_todos_by_date(
    runtime: Runtime,
    settings: Settings,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    clock: MutableClock,
) -> None:
    refs = sample_data.refs
    await follow_up(runtime, refs["about_to_expire"], channel=Channel.EMAIL, next_date=TODAY + timedelta(days=10))
    await follow_up(runtime, refs["two_contacts"], channel=Channel.EMAIL, next_date=TODAY + timedelta(days=2))
    await follow_up(runtime, refs["expired"], channel=Channel.LETTER, next_date=TODAY + timedelta(days=40))
    await follow_up(runtime, refs["not_yet_due"], channel=Channel.EMAIL, next_date=TODAY + timedelta(days=4))
    await follow_up(runtime, refs["no_email"], channel=Channel.LETTER, next_date=TODAY + timedelta(days=1))  # admin's
    fake_dolibarr.close_proposal(sample_data.quotes["not_yet_due"], 2)  # signed: nothing to do any more

    lines = await upcoming(runtime)
    assert [(line.quote.ref if line.quote else None, line.due_on) for line in lines] == [
        (refs["two_contacts"], TODAY + timedelta(days=2)),
        (refs["about_to_expire"], TODAY + timedelta(days=10)),
    ]
    assert [line.customer_name for line in lines] == ["Garage Dupont SAS", "Garage Dupont SAS"]
    assert not any(line.overdue for line in lines)
    assert [line.quote.ref for line in await upcoming(runtime, days=60) if line.quote] == [
        refs["two_contacts"],
        refs["about_to_expire"],
        refs["expired"],
    ]

    clock.advance(days=5)
    lines = await upcoming(runtime)
    assert [(line.due_on, line.overdue) for line in lines] == [
        (TODAY + timedelta(days=2), True),
        (TODAY + timedelta(days=10), False),
    ]
    assert [line.quote.ref for line in await upcoming(runtime, login="jdupont") if line.quote] == [
        refs["two_contacts"],
        refs["about_to_expire"],
    ]
    # another user's to-dos: reading users needs user.user.lire, which jdupont does not have
    with pytest.raises(DolibarrAuthError, match=r"user\.user\.lire"):
        await upcoming(runtime, login="admin")
    async with runtime_with(settings, fake_dolibarr, clock, dolibarr={"api_key": SecretStr("demo-admin-key")}) as rt:
        [admin_line] = await upcoming(rt, login="admin")
        assert [line.quote.ref for line in await upcoming(rt, login="jdupont") if line.quote] == [
            refs["two_contacts"],
            refs["about_to_expire"],
        ]
    assert admin_line.quote is not None and admin_line.quote.ref == refs["no_email"] and admin_line.overdue
    assert admin_line.customer_name == "Ferme des Trois Chênes"


# --------------------------------------------------------------------------- 8. request budget


def _seed_open_quotes(fake: FakeDolibarr, sample_data: SampleData, count: int) -> list[int]:
    customers = list(sample_data.customers.values())
    ids = []
    for index in range(count):
        proposal = fake.add_proposal(
            customers[index % len(customers)],
            date=TODAY - timedelta(days=index % 40),
            duree_validite=30,
            user_id=sample_data.users["jdupont"],
        )
        fake.validate_proposal(proposal.id, user_id=sample_data.users["jdupont"])
        ids.append(proposal.id)
    return ids


async def test_quotes_overview_of_a_thousand_quotes_costs_a_bounded_number_of_requests(
    settings: Settings,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    clock: MutableClock,
) -> None:
    _seed_open_quotes(fake_dolibarr, sample_data, 1000)
    open_count = 1000 + len(sample_data.open_quotes)
    async with runtime_with(settings, fake_dolibarr, clock, dolibarr={"max_concurrency": 1}) as rt:
        await follow_up(rt, sample_data.refs["expired"], channel=Channel.LETTER)
        fake_dolibarr.reset_requests()
        rows = await quotes_overview(rt, QuoteFilter())
        page_size = rt.settings.dolibarr.page_size
    assert len(rows) == open_count
    expired_row = next(row for row in rows if row.quote.ref == sample_data.refs["expired"])
    assert expired_row.last is not None and expired_row.next_model == SECOND
    assert expired_row.customer is not None and expired_row.customer.name == "Boulangerie Martin"
    assert fake_dolibarr.count_requests("/proposals", "GET") <= math.ceil(open_count / page_size) + 2
    assert fake_dolibarr.count_requests("/thirdparties", "GET") <= 2
    # the events are read a page of quotes at a time (their ids), never one request per quote
    pages = math.ceil(open_count / page_size)
    assert fake_dolibarr.count_requests("/agendaevents", "GET") <= pages
    assert fake_dolibarr.count_requests("/proposals/", "GET", prefix=True) == 0  # no per-quote read
    assert len(fake_dolibarr.requests) <= 2 * pages + 4
