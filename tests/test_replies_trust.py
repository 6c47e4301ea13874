"""No e-mail can trick the reader: a forged failure report and a spoofed reply change nothing automatic.

Against a real dovecot on loopback and the fake Dolibarr, as tests/test_replies.py (its fixtures): the
automatic run of 28 November sends three e-mails, then forged messages arrive in the replies mailbox.
A bounce counts only when it carries our Message-ID (or our ENVID); a reply only when it answers our
Message-ID or the trusted receiving server vouches for its sender (DMARC, or DKIM for its domain).
Anything else is a to-do for a person to check, and none of its words is written into Dolibarr.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

import pytest

from dolirelance.cli import print_replies_report
from dolirelance.config import Settings
from dolirelance.history import decode_facts
from dolirelance.policy import DecisionKind
from dolirelance.service import explain, read_replies
from dolirelance.service.replies import Kind, MessageOutcome, RepliesReport
from mailbox_samples import NEEDS_DOVECOT, sample_message
from test_replies import SOPHIE, STEP_TWO_DAY, World, dovecot, events, message_id_to, settings, world

__all__ = ["dovecot", "settings", "world"]  # the fixtures, served here too
pytestmark = NEEDS_DOVECOT

ATTACKER_WORDS = ("99 00 12 34", "attacker.test/unblock", "attacker.test/pay", "<script>", "renonçons")


async def test_a_forged_bounce_and_a_spoofed_reply_change_nothing_automatic(world: World) -> None:
    """A DSN from postmaster@attacker.test naming Sophie's address (5.1.1, a phone number and a link) and a
    message From: Sophie with her quote's ref in the subject: no bounce, no reply, nothing blocked or
    stopped, `explain` as before, the attacker's words nowhere in Dolibarr; a to-do to check each."""
    fake, sample = world.fake, world.sample
    quote_id, ref = sample.quotes["about_to_expire"], sample.refs["about_to_expire"]
    await world.run_then_deliver()
    before = await explain(world.runtime, ref, on=STEP_TWO_DAY)
    assert before.decision.kind is DecisionKind.DUE
    open_todos_before = [t.event_id for t in before.history.open_todos]
    world.dovecot.deliver(sample_message("forged_dsn.eml", ref=ref, customer=SOPHIE))
    world.dovecot.deliver(sample_message("spoofed_reply.eml", ref=ref, customer=SOPHIE))

    report = await read_replies(world.runtime)

    assert report.ok, report
    assert [(m.kind, m.outcome, m.quote_ref) for m in report.messages] == [
        ("unverified-bounce", "recorded", ref),
        ("unverified-reply", "recorded", ref),
    ]
    assert not events(fake, "AC_RELANCE_BOUNCE") and not events(fake, "AC_RELANCE_REPLY")
    after = await explain(world.runtime, ref, on=STEP_TWO_DAY)
    assert after.decision == before.decision  # still due: nothing stopped
    assert after.blocked == before.blocked == frozenset()  # her address is not blocked
    assert after.history.answers == ()
    assert [t.event_id for t in after.history.open_todos] == open_todos_before  # her follow-up to-do stays open
    for event in fake.events.values():  # the attacker's words are written nowhere
        written = f"{event.label}\n{event.note}"
        assert not any(words in written for words in ATTACKER_WORDS), written

    checks = {decode_facts(t.note).get("for"): t for t in events(fake, "AC_RELANCE_TODO", quote_id)}
    verify_bounce, verify_reply = checks["verify-bounce"], checks["verify-reply"]
    assert verify_bounce.label.startswith(f"Vérifier l'adresse e-mail {SOPHIE}")
    assert verify_reply.label.startswith(f"Vérifier la réponse de {SOPHIE}")
    for todo in (verify_bounce, verify_reply):
        assert todo.percentage == 0 and todo.userownerid == sample.users["jdupont"]
        assert "boîte des réponses" in todo.note  # where the person finds the message

    count = len(fake.events)
    again = await read_replies(world.runtime)
    assert again.messages == [] and len(fake.events) == count  # each checked once


async def test_a_reply_that_answers_our_message_id_counts_without_authentication(world: World) -> None:
    """The same words, but In-Reply-To names our (random) Message-ID: a reply; `explain` says how it was known."""
    ref = world.sample.refs["about_to_expire"]
    await world.run_then_deliver()
    message_id = world.answer("thunderbird_reply.eml", ref=ref)

    report = await read_replies(world.runtime)

    assert [(m.kind, m.outcome) for m in report.messages] == [("reply", "recorded")]
    [reply] = events(world.fake, "AC_RELANCE_REPLY")
    assert decode_facts(reply.note)["proof"] == "message-id"
    found = await explain(world.runtime, ref, on=STEP_TWO_DAY)
    [answer] = found.history.answers
    assert answer.proof == "message-id" and message_id


async def test_a_reply_vouched_for_by_the_trusted_server_counts(world: World) -> None:
    """Matched by sender and subject only, the trusted server's topmost Authentication-Results shows
    DMARC pass for her domain (gmail_reply.eml): a reply, and the proof is kept on the event."""
    ref = world.sample.refs["about_to_expire"]
    await world.run_then_deliver()
    world.dovecot.deliver(sample_message("gmail_reply.eml", ref=ref, customer=SOPHIE))

    report = await read_replies(world.runtime)

    assert [(m.kind, m.outcome) for m in report.messages] == [("reply", "recorded")]
    [reply] = events(world.fake, "AC_RELANCE_REPLY")
    assert decode_facts(reply.note)["proof"].startswith("dkim=pass header.d=garage-dupont.test")
    decision = (await explain(world.runtime, ref, on=STEP_TWO_DAY)).decision
    assert decision.kind is DecisionKind.SKIPPED


async def test_without_a_trusted_server_a_subject_match_is_only_checked(world: World) -> None:
    """No [imap] trusted_authserv_id: even a genuine-looking Authentication-Results is not believed."""
    runtime = world.runtime
    assert runtime.settings.imap is not None
    untrusting = runtime.settings.imap.model_copy(update={"trusted_authserv_id": None})
    runtime.settings = runtime.settings.model_copy(update={"imap": untrusting})
    ref = world.sample.refs["about_to_expire"]
    await world.run_then_deliver()
    world.dovecot.deliver(sample_message("gmail_reply.eml", ref=ref, customer=SOPHIE))

    report = await read_replies(runtime)

    assert [(m.kind, m.outcome) for m in report.messages] == [("unverified-reply", "recorded")]
    assert not events(world.fake, "AC_RELANCE_REPLY")
    assert (await explain(runtime, ref, on=STEP_TWO_DAY)).decision.kind is DecisionKind.DUE


async def test_our_envid_comes_back_in_a_report_and_proves_it(world: World) -> None:
    """The sink offers DSN: MAIL FROM gives ENVID=<our Message-ID> and RET=HDRS; a report that returns only
    the Original-Envelope-Id is a proven permanent bounce (event, address blocked)."""
    ref = world.sample.refs["about_to_expire"]
    await world.run_then_deliver()
    [sent] = [m for m in world.sink.messages if SOPHIE in m.rcpt_tos]
    assert sent.dsn == {"ENVID": str(sent.message["Message-ID"]), "RET": "HDRS"}  # its xtext is itself here
    world.dovecot.deliver(sample_message("envid_dsn.eml", message_id=sent.dsn["ENVID"], ref=ref, customer=SOPHIE))

    report = await read_replies(world.runtime)

    assert [(m.kind, m.outcome, m.address) for m in report.messages] == [("bounce", "recorded", SOPHIE)]
    assert len(events(world.fake, "AC_RELANCE_BOUNCE", world.sample.quotes["about_to_expire"])) == 1
    assert SOPHIE in (await explain(world.runtime, ref, on=STEP_TWO_DAY)).blocked


def test_the_replies_report_prints_every_kind_and_e_mail_text_as_text(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """`replies --once` prints each kind of message; what came in an e-mail is printed as text, not markup."""
    started = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    report = RepliesReport(mailbox="box", started_at=started)
    for uid, kind in enumerate(get_args(Kind), start=1):
        message = MessageOutcome(uid, kind, "recorded", sender="[bold]x@attacker.test[/bold]", subject="[red]hi[/red]",
                                 quote_ref="PR2611-0042", address="s@c.test", todo_event_id=7)  # fmt: skip
        report.messages.append(message)
    print_replies_report(report, settings)
    printed = capsys.readouterr().out
    assert printed.count("uid ") == len(get_args(Kind))
    assert "unverified reply from [bold]x@attacker.test[/bold]" in printed  # shown, not interpreted
    assert "too big to read" in printed and "unverified bounce of s@c.test" in printed


async def test_what_a_reply_says_goes_into_dolibarr_escaped_and_comes_back_as_text(world: World) -> None:
    """A genuine reply (In-Reply-To) whose name, subject and text hold markup: Dolibarr's HTML note gets
    it escaped (shown as text, no link); what dolirelance reads back is text (markup-like words dropped by
    the history's tolerant reading of notes, the rest as written)."""
    ref = world.sample.refs["about_to_expire"]
    await world.run_then_deliver()
    ours = message_id_to(world.sink, SOPHIE)
    raw = (
        f'From: "Sophie <b>Dupont</b>" <{SOPHIE}>\r\nTo: devis@solaire-rhone-alpes.test\r\n'
        f"Subject: Re: devis {ref} <img src=x onerror=alert(1)>\r\nIn-Reply-To: {ours}\r\n"
        "Date: Mon, 30 Nov 2026 10:00:00 +0100\r\nMessage-ID: <r1@garage-dupont.test>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        'D\'accord & merci : <a href="https://x.test/p">voir ici</a> <script>alert(2)</script>\r\n'
    ).encode()
    world.dovecot.deliver(raw)

    report = await read_replies(world.runtime)

    assert [(m.kind, m.outcome) for m in report.messages] == [("reply", "recorded")]
    [reply] = events(world.fake, "AC_RELANCE_REPLY")
    for markup in ("<a href", "<script>", "<img", "<b>"):
        assert markup not in reply.note and markup not in reply.label
    assert "&lt;a href=" in reply.note and "&amp; merci" in reply.note
    [answer] = (await explain(world.runtime, ref, on=STEP_TWO_DAY)).history.answers
    assert answer.excerpt == "D'accord & merci : voir ici alert(2)"
