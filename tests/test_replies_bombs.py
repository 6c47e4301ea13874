"""No e-mail can crash the reader, against a real dovecot and the fake Dolibarr (fixtures of test_replies.py).

The bombs of issue 24, scaled down with ``[imap] max_message_kb`` (bench/replies.py runs them full size
and prints time and memory): a Subject of encoded words, a message of thousands of MIME parts, a
References header of thousands of ids, and a body over the size limit that answers our e-mail. Then a
genuine reply. Each bomb is reported once and never parsed again; the reply is recorded once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from conftest import MutableClock
from dolirelance.config import Settings
from dolirelance.history import decode_facts
from dolirelance.imap import PROCESSED_KEYWORD
from dolirelance.ledger import MessageState
from dolirelance.service import read_replies
from dolirelance.testing import FakeDolibarr
from dolirelance.testing.imap_server import DovecotServer
from dolirelance.testing.mailbox_samples import (
    big_body_bomb,
    encoded_words_bomb,
    mime_parts_bomb,
    references_bomb,
)
from mailbox_samples import NEEDS_DOVECOT, OUR_ADDRESS, sample_message
from test_replies import SOPHIE, World, dovecot, events, message_id_to, serving, settings, world

__all__ = ["dovecot", "settings", "world"]  # the fixtures, served here too
pytestmark = NEEDS_DOVECOT

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
MAX_MESSAGE_KB = 256


def limit_size(world: World) -> None:
    imap = world.runtime.settings.imap
    assert imap is not None
    world.runtime.settings = world.runtime.settings.model_copy(
        update={"imap": imap.model_copy(update={"max_message_kb": MAX_MESSAGE_KB})}
    )


async def test_the_bombs_are_reported_once_and_a_genuine_reply_is_recorded_once(world: World) -> None:
    fake, quote_id = world.fake, world.sample.quotes["about_to_expire"]
    ref = world.sample.refs["about_to_expire"]
    limit_size(world)
    await world.run_then_deliver()
    ours = message_id_to(world.sink, SOPHIE)
    for bomb in (
        encoded_words_bomb(to=OUR_ADDRESS, at=AT, words=3000),
        mime_parts_bomb(to=OUR_ADDRESS, at=AT, parts=3000),
        references_bomb(to=OUR_ADDRESS, at=AT, ids=5000),
        big_body_bomb(to=OUR_ADDRESS, at=AT, megabytes=1, references=ours),  # answers our e-mail, too big
    ):
        world.dovecot.deliver(bomb)
    world.dovecot.deliver(sample_message("thunderbird_reply.eml", message_id=ours, ref=ref, customer=SOPHIE))

    first = await read_replies(world.runtime)

    assert [(m.kind, m.outcome) for m in first.messages] == [
        ("unreadable", "unreadable"),
        ("unreadable", "unreadable"),
        ("unreadable", "unreadable"),
        ("too-big", "unreadable"),
        ("reply", "recorded"),
    ]
    errors = [m.error or "" for m in first.messages[:4]]
    assert "header" in errors[0] and "MIME parts" in errors[1] and "header" in errors[2]
    assert "over [imap] max_message_kb = 256" in errors[3] and first.messages[3].quote_ref == ref
    todos = events(fake, "AC_RELANCE_TODO", quote_id)
    [too_big_todo] = [t for t in todos if decode_facts(t.note).get("for") == "too-big"]
    assert "trop grand" in too_big_todo.label and too_big_todo.percentage == 0
    assert len(events(fake, "AC_RELANCE_REPLY", quote_id)) == 1
    count = len(fake.events)

    second = await read_replies(world.runtime)

    assert second.messages == [] and second.ok  # reported once, parsed never again
    assert len(fake.events) == count and len(events(fake, "AC_RELANCE_REPLY")) == 1
    flags = [PROCESSED_KEYWORD in f for _, f, _ in world.dovecot.messages()]
    assert flags == [False, False, False, False, True]  # the bombs are left in place for a person


async def test_a_message_whose_readings_died_is_not_parsed_again(world: World) -> None:
    """Two readings began parsing it and died (the process killed): the third marks it unreadable unparsed."""
    runtime = world.runtime
    ledger, uidvalidity = await world.one_reply_in_the_inbox()
    for dead_reading in range(2):
        assert ledger.claim_message(uidvalidity, 1) is not None
        assert ledger.start_reading(uidvalidity, 1) == dead_reading
        ledger.note(uidvalidity, 1, lease_until=None)  # its lease over: the next reading takes it

    report = await read_replies(runtime)

    assert [(m.kind, m.outcome) for m in report.messages] == [("unreadable", "unreadable")]
    assert "2 readings died while parsing it" in (report.messages[0].error or "")
    [row] = ledger.all_messages()
    assert row.state is MessageState.UNREADABLE
    assert not events(world.fake, "AC_RELANCE_REPLY")


async def test_health_answers_while_the_mailbox_is_read(
    settings: Settings, clock: MutableClock, dovecot: DovecotServer, fake_dolibarr: FakeDolibarr
) -> None:
    """`serve` reads a mailbox of bombs and replies: /health answers quickly all along (parsing is off the loop)."""
    for n in range(4):
        dovecot.deliver(mime_parts_bomb(to=OUR_ADDRESS, at=AT, parts=900))  # under the limit: parsed, in the worker
        dovecot.deliver(encoded_words_bomb(to=OUR_ADDRESS, at=AT, words=1500 + n))
    slowest, answered_during_reading = 0.0, 0
    async with serving(settings, clock, fake_dolibarr, stop_within=30) as client:
        for _ in range(3000):
            started = asyncio.get_running_loop().time()
            health = (await client.get("/health")).json()
            slowest = max(slowest, asyncio.get_running_loop().time() - started)
            if health.get("replies"):
                break
            answered_during_reading += 1
            await asyncio.sleep(0.01)
    counts = health["replies"]["counts"]
    assert (counts["unreadable"], counts["ignored"]) == (4, 4)  # the reading went through them all
    assert answered_during_reading > 0
    assert slowest < 2.0, slowest  # never held up by a message being parsed (seconds of CPU each)
