"""Replies and bounces, against a real dovecot on loopback and the fake Dolibarr in-process.

Each test first makes the automatic run of 28 November 2026 (three e-mails, see test_auto_run.py), then
delivers sample messages (tests/samples/mailbox/) into dovecot with IMAP APPEND, reads the mailbox once
and looks at what Dolibarr, the ledger, the mailbox and `explain` then say.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from conftest import MutableClock, product_settings
from dolirelance.config import Settings, load_config
from dolirelance.dolibarr.wire import html_to_text
from dolirelance.domain import Channel
from dolirelance.errors import MailboxError
from dolirelance.history import decode_facts
from dolirelance.imap import PROCESSED_KEYWORD, mailbox_name
from dolirelance.ledger import MailboxLedger, MessageState
from dolirelance.policy import DecisionKind, SkipReason
from dolirelance.scheduler import Daemon, serve_forever
from dolirelance.service import Runtime, explain, follow_up, read_replies, run_auto
from dolirelance.testing import FakeDolibarr, SampleData, create_app
from dolirelance.testing.imap_server import DovecotServer
from dolirelance.testing.smtp_sink import SmtpSink
from mailbox_samples import IMAP_PASSWORD_ENV, NEEDS_DOVECOT, add_imap_section, sample_message

SOPHIE = "sophie.dupont@garage-dupont.test"  # the contact of `about_to_expire`
# The day step 2 of `about_to_expire` is due: end of validity (1 December) + 10 days.
STEP_TWO_DAY = date(2026, 12, 11)
AFTER_THE_REPLIES = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)

pytestmark = NEEDS_DOVECOT


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer() as server:
        yield server


@pytest.fixture
def settings(
    tmp_path: Path,
    smtp_sink: SmtpSink,
    sample_data: SampleData,
    dovecot: DovecotServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    """The test's configuration file with an [imap] section for the dovecot on loopback."""
    monkeypatch.setenv(IMAP_PASSWORD_ENV, dovecot.password)
    path = product_settings(tmp_path, smtp_sink.port, sample_data.api_keys["jdupont"]).base_dir / "dolirelance.toml"
    add_imap_section(path, dovecot)
    return load_config(path)


def message_id_to(sink: SmtpSink, address: str) -> str:
    found = [m for m in sink.messages if address in str(m.message["To"])]
    assert len(found) == 1, [str(m.message["To"]) for m in sink.messages]
    return str(found[0].message["Message-ID"])


def events(fake: FakeDolibarr, code: str, quote_id: int | None = None) -> list[object]:
    return [
        e for e in fake.events.values() if e.code == code and (quote_id is None or e.fk_element == quote_id)
    ]


@dataclass
class World:
    """The product on the injected clock, the fake Dolibarr it writes to, the SMTP sink and the mailbox."""

    runtime: Runtime
    clock: MutableClock
    dovecot: DovecotServer
    fake: FakeDolibarr
    sample: SampleData
    sink: SmtpSink

    async def run_then_deliver(self) -> None:
        """The automatic run of 28 November (three e-mails), then the clock moved to when the answers are in."""
        report = await run_auto(self.runtime)
        assert report.ok and len(report.sent) == 3
        self.clock.set(AFTER_THE_REPLIES)

    def answer(self, name: str, *, ref: str, customer: str = SOPHIE) -> str:
        """Deliver the sample ``name`` answering our e-mail to ``customer``; the Message-ID it answers."""
        message_id = message_id_to(self.sink, customer)
        self.dovecot.deliver(sample_message(name, message_id=message_id, ref=ref, customer=customer))
        return message_id

    async def one_reply_in_the_inbox(self) -> tuple[MailboxLedger, int]:
        """The run, then Sophie's Thunderbird reply delivered (UID 1, unread yet): the mailbox's ledger and
        the INBOX's UIDVALIDITY, to write in it what a reading that died would have left."""
        await self.run_then_deliver()
        self.answer("thunderbird_reply.eml", ref=self.sample.refs["about_to_expire"])
        with self.dovecot.mailbox() as box:
            box.folder.set("INBOX")
            uidvalidity = int(box.folder.status("INBOX", ["UIDVALIDITY"])["UIDVALIDITY"])
        assert self.runtime.settings.imap is not None
        return MailboxLedger(self.runtime.ledger, mailbox_name(self.runtime.settings.imap)), uidvalidity


@asynccontextmanager
async def serving(
    settings: Settings, clock: MutableClock, fake: FakeDolibarr, *, stop_within: float
) -> AsyncIterator[httpx.AsyncClient]:
    """`serve` running in this loop on the fake Dolibarr and the injected clock, and a client on its health
    port; when the block ends, it is asked to stop and must within ``stop_within`` seconds."""
    transport = httpx.ASGITransport(app=create_app(fake))
    daemon = Daemon(settings, now=clock, runtime_options={"transport": transport})
    stop = asyncio.Event()
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_forever(settings, stop_event=stop, ready=port.set_result, daemon=daemon))
    bound = await asyncio.wait_for(port, timeout=10)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound}") as client:
            yield client
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=stop_within)


@pytest.fixture
def world(
    runtime: Runtime,
    clock: MutableClock,
    dovecot: DovecotServer,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
) -> World:
    return World(runtime, clock, dovecot, fake_dolibarr, sample_data, smtp_sink)


# --------------------------------------------------------------------------------------- replies


async def test_a_reply_stops_the_next_step_and_is_on_the_quote(world: World) -> None:
    """A Thunderbird reply (In-Reply-To) is recorded on the quote and the customer; step 2 no longer goes out."""
    fake, sample_data = world.fake, world.sample
    quote_id, ref = sample_data.quotes["about_to_expire"], sample_data.refs["about_to_expire"]
    await world.run_then_deliver()
    before, *_ = await explain(world.runtime, ref, on=STEP_TWO_DAY)
    assert before.kind is DecisionKind.DUE  # without the reply, step 2 would go out that day
    message_id = world.answer("thunderbird_reply.eml", ref=ref)

    report = await read_replies(world.runtime)

    assert report.ok, report
    [outcome] = report.messages
    assert (outcome.kind, outcome.outcome, outcome.quote_ref) == ("reply", "recorded", ref)
    [reply] = events(fake, "AC_RELANCE_REPLY", quote_id)
    assert reply.socid == fake.proposals[quote_id].socid  # on the customer too
    assert reply.contact_id == sample_data.contacts["sophie_dupont"]
    assert reply.percentage == 100 and reply.email_from == SOPHIE
    assert "Nous signons la semaine prochaine" in reply.note and "a écrit" not in reply.note
    assert "> Madame, Monsieur" not in reply.note  # the quoted text is left out
    facts = decode_facts(reply.note)
    assert facts["address"] == SOPHIE and facts["file"].endswith(".eml")
    [stored] = [f for f in fake.proposal_files(fake.proposals[quote_id]) if f.name.endswith(".eml")]
    assert b"Nous signons la semaine prochaine" in stored.content and message_id.encode() in stored.content
    todos = events(fake, "AC_RELANCE_TODO", quote_id)
    follow_up_todos = [t for t in todos if "for" not in decode_facts(t.note)]
    assert follow_up_todos and all(t.percentage == 100 for t in follow_up_todos)  # the planned follow-up is closed
    [answer_todo] = [t for t in todos if decode_facts(t.note).get("for") == "reply"]
    assert answer_todo.label.startswith("Répondre à Jean Martin")  # the sample's sender name
    assert answer_todo.percentage == 0 and answer_todo.userownerid == sample_data.users["jdupont"]
    assert datetime.fromtimestamp(answer_todo.datep, UTC).date() == AFTER_THE_REPLIES.date()

    [(uid, flags, _)] = world.dovecot.messages()
    assert PROCESSED_KEYWORD in flags and "\\Seen" not in flags  # still unread for the sales person
    row = MailboxLedger(world.runtime.ledger, report.mailbox).all_messages()[0]
    assert (row.uid, row.state, row.kind, row.event_id) == (uid, MessageState.DONE, "reply", reply.id)

    after, *_ = await explain(world.runtime, ref, on=STEP_TWO_DAY)
    assert after.kind is DecisionKind.SKIPPED and after.reason is SkipReason.REPLIED
    assert f"the customer replied on 30 November (see event {reply.id})" in after.summary


# --------------------------------------------------------------------------------------- bounces


@pytest.mark.parametrize("sample_name", ["postfix_dsn.eml", "exchange_ndr.eml", "qmail_bounce.eml"])
async def test_a_hard_bounce_makes_a_todo_and_blocks_the_address_until_the_contact_changes(
    world: World, sample_name: str
) -> None:
    """RFC 3464 (Postfix, Exchange) and non-standard (qmail) bounces: event, to-do, address blocked, then freed."""
    fake, sample_data, runtime = world.fake, world.sample, world.runtime
    quote_id, ref = sample_data.quotes["about_to_expire"], sample_data.refs["about_to_expire"]
    address = SOPHIE
    await world.run_then_deliver()
    world.answer(sample_name, ref=ref, customer=address)

    report = await read_replies(runtime)

    assert report.ok, report
    [outcome] = report.messages
    assert (outcome.kind, outcome.outcome, outcome.address) == ("bounce", "recorded", address)
    assert "5.1.1" in outcome.detail or "5.1.10" in outcome.detail  # the server's reason
    [bounce] = events(fake, "AC_RELANCE_BOUNCE", quote_id)
    assert address in bounce.note and outcome.detail[:40] in " ".join(html_to_text(bounce.note).split())
    assert "<" + address not in bounce.note  # the server's words go into the HTML note escaped
    assert bounce.contact_id == sample_data.contacts["sophie_dupont"]
    todos = events(fake, "AC_RELANCE_TODO", quote_id)
    [fix] = [t for t in todos if decode_facts(t.note).get("for") == "bounce"]
    assert fix.label.startswith(f"Corriger l'adresse e-mail {address}") and fix.percentage == 0
    assert fix.userownerid == sample_data.users["jdupont"]
    assert not events(fake, "AC_RELANCE_REPLY")

    blocked, *_ = await explain(runtime, ref, on=STEP_TWO_DAY)
    assert blocked.kind is DecisionKind.SKIPPED and blocked.reason is SkipReason.BOUNCED
    assert f"{address} bounced on 28 November (see event {bounce.id})" in blocked.summary  # the report's Date
    dry = await run_auto(runtime, dry_run=True, on=STEP_TWO_DAY)
    assert next(d for d in dry.decisions if d.quote_id == quote_id).reason is SkipReason.BOUNCED

    # a person fixes the contact in Dolibarr: its date_modification moves past the bounce
    contact = fake.contacts[sample_data.contacts["sophie_dupont"]]
    contact.tms = int(datetime(2026, 12, 2, tzinfo=UTC).timestamp())
    freed, *_ = await explain(runtime, ref, on=STEP_TWO_DAY)
    assert freed.kind is DecisionKind.DUE


async def test_a_temporary_bounce_and_an_out_of_office_change_nothing(world: World) -> None:
    """A delayed-delivery report and a French auto-reply are noted and marked, nothing written, nothing stopped."""
    ref = world.sample.refs["about_to_expire"]
    await world.run_then_deliver()
    events_before = len(world.fake.events)
    world.answer("postfix_delayed.eml", ref=ref)
    world.answer("auto_reply_fr.eml", ref=ref)

    report = await read_replies(world.runtime)

    assert report.ok, report
    assert [(m.kind, m.outcome, m.quote_ref) for m in report.messages] == [
        ("temporary-bounce", "noted", ref),
        ("auto-answer", "noted", ref),
    ]
    assert len(world.fake.events) == events_before
    assert all(PROCESSED_KEYWORD in flags for _, flags, _ in world.dovecot.messages())
    decision, *_ = await explain(world.runtime, ref, on=STEP_TWO_DAY)
    assert decision.kind is DecisionKind.DUE


# --------------------------------------------------------------------------------------- matching


async def test_outlook_and_gmail_replies_are_matched_by_references_and_by_sender_and_subject(world: World) -> None:
    """Outlook names our Message-ID in References only; a new Gmail message is matched by its sender and the ref."""
    expired, garage = world.sample.refs["expired"], world.sample.refs["about_to_expire"]
    jean = "jean.martin@boulangerie-martin.test"
    await world.run_then_deliver()
    world.answer("outlook_reply.eml", ref=expired, customer=jean)
    world.dovecot.deliver(sample_message("gmail_reply.eml", ref=garage, customer=SOPHIE))  # no In-Reply-To at all
    world.dovecot.deliver(sample_message("gmail_reply.eml", ref="PR9999-0001", customer=SOPHIE))  # no quote of hers

    report = await read_replies(world.runtime)

    assert [(m.kind, m.outcome, m.quote_ref) for m in report.messages] == [
        ("reply", "recorded", expired),
        ("reply", "recorded", garage),
        ("other", "ignored", None),
    ]
    [outlook] = events(world.fake, "AC_RELANCE_REPLY", world.sample.quotes["expired"])
    assert "remise de 5 %" in outlook.note and "Envoyé" not in outlook.note
    [gmail] = events(world.fake, "AC_RELANCE_REPLY", world.sample.quotes["about_to_expire"])
    assert "Le délai d'installation" in gmail.note
    flags = [f for _, f, _ in world.dovecot.messages()]
    assert [PROCESSED_KEYWORD in f for f in flags] == [True, True, False]  # the unmatched one is left alone


async def test_unrelated_and_unreadable_messages_are_left_in_place_and_the_unreadable_reported(world: World) -> None:
    await world.run_then_deliver()
    events_before = len(world.fake.events)
    world.dovecot.deliver(sample_message("unrelated.eml"))
    world.dovecot.deliver(sample_message("unreadable.eml"))

    report = await read_replies(world.runtime)

    assert [(m.kind, m.outcome) for m in report.messages] == [("other", "ignored"), ("unreadable", "unreadable")]
    assert not report.ok  # someone must look at the unreadable one
    assert "left in place" in (report.messages[1].error or "")
    assert len(world.fake.events) == events_before
    assert all(PROCESSED_KEYWORD not in flags for _, flags, _ in world.dovecot.messages())
    assert len(world.dovecot.messages()) == 2
    again = await read_replies(world.runtime)
    assert again.messages == [] and again.ok  # reported once; the ledger remembers both


# --------------------------------------------------------------------------------------- exactly once


async def test_reading_again_records_nothing_twice_and_moves_when_asked(world: World) -> None:
    """processed = "move": recorded messages go to the processed folder; a second read writes nothing."""
    runtime = world.runtime
    await world.run_then_deliver()
    assert runtime.settings.imap is not None
    moving = runtime.settings.imap.model_copy(update={"processed": "move", "processed_folder": "Traités"})
    runtime.settings = runtime.settings.model_copy(update={"imap": moving})
    world.answer("thunderbird_reply.eml", ref=world.sample.refs["about_to_expire"])
    world.dovecot.deliver(sample_message("unrelated.eml"))

    first = await read_replies(runtime)
    count = len(world.fake.events)
    second = await read_replies(runtime)

    assert [m.outcome for m in first.messages] == ["recorded", "ignored"]
    assert second.messages == [] and second.ok
    assert len(world.fake.events) == count
    assert len(events(world.fake, "AC_RELANCE_REPLY")) == 1
    inbox, moved = world.dovecot.messages("INBOX"), world.dovecot.messages("Traités")
    assert len(inbox) == 1 and b"nouvelles-solaire" in inbox[0][2]
    assert len(moved) == 1 and b"Nous signons" in moved[0][2]


async def test_a_run_that_died_after_dolibarr_held_the_record_only_flags_the_message(world: World) -> None:
    """RECORDED but not flagged (the process died in between): the next read flags it and writes nothing."""
    runtime = world.runtime
    ledger, uidvalidity = await world.one_reply_in_the_inbox()
    assert ledger.claim_message(uidvalidity, 1) is not None
    ledger.mark(uidvalidity, 1, MessageState.RECORDED, kind="reply")
    count = len(world.fake.events)

    report = await read_replies(runtime)

    assert report.flagged_later == 1 and report.messages == []
    assert len(world.fake.events) == count
    [(_, flags, _)] = world.dovecot.messages()
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
    monkeypatch.setenv(IMAP_PASSWORD_ENV, "not-the-password")
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
    async with serving(settings, clock, fake_dolibarr, stop_within=20) as client:
        for _ in range(1000):  # the catch-up run sends today's three e-mails; the first reading finds nothing
            health = (await client.get("/health")).json()
            if health["last_run"] and health["replies"] and not health["running"]:
                break
            await asyncio.sleep(0.02)
        assert health["replies"]["counts"]["recorded"] == 0
        ref = sample_data.refs["about_to_expire"]
        message_id = message_id_to(smtp_sink, SOPHIE)
        dovecot.deliver(sample_message("thunderbird_reply.eml", message_id=message_id, ref=ref, customer=SOPHIE))
        await asyncio.sleep(0.2)
        assert not events(fake_dolibarr, "AC_RELANCE_REPLY")  # not before the next reading is due
        clock.advance(minutes=5)
        for _ in range(1000):
            health = (await client.get("/health")).json()
            if health["replies"]["counts"]["recorded"] == 1:
                break
            await asyncio.sleep(0.02)
        assert health["replies"]["outcome"] == "ok" and health["replies"]["counts"]["recorded"] == 1
    assert len(events(fake_dolibarr, "AC_RELANCE_REPLY", sample_data.quotes["about_to_expire"])) == 1


async def test_dolibarr_refusing_the_record_leaves_the_message_for_the_next_reading(world: World) -> None:
    """Dolibarr refuses the reply event: reported failed, not flagged; the next reading records it once."""
    await world.run_then_deliver()
    world.answer("thunderbird_reply.eml", ref=world.sample.refs["about_to_expire"])
    world.fake.fail_next(1, 400, path_prefix="/agendaevents", method="POST")  # the reply event itself
    failed = await read_replies(world.runtime)
    assert [(m.kind, m.outcome) for m in failed.messages] == [("other", "failed")] and not failed.ok
    assert "a later run records it" in (failed.messages[0].error or "")
    assert all(PROCESSED_KEYWORD not in flags for _, flags, _ in world.dovecot.messages())

    again = await read_replies(world.runtime)  # no lease to wait for: the failed run let the message go

    assert [(m.kind, m.outcome) for m in again.messages] == [("reply", "recorded")] and again.ok
    assert len(events(world.fake, "AC_RELANCE_REPLY")) == 1
    assert all(PROCESSED_KEYWORD in flags for _, flags, _ in world.dovecot.messages())


async def test_the_automatic_run_writes_only_to_the_addresses_that_did_not_bounce(world: World) -> None:
    """Two contacts, one bounced: the next automatic step goes to the other one only; a manual one to both."""
    runtime, sink = world.runtime, world.sink
    ref = world.sample.refs["two_contacts"]
    manual = await follow_up(runtime, ref, channel=Channel.EMAIL, model="1ère relance")
    assert manual.outcome == "recorded" and "nicolas.dupont@garage-dupont.test" in manual.recipients
    [mail] = sink.messages
    bounced = "nicolas.dupont@garage-dupont.test"
    world.dovecot.deliver(
        sample_message("exchange_ndr.eml", message_id=str(mail.message["Message-ID"]), ref=ref, customer=bounced)
    )
    world.clock.set(AFTER_THE_REPLIES)
    assert [m.kind for m in (await read_replies(runtime)).messages] == ["bounce"]
    sink.clear()

    world.clock.set(datetime(2026, 12, 18, 8, 0, tzinfo=UTC))  # step 2 of the quote (end of validity 8 December + 10)
    report = await run_auto(runtime)

    [outcome] = [o for o in report.outcomes if o.quote_ref == ref]
    assert outcome.outcome == "recorded" and outcome.recipients == SOPHIE
    [sent] = [m for m in sink.messages if ref in str(m.message["Subject"])]
    assert sent.rcpt_tos == [SOPHIE]
    sink.clear()
    again = await follow_up(runtime, ref, channel=Channel.EMAIL, force=True)  # a person may still write to both
    assert bounced in again.recipients


@pytest.mark.parametrize("dolibarr_version", ["23.0.0-beta"])
async def test_on_dolibarr_23_without_modification_dates_a_new_address_frees_the_quote(world: World) -> None:
    """23 answers date_modification "": saving the card does not unblock; replacing the address does."""
    ref = world.sample.refs["about_to_expire"]
    await world.run_then_deliver()
    world.answer("postfix_dsn.eml", ref=ref)
    assert [m.kind for m in (await read_replies(world.runtime)).messages] == ["bounce"]
    contact = world.fake.contacts[world.sample.contacts["sophie_dupont"]]
    contact.tms = int(datetime(2026, 12, 2, tzinfo=UTC).timestamp())
    still, *_ = await explain(world.runtime, ref, on=STEP_TWO_DAY)
    assert still.reason is SkipReason.BOUNCED
    contact.email = "s.dupont@garage-dupont.test"
    freed, *_ = await explain(world.runtime, ref, on=STEP_TWO_DAY)
    assert freed.kind is DecisionKind.DUE
