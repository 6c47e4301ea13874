"""Replies and bounces, against a real dovecot on loopback and the fake Dolibarr in-process.

Each test first makes the automatic run of 28 November 2026 (three e-mails, see test_auto_run.py), then
delivers sample messages (tests/samples/mailbox/) into dovecot with IMAP APPEND, reads the mailbox once
and looks at what Dolibarr, the ledger, the mailbox and `explain` then say.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from conftest import MutableClock, product_settings
from dolirelance.config import Settings, load_config
from dolirelance.domain import Channel
from dolirelance.errors import MailboxError
from dolirelance.history import decode_facts
from dolirelance.imap import PROCESSED_KEYWORD, mailbox_name
from dolirelance.ledger import MailboxLedger, MessageState
from dolirelance.policy import DecisionKind, SkipReason
from dolirelance.scheduler import Daemon, serve_forever
from dolirelance.service import Runtime, explain, follow_up, read_replies, run_auto
from dolirelance.testing import FakeDolibarr, SampleData, create_app
from dolirelance.testing.imap_server import DovecotServer, dovecot_available
from dolirelance.testing.smtp_sink import SmtpSink

SAMPLES = Path(__file__).parent / "samples" / "mailbox"
OUR_ADDRESS = "devis@solaire-rhone-alpes.test"
PASSWORD_ENV = "DOLIRELANCE_TEST_IMAP_PASSWORD"
# The day step 2 of `about_to_expire` is due: end of validity (1 December) + 10 days.
STEP_TWO_DAY = date(2026, 12, 11)
AFTER_THE_REPLIES = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)

# CI (.ci/run sets CI) installs dovecot: there a missing one fails instead of skipping
pytestmark = pytest.mark.skipif(
    not dovecot_available() and not os.environ.get("CI"), reason="dovecot-imapd is not installed (.ci/run installs it)"
)


def sample(name: str, *, message_id: str = "<none@nowhere.test>", ref: str = "", customer: str = "") -> bytes:
    raw = (SAMPLES / name).read_bytes()
    for placeholder, value in (
        (b"@@MESSAGE_ID@@", message_id),
        (b"@@QUOTE_REF@@", ref),
        (b"@@CUSTOMER@@", customer),
        (b"@@US@@", OUR_ADDRESS),
    ):
        raw = raw.replace(placeholder, value.encode())
    return raw


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer() as server:
        yield server


def with_imap(settings: Settings, dovecot: DovecotServer) -> Settings:
    """The test's configuration file with an [imap] section for the dovecot on loopback."""
    path = settings.base_dir / "dolirelance.toml"
    lines = [
        "",
        "[imap]",
        f'host = "{dovecot.host}"',
        f"port = {dovecot.port}",
        'security = "none"',
        f'username = "{dovecot.user}"',
        f'password_env = "{PASSWORD_ENV}"',
    ]
    path.write_text(path.read_text(encoding="utf-8") + "\n".join(lines) + "\n", encoding="utf-8")
    return load_config(path)


@pytest.fixture
def settings(
    tmp_path: Path,
    smtp_sink: SmtpSink,
    sample_data: SampleData,
    dovecot: DovecotServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    return with_imap(product_settings(tmp_path, smtp_sink.port, sample_data.api_keys["jdupont"]), dovecot)


def message_id_to(sink: SmtpSink, address: str) -> str:
    found = [m for m in sink.messages if address in str(m.message["To"])]
    assert len(found) == 1, [str(m.message["To"]) for m in sink.messages]
    return str(found[0].message["Message-ID"])


def events(fake: FakeDolibarr, code: str, quote_id: int | None = None) -> list[object]:
    return [
        e for e in fake.events.values() if e.code == code and (quote_id is None or e.fk_element == quote_id)
    ]


async def run_then_deliver(runtime: Runtime, clock: MutableClock) -> None:
    report = await run_auto(runtime)
    assert report.ok and len(report.sent) == 3
    clock.set(AFTER_THE_REPLIES)


# --------------------------------------------------------------------------------------- replies


async def test_a_reply_stops_the_next_step_and_is_on_the_quote(
    runtime: Runtime,
    clock: MutableClock,
    dovecot: DovecotServer,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
) -> None:
    """A Thunderbird reply (In-Reply-To) is recorded on the quote and the customer; step 2 no longer goes out."""
    quote_id, ref = sample_data.quotes["about_to_expire"], sample_data.refs["about_to_expire"]
    customer = "sophie.dupont@garage-dupont.test"
    await run_then_deliver(runtime, clock)
    before, *_ = await explain(runtime, ref, on=STEP_TWO_DAY)
    assert before.kind is DecisionKind.DUE  # without the reply, step 2 would go out that day
    message_id = message_id_to(smtp_sink, customer)
    dovecot.deliver(sample("thunderbird_reply.eml", message_id=message_id, ref=ref, customer=customer))

    report = await read_replies(runtime)

    assert report.ok, report
    [outcome] = report.messages
    assert (outcome.kind, outcome.outcome, outcome.quote_ref) == ("reply", "recorded", ref)
    [reply] = events(fake_dolibarr, "AC_RELANCE_REPLY", quote_id)
    assert reply.socid == fake_dolibarr.proposals[quote_id].socid  # on the customer too
    assert reply.contact_id == sample_data.contacts["sophie_dupont"]
    assert reply.percentage == 100 and reply.email_from == customer
    assert "Nous signons la semaine prochaine" in reply.note and "a écrit" not in reply.note
    assert "> Madame, Monsieur" not in reply.note  # the quoted text is left out
    facts = decode_facts(reply.note)
    assert facts["address"] == customer and facts["file"].endswith(".eml")
    [stored] = [f for f in fake_dolibarr.proposal_files(fake_dolibarr.proposals[quote_id]) if f.name.endswith(".eml")]
    assert b"Nous signons la semaine prochaine" in stored.content and message_id.encode() in stored.content
    todos = events(fake_dolibarr, "AC_RELANCE_TODO", quote_id)
    follow_up_todos = [t for t in todos if "for" not in decode_facts(t.note)]
    assert follow_up_todos and all(t.percentage == 100 for t in follow_up_todos)  # the planned follow-up is closed
    [answer_todo] = [t for t in todos if decode_facts(t.note).get("for") == "reply"]
    assert answer_todo.label.startswith("Répondre à Jean Martin")  # the sample's sender name
    assert answer_todo.percentage == 0 and answer_todo.userownerid == sample_data.users["jdupont"]
    assert datetime.fromtimestamp(answer_todo.datep, UTC).date() == AFTER_THE_REPLIES.date()

    [(uid, flags, _)] = dovecot.messages()
    assert PROCESSED_KEYWORD in flags and "\\Seen" not in flags  # still unread for the sales person
    row = MailboxLedger(runtime.ledger, report.mailbox).all_messages()[0]
    assert (row.uid, row.state, row.kind, row.event_id) == (uid, MessageState.DONE, "reply", reply.id)

    after, *_ = await explain(runtime, ref, on=STEP_TWO_DAY)
    assert after.kind is DecisionKind.SKIPPED and after.reason is SkipReason.REPLIED
    assert f"the customer replied on 30 November (see event {reply.id})" in after.summary


# --------------------------------------------------------------------------------------- bounces


@pytest.mark.parametrize("sample_name", ["postfix_dsn.eml", "exchange_ndr.eml", "qmail_bounce.eml"])
async def test_a_hard_bounce_makes_a_todo_and_blocks_the_address_until_the_contact_changes(
    runtime: Runtime,
    clock: MutableClock,
    dovecot: DovecotServer,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    sample_name: str,
) -> None:
    """RFC 3464 (Postfix, Exchange) and non-standard (qmail) bounces: event, to-do, address blocked, then freed."""
    quote_id, ref = sample_data.quotes["about_to_expire"], sample_data.refs["about_to_expire"]
    address = "sophie.dupont@garage-dupont.test"
    await run_then_deliver(runtime, clock)
    message_id = message_id_to(smtp_sink, address)
    dovecot.deliver(sample(sample_name, message_id=message_id, ref=ref, customer=address))

    report = await read_replies(runtime)

    assert report.ok, report
    [outcome] = report.messages
    assert (outcome.kind, outcome.outcome, outcome.address) == ("bounce", "recorded", address)
    assert "5.1.1" in outcome.detail or "5.1.10" in outcome.detail  # the server's reason
    [bounce] = events(fake_dolibarr, "AC_RELANCE_BOUNCE", quote_id)
    assert address in bounce.note and outcome.detail[:40] in " ".join(bounce.note.split())
    assert bounce.contact_id == sample_data.contacts["sophie_dupont"]
    todos = events(fake_dolibarr, "AC_RELANCE_TODO", quote_id)
    [fix] = [t for t in todos if decode_facts(t.note).get("for") == "bounce"]
    assert fix.label.startswith(f"Corriger l'adresse e-mail {address}") and fix.percentage == 0
    assert fix.userownerid == sample_data.users["jdupont"]
    assert not events(fake_dolibarr, "AC_RELANCE_REPLY")

    blocked, *_ = await explain(runtime, ref, on=STEP_TWO_DAY)
    assert blocked.kind is DecisionKind.SKIPPED and blocked.reason is SkipReason.BOUNCED
    assert f"{address} bounced on 28 November (see event {bounce.id})" in blocked.summary  # the report's Date
    dry = await run_auto(runtime, dry_run=True, on=STEP_TWO_DAY)
    assert next(d for d in dry.decisions if d.quote_id == quote_id).reason is SkipReason.BOUNCED

    # a person fixes the contact in Dolibarr: its date_modification moves past the bounce
    contact = fake_dolibarr.contacts[sample_data.contacts["sophie_dupont"]]
    contact.tms = int(datetime(2026, 12, 2, tzinfo=UTC).timestamp())
    freed, *_ = await explain(runtime, ref, on=STEP_TWO_DAY)
    assert freed.kind is DecisionKind.DUE


async def test_a_temporary_bounce_and_an_out_of_office_change_nothing(
    runtime: Runtime,
    clock: MutableClock,
    dovecot: DovecotServer,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
) -> None:
    """A delayed-delivery report and a French auto-reply are noted and marked, nothing written, nothing stopped."""
    ref = sample_data.refs["about_to_expire"]
    address = "sophie.dupont@garage-dupont.test"
    await run_then_deliver(runtime, clock)
    events_before = len(fake_dolibarr.events)
    message_id = message_id_to(smtp_sink, address)
    dovecot.deliver(sample("postfix_delayed.eml", message_id=message_id, ref=ref, customer=address))
    dovecot.deliver(sample("auto_reply_fr.eml", message_id=message_id, ref=ref, customer=address))

    report = await read_replies(runtime)

    assert report.ok, report
    assert [(m.kind, m.outcome, m.quote_ref) for m in report.messages] == [
        ("temporary-bounce", "noted", ref),
        ("auto-answer", "noted", ref),
    ]
    assert len(fake_dolibarr.events) == events_before
    assert all(PROCESSED_KEYWORD in flags for _, flags, _ in dovecot.messages())
    decision, *_ = await explain(runtime, ref, on=STEP_TWO_DAY)
    assert decision.kind is DecisionKind.DUE


# --------------------------------------------------------------------------------------- matching


async def test_outlook_and_gmail_replies_are_matched_by_references_and_by_sender_and_subject(
    runtime: Runtime,
    clock: MutableClock,
    dovecot: DovecotServer,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
) -> None:
    """Outlook names our Message-ID in References only; a new Gmail message is matched by its sender and the ref."""
    expired, garage = sample_data.refs["expired"], sample_data.refs["about_to_expire"]
    jean, sophie = "jean.martin@boulangerie-martin.test", "sophie.dupont@garage-dupont.test"
    await run_then_deliver(runtime, clock)
    dovecot.deliver(sample("outlook_reply.eml", message_id=message_id_to(smtp_sink, jean), ref=expired, customer=jean))
    dovecot.deliver(sample("gmail_reply.eml", ref=garage, customer=sophie))  # no In-Reply-To at all
    dovecot.deliver(sample("gmail_reply.eml", ref="PR9999-0001", customer=sophie))  # names no quote of hers

    report = await read_replies(runtime)

    assert [(m.kind, m.outcome, m.quote_ref) for m in report.messages] == [
        ("reply", "recorded", expired),
        ("reply", "recorded", garage),
        ("other", "ignored", None),
    ]
    [outlook] = events(fake_dolibarr, "AC_RELANCE_REPLY", sample_data.quotes["expired"])
    assert "remise de 5 %" in outlook.note and "Envoyé" not in outlook.note
    [gmail] = events(fake_dolibarr, "AC_RELANCE_REPLY", sample_data.quotes["about_to_expire"])
    assert "Le délai d'installation" in gmail.note
    flags = [f for _, f, _ in dovecot.messages()]
    assert [PROCESSED_KEYWORD in f for f in flags] == [True, True, False]  # the unmatched one is left alone


async def test_unrelated_and_unreadable_messages_are_left_in_place_and_the_unreadable_reported(
    runtime: Runtime, clock: MutableClock, dovecot: DovecotServer, fake_dolibarr: FakeDolibarr
) -> None:
    await run_then_deliver(runtime, clock)
    events_before = len(fake_dolibarr.events)
    dovecot.deliver(sample("unrelated.eml"))
    dovecot.deliver(sample("unreadable.eml"))

    report = await read_replies(runtime)

    assert [(m.kind, m.outcome) for m in report.messages] == [("other", "ignored"), ("unreadable", "unreadable")]
    assert not report.ok  # someone must look at the unreadable one
    assert "left in place" in (report.messages[1].error or "")
    assert len(fake_dolibarr.events) == events_before
    assert all(PROCESSED_KEYWORD not in flags for _, flags, _ in dovecot.messages())
    assert len(dovecot.messages()) == 2
    again = await read_replies(runtime)
    assert again.messages == [] and again.ok  # reported once; the ledger remembers both


# --------------------------------------------------------------------------------------- exactly once


async def test_reading_again_records_nothing_twice_and_moves_when_asked(
    tmp_path: Path,
    runtime: Runtime,
    clock: MutableClock,
    dovecot: DovecotServer,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
) -> None:
    """processed = "move": recorded messages go to the processed folder; a second read writes nothing."""
    ref = sample_data.refs["about_to_expire"]
    address = "sophie.dupont@garage-dupont.test"
    await run_then_deliver(runtime, clock)
    assert runtime.settings.imap is not None
    moving = runtime.settings.imap.model_copy(update={"processed": "move", "processed_folder": "Traités"})
    runtime.settings = runtime.settings.model_copy(update={"imap": moving})
    message_id = message_id_to(smtp_sink, address)
    dovecot.deliver(sample("thunderbird_reply.eml", message_id=message_id, ref=ref, customer=address))
    dovecot.deliver(sample("unrelated.eml"))

    first = await read_replies(runtime)
    count = len(fake_dolibarr.events)
    second = await read_replies(runtime)

    assert [m.outcome for m in first.messages] == ["recorded", "ignored"]
    assert second.messages == [] and second.ok
    assert len(fake_dolibarr.events) == count
    assert len(events(fake_dolibarr, "AC_RELANCE_REPLY")) == 1
    inbox, moved = dovecot.messages("INBOX"), dovecot.messages("Traités")
    assert len(inbox) == 1 and b"nouvelles-solaire" in inbox[0][2]
    assert len(moved) == 1 and b"Nous signons" in moved[0][2]


async def test_a_run_that_died_after_dolibarr_held_the_record_only_flags_the_message(
    runtime: Runtime,
    clock: MutableClock,
    dovecot: DovecotServer,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
) -> None:
    """RECORDED but not flagged (the process died in between): the next read flags it and writes nothing."""
    ref = sample_data.refs["about_to_expire"]
    address = "sophie.dupont@garage-dupont.test"
    await run_then_deliver(runtime, clock)
    dovecot.deliver(sample("thunderbird_reply.eml", message_id=message_id_to(smtp_sink, address), ref=ref,
                           customer=address))  # fmt: skip
    with dovecot.mailbox() as box:
        box.folder.set("INBOX")
        uidvalidity = int(box.folder.status("INBOX", ["UIDVALIDITY"])["UIDVALIDITY"])
    assert runtime.settings.imap is not None
    ledger = MailboxLedger(runtime.ledger, mailbox_name(runtime.settings.imap))
    assert ledger.claim_message(uidvalidity, 1) is not None
    ledger.mark(uidvalidity, 1, MessageState.RECORDED, kind="reply")
    count = len(fake_dolibarr.events)

    report = await read_replies(runtime)

    assert report.flagged_later == 1 and report.messages == []
    assert len(fake_dolibarr.events) == count
    [(_, flags, _)] = dovecot.messages()
    assert PROCESSED_KEYWORD in flags
    assert ledger.all_messages()[0].state is MessageState.DONE


async def test_no_imap_section_is_a_clear_error(runtime: Runtime, settings: Settings) -> None:
    runtime.settings = settings.model_copy(update={"imap": None})
    with pytest.raises(MailboxError, match=r"no \[imap\] section") as caught:
        await read_replies(runtime)
    assert caught.value.remedy and "docs/replies.md" in caught.value.remedy


async def test_a_wrong_password_is_reported_with_what_to_do(
    runtime: Runtime, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    report = await read_replies(runtime)
    assert not report.ok
    assert report.error is not None and "refused the login" in report.error and "password_env" in report.error
    assert "not-the-password" not in report.error


# --------------------------------------------------------------------------------------- serve


async def test_serve_reads_the_mailbox_on_its_schedule(
    settings: Settings,
    clock: MutableClock,
    dovecot: DovecotServer,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
) -> None:
    """At start, then every [imap] every_minutes on the injected clock; health shows the last reading."""
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    daemon = Daemon(settings, now=clock, runtime_options={"transport": transport})
    stop = asyncio.Event()
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_forever(settings, stop_event=stop, ready=port.set_result, daemon=daemon))
    bound = await asyncio.wait_for(port, timeout=10)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound}") as client:
            for _ in range(1000):  # the catch-up run sends today's three e-mails; the first reading finds nothing
                health = (await client.get("/health")).json()
                if health["last_run"] and health["replies"] and not health["running"]:
                    break
                await asyncio.sleep(0.02)
            assert health["replies"]["counts"]["recorded"] == 0
            address = "sophie.dupont@garage-dupont.test"
            ref = sample_data.refs["about_to_expire"]
            dovecot.deliver(sample("thunderbird_reply.eml", message_id=message_id_to(smtp_sink, address), ref=ref,
                                   customer=address))  # fmt: skip
            await asyncio.sleep(0.2)
            assert not events(fake_dolibarr, "AC_RELANCE_REPLY")  # not before the next reading is due
            clock.advance(minutes=5)
            for _ in range(1000):
                health = (await client.get("/health")).json()
                if health["replies"]["counts"]["recorded"] == 1:
                    break
                await asyncio.sleep(0.02)
            assert health["replies"]["outcome"] == "ok" and health["replies"]["counts"]["recorded"] == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)
    assert len(events(fake_dolibarr, "AC_RELANCE_REPLY", sample_data.quotes["about_to_expire"])) == 1


async def test_dolibarr_refusing_the_record_leaves_the_message_for_the_next_reading(
    runtime: Runtime,
    clock: MutableClock,
    dovecot: DovecotServer,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
) -> None:
    """Dolibarr refuses the reply event: reported failed, not flagged; the next reading records it once."""
    ref = sample_data.refs["about_to_expire"]
    address = "sophie.dupont@garage-dupont.test"
    await run_then_deliver(runtime, clock)
    dovecot.deliver(sample("thunderbird_reply.eml", message_id=message_id_to(smtp_sink, address), ref=ref,
                           customer=address))  # fmt: skip
    fake_dolibarr.fail_next(1, 400, path_prefix="/agendaevents", method="POST")  # the reply event itself
    failed = await read_replies(runtime)
    assert [(m.kind, m.outcome) for m in failed.messages] == [("other", "failed")] and not failed.ok
    assert "a later run records it" in (failed.messages[0].error or "")
    assert all(PROCESSED_KEYWORD not in flags for _, flags, _ in dovecot.messages())

    again = await read_replies(runtime)  # no lease to wait for: the failed run let the message go

    assert [(m.kind, m.outcome) for m in again.messages] == [("reply", "recorded")] and again.ok
    assert len(events(fake_dolibarr, "AC_RELANCE_REPLY")) == 1
    assert all(PROCESSED_KEYWORD in flags for _, flags, _ in dovecot.messages())


async def test_the_automatic_run_writes_only_to_the_addresses_that_did_not_bounce(
    runtime: Runtime,
    clock: MutableClock,
    dovecot: DovecotServer,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
) -> None:
    """Two contacts, one bounced: the next automatic step goes to the other one only; a manual one to both."""
    ref = sample_data.refs["two_contacts"]
    manual = await follow_up(runtime, ref, channel=Channel.EMAIL, model="1ère relance")
    assert manual.outcome == "recorded" and "nicolas.dupont@garage-dupont.test" in manual.recipients
    [mail] = smtp_sink.messages
    bounced = "nicolas.dupont@garage-dupont.test"
    dovecot.deliver(sample("exchange_ndr.eml", message_id=str(mail.message["Message-ID"]), ref=ref, customer=bounced))
    clock.set(AFTER_THE_REPLIES)
    assert [m.kind for m in (await read_replies(runtime)).messages] == ["bounce"]
    smtp_sink.clear()

    clock.set(datetime(2026, 12, 18, 8, 0, tzinfo=UTC))  # step 2 of the quote (end of validity 8 December + 10)
    report = await run_auto(runtime)

    [outcome] = [o for o in report.outcomes if o.quote_ref == ref]
    assert outcome.outcome == "recorded" and outcome.recipients == "sophie.dupont@garage-dupont.test"
    [sent] = [m for m in smtp_sink.messages if ref in str(m.message["Subject"])]
    assert sent.rcpt_tos == ["sophie.dupont@garage-dupont.test"]
    smtp_sink.clear()
    again = await follow_up(runtime, ref, channel=Channel.EMAIL, force=True)  # a person may still write to both
    assert bounced in again.recipients


@pytest.mark.parametrize("dolibarr_version", ["23.0.0-beta"])
async def test_on_dolibarr_23_without_modification_dates_a_new_address_frees_the_quote(
    runtime: Runtime,
    clock: MutableClock,
    dovecot: DovecotServer,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
) -> None:
    """23 answers date_modification "": saving the card does not unblock; replacing the address does."""
    ref = sample_data.refs["about_to_expire"]
    address = "sophie.dupont@garage-dupont.test"
    await run_then_deliver(runtime, clock)
    dovecot.deliver(sample("postfix_dsn.eml", message_id=message_id_to(smtp_sink, address), ref=ref, customer=address))
    assert [m.kind for m in (await read_replies(runtime)).messages] == ["bounce"]
    contact = fake_dolibarr.contacts[sample_data.contacts["sophie_dupont"]]
    contact.tms = int(datetime(2026, 12, 2, tzinfo=UTC).timestamp())
    still, *_ = await explain(runtime, ref, on=STEP_TWO_DAY)
    assert still.reason is SkipReason.BOUNCED
    contact.email = "s.dupont@garage-dupont.test"
    freed, *_ = await explain(runtime, ref, on=STEP_TWO_DAY)
    assert freed.kind is DecisionKind.DUE
