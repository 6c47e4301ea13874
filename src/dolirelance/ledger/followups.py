"""Follow-ups in the ledger: claims, leases and outcomes (see :mod:`dolirelance.ledger`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Executable

from dolirelance.errors import LedgerError
from dolirelance.ledger.database import LedgerDatabase, utc_now
from dolirelance.ledger.lease import BEATS_PER_LEASE, Heartbeat
from dolirelance.ledger.schema import (
    ABANDONABLE_STATES,
    FILED_STATES,
    HANDING_OVER_STATES,
    IN_FLIGHT_STATES,
    LIVE_STATES,
    RELEASED_STATES,
    TO_RECORD_STATES,
    FollowUpState,
    _UtcDateTime,
    default_ledger_path,
    followups,
)


def auto_key(instance: str, quote_id: int, step: int) -> str:
    return f"auto:{instance}:{quote_id}:step{step}"


def manual_key() -> str:
    return f"manual:{uuid.uuid4()}"


# What happens to a claim whose heartbeat stopped (lease run out): (from, to, the error noted).
ABANDONED_MOVES: tuple[tuple[FollowUpState, FollowUpState, str], ...] = (
    (FollowUpState.SENDING, FollowUpState.UNCERTAIN, "the process died while talking to SMTP"),
    (
        FollowUpState.FILING,
        FollowUpState.UNCERTAIN,
        "the process died while filing the letter in Dolibarr; check the quote's files",
    ),
    (FollowUpState.CLAIMED, FollowUpState.FAILED, "abandoned before sending"),
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the ledger."""

    key: str
    instance: str
    quote_id: int
    quote_ref: str
    step: int | None
    model: str
    channel: str
    state: FollowUpState
    run_id: str
    owner: str | None
    lease_until: datetime | None
    message_id: str | None
    recipients: str | None
    event_id: int | None
    todo_event_id: int | None
    file_name: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    recorded_at: datetime | None
    resolved_by: str | None
    resolution: str | None
    next_date: date | None
    note: str | None
    user_id: int | None
    printed_at: datetime | None
    facts: str | None = None  # JSON kept at SENDING: what to record in Dolibarr (service/agenda.py)

    @property
    def automatic(self) -> bool:
        return self.key.startswith("auto:")

    @classmethod
    def from_row(cls, row: Row[Any]) -> Entry:
        values: dict[str, Any] = dict(row._mapping)
        values["state"] = FollowUpState(values["state"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to a claim: won, or refused with the entry that holds the quote (or the key)."""

    won: bool
    holder: Entry | None = None

    def __bool__(self) -> bool:
        return self.won


class Ledger:
    """Claims and outcomes of follow-ups for one ``instance``."""

    def __init__(
        self,
        url: str | None,
        *,
        instance: str,
        lease_seconds: float = 600,
        clock: Callable[[], datetime] = utc_now,
        lease_clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``clock`` dates the rows (created, sent...); leases run on the database's own clock
        (PostgreSQL ``now()``, SQLite's), so replicas whose clocks differ agree on when one ends.
        ``lease_clock`` replaces the database's clock (tests that move time)."""
        if url is None:
            path = default_ledger_path()
            url = URL.create("sqlite", database=str(path)).render_as_string()
        self.database = LedgerDatabase(url, lease_seconds=lease_seconds, clock=clock, lease_clock=lease_clock)
        self.url = url
        self.instance = instance
        self.lease = self.database.lease
        self.owner = self.database.owner
        # Statements built once per shape and run again with new parameters: SQLAlchemy then skips
        # building the statement and its cache key (most of a ledger write's CPU time otherwise).
        self._statements: dict[Hashable, Any] = {}
        self.heartbeat = Heartbeat(self.renew_leases, interval=lease_seconds / BEATS_PER_LEASE)

    def close(self) -> None:
        self.heartbeat.stop()
        self.database.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- claims and transitions -----------------------------------------------------------------

    def auto_key(self, quote_id: int, step: int) -> str:
        return auto_key(self.instance, quote_id, step)

    def claim(
        self,
        key: str,
        *,
        quote_id: int,
        quote_ref: str,
        step: int | None,
        model: str,
        channel: str,
        run_id: str,
        note: str | None = None,
        user_id: int | None = None,
        next_date: date | None = None,
    ) -> Claim:
        """Take ``key`` for this process; won only by the one claimant that may send.

        Refused when the key is taken (in flight or done) or when another follow-up of the same quote
        is in flight; the refusal names the entry that holds it.
        """
        now = self.database.now()
        fresh: dict[str, Any] = {
            "instance": self.instance,
            "quote_id": quote_id,
            "quote_ref": quote_ref,
            "step": step,
            "model": model,
            "channel": channel,
            "state": FollowUpState.CLAIMED.value,
            "run_id": run_id,
            "owner": self.owner,
            "lease_until": self.database.lease_end(),
            "note": note,
            "user_id": user_id,
            "next_date": next_date,
            "updated_at": now,
        }
        cleared = dict.fromkeys(
            (
                "message_id", "recipients", "event_id", "todo_event_id", "file_name", "error",
                "sent_at", "recorded_at", "resolved_by", "resolution",
            )
        )  # fmt: skip
        try:
            with self.database.transaction(f"claim {key}") as conn:
                won = self._claim_in(conn, key, now, fresh, cleared)
        except LedgerError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            won = False  # a concurrent claim on the same quote got in first (unique index)
        if won:
            self.heartbeat.hold(key)
            return Claim(True)
        return Claim(False, self.holder(quote_id) or self.get(key))

    def _claim_in(
        self, conn: Connection, key: str, now: datetime, fresh: dict[str, Any], cleared: dict[str, Any]
    ) -> bool:
        # A claim abandoned (lease expired) before anything was sent no longer holds the quote.
        conn.execute(
            self._statement(
                "release abandoned claim",
                lambda: (
                    update(followups)
                    .where(
                        followups.c.instance == self.instance,
                        followups.c.quote_id == bindparam("claimed_quote"),
                        followups.c.key != bindparam("claimed_key"),
                        followups.c.state == FollowUpState.CLAIMED.value,
                        self._lease_expired(),
                    )
                    .values(
                        state=FollowUpState.FAILED.value,
                        error="abandoned before sending",
                        updated_at=bindparam("claimed_now", type_=_UtcDateTime),
                        lease_until=None,
                    )
                ),
            ),
            {"claimed_quote": fresh["quote_id"], "claimed_key": key, "claimed_now": now},
        )
        postgres = conn.dialect.name == "postgresql"
        new_row = {"key": key, "created_at": now, **fresh}
        shape, params = _value_shape(new_row)

        def build_insert() -> Executable:
            dialect_insert = postgresql.insert if postgres else sqlite.insert
            # No conflict target: a clash on the key or on the quote's in-flight index both mean "refused".
            return (
                dialect_insert(followups).values(_setters(new_row)).on_conflict_do_nothing().returning(followups.c.key)
            )

        inserted = conn.execute(self._statement(("claim insert", postgres, shape), build_insert), params).first()
        if inserted is not None:
            return True
        takeover = {**fresh, **cleared}
        shape, params = _value_shape(takeover)
        taken_over = conn.execute(
            self._statement(
                ("claim takeover", shape),
                lambda: (
                    update(followups)
                    .where(
                        followups.c.key == bindparam("claimed_key"),
                        or_(
                            followups.c.state.in_([state.value for state in RELEASED_STATES]),
                            and_(followups.c.state == FollowUpState.CLAIMED.value, self._lease_expired()),
                        ),
                    )
                    .values(_setters(takeover))
                    .returning(followups.c.key)
                ),
            ),
            {**params, "claimed_key": key},
        ).first()
        return taken_over is not None

    def _statement(self, shape: Hashable, build: Callable[[], Executable]) -> Any:
        """The statement of this shape, built the first time it is asked for."""
        statement = self._statements.get(shape)
        if statement is None:
            statement = self._statements[shape] = build()
        return statement

    def holder(self, quote_id: int) -> Entry | None:
        """The follow-up of this quote in flight (claimed, sending, sent, uncertain), if any."""
        query = self._statement(
            "holder",
            lambda: select(followups).where(
                followups.c.instance == self.instance,
                followups.c.quote_id == bindparam("holder_quote"),
                followups.c.state.in_([state.value for state in IN_FLIGHT_STATES]),
            ),
        )
        with self.database.transaction(f"read the follow-up in flight of quote {quote_id}", read_only=True) as conn:
            row = conn.execute(query, {"holder_quote": quote_id}).first()
        return Entry.from_row(row) if row is not None else None

    def mark_sending(
        self,
        key: str,
        *,
        message_id: str | None = None,
        recipients: str | Sequence[str] | None = None,
        model: str | None = None,
        next_date: date | None = None,
        file_name: str | None = None,
        facts: str | None = None,
    ) -> Entry:
        """An e-mail's SMTP turn begins (a letter: ``file_name`` given, its upload begins: FILING); what is
        known by now (message id, recipients, the model chosen once the history was read, the letter's file
        name, the facts to record) is kept so an uncertain one can be recorded."""
        known: dict[str, Any] = {}
        if facts:
            known["facts"] = facts
        if model:
            known["model"] = model
        if next_date is not None:
            known["next_date"] = next_date
        if file_name:
            known["file_name"] = file_name
        if message_id:
            known["message_id"] = message_id
        if recipients:
            known["recipients"] = recipients if isinstance(recipients, str) else ", ".join(recipients)
        to_state = FollowUpState.FILING if file_name else FollowUpState.SENDING
        return self._move(key, (FollowUpState.CLAIMED,), to_state, lease_until=self.database.lease_end(), **known)

    def mark_filed(self, key: str) -> Entry:
        """The letter is in the quote's files (its upload answered, or found there by its name)."""
        return self._move(
            key,
            (FollowUpState.FILING,),
            FollowUpState.FILED,
            sent_at=self.database.now(),
            lease_until=self.database.lease_end(),
            error=None,
        )

    def mark_sent(self, key: str, *, message_id: str, recipients: str | Sequence[str]) -> Entry:
        now = self.database.now()
        shown = recipients if isinstance(recipients, str) else ", ".join(recipients)
        return self._move(
            key,
            (FollowUpState.SENDING,),
            FollowUpState.SENT,
            message_id=message_id,
            recipients=shown,
            sent_at=now,
            lease_until=self.database.lease_end(),
            error=None,
        )

    def take_for_recording(self, key: str) -> bool:
        """Own a SENT or RESOLVED_SENT entry before recording it (``retry`` of another run's work).

        True when this process now holds it: it was already ours, or its lease has expired.
        """
        now = self.database.now()
        with self.database.transaction(f"take {key} for recording") as conn:
            result = conn.execute(
                update(followups)
                .where(
                    followups.c.key == key,
                    followups.c.state.in_([state.value for state in TO_RECORD_STATES]),
                    or_(followups.c.owner == self.owner, self._lease_expired()),
                )
                .values(owner=self.owner, lease_until=self.database.lease_end(), updated_at=now)
                .returning(followups.c.key)
            ).first()
        if result is None:
            return False
        self.heartbeat.hold(key)
        return True

    def mark_recorded(
        self, key: str, *, event_id: int, todo_event_id: int | None = None, file_name: str | None = None
    ) -> Entry:
        """Dolibarr has the event. Allowed to the sender, or to anyone once the lease has expired
        (``retry`` after a crash, or a resolved entry); call :meth:`take_for_recording` first when
        several processes may record the same entry."""
        return self._move(
            key,
            TO_RECORD_STATES,
            None,
            state=self._recorded_state,
            event_id=event_id,
            todo_event_id=todo_event_id,
            file_name=file_name,
            recorded_at=self.database.now(),
            lease_until=None,
            error=None,
            or_released=True,
        )

    def mark_record_failed(self, key: str, error: str) -> Entry:
        """Writing to Dolibarr failed: the entry stays to record, released for a later retry."""
        return self._move(key, TO_RECORD_STATES, None, error=error, lease_until=None, or_released=True)

    def mark_failed(self, key: str, error: str) -> Entry:
        """Nothing was sent or filed (refused before, by SMTP, by Dolibarr): release the key."""
        return self._move(
            key,
            (FollowUpState.CLAIMED, *HANDING_OVER_STATES),
            FollowUpState.FAILED,
            error=error,
            lease_until=None,
        )

    def mark_uncertain(self, key: str, error: str) -> Entry:
        """SMTP took the message but never answered (a letter: Dolibarr took the upload but never answered,
        and the file is not found): a person, or a later look in the quote's files, says whether it left."""
        return self._move(key, HANDING_OVER_STATES, FollowUpState.UNCERTAIN, error=error, lease_until=None)

    def mark_printed(self, keys: Sequence[str]) -> int:
        """These letters are in a print file now (whoever filed them); returns how many were not yet.

        A recorded letter becomes PRINTED; one filed but not recorded yet keeps its state and becomes
        PRINTED when it is recorded (``printed_at`` remembers it)."""
        if not keys:
            return 0
        now = self.database.now()
        with self.database.transaction(f"mark {len(keys)} letter(s) printed") as conn:
            return int(
                conn.execute(
                    update(followups)
                    .where(
                        followups.c.instance == self.instance,
                        followups.c.key.in_(list(keys)),
                        followups.c.channel == "letter",
                        followups.c.state.in_([state.value for state in FILED_STATES]),
                        followups.c.printed_at.is_(None),
                    )
                    .values(
                        printed_at=now,
                        state=case(
                            (followups.c.state == FollowUpState.RECORDED.value, FollowUpState.PRINTED.value),
                            else_=followups.c.state,
                        ),
                    )
                ).rowcount
            )

    def close_unrecordable(self, key: str, reason: str) -> Entry:
        """Done but can never be recorded (its quote is gone from Dolibarr): closed with the reason, so
        ``retry`` stops failing on it; never done again."""
        return self._move(
            key,
            TO_RECORD_STATES,
            FollowUpState.ABANDONED,
            error=reason,
            resolution="not recordable",
            lease_until=None,
            or_released=True,
        )

    def abandon(self, key: str, *, by: str, reason: str) -> Entry:
        """A person closes a stuck entry (``ledger resolve KEY --abandon``): never sent, filed or recorded
        by dolirelance from now on. Refused while a live process still works on it."""
        found = self._decide(
            f"abandon {key}",
            key,
            [followups.c.state.in_([state.value for state in ABANDONABLE_STATES]), self._lease_expired()],
            state=FollowUpState.ABANDONED.value,
            resolved_by=by,
            resolution="abandoned",
            error=reason,
        )
        if found is None:
            raise LedgerError(f"no ledger entry {key!r}", remedy="see the entries with `dolirelance status`")
        entry, changed = found
        if changed:
            return entry
        if entry.state not in ABANDONABLE_STATES:
            raise LedgerError(
                f"ledger entry {key!r} is {entry.state.value}: nothing to abandon",
                remedy="only entries still in flight (claimed, sending, sent, filing, filed, uncertain, "
                "resolved_sent) are abandoned; see `dolirelance status`",
            )
        raise LedgerError(
            f"ledger entry {key!r} is {entry.state.value} and still worked on by {entry.owner}",
            remedy="wait for that run to end (or for its lease to run out if it died), then try again",
        )

    def _move(
        self,
        key: str,
        from_states: Sequence[FollowUpState],
        to_state: FollowUpState | None,
        *,
        or_released: bool = False,
        **values: Any,
    ) -> Entry:
        """Change an entry this process owns, only from ``from_states`` (``to_state`` None: keep it).

        ``or_released``: an entry whose lease has expired (its owner died or let it go) is taken over.
        """
        now = self.database.now()
        if to_state is not None:
            values["state"] = to_state.value
        if or_released:
            values["owner"] = self.owner
        values["updated_at"] = now
        shape, params = _value_shape(values)

        def build() -> Executable:
            owned: ColumnElement[bool] = followups.c.owner == self.owner
            if or_released:
                owned = or_(owned, self._lease_expired())
            return (
                update(followups)
                .where(
                    followups.c.key == bindparam("moved_key"),
                    followups.c.state.in_([state.value for state in from_states]),
                    owned,
                )
                .values(_setters(values))
                .returning(*followups.c)
            )

        target = to_state.value if to_state is not None else "updated"
        statement = self._statement(("move", tuple(from_states), or_released, shape), build)
        with self.database.transaction(f"mark {key} {target}") as conn:
            changed = conn.execute(statement, {**params, "moved_key": key}).first()
            if changed is not None:
                moved = Entry.from_row(changed)
                if moved.state not in LIVE_STATES or moved.lease_until is None:
                    self.heartbeat.let_go(key)  # done, released, or handed to a person: nothing to keep alive
                return moved
            row = conn.execute(select(followups).where(followups.c.key == key)).first()
        expected = " or ".join(state.value for state in from_states)
        if row is None:
            raise LedgerError(f"no ledger entry {key!r} to mark {target}")
        entry = Entry.from_row(row)
        if entry.state not in from_states:
            raise LedgerError(
                f"ledger entry {key!r} is {entry.state.value}, not {expected}: cannot mark it {target}",
                remedy="another run may have taken it over; see `dolirelance status`",
            )
        raise LedgerError(
            f"ledger entry {key!r} belongs to {entry.owner}, not to this process: cannot mark it {target}",
            remedy="its lease probably expired and another run took it over; see `dolirelance status`",
        )

    # RECORDED, or PRINTED for a letter already in a print file
    _recorded_state = case(
        (followups.c.printed_at.is_not(None), FollowUpState.PRINTED.value), else_=FollowUpState.RECORDED.value
    )

    def _lease_expired(self) -> ColumnElement[bool]:
        return self.database.lease_expired(followups.c.lease_until)

    def renew_leases(self, keys: Collection[str]) -> int:
        """Renew the leases of these claims, still this process's and still being worked on (the heartbeat)."""
        if not keys:
            return 0
        statement = self._statement(
            "renew leases",
            lambda: (
                update(followups)
                .where(
                    followups.c.key.in_(bindparam("renewed_keys", expanding=True)),
                    followups.c.owner == self.owner,
                    followups.c.state.in_([state.value for state in LIVE_STATES]),
                    followups.c.lease_until.is_not(None),
                )
                .values(lease_until=self.database.lease_end())
            ),
        )
        with self.database.transaction(f"renew the leases of {len(keys)} claim(s)") as conn:
            return conn.execute(statement, {"renewed_keys": sorted(keys)}).rowcount

    def let_go(self, key: str) -> None:
        """Stop renewing ``key``'s lease: this process no longer works on it (whatever state it is in)."""
        self.heartbeat.let_go(key)

    # -- recovery and resolution ----------------------------------------------------------------

    def recover_abandoned(self) -> list[Entry]:
        """Claims whose heartbeat stopped (lease expired): SENDING and FILING → UNCERTAIN, CLAIMED → FAILED;
        returns the rows changed here."""
        now = self.database.now()
        changed: list[Entry] = []
        with self.database.transaction("recover abandoned claims") as conn:
            for from_state, to_state, error in ABANDONED_MOVES:
                rows = conn.execute(
                    update(followups)
                    .where(
                        followups.c.instance == self.instance,
                        followups.c.state == from_state.value,
                        self._lease_expired(),
                    )
                    .values(state=to_state.value, error=error, updated_at=now, lease_until=None)
                    .returning(*followups.c)
                ).all()
                changed.extend(Entry.from_row(row) for row in rows)
        return changed

    def resolve(self, key: str, *, sent: bool, by: str) -> Entry:
        """A person says whether an UNCERTAIN message left (``dolirelance ledger resolve``)."""
        to_state = FollowUpState.RESOLVED_SENT if sent else FollowUpState.RESOLVED_NOT_SENT
        found = self._decide(
            f"resolve {key}",
            key,
            [followups.c.state == FollowUpState.UNCERTAIN.value],
            state=to_state.value,
            resolved_by=by,
            resolution="sent" if sent else "not sent",
        )
        if found is None:
            raise LedgerError(f"no ledger entry {key!r}", remedy="list uncertain entries with `dolirelance status`")
        entry, changed = found
        if changed:
            return entry
        raise LedgerError(
            f"ledger entry {key!r} is {entry.state.value}, not uncertain: nothing to resolve",
            remedy="only uncertain entries are resolved; see `dolirelance status`",
        )

    def _decide(
        self, action: str, key: str, conditions: Sequence[ColumnElement[bool]], **values: Any
    ) -> tuple[Entry, bool] | None:
        """Apply a person's decision to one entry if it still meets ``conditions``, releasing its lease.

        The entry as it now is and whether this changed it; None when there is no entry ``key``.
        """
        now = self.database.now()
        with self.database.transaction(action) as conn:
            changed = conn.execute(
                update(followups)
                .where(followups.c.key == key, *conditions)
                .values(**values, updated_at=now, lease_until=None)
                .returning(*followups.c)
            ).first()
            if changed is not None:
                return Entry.from_row(changed), True
            row = conn.execute(select(followups).where(followups.c.key == key)).first()
        return (Entry.from_row(row), False) if row is not None else None

    # -- reading --------------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        query = self._statement("get", lambda: select(followups).where(followups.c.key == bindparam("key")))
        with self.database.transaction(f"read {key}", read_only=True) as conn:
            row = conn.execute(query, {"key": key}).first()
        return Entry.from_row(row) if row is not None else None

    def _select(
        self,
        action: str,
        *conditions: ColumnElement[bool],
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Entry]:
        order = followups.c.updated_at.desc() if newest_first else followups.c.created_at
        query = select(followups).where(followups.c.instance == self.instance, *conditions)
        query = query.order_by(order, followups.c.key).limit(limit)
        with self.database.transaction(action, read_only=True) as conn:
            return [Entry.from_row(row) for row in conn.execute(query)]

    def letters_to_print(self) -> list[Entry]:
        """Letters filed in Dolibarr but in no print file yet (a batch killed midway, a letter done alone)."""
        return self._select(
            "list letters to print",
            followups.c.channel == "letter",
            followups.c.state.in_([state.value for state in FILED_STATES]),
            followups.c.printed_at.is_(None),
        )

    def abandoned(self, limit: int = 50) -> list[Entry]:
        return self._select(
            "list abandoned entries", followups.c.state == FollowUpState.ABANDONED.value, limit=limit, newest_first=True
        )

    def uncertain(self) -> list[Entry]:
        return self._select("list uncertain entries", followups.c.state == FollowUpState.UNCERTAIN.value)

    def to_record(self) -> list[Entry]:
        """Sent but not yet in Dolibarr (SENT and RESOLVED_SENT)."""
        states = [state.value for state in TO_RECORD_STATES]
        return self._select("list entries to record", followups.c.state.in_(states))

    def entries_for_quotes(self, quote_ids: Sequence[int], *, as_recovered: bool = False) -> list[Entry]:
        """The quotes' rows. ``as_recovered``: an abandoned claim (lease run out) is returned as
        :meth:`recover_abandoned` would leave it, without moving it: a read that changes nothing."""
        if not quote_ids:
            return []
        entries: list[Entry] = []
        unique = sorted(set(quote_ids))
        query = self._statement(
            "entries of quotes",
            lambda: (
                select(followups, self._lease_expired().label("lease_expired"))
                .where(
                    followups.c.instance == self.instance, followups.c.quote_id.in_(bindparam("ids", expanding=True))
                )
                .order_by(followups.c.created_at, followups.c.key)
            ),
        )
        moves = {from_state: (to_state, error) for from_state, to_state, error in ABANDONED_MOVES}
        for start in range(0, len(unique), 500):  # keep the IN list within every driver's limits
            chunk = unique[start : start + 500]
            with self.database.transaction("read entries of quotes", read_only=True) as conn:
                for row in conn.execute(query, {"ids": chunk}):
                    values = dict(row._mapping)
                    expired = bool(values.pop("lease_expired"))
                    entry = Entry(**{**values, "state": FollowUpState(values["state"])})
                    move = moves.get(entry.state) if as_recovered and expired else None
                    if move is not None:
                        entry = replace(entry, state=move[0], error=move[1], lease_until=None)
                    entries.append(entry)
        return entries

    def by_message_ids(self, message_ids: Sequence[str]) -> list[Entry]:
        """Follow-ups whose e-mail had one of these Message-IDs (replies name them in In-Reply-To)."""
        if not message_ids:
            return []
        return self._select("find follow-ups by Message-ID", followups.c.message_id.in_(list(message_ids)))

    def sent_to(self, address: str, since: datetime) -> list[Entry]:
        """E-mail follow-ups sent to ``address`` since ``since`` (newest first)."""
        wanted = address.strip().lower()
        if not wanted:
            return []
        candidates = self._select(
            "find follow-ups by recipient",
            followups.c.channel == "email",
            followups.c.sent_at >= since,
            func.lower(followups.c.recipients).contains(wanted, autoescape=True),
            newest_first=True,
        )
        return [
            entry
            for entry in candidates
            if wanted in (part.strip().lower() for part in (entry.recipients or "").split(","))
        ]

    def recent(self, limit: int = 50) -> list[Entry]:
        return self._select("list recent entries", limit=limit, newest_first=True)

    def counts(self) -> dict[FollowUpState, int]:
        query = (
            select(followups.c.state, func.count())
            .where(followups.c.instance == self.instance)
            .group_by(followups.c.state)
        )
        with self.database.transaction("count entries", read_only=True) as conn:
            found: Mapping[str, int] = {str(state): int(count) for state, count in conn.execute(query)}
        return {state: found.get(state.value, 0) for state in FollowUpState}


def _value_shape(values: Mapping[str, Any]) -> tuple[tuple[tuple[str, int | None], ...], dict[str, Any]]:
    """The shape of the values a statement sets (which columns; which take a SQL expression, and
    which) and the parameters for the others: two calls of one shape share one statement."""
    shape = tuple(
        (name, id(values[name]) if isinstance(values[name], ColumnElement) else None) for name in sorted(values)
    )
    params = {f"v_{name}": value for name, value in values.items() if not isinstance(value, ColumnElement)}
    return shape, params


def _setters(values: Mapping[str, Any]) -> dict[str, Any]:
    """What :func:`_value_shape` describes, as the SET (or VALUES) of a statement: bound parameters
    named ``v_<column>``, SQL expressions as they are."""
    return {
        name: value if isinstance(value, ColumnElement) else bindparam(f"v_{name}", type_=followups.c[name].type)
        for name, value in values.items()
    }
