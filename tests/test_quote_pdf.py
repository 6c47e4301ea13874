"""The quote's PDF that goes with a follow-up: the one Dolibarr has, rebuilt only when missing or stale.

Against the fake Dolibarr (in-process) and a real SMTP server on loopback: what Dolibarr was asked
(no ``builddoc`` unless needed), which bytes the SMTP server received, and how previews name the PDF.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pypdf import PdfReader

from conftest import MutableClock
from dolirelance.config import Settings
from dolirelance.domain import Channel, Document, Quote, QuoteStatus
from dolirelance.service import Runtime, follow_up, open_runtime, prepare_followup
from dolirelance.service.prepare import (
    content_mismatch,
    stale_reason,
    stated_creation,
    unchanged_since_validation,
)
from dolirelance.service.runtime import api_user
from dolirelance.testing import FakeDolibarr, SampleData, create_app
from dolirelance.testing.pdf import ProposalPdfParty, render_proposal_pdf
from dolirelance.testing.smtp_sink import SmtpSink


def main_file(fake: FakeDolibarr, quote_id: int) -> bytes:
    proposal = fake.proposals[quote_id]
    return next(f.content for f in fake.proposal_files(proposal) if f.name == f"{proposal.ref}.pdf")


def pdf_parts(message: EmailMessage) -> list[tuple[str, bytes, str]]:
    return [
        (part.get_filename() or "", part.get_content(), str(part.get("Content-Description", "")))
        for part in message.iter_attachments()
    ]


def requests(fake: FakeDolibarr, path: str, method: str = "GET") -> int:
    return fake.count_requests(path, method)


@asynccontextmanager
async def runtime_with(
    settings: Settings, fake: FakeDolibarr, clock: MutableClock, **followup: Any
) -> AsyncIterator[Runtime]:
    changed = settings.model_copy(update={"followup": settings.followup.model_copy(update=followup)})
    async with open_runtime(changed, transport=httpx.ASGITransport(app=create_app(fake)), now=clock) as rt:
        yield rt


def document_requests(fake: FakeDolibarr) -> int:
    """Every request about the quote's files: list, download, build, upload."""
    return sum(fake.count_requests(path, method) for path, method in (
        ("/documents", "GET"), ("/documents/builddoc", "PUT"), ("/documents/upload", "POST")))  # fmt: skip


def regenerated_after_a_change(fake: FakeDolibarr, quote_id: int, clock: MutableClock) -> bytes:
    """The quote changed an hour after its validation, then « Générer » again: a PDF newer than the change.

    Dolibarr keeps the same ``last_main_doc``, so the rebuild does not stamp the quote (transcript of
    a real 20.0.0): the quote's dates no longer say its PDF is current, its file list does.
    """
    clock.advance(hours=1)
    fake.update_proposal(quote_id, {"note_public": "Prix revus"}, user_id=fake.admin_user.id)
    clock.advance(minutes=5)
    fake.build_proposal_pdf(quote_id)
    proposal = fake.proposals[quote_id]
    assert proposal.date_valid is not None and proposal.tms - proposal.date_valid == 3600
    return main_file(fake, quote_id)


async def test_the_pdf_made_at_validation_is_sent_with_one_request(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """Validated on 28/11 (its PDF made then) and unchanged since: those bytes, one download, no list, no build."""
    ref, quote_id = sample_data.refs["about_to_expire"], sample_data.quotes["about_to_expire"]
    in_dolibarr = main_file(fake_dolibarr, quote_id)
    clock.advance(days=2)  # the follow-up is done two days after the PDF was made
    fake_dolibarr.reset_requests()

    outcome = await follow_up(runtime, ref, channel=Channel.EMAIL)

    assert outcome.outcome == "recorded"
    assert requests(fake_dolibarr, "/documents/download") == 1
    assert document_requests(fake_dolibarr) == 0  # no file list, no build: the quote's dates say it is current
    [received] = smtp_sink.messages
    assert pdf_parts(received.message) == [(f"{ref}.pdf", in_dolibarr, "PDF du devis du 28/11/2026")]
    assert main_file(fake_dolibarr, quote_id) == in_dolibarr  # nothing rebuilt in Dolibarr either


async def test_a_pdf_regenerated_after_a_change_is_sent_after_checking_the_file_list(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """Changed after its validation, then its PDF made again: the list shows it newer, it is sent as it is."""
    ref, quote_id = sample_data.refs["about_to_expire"], sample_data.quotes["about_to_expire"]
    regenerated = regenerated_after_a_change(fake_dolibarr, quote_id, clock)
    fake_dolibarr.reset_requests()

    assert (await follow_up(runtime, ref, channel=Channel.EMAIL)).outcome == "recorded"

    assert requests(fake_dolibarr, "/documents") == requests(fake_dolibarr, "/documents/download") == 1
    assert requests(fake_dolibarr, "/documents/builddoc", "PUT") == 0
    [received] = smtp_sink.messages
    assert pdf_parts(received.message) == [(f"{ref}.pdf", regenerated, "PDF du devis du 28/11/2026")]


async def test_a_pdf_of_validation_gone_from_the_disk_is_rebuilt(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    """``last_main_doc`` names a file no longer there: the download's 404, then the list's, then one build."""
    ref, quote_id = sample_data.refs["about_to_expire"], sample_data.quotes["about_to_expire"]
    del fake_dolibarr.files[ref]  # removed on the server's disk; the quote still names it
    fake_dolibarr.reset_requests()

    assert (await follow_up(runtime, ref, channel=Channel.EMAIL)).outcome == "recorded"

    assert requests(fake_dolibarr, "/documents/download") == requests(fake_dolibarr, "/documents") == 1
    assert requests(fake_dolibarr, "/documents/builddoc", "PUT") == 1
    [received] = smtp_sink.messages
    rebuilt = main_file(fake_dolibarr, quote_id)
    assert pdf_parts(received.message) == [(f"{ref}.pdf", rebuilt, "PDF du devis du 28/11/2026")]


async def test_a_quote_changed_after_its_pdf_was_made_gets_a_rebuilt_one(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """The quote's tms is newer than its PDF: the PDF is rebuilt, and the rebuilt bytes are the ones sent."""
    ref, quote_id = sample_data.refs["about_to_expire"], sample_data.quotes["about_to_expire"]
    before = main_file(fake_dolibarr, quote_id)
    clock.advance(days=3)
    fake_dolibarr.update_proposal(quote_id, {"note_public": "Prix revus"}, user_id=fake_dolibarr.admin_user.id)
    proposal = fake_dolibarr.proposals[quote_id]
    assert proposal.tms > max(f.date for f in fake_dolibarr.proposal_files(proposal))
    fake_dolibarr.reset_requests()

    outcome = await follow_up(runtime, ref, channel=Channel.EMAIL)

    assert outcome.outcome == "recorded"
    assert requests(fake_dolibarr, "/documents/builddoc", "PUT") == 1
    assert requests(fake_dolibarr, "/documents/download") == 0  # the stale file is not read
    rebuilt = main_file(fake_dolibarr, quote_id)
    assert rebuilt != before
    assert "Prix revus" in "".join(page.extract_text() for page in PdfReader(io.BytesIO(rebuilt)).pages)
    [received] = smtp_sink.messages
    assert pdf_parts(received.message) == [(f"{ref}.pdf", rebuilt, "PDF du devis du 01/12/2026")]


async def test_a_quote_without_pdf_gets_one_built_and_named_as_of_today(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    """No PDF in the quote's files (the list answers 404): built once, and that build is attached."""
    ref, quote_id = sample_data.refs["no_pdf"], sample_data.quotes["no_pdf"]
    assert await follow_up(runtime, ref, channel=Channel.EMAIL) is not None
    assert requests(fake_dolibarr, "/documents/builddoc", "PUT") == 1
    [received] = smtp_sink.messages
    assert pdf_parts(received.message) == [
        (f"{ref}.pdf", main_file(fake_dolibarr, quote_id), "PDF du devis du 28/11/2026")
    ]


async def test_a_quote_validated_again_without_a_new_pdf_gets_a_rebuilt_one(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """Back to draft, changed, validated again through the API (no PDF drawn): its dates look unchanged
    since that validation, but the PDF it names states an earlier day: its files are read, it is rebuilt."""
    ref, quote_id = sample_data.refs["about_to_expire"], sample_data.quotes["about_to_expire"]
    before = main_file(fake_dolibarr, quote_id)
    clock.advance(days=1)
    fake_dolibarr.set_proposal_draft(quote_id)
    fake_dolibarr.update_proposal(quote_id, {"note_public": "Prix revus"}, user_id=fake_dolibarr.admin_user.id)
    clock.advance(minutes=1)
    fake_dolibarr.validate_proposal(quote_id)
    proposal = fake_dolibarr.proposals[quote_id]
    assert proposal.tms == proposal.date_valid and proposal.last_main_doc  # looks unchanged since validation
    fake_dolibarr.reset_requests()

    assert (await follow_up(runtime, ref, channel=Channel.EMAIL)).outcome == "recorded"

    assert requests(fake_dolibarr, "/documents/download") == requests(fake_dolibarr, "/documents") == 1
    assert requests(fake_dolibarr, "/documents/builddoc", "PUT") == 1
    rebuilt = main_file(fake_dolibarr, quote_id)
    assert rebuilt != before
    assert "Prix revus" in "".join(page.extract_text() for page in PdfReader(io.BytesIO(rebuilt)).pages)
    [received] = smtp_sink.messages
    assert pdf_parts(received.message) == [(f"{ref}.pdf", rebuilt, "PDF du devis du 29/11/2026")]


async def test_a_pdf_replaced_while_being_read_is_not_sent_but_rebuilt(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """The file changes between its listing and its download: those bytes are refused, a PDF is rebuilt."""
    ref, quote_id = sample_data.refs["about_to_expire"], sample_data.quotes["about_to_expire"]
    regenerated_after_a_change(fake_dolibarr, quote_id, clock)  # so that its file list is read
    fake_dolibarr.hang_next(1, 60, path_prefix="/documents/download", method="GET")
    sending = asyncio.ensure_future(follow_up(runtime, ref, channel=Channel.EMAIL))
    for _ in range(10_000):  # no clock involved: the in-process requests progress as the loop turns
        if fake_dolibarr.hanging:
            break
        await asyncio.sleep(0)
    assert fake_dolibarr.hanging == 1, "the download should be in progress"
    proposal = fake_dolibarr.proposals[quote_id]
    [stored] = [f for f in fake_dolibarr.proposal_files(proposal) if f.name == f"{ref}.pdf"]
    stored.content = stored.content.replace(b"%PDF-1.", b"%PDF-9.", 1)  # same size, other bytes
    fake_dolibarr.release_hangs()

    assert (await sending).outcome == "recorded"
    assert requests(fake_dolibarr, "/documents/builddoc", "PUT") == 1
    [received] = smtp_sink.messages
    [(_, content, _)] = pdf_parts(received.message)
    assert content == main_file(fake_dolibarr, quote_id) and content.startswith(b"%PDF-1.")


async def test_rebuild_always_rebuilds_even_a_fresh_pdf(
    settings: Settings, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """``rebuild_pdf = "always"``: builddoc for every follow-up, and no file list read for it."""
    ref, quote_id = sample_data.refs["about_to_expire"], sample_data.quotes["about_to_expire"]
    fake_dolibarr.reset_requests()
    async with runtime_with(settings, fake_dolibarr, clock, rebuild_pdf="always") as rt:
        assert (await follow_up(rt, ref, channel=Channel.EMAIL)).outcome == "recorded"
    assert requests(fake_dolibarr, "/documents/builddoc", "PUT") == 1
    assert requests(fake_dolibarr, "/documents") == requests(fake_dolibarr, "/documents/download") == 0
    [received] = smtp_sink.messages
    [(name, content, _)] = pdf_parts(received.message)
    assert (name, content) == (f"{ref}.pdf", main_file(fake_dolibarr, quote_id))


async def test_the_preview_names_the_pdf_that_would_go(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, clock: MutableClock
) -> None:
    """The preview says which PDF: « PDF du devis du 28/11/2026 », and builds nothing to say it."""
    clock.advance(days=1)
    fake_dolibarr.reset_requests()
    prepared = await prepare_followup(
        runtime, sample_data.refs["two_contacts"], channel=Channel.EMAIL, acting_user=await api_user(runtime)
    )
    assert prepared.attachments_text == f"{sample_data.refs['two_contacts']}.pdf (PDF du devis du 28/11/2026)"
    assert requests(fake_dolibarr, "/documents/builddoc", "PUT") == 0


# --------------------------------------------------------------------------- the checks themselves

PARIS_NOON = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)


def a_quote(changed_at: datetime | None, validated_at: datetime | None = None,
            main_document: str | None = "PR2611-0001/PR2611-0001.pdf") -> Quote:  # fmt: skip
    return Quote(1, "PR2611-0001", 1, QuoteStatus.OPEN, None, None, Decimal(0), Decimal(0), Decimal(0), "EUR",
                 main_document=main_document, changed_at=changed_at, validated_at=validated_at)  # fmt: skip


def a_document(modified: datetime | None, content: bytes = b"%PDF-1.7", md5: str | None = "") -> Document:
    digest = hashlib.md5(content).hexdigest() if md5 == "" else md5
    return Document("PR2611-0001.pdf", "PR2611-0001/PR2611-0001.pdf", len(content), modified, "generated", digest)


def test_a_pdf_is_stale_only_when_older_than_the_quotes_last_change() -> None:
    """Older than the change: stale; made by the change (Dolibarr stamps the quote just after): fresh."""
    assert stale_reason(a_quote(PARIS_NOON), a_document(PARIS_NOON - timedelta(minutes=5))) is not None
    assert stale_reason(a_quote(PARIS_NOON), a_document(PARIS_NOON - timedelta(seconds=1))) is None
    assert stale_reason(a_quote(PARIS_NOON), a_document(PARIS_NOON + timedelta(days=1))) is None
    assert stale_reason(a_quote(None), a_document(PARIS_NOON)) is None  # no date known: Dolibarr's file
    assert stale_reason(a_quote(PARIS_NOON), None) == "it has no PDF in Dolibarr"


def test_downloaded_bytes_must_match_the_listed_size_and_md5() -> None:
    """Bytes that are not those the file list described are refused (then the PDF is rebuilt)."""
    listed = a_document(PARIS_NOON, b"%PDF-1.7 original")
    assert content_mismatch(listed, b"%PDF-1.7 original") is None
    assert "bytes downloaded" in str(content_mismatch(listed, b"%PDF-1.7 other, longer"))
    assert "MD5" in str(content_mismatch(listed, b"%PDF-1.7 ORIGINAL"))
    assert content_mismatch(a_document(PARIS_NOON, b"%PDF", md5=None), b"%PDF") is None  # no index row


def test_only_a_quote_unchanged_since_its_validation_and_naming_its_pdf_skips_the_file_list() -> None:
    """Dolibarr stamps the quote as it records the PDF made at validation: within 2 s it is that PDF."""
    validated = PARIS_NOON
    assert unchanged_since_validation(a_quote(validated, validated))  # made in the same second
    assert unchanged_since_validation(a_quote(validated + timedelta(seconds=2), validated))
    assert not unchanged_since_validation(a_quote(validated + timedelta(seconds=3), validated))  # changed since
    assert not unchanged_since_validation(a_quote(validated, validated, main_document=None))  # validated by the API
    assert not unchanged_since_validation(a_quote(validated, None))  # validation date unknown


def test_the_creation_date_a_pdf_states_is_read_when_there_is_one() -> None:
    """TCPDF states when it drew the PDF; a PDF that states nothing, or is no PDF, says None."""
    made_at = datetime(2026, 11, 28, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
    drawn = render_proposal_pdf(ref="PR1", issue_date=None, end_of_validity=None, company=ProposalPdfParty("A"),
                                customer=ProposalPdfParty("B"), lines=[], total_excl_tax=Decimal(0),
                                total_tax=Decimal(0), total_incl_tax=Decimal(0), made_at=made_at)  # fmt: skip
    assert stated_creation(drawn) == made_at
    assert stated_creation(b"%PDF-1.7 not really") is None
    assert stated_creation(b"PK\x03\x04 an ODT file") is None
