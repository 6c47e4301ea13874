"""The one idempotent recorder in Dolibarr, and the one "last follow-up" every rule reads.

Recording a follow-up (see design.md, "How a follow-up is written back into Dolibarr")::

    facts kept in the ledger at SENDING (RecordFacts, JSON)
        ▼
    done event (AC_RELANCE_EMAIL / _LETTER, owner = who did it)   found by our key, else created
    next to-do (AC_RELANCE_TODO, 9:00 on the next date, owner = the sales person)   found by our key, else
        the quote's newest open to-do moved there (PUT: date, note with our key, contact) when it is
        still as we wrote it, else created (with the service key when the acting key may not; failing
        both, owned by who did it)
        ▼ the follow-up is recorded
    other open to-dos of the quote closed: with the acting key, else the service key; a to-do
    neither may close (or move) is left open and named in the outcome (closing it is not part of
    recording); ``retry`` closes such replaced to-dos later (:func:`close_superseded_todos`) or lists them

So a follow-up after a quote's first costs two writes (done event, move) and the quote keeps one open
to-do, instead of a closed "À relancer" per follow-up that nobody did. A to-do is moved only when it is
still ours as written: not started (0 %), for the next follow-up (a reply's or a bounce's to-do is a
person's task: never moved), owned by the sales person the new one would go to, its label and note
those we wrote (a person's note or progress is never overwritten: it is closed and a new one created,
as before). The moved to-do carries the new follow-up's key, so a retry after a lost answer finds it
and writes nothing; a stop between the done event and the move leaves the follow-up SENT, and
``retry`` moves it then; its sweep of replaced to-dos keeps the one of the quote's latest follow-up.

The event codes (``AC_RELANCE_*``, replies' and bounces' too) live in :mod:`dolirelance.history`,
which reads them back; everything written to Dolibarr's agenda goes through this module.

"Found by our key" reads with :attr:`Runtime.events_reader` (the service's key when configured): a
sales person who sees only their own events cannot see an event an earlier attempt wrote for someone
else, and ``retry`` refuses to write rather than risk a second event when no key can see them all.

"Followed up recently?" (``[auto] min_gap``) is answered here for every rule (the automatic policy,
prepare, manual and mass, the web's warnings): the ledger, shared by every user and replica, plus
Dolibarr's events read with the service's key.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from dolirelance.domain import Channel, EventFilter, NewAgendaEvent, User
from dolirelance.errors import DolibarrAuthError, DolibarrError, DolibarrNotFound
from dolirelance.history import (
    CODE_BY_CHANNEL,
    CODE_TODO,
    FollowUpRecord,
    QuoteHistory,
    TodoRecord,
    compose_note,
    decode_facts,
    group_by_quote,
    user_note_of,
)
from dolirelance.ledger import COUNTS_AS_DONE_STATES, Entry
from dolirelance.policy import PastFollowUp, local_day
from dolirelance.service.reads import load_history
from dolirelance.service.runtime import Runtime

if TYPE_CHECKING:  # types only: prepare reads the last follow-up from here, and no client is made here
    from dolirelance.dolibarr import DolibarrClient
    from dolirelance.service.prepare import PreparedFollowUp

log = logging.getLogger(__name__)

TYPE_DONE = "AC_OTH_AUTO"  # Dolibarr's "automatically inserted" type: a follow-up, reply or bounce done
TYPE_PLANNED = "AC_OTH"  # a to-do a person will do
TODO_TIME = time(9, 0)  # to-dos are due at 9:00 on their day, in the configured timezone
# The channel in the labels and notes of the events written into Dolibarr: French, as the other words
# dolirelance writes there, whatever the language of its pages (the front ends word channels themselves)
DOLIBARR_CHANNEL_LABELS = {Channel.EMAIL: "e-mail", Channel.LETTER: "courrier"}
_TAG = re.compile(r"<[^<>]+>")
LABEL_LENGTH = 128  # Dolibarr keeps the first 128 characters of an event's label



@dataclass(frozen=True)
class RecordFacts:
    """What a follow-up is recorded with, known before it leaves and kept in the ledger at SENDING."""

    key: str
    quote_id: int
    quote_ref: str
    customer_id: int
    customer_name: str
    channel: str  # Channel value
    model: str
    level: int
    note: str
    next_date: str  # ISO day of the next to-do
    owner_id: int  # who did it: owns the done event
    sales_rep_id: int  # owns the next to-do
    contact_id: int | None = None
    step: int | None = None  # automatic step
    email_from: str | None = None
    email_to: str | None = None
    email_subject: str | None = None
    message_id: str | None = None
    file_name: str | None = None  # a letter's PDF in the quote's files

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RecordFacts:
        data = json.loads(text)
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    @property
    def channel_kind(self) -> Channel:
        return Channel(self.channel)

    def facts_line(self) -> dict[str, str | int | None]:
        """The machine-readable last line of the done event's note (history.py reads it back)."""
        return {
            "key": self.key,
            "model": self.model,
            "level": self.level,
            "channel": self.channel,
            "next": self.next_date,
            "contact": self.contact_id,
            "file": self.file_name,
            "auto": 1 if self.step is not None else None,
            "step": self.step,
        }


def record_facts(rt: Runtime, prepared: PreparedFollowUp) -> RecordFacts:
    """What the recorder writes for this follow-up, kept in the ledger before it leaves."""
    is_email = prepared.email is not None
    return RecordFacts(
        key=prepared.key,
        quote_id=prepared.quote.id,
        quote_ref=prepared.quote.ref,
        customer_id=prepared.quote.customer_id,
        customer_name=prepared.customer.name,
        channel=prepared.channel.value,
        model=prepared.model,
        level=prepared.level,
        note=prepared.note,
        next_date=prepared.next_date.isoformat(),
        owner_id=prepared.owner.id,
        sales_rep_id=prepared.sales_rep.id,
        contact_id=prepared.contact.contact_id if prepared.contact else None,
        step=prepared.automatic_step,
        email_from=rt.settings.smtp.sender if is_email else None,
        email_to=prepared.recipients_text or None,
        email_subject=prepared.rendered.email_subject if is_email else None,
        message_id=prepared.message_id,
        file_name=prepared.letter_file_name,
    )


@dataclass(frozen=True)
class Recorded:
    """The follow-up's events in Dolibarr; ``todos_left_open``: earlier to-dos no key here may move or close."""

    event_id: int
    todo_event_id: int
    todos_left_open: tuple[TodoRecord, ...] = ()


def followup_label(facts: RecordFacts) -> str:
    return f"Relance devis {facts.quote_ref} ({facts.model}, {DOLIBARR_CHANNEL_LABELS[facts.channel_kind]})"


def todo_start(rt: Runtime, day: date) -> datetime:
    return datetime.combine(day, TODO_TIME, tzinfo=rt.tz)


def _event_on_quote(
    facts: RecordFacts, *, type_code: str, code: str, label: str, note: str, at: datetime, percentage: int,
    owner_id: int,
) -> NewAgendaEvent:
    """An event at one moment, linked to the follow-up's quote, customer and contact (it shows on their cards)."""
    return NewAgendaEvent(
        type_code=type_code,
        code=code,
        label=label,
        note=note,
        start=at,
        end=at,
        percentage=percentage,
        owner_id=owner_id,
        customer_id=facts.customer_id,
        contact_id=facts.contact_id,
        element_type="propal",
        element_id=facts.quote_id,
    )


def done_event(rt: Runtime, facts: RecordFacts, done_at: datetime) -> NewAgendaEvent:
    event = _event_on_quote(
        facts,
        type_code=TYPE_DONE,
        code=CODE_BY_CHANNEL[facts.channel_kind],
        label=followup_label(facts),
        note=compose_note(facts.note, facts.facts_line()),
        at=done_at,
        percentage=100,
        owner_id=facts.owner_id,
    )
    return replace(
        event,
        email_from=facts.email_from,
        email_to=facts.email_to,
        email_subject=facts.email_subject,
        email_msgid=facts.message_id,
    )


def todo_label(facts: RecordFacts) -> str:
    return f"À relancer : devis {facts.quote_ref} ({facts.customer_name})"[:LABEL_LENGTH]


def todo_note(quote_ref: str, key: str, model: str | None, channel: Channel) -> str:
    """The note of the to-do the follow-up ``key`` planned (written, and compared to see a person's edit)."""
    return compose_note(
        f"Prochaine relance du devis {quote_ref} (dernière : {model}, {DOLIBARR_CHANNEL_LABELS[channel]}).",
        {"key": key, "quote": quote_ref},
    )


def next_todo_event(rt: Runtime, facts: RecordFacts) -> NewAgendaEvent:
    return _event_on_quote(
        facts,
        type_code=TYPE_PLANNED,
        code=CODE_TODO,
        label=todo_label(facts),
        note=todo_note(facts.quote_ref, facts.key, facts.model, facts.channel_kind),
        at=todo_start(rt, date.fromisoformat(facts.next_date)),
        percentage=0,
        owner_id=facts.sales_rep_id,
    )


async def create_event(rt: Runtime, event: NewAgendaEvent) -> int:
    """Create an event with the acting key; one owned by someone the acting user may not write for
    (no ``agenda.allactions.create``) is created with the service's key."""
    try:
        return await rt.dolibarr.create_event(event)
    except DolibarrAuthError:
        if rt.service_dolibarr is None:
            raise
        log.info("event for user #%s created with the service's key (the acting key may not)", event.owner_id)
        return await rt.service_dolibarr.create_event(event)


async def _create_todo(rt: Runtime, facts: RecordFacts) -> int:
    """The next to-do for the sales person; when no key here may give it to them, the acting user keeps
    it (the follow-up is recorded all the same, and the to-do is where they see it)."""
    event = next_todo_event(rt, facts)
    try:
        return await create_event(rt, event)
    except DolibarrAuthError as exc:
        if event.owner_id == facts.owner_id:
            raise
        log.warning(
            "%s: the to-do could not be given to user #%s (%s); it is given to user #%s, who did the follow-up",
            facts.quote_ref,
            event.owner_id,
            exc.message,
            facts.owner_id,
        )
        return await rt.dolibarr.create_event(replace(event, owner_id=facts.owner_id))


async def _write_todo(
    rt: Runtime, todo: TodoRecord, owner: int, verb: str, write: Callable[[DolibarrClient], Awaitable[None]]
) -> Literal["written", "gone", "refused"]:
    """``write`` the to-do with the acting key, else the service's: "gone" when it was deleted in
    Dolibarr meanwhile, "refused" when no key here may write an event of its owner (it stays as it was)."""
    clients = [rt.dolibarr] + ([rt.service_dolibarr] if rt.service_dolibarr is not None else [])
    for client in clients:
        try:
            await write(client)
            return "written"
        except DolibarrNotFound:
            return "gone"
        except DolibarrAuthError as exc:
            log.info("to-do %s of user #%s not %s with this key: %s", todo.event_id, owner, verb, exc.message)
    return "refused"


async def close_todos(rt: Runtime, todos: Sequence[TodoRecord], *, fallback_owner: int) -> tuple[TodoRecord, ...]:
    """Mark to-dos done, with the acting key else the service's; the ones neither may close are returned.

    Never raises for a refusal: closing someone else's to-do is not part of recording a follow-up.
    """
    left: list[TodoRecord] = []
    for todo in todos:
        owner = todo.owner_id or fallback_owner

        async def close(client: DolibarrClient, todo: TodoRecord = todo, owner: int = owner) -> None:
            await client.update_event(todo.event_id, owner_id=owner, percentage=100)

        if await _write_todo(rt, todo, owner, "closed", close) == "refused":
            log.warning("to-do %s of user #%s left open: no key here may close it", todo.event_id, owner)
            left.append(todo)
    return tuple(left)


async def events_reader_user(rt: Runtime) -> User:
    """The user whose key reads the follow-up events (with its rights)."""
    return await (rt.me() if rt.service_dolibarr is None else rt.service_dolibarr.current_user())


def _as_written(todo: TodoRecord, facts: RecordFacts, history: QuoteHistory) -> bool:
    """The to-do is still as the follow-up that planned it wrote it, for the sales person who would get
    the next one: not started, not done, its label and note unchanged (a person's note, a to-do
    someone started, another owner's: not ours to move)."""
    planner = next((record for record in history.followups if record.key and record.key == todo.key), None)
    if planner is None or todo.done or todo.percentage != 0 or todo.purpose is not None:
        return False
    written = todo_note(facts.quote_ref, planner.key or "", planner.model, planner.channel)
    return (
        todo.owner_id == facts.sales_rep_id
        and _label_words(todo.label) == _label_words(todo_label(facts))
        and user_note_of(todo.note) == user_note_of(written)
        and decode_facts(todo.note) == decode_facts(written)
    )


def _label_words(label: str) -> str:
    """A label's letters and digits: Dolibarr drops a name's double quotes and tags from the labels it
    stores (sanitizeVal 'alphanohtml'), which is no edit of a person's."""
    return "".join(ch for ch in html.unescape(_TAG.sub("", label)) if ch.isalnum())


async def _move_todo(rt: Runtime, todo: TodoRecord, facts: RecordFacts) -> Literal["written", "gone", "refused"]:
    """Replan the quote's open to-do for this follow-up: its day, and its note with this follow-up's key
    (so that a retry finds it). With the acting key, else the service's (:func:`_write_todo`)."""
    new = next_todo_event(rt, facts)
    owner = todo.owner_id
    assert owner is not None  # _as_written: owned by the sales person

    async def move(client: DolibarrClient) -> None:
        await client.reschedule_event(todo.event_id, owner_id=owner, start=new.start, note=new.note,
                                      contact_id=new.contact_id)  # fmt: skip

    moved = await _write_todo(rt, todo, owner, "moved", move)
    if moved == "refused":
        log.warning("to-do %s of user #%s not moved: no key here may write it", todo.event_id, owner)
    return moved


async def record_followup(
    rt: Runtime, facts: RecordFacts, *, done_at: datetime, history: QuoteHistory | None = None
) -> Recorded:
    """Record one follow-up done at ``done_at``: its done event, found by our key else created; its next
    to-do, found by our key, else the quote's open to-do moved to the next date (when it is still as we
    wrote it and a key here may), else created; then the other open to-dos closed where a key here may.

    ``history``: the quote's events as just read by :attr:`Runtime.events_reader` (a first attempt);
    without it they are read again (``retry``), and nothing is written unless that read can see
    every event this follow-up may already have written.
    """
    if history is None:
        history = (await load_history(rt, [facts.quote_id])).get(facts.quote_id, QuoteHistory())
        reader = await events_reader_user(rt)
        # a key that sees only its own events may miss ours: writing them again could make a second one
        if not reader.has_right("agenda.allactions.read") and {facts.owner_id, facts.sales_rep_id} - {reader.id}:
            raise DolibarrAuthError(
                f"{facts.quote_ref}: the follow-up {facts.key} may already be in Dolibarr, but "
                f"{reader.login or f'user #{reader.id}'} sees only their own events, so it could be written twice",
                remedy="set [dolibarr] service_api_key to the key of a user with agenda.allactions.read "
                "(docs/dolibarr-setup.md), or run `dolirelance retry` with such a key",
            )
    done = next((record for record in history.followups if record.key == facts.key), None)
    event_id = done.event_id if done is not None else await create_event(rt, done_event(rt, facts, done_at))
    earlier = [t for t in history.open_todos if t.key != facts.key]
    kept_open: list[TodoRecord] = []
    todo = next((t for t in history.todos if t.key == facts.key and t.purpose is None), None)
    todo_id = todo.event_id if todo is not None else None
    newest = max(earlier, key=lambda t: t.event_id, default=None)  # the latest planned, as a rule
    if todo_id is None and newest is not None and _as_written(newest, facts, history):
        moved = await _move_todo(rt, newest, facts)
        earlier.remove(newest)
        if moved == "written":
            todo_id = newest.event_id
        elif moved == "refused":  # closing it is refused the same way (the same owner check)
            kept_open.append(newest)
    if todo_id is None:
        todo_id = await _create_todo(rt, facts)
    earlier = [t for t in earlier if t.event_id != todo_id]
    left = await close_todos(rt, earlier, fallback_owner=facts.owner_id)
    return Recorded(event_id, todo_id, tuple(sorted((*kept_open, *left), key=lambda t: t.event_id)))


@dataclass(frozen=True)
class TodoSweep:
    """Open to-dos of follow-ups superseded by a later one: closed now, or left for a person."""

    closed: tuple[TodoRecord, ...] = ()
    left_open: tuple[TodoRecord, ...] = ()


async def close_superseded_todos(rt: Runtime) -> TodoSweep:
    """Close the to-dos a later follow-up of the same quote replaced but could not close (its key may not
    touch someone else's events): one paged query on the open ``AC_RELANCE_TODO`` events, read and closed
    with the service's key when configured. The ones no key here may close are returned, for a person.

    The to-do a quote keeps is the one of its latest follow-up (a moved to-do keeps its older id), read
    with one more query on the follow-ups of the quotes that have several; else the newest."""
    events = await rt.events_reader.list_events(
        EventFilter(codes=(CODE_TODO,), element_type="propal", percentage=0)
    )
    crowded = {quote_id: h.open_todos for quote_id, h in group_by_quote(events).items() if len(h.open_todos) > 1}
    if not crowded:
        return TodoSweep()
    done = await rt.events_reader.list_events(
        EventFilter(codes=tuple(CODE_BY_CHANNEL.values()), element_type="propal", element_ids=tuple(sorted(crowded)))
    )
    followups = group_by_quote(done)
    superseded: list[TodoRecord] = []
    for quote_id, pending in crowded.items():
        current = _current_todo(pending, followups.get(quote_id, QuoteHistory()).followups)
        superseded += [todo for todo in pending if todo.event_id != current.event_id]
    me = await rt.me()
    left = await close_todos(rt, superseded, fallback_owner=me.id)
    closed = tuple(todo for todo in superseded if todo not in left)
    return TodoSweep(closed, left)


def _current_todo(pending: Sequence[TodoRecord], followups: Sequence[FollowUpRecord]) -> TodoRecord:
    """Of a quote's open to-dos, the one planned by (or moved for) its latest follow-up, else the newest."""
    by_key = {todo.key: todo for todo in pending if todo.key}
    for record in reversed(followups):  # newest first
        if record.key in by_key:
            return by_key[record.key]
    return max(pending, key=lambda todo: todo.event_id)


# -- the last follow-up, for every "followed up recently?" rule ------------------------------------------


@dataclass(frozen=True)
class LastFollowUp:
    """The newest follow-up of a quote, whoever made it, from the ledger or from Dolibarr."""

    quote_id: int
    done_at: datetime
    model: str | None
    channel: Channel
    owner_id: int | None
    key: str | None
    source: str  # "ledger" or "dolibarr"

    def done_on(self, tz: ZoneInfo) -> date:
        return self.done_at.astimezone(tz).date()


def _ledger_time(entry: Entry) -> datetime:
    return entry.sent_at or entry.created_at


def past_followups(
    rt: Runtime,
    quote_ids: Sequence[int],
    histories: Mapping[int, QuoteHistory],
    *,
    entries: Sequence[Entry] | None = None,
) -> dict[int, list[PastFollowUp]]:
    """Every follow-up of these quotes as the automatic policy reads them: Dolibarr's, then the ledger's
    not yet there (a blocking read of the ledger: call it off the event loop)."""
    past: dict[int, list[PastFollowUp]] = {}
    keys_seen: set[str] = set()
    for quote_id, history in histories.items():
        for record in history.followups:
            if record.key:
                keys_seen.add(record.key)
            past.setdefault(quote_id, []).append(
                PastFollowUp(
                    quote_id=quote_id,
                    done_on=record.done_on(rt.tz),
                    model=record.model,
                    channel=record.channel.value,
                    automatic=record.automatic,
                    step=record.step,
                    source="dolibarr",
                )
            )
    for entry in rt.ledger.entries_for_quotes(quote_ids) if entries is None else entries:
        if entry.state not in COUNTS_AS_DONE_STATES or entry.key in keys_seen:
            continue
        past.setdefault(entry.quote_id, []).append(
            PastFollowUp(
                quote_id=entry.quote_id,
                done_on=local_day(_ledger_time(entry), rt.tz),
                model=entry.model,
                channel=entry.channel,
                automatic=entry.step is not None,
                step=entry.step,
                source="ledger",
            )
        )
    return past


def _last_of(
    quote_ids: Sequence[int], histories: Mapping[int, QuoteHistory], entries: Sequence[Entry], exclude_key: str | None
) -> dict[int, LastFollowUp]:
    last: dict[int, LastFollowUp] = {}

    def keep(candidate: LastFollowUp) -> None:
        current = last.get(candidate.quote_id)
        if current is None or candidate.done_at > current.done_at:
            last[candidate.quote_id] = candidate

    wanted = set(quote_ids)
    for quote_id, history in histories.items():
        if quote_id not in wanted:
            continue
        for record in history.followups:
            if record.key is None or record.key != exclude_key:
                keep(LastFollowUp(quote_id, record.done_at, record.model, record.channel, record.owner_id,
                                  record.key, "dolibarr"))  # fmt: skip
    for entry in entries:
        if entry.state not in COUNTS_AS_DONE_STATES or entry.key == exclude_key or entry.quote_id not in wanted:
            continue
        keep(LastFollowUp(entry.quote_id, _ledger_time(entry), entry.model or None, Channel(entry.channel),
                          entry.user_id, entry.key, "ledger"))  # fmt: skip
    return last


async def last_followups(
    rt: Runtime,
    quote_ids: Sequence[int],
    histories: Mapping[int, QuoteHistory] | None = None,
    *,
    exclude_key: str | None = None,
) -> dict[int, LastFollowUp]:
    """The newest follow-up of each quote that has one: the ledger (every user, every replica) and
    Dolibarr's events (read with the service's key: ``histories`` must come from :func:`load_history`).

    ``exclude_key``: the follow-up being made (its own claim is not "a follow-up before it").
    """
    if not quote_ids:
        return {}
    if histories is None:
        histories = await load_history(rt, quote_ids)
    entries = await asyncio.to_thread(rt.ledger.entries_for_quotes, quote_ids)
    return _last_of(quote_ids, histories, entries, exclude_key)


async def last_followup(
    rt: Runtime, quote_id: int, history: QuoteHistory | None = None, *, exclude_key: str | None = None
) -> LastFollowUp | None:
    histories = None if history is None else {quote_id: history}
    return (await last_followups(rt, [quote_id], histories, exclude_key=exclude_key)).get(quote_id)


def is_recent(last: LastFollowUp | None, today: date, gap_days: int, tz: ZoneInfo) -> bool:
    """The one "followed up recently?" test: fewer than ``gap_days`` days ago (``[auto] min_gap``)."""
    return last is not None and (today - last.done_on(tz)).days < gap_days


async def owner_name(rt: Runtime, owner_id: int | None) -> str | None:
    """The full name of an event's owner: read with the acting key, else the service's (a sales person
    may not read other users' cards); None when neither may."""
    if not owner_id:
        return None
    try:
        return (await rt.user(owner_id)).full_name
    except DolibarrError:
        pass
    if rt.service_dolibarr is not None:
        try:
            return (await rt.service_dolibarr.get_user(owner_id)).full_name
        except DolibarrError:
            pass
    return None


async def describe_owner(rt: Runtime, owner_id: int | None) -> str:
    """" by Julie Dupont" (or " by user #7" when Dolibarr will not say), "" when unknown."""
    if not owner_id:
        return ""
    name = await owner_name(rt, owner_id)
    return f" by {name}" if name else f" by user #{owner_id}"
