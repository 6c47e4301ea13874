"""A follow-up after a quote's first moves the quote's open to-do to the next date instead of creating a
new one and closing the old (design.md, "How a follow-up is written back into Dolibarr").

- Moved only when it is still as dolirelance wrote it: open and not started, for the next follow-up (a
  reply's or a bounce's to-do is for a person), the sales person's, its label and note unchanged. Else
  a new to-do is created and the old one closed, as before.
- The moved to-do carries the new follow-up's key: a retry after a lost answer finds it and writes
  nothing; a stop between the done event and the move is finished by ``retry``.
- No key here may write the sales person's events: a to-do of the acting user's own is created and the
  sales person's is left open and named, as before (one refused request, not two).

The exactly-once cases run over real HTTP (a lost answer is a real client timeout) on SQLite and
PostgreSQL ledgers; the others in-process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from conftest import SAMPLE_NOW, SAMPLE_TODAY, MutableClock, without_backoff
from dolirelance.config import Settings, load_config
from dolirelance.demo import write_demo_config
from dolirelance.domain import Channel
from dolirelance.history import compose_note, decode_facts
from dolirelance.ledger import FollowUpState, Ledger
from dolirelance.service import (
    FollowUpOutcome,
    Runtime,
    close_superseded_todos,
    follow_up,
    open_runtime,
    retry_unrecorded,
)
from dolirelance.testing import AgendaEventRecord, FakeDolibarr, SampleData, create_app, load_sample_data
from dolirelance.testing.sample_data import SALES_RIGHTS
from dolirelance.testing.server import serve_in_thread
from dolirelance.testing.smtp_sink import SmtpSink

ROLE = "about_to_expire"
NEXT_DELAY = 15  # the demo's [followup] next_delay


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    without_backoff(monkeypatch)


def todos(fake: FakeDolibarr, quote_id: int) -> list[AgendaEventRecord]:
    return sorted(
        (e for e in fake.events.values() if e.code == "AC_RELANCE_TODO" and e.fk_element == quote_id),
        key=lambda e: e.id,
    )


def done_events(fake: FakeDolibarr, quote_id: int) -> list[AgendaEventRecord]:
    return [e for e in fake.events.values() if e.code == "AC_RELANCE_EMAIL" and e.fk_element == quote_id]


def agenda_writes(fake: FakeDolibarr, since: int) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.requests[since:] if r.method != "GET" and "agenda" in r.path]


def snapshot(event: AgendaEventRecord) -> tuple[object, ...]:
    return (event.label, event.note, event.datep, event.percentage, event.userownerid)


# --------------------------------------------------------------------------- in-process


async def first_then_second(
    rt: Runtime, fake: FakeDolibarr, sample: SampleData, clock: MutableClock
) -> tuple[FollowUpOutcome, FollowUpOutcome, int]:
    """The first follow-up, four days, then the second (forced past [auto] min_gap); the agenda request
    count before the second."""
    first = await follow_up(rt, sample.refs[ROLE], channel=Channel.EMAIL)
    assert first.outcome == "recorded", first.error
    clock.advance(days=4)
    before = len(fake.requests)
    second = await follow_up(rt, sample.refs[ROLE], channel=Channel.EMAIL, force=True)
    assert second.outcome == "recorded", second.error
    return first, second, before


async def test_the_second_follow_up_moves_the_open_to_do_in_one_write(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """One open to-do on the quote, at the new date, with the new key; the done event and the move are the
    only agenda writes; nothing closed that nobody did."""
    first, second, before = await first_then_second(runtime, fake_dolibarr, sample_data, clock)
    [todo] = todos(fake_dolibarr, sample_data.quotes[ROLE])
    assert todo.id == first.todo_event_id == second.todo_event_id
    assert todo.percentage == 0 and todo.userownerid == sample_data.users["jdupont"]
    assert fake_dolibarr.day_of_epoch(todo.datep) == SAMPLE_TODAY + timedelta(days=4 + NEXT_DELAY)
    assert todo.datef == todo.datep
    assert decode_facts(todo.note) == {"key": second.key, "quote": sample_data.refs[ROLE]}
    assert agenda_writes(fake_dolibarr, before) == ["POST /agendaevents", f"PUT /agendaevents/{todo.id}"]
    assert len(done_events(fake_dolibarr, sample_data.quotes[ROLE])) == 2 and len(smtp_sink.messages) == 2


def _add_note(event: AgendaEventRecord) -> None:
    event.note = "Client en congés jusqu'au 15, rappeler Mme Dupont.\n" + event.note


def _rename(event: AgendaEventRecord) -> None:
    event.label = "Appeler Garage Dupont avant la relance"


def _start(event: AgendaEventRecord) -> None:
    event.percentage = 50


@pytest.mark.parametrize("change", [_add_note, _rename, _start], ids=["note", "label", "started"])
async def test_a_to_do_a_person_changed_is_not_moved(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock,
    change: object,
) -> None:
    """A person's note, label or progress on the to-do is never overwritten: a new to-do is created and
    theirs closed, as before the move existed."""
    quote_id = sample_data.quotes[ROLE]
    first = await follow_up(runtime, sample_data.refs[ROLE], channel=Channel.EMAIL)
    assert callable(change)
    change(fake_dolibarr.events[first.todo_event_id or 0])
    edited = fake_dolibarr.events[first.todo_event_id or 0]
    label, note = edited.label, edited.note
    clock.advance(days=4)
    second = await follow_up(runtime, sample_data.refs[ROLE], channel=Channel.EMAIL, force=True)
    old, new = todos(fake_dolibarr, quote_id)
    assert (old.id, old.percentage, old.label, old.note) == (first.todo_event_id, 100, label, note)
    assert (new.id, new.percentage) == (second.todo_event_id, 0)
    assert decode_facts(new.note)["key"] == second.key


async def test_a_label_dolibarr_stripped_of_double_quotes_is_still_ours(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """Dolibarr drops the double quotes of a customer's name from the label it keeps: no person's edit."""
    quote_id = sample_data.quotes[ROLE]
    fake_dolibarr.thirdparties[fake_dolibarr.proposals[quote_id].socid].name = 'Garage "Dupont" et fils'
    first, second, _ = await first_then_second(runtime, fake_dolibarr, sample_data, clock)
    [todo] = todos(fake_dolibarr, quote_id)
    assert todo.label == f"À relancer : devis {sample_data.refs[ROLE]} (Garage Dupont et fils)"
    assert todo.id == first.todo_event_id == second.todo_event_id
    assert decode_facts(todo.note)["key"] == second.key


async def test_a_to_do_given_to_another_sales_person_is_not_moved(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """Someone gave the to-do to the admin: the next follow-up's to-do is the quote's sales person's, new."""
    quote_id = sample_data.quotes[ROLE]
    first = await follow_up(runtime, sample_data.refs[ROLE], channel=Channel.EMAIL)
    fake_dolibarr.events[first.todo_event_id or 0].userownerid = sample_data.users["admin"]
    clock.advance(days=4)
    second = await follow_up(runtime, sample_data.refs[ROLE], channel=Channel.EMAIL, force=True)
    old, new = todos(fake_dolibarr, quote_id)
    assert (old.id, old.percentage, old.userownerid) == (first.todo_event_id, 100, sample_data.users["admin"])
    assert (new.id, new.percentage, new.userownerid) == (second.todo_event_id, 0, sample_data.users["jdupont"])


async def test_of_several_open_to_dos_the_newest_is_moved_and_the_others_closed(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """The one `retry`'s sweep would keep open (the newest) is moved; the others are closed as before."""
    quote_id = sample_data.quotes[ROLE]
    first = await follow_up(runtime, sample_data.refs[ROLE], channel=Channel.EMAIL)
    old = fake_dolibarr.events[first.todo_event_id or 0]
    twin = fake_dolibarr.add_event(
        type_code=old.type_code, code=old.code, label=old.label, note=old.note, datep=old.datep, datef=old.datef,
        percentage=0, userownerid=old.userownerid, socid=old.socid, elementtype="propal", fk_element=quote_id,
    )
    clock.advance(days=4)
    second = await follow_up(runtime, sample_data.refs[ROLE], channel=Channel.EMAIL, force=True)
    assert second.todo_event_id == twin.id
    assert [(t.id, t.percentage, decode_facts(t.note)["key"]) for t in todos(fake_dolibarr, quote_id)] == [
        (old.id, 100, first.key),
        (twin.id, 0, second.key),
    ]


async def test_replies_and_bounces_to_dos_are_never_moved_nor_closed(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """A to-do to answer the customer or fix an address is a person's task, newer or not: left as it is."""
    quote_id, quote = sample_data.quotes[ROLE], fake_dolibarr.proposals[sample_data.quotes[ROLE]]
    first = await follow_up(runtime, sample_data.refs[ROLE], channel=Channel.EMAIL)
    people_todos = [
        fake_dolibarr.add_event(
            type_code="AC_OTH", code="AC_RELANCE_TODO", label=f"{purpose} : devis {quote.ref}",
            note=compose_note(f"À faire ({purpose})", {"key": f"mail:INBOX:1:{n}", "for": purpose}),
            datep=clock() + timedelta(days=1), percentage=0, userownerid=sample_data.users["jdupont"],
            socid=quote.socid, elementtype="propal", fk_element=quote_id,
        )
        for n, purpose in enumerate(("reply", "bounce"))
    ]
    before = {event.id: snapshot(event) for event in people_todos}
    clock.advance(days=4)
    second = await follow_up(runtime, sample_data.refs[ROLE], channel=Channel.EMAIL, force=True)
    assert second.todo_event_id == first.todo_event_id  # the follow-up's own to-do moved
    assert {event.id: snapshot(fake_dolibarr.events[event.id]) for event in people_todos} == before


async def test_when_no_key_may_move_it_a_new_to_do_is_made_and_the_old_left_open(
    settings: Settings, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink,
    clock: MutableClock, runtime: Runtime,
) -> None:
    """Marc reads every event but writes only his own, and there is no service key: Julie's to-do is asked
    once (refused), stays as it was and is named; Marc gets a to-do of his own, as before."""
    quote_id = sample_data.quotes[ROLE]
    first = await follow_up(runtime, sample_data.refs[ROLE], channel=Channel.EMAIL)
    marc = fake_dolibarr.add_user(
        "mleroy", api_key="mleroy-key", rights=SALES_RIGHTS - {"agenda.allactions.create"},
        firstname="Marc", lastname="Leroy", email="mleroy@solaire-rhone-alpes.test",
    )
    julies = fake_dolibarr.events[first.todo_event_id or 0]
    as_it_was = snapshot(julies)
    clock.advance(days=4)
    marcs_settings = settings.model_copy(
        update={"dolibarr": settings.dolibarr.model_copy(update={"api_key": SecretStr("mleroy-key")})}
    )
    before = len(fake_dolibarr.requests)
    async with open_runtime(marcs_settings, transport=httpx.ASGITransport(app=create_app(fake_dolibarr)),
                            now=clock) as rt:  # fmt: skip
        second = await follow_up(rt, sample_data.refs[ROLE], channel=Channel.EMAIL, force=True)
    assert second.outcome == "recorded" and second.todos_left_open == (julies.id,)
    assert snapshot(fake_dolibarr.events[julies.id]) == as_it_was
    old, new = todos(fake_dolibarr, quote_id)
    assert old.id == julies.id and (new.id, new.userownerid, new.percentage) == (second.todo_event_id, marc.id, 0)
    assert decode_facts(new.note)["key"] == second.key
    puts = [w for w in agenda_writes(fake_dolibarr, before) if w.startswith("PUT")]
    assert puts == [f"PUT /agendaevents/{julies.id}"]  # refused once: closing it would be refused the same way


async def test_retry_s_sweep_keeps_the_moved_to_do_of_the_latest_follow_up(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """A newer to-do of an earlier follow-up left open (a key that could not see it moved the older one):
    the sweep closes it and keeps the moved one, which names the latest follow-up, whatever their ids."""
    quote_id, quote = sample_data.quotes[ROLE], fake_dolibarr.proposals[sample_data.quotes[ROLE]]
    first, second, _ = await first_then_second(runtime, fake_dolibarr, sample_data, clock)
    stale = fake_dolibarr.add_event(
        type_code="AC_OTH", code="AC_RELANCE_TODO", label=f"À relancer : devis {quote.ref}",
        note=compose_note("", {"key": first.key, "quote": quote.ref}), datep=clock() + timedelta(days=2),
        percentage=0, userownerid=sample_data.users["admin"], socid=quote.socid, elementtype="propal",
        fk_element=quote_id,
    )
    sweep = await close_superseded_todos(runtime)
    assert [t.event_id for t in sweep.closed] == [stale.id] and sweep.left_open == ()
    assert [(t.id, t.percentage) for t in todos(fake_dolibarr, quote_id)] == [
        (second.todo_event_id, 0),
        (stale.id, 100),
    ]


# --------------------------------------------------------------------------- over HTTP, both ledgers


@dataclass
class World:
    fake: FakeDolibarr
    sample: SampleData
    settings: Settings
    ledger_url: str
    clock: MutableClock

    @property
    def quote_id(self) -> int:
        return self.sample.quotes[ROLE]

    def states(self) -> dict[str, FollowUpState]:
        with Ledger(self.ledger_url, instance=self.settings.ledger.instance) as ledger:
            return {entry.key: entry.state for entry in ledger.recent(100)}


@pytest.fixture
def world(tmp_path: Path, ledger_url: str, smtp_sink: SmtpSink) -> Iterator[World]:
    clock = MutableClock(SAMPLE_NOW)
    fake = FakeDolibarr(timezone="Europe/Paris", now=clock)
    sample = load_sample_data(fake, SAMPLE_TODAY)
    with serve_in_thread(create_app(fake)) as url:
        base = load_config(
            write_demo_config(tmp_path, dolibarr_url=url, api_key=sample.api_keys["jdupont"], smtp_port=smtp_sink.port)
        )
        settings = base.model_copy(
            update={
                "dolibarr": base.dolibarr.model_copy(update={"timeout": 1.0}),  # a lost answer is a timeout
                "ledger": base.ledger.model_copy(update={"url": ledger_url}),
            }
        )
        try:
            yield World(fake, sample, settings, ledger_url, clock)
        finally:
            fake.clear_faults()


@pytest.fixture
async def rt(world: World) -> AsyncIterator[Runtime]:
    async with open_runtime(world.settings, now=world.clock) as runtime:
        yield runtime


async def test_a_move_whose_answer_is_lost_is_found_by_its_key_and_nothing_is_written_twice(
    world: World, rt: Runtime, smtp_sink: SmtpSink
) -> None:
    """The move is applied but its answer never comes: the follow-up is sent, not recorded; `retry` finds
    the done event and the moved to-do by the follow-up's key and writes nothing to the agenda."""
    ref = world.sample.refs[ROLE]
    first = await follow_up(rt, ref, channel=Channel.EMAIL)
    world.clock.advance(days=4)
    world.fake.hang_after_applying(1, 30, path_prefix="/agendaevents", method="PUT")
    second = await follow_up(rt, ref, channel=Channel.EMAIL, force=True)
    world.fake.release_hangs()
    assert second.outcome == "sent-not-recorded" and second.key is not None
    assert world.states()[second.key] is FollowUpState.SENT
    [todo] = todos(world.fake, world.quote_id)
    assert decode_facts(todo.note)["key"] == second.key  # applied before the answer was lost

    before = len(world.fake.requests)
    [retried] = await retry_unrecorded(rt)
    assert (retried.outcome, retried.key, retried.todo_event_id) == ("recorded", second.key, first.todo_event_id)
    assert agenda_writes(world.fake, before) == []
    assert world.states() == {first.key: FollowUpState.RECORDED, second.key: FollowUpState.RECORDED}
    assert [t.id for t in todos(world.fake, world.quote_id)] == [todo.id] and todo.percentage == 0
    assert len(done_events(world.fake, world.quote_id)) == 2 and len(smtp_sink.messages) == 2
    assert await retry_unrecorded(rt) == []


async def test_a_stop_between_the_done_event_and_the_move_is_finished_by_retry(
    world: World, rt: Runtime, smtp_sink: SmtpSink
) -> None:
    """Dolibarr refuses the move (down): the done event is there, the to-do still the first follow-up's;
    `retry` moves it, without a second done event."""
    ref = world.sample.refs[ROLE]
    first = await follow_up(rt, ref, channel=Channel.EMAIL)
    planned = snapshot(world.fake.events[first.todo_event_id or 0])
    world.clock.advance(days=4)
    world.fake.fail_next(1, 503, path_prefix="/agendaevents", method="PUT")
    second = await follow_up(rt, ref, channel=Channel.EMAIL, force=True)
    assert second.outcome == "sent-not-recorded" and second.key is not None
    assert snapshot(world.fake.events[first.todo_event_id or 0]) == planned
    assert len(done_events(world.fake, world.quote_id)) == 2

    before = len(world.fake.requests)
    [retried] = await retry_unrecorded(rt)
    assert retried.outcome == "recorded" and retried.todo_event_id == first.todo_event_id
    assert agenda_writes(world.fake, before) == [f"PUT /agendaevents/{first.todo_event_id}"]
    [todo] = todos(world.fake, world.quote_id)
    assert decode_facts(todo.note)["key"] == second.key and todo.percentage == 0
    assert world.fake.day_of_epoch(todo.datep) == SAMPLE_TODAY + timedelta(days=4 + NEXT_DELAY)
    assert len(done_events(world.fake, world.quote_id)) == 2 and len(smtp_sink.messages) == 2
    assert world.states() == {first.key: FollowUpState.RECORDED, second.key: FollowUpState.RECORDED}
