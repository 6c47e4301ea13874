"""The ledger: claims and outcomes of follow-ups, so nothing is ever sent twice.

SQLAlchemy Core over a SQLite file (default, in the user's state directory) or PostgreSQL
(``postgresql+psycopg://...``, shared by several replicas). Every method is one short
transaction, and every state change is a conditional ``UPDATE ... WHERE state IN (...)`` whose
row count says whether this process won, so SQLite and PostgreSQL give the same guarantees.
Read-only queries take no write lock. The schema is versioned with Alembic
(:mod:`dolirelance.migrations`) and brought up to date each time a ledger is opened.

One follow-up in flight per quote: a partial unique index on ``(instance, quote_id)`` over the
in-flight states (CLAIMED, SENDING, SENT, UNCERTAIN, RESOLVED_SENT) makes the database itself refuse
a second claim on a quote, whatever its key, in every process and replica. Automatic steps also
keep their per-step key (``auto:<instance>:<quote>:step<n>``), so a step done is never done again.

Life of a follow-up::

    claim ─► CLAIMED ─► SENDING ─► SENT ─► RECORDED
                │           │  └─(dies, lease expires)─► UNCERTAIN ─resolve─► RESOLVED_SENT ─► RECORDED
                │           │                                         └────► RESOLVED_NOT_SENT
                └───────────┴─► FAILED (nothing left; a later claim may take the key over)

A claim holds a lease, measured on the database's clock (PostgreSQL ``now()``, SQLite's own).
:meth:`Ledger.recover_abandoned` turns expired SENDING rows into UNCERTAIN (a person settles them
with :meth:`Ledger.resolve`; never re-sent by itself) and expired CLAIMED rows into FAILED.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import platformdirs
from alembic import command as alembic_command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Dialect,
    Engine,
    Index,
    Integer,
    Interval,
    MetaData,
    Row,
    String,
    Table,
    Text,
    TypeDecorator,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    inspect,
    literal,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Executable

from dolirelance.errors import LedgerError

APP_NAME = "dolirelance"
DEFAULT_FILE_NAME = "dolirelance-ledger.sqlite3"
_SQLITE_BUSY_TIMEOUT_MS = 30_000
_SCHEMA_LOCK_ID = 0x646F6C69  # "doli": serialises schema upgrades between replicas on PostgreSQL
SCHEMA_VERSION_TABLE = "dolirelance_ledger_version"
FIRST_RELEASED_REVISION = "0001"  # the schema create_all made before migrations existed

log = logging.getLogger("dolirelance.ledger")


class FollowUpState(StrEnum):
    CLAIMED = "claimed"  # we will send; nothing left yet
    SENDING = "sending"  # talking to SMTP: outcome unknown if we die now
    SENT = "sent"  # the message left; Dolibarr not written yet
    RECORDED = "recorded"  # Dolibarr has the event
    FAILED = "failed"  # nothing was sent; the key may be claimed again
    UNCERTAIN = "uncertain"  # died while SENDING: a person must resolve it
    RESOLVED_SENT = "resolved_sent"  # a person confirmed it left: still to record
    RESOLVED_NOT_SENT = "resolved_not_sent"  # a person confirmed it did not: released


# States in which a follow-up holds its quote: at most one such row per quote (unique index).
IN_FLIGHT_STATES = (
    FollowUpState.CLAIMED,
    FollowUpState.SENDING,
    FollowUpState.SENT,
    FollowUpState.UNCERTAIN,
    FollowUpState.RESOLVED_SENT,
)
# States a new claim may take over (besides CLAIMED with an expired lease).
RELEASED_STATES = (FollowUpState.FAILED, FollowUpState.RESOLVED_NOT_SENT)
TO_RECORD_STATES = (FollowUpState.SENT, FollowUpState.RESOLVED_SENT)


def default_ledger_path() -> Path:
    return Path(platformdirs.user_state_dir(APP_NAME)) / DEFAULT_FILE_NAME


def auto_key(instance: str, quote_id: int, step: int) -> str:
    return f"auto:{instance}:{quote_id}:step{step}"


def manual_key() -> str:
    return f"manual:{uuid.uuid4()}"


class _UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored in UTC; SQLite drops the offset, so it is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the ledger stores timezone-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

followups = Table(
    "followups",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("instance", String(64), nullable=False),
    Column("quote_id", Integer, nullable=False),
    Column("quote_ref", String(128), nullable=False),
    Column("step", Integer, nullable=True),
    Column("model", String(128), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("state", String(32), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("owner", String(255), nullable=True),
    Column("lease_until", _UtcDateTime, nullable=True),
    Column("message_id", String(255), nullable=True),
    Column("recipients", Text, nullable=True),
    Column("event_id", Integer, nullable=True),
    Column("todo_event_id", Integer, nullable=True),
    Column("file_name", String(255), nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", _UtcDateTime, nullable=False),
    Column("updated_at", _UtcDateTime, nullable=False),
    Column("sent_at", _UtcDateTime, nullable=True),
    Column("recorded_at", _UtcDateTime, nullable=True),
    Column("resolved_by", String(255), nullable=True),
    Column("resolution", String(32), nullable=True),
    Column("next_date", Date, nullable=True),
    Column("note", Text, nullable=True),
    Column("user_id", Integer, nullable=True),
    Column("facts", Text, nullable=True),  # JSON: what the recorder writes in Dolibarr (service/agenda.py)
)
Index("ix_followups_instance_quote", followups.c.instance, followups.c.quote_id)
Index("ix_followups_message_id", followups.c.message_id)
Index("ix_followups_instance_state", followups.c.instance, followups.c.state)
_IN_FLIGHT_SQL = "state IN ({})".format(", ".join(f"'{state.value}'" for state in IN_FLIGHT_STATES))
Index(
    "ux_followups_one_in_flight",
    followups.c.instance,
    followups.c.quote_id,
    unique=True,
    sqlite_where=text(_IN_FLIGHT_SQL),
    postgresql_where=text(_IN_FLIGHT_SQL),
)




class MessageState(StrEnum):
    """What became of one message of the replies mailbox (see :meth:`Ledger.claim_message`)."""

    CLAIMED = "claimed"  # being processed (lease); a process that died leaves it to be taken over
    RECORDED = "recorded"  # Dolibarr holds its record (or it needed none): still to flag or move
    DONE = "done"  # flagged or moved in the mailbox
    IGNORED = "ignored"  # not about our follow-ups: left alone in the mailbox
    UNREADABLE = "unreadable"  # could not be read: left in place, reported


# A message in one of these states is never processed again.
FINISHED_MESSAGE_STATES = (MessageState.DONE, MessageState.IGNORED, MessageState.UNREADABLE)

mailbox_messages = Table(
    "mailbox_messages",
    metadata,
    Column("instance", String(64), primary_key=True),
    Column("mailbox", String(255), primary_key=True),
    Column("uidvalidity", BigInteger, primary_key=True),
    Column("uid", BigInteger, primary_key=True),
    Column("state", String(32), nullable=False),
    Column("kind", String(32), nullable=True),
    Column("owner", String(255), nullable=True),
    Column("lease_until", _UtcDateTime, nullable=True),
    Column("message_id", String(998), nullable=True),
    Column("sender", String(320), nullable=True),
    Column("subject", Text, nullable=True),
    Column("received_at", _UtcDateTime, nullable=True),
    Column("followup_key", String(200), nullable=True),
    Column("quote_id", Integer, nullable=True),
    Column("quote_ref", String(128), nullable=True),
    Column("address", String(320), nullable=True),
    Column("detail", Text, nullable=True),
    Column("event_id", Integer, nullable=True),
    Column("todo_event_id", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", _UtcDateTime, nullable=False),
    Column("updated_at", _UtcDateTime, nullable=False),
    # readings that began parsing the message and never finished (the process died): see start_reading
    Column("read_attempts", Integer, nullable=False, server_default="0"),
)
Index("ix_mailbox_messages_state", mailbox_messages.c.instance, mailbox_messages.c.mailbox, mailbox_messages.c.state)


@dataclass(frozen=True, slots=True)
class MailboxMessage:
    """One row of ``mailbox_messages``: a message of the replies mailbox and its outcome."""

    instance: str
    mailbox: str
    uidvalidity: int
    uid: int
    state: MessageState
    kind: str | None
    owner: str | None
    lease_until: datetime | None
    message_id: str | None
    sender: str | None
    subject: str | None
    received_at: datetime | None
    followup_key: str | None
    quote_id: int | None
    quote_ref: str | None
    address: str | None
    detail: str | None
    event_id: int | None
    todo_event_id: int | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    read_attempts: int = 0

    @classmethod
    def from_row(cls, row: Row[Any]) -> MailboxMessage:
        values: dict[str, Any] = dict(row._mapping)
        values["state"] = MessageState(values["state"])
        return cls(**values)


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
    facts: str | None = None  # JSON kept at SENDING: what to record in Dolibarr (service/agenda.py)

    @property
    def automatic(self) -> bool:
        return self.key.startswith("auto:")

    @property
    def may_have_left(self) -> bool:
        """True unless the message certainly did not leave (the policy counts these as done)."""
        return self.state not in (FollowUpState.CLAIMED, *RELEASED_STATES)

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


def _mask(url: str | None) -> str:
    if url is None:
        return "(none)"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


def _owner_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Ledger:
    """Claims and outcomes of follow-ups for one ``instance``."""

    def __init__(
        self,
        url: str | None,
        *,
        instance: str,
        lease_seconds: int = 600,
        clock: Callable[[], datetime] = _utc_now,
        lease_clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``clock`` dates the rows (created, sent...); leases run on the database's own clock
        (PostgreSQL ``now()``, SQLite's), so replicas whose clocks differ agree on when one ends.
        ``lease_clock`` replaces the database's clock (tests that move time)."""
        if url is None:
            path = default_ledger_path()
            url = URL.create("sqlite", database=str(path)).render_as_string()
        self.url = url
        self.instance = instance
        self.lease = timedelta(seconds=lease_seconds)
        self.owner = _owner_identity()
        self._clock = clock
        self._lease_clock = lease_clock
        self._database_now: dict[int, ColumnElement[datetime]] = {}
        # Statements built once per shape and run again with new parameters: SQLAlchemy then skips
        # building the statement and its cache key (most of a ledger write's CPU time otherwise).
        self._statements: dict[Hashable, Any] = {}
        self._engine = self._create_engine(url)
        self._read_only_engine = self._engine.execution_options(dolirelance_read_only=True)
        with self._transaction("bring its schema up to date") as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SCHEMA_LOCK_ID})
            _upgrade_schema(conn, self.url)

    # -- setup --------------------------------------------------------------------------------

    def _create_engine(self, url: str) -> Engine:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise LedgerError(
                f"the ledger URL {_mask(url)!r} is not a database URL",
                remedy='set ledger.url to "sqlite:///path/to/file" or "postgresql+psycopg://user@host/db"',
            ) from None
        try:
            if parsed.get_backend_name() != "sqlite":
                return create_engine(parsed, pool_pre_ping=True)
            in_memory = parsed.database in (None, "", ":memory:")
            if not in_memory:
                assert parsed.database is not None
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                parsed,
                connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                poolclass=StaticPool if in_memory else None,
            )
        except (SQLAlchemyError, ImportError, OSError) as exc:
            raise LedgerError(
                f"cannot open the ledger database {_mask(url)}: {exc}",
                remedy="check ledger.url in dolirelance.toml, the driver (psycopg for PostgreSQL) "
                "and that the directory is writable",
            ) from None
        _configure_sqlite(engine, wal=not in_memory)
        return engine

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, action: str, *, read_only: bool = False) -> Iterator[Connection]:
        """One transaction; ``read_only`` ones take no write lock (a plain BEGIN on SQLite)."""
        engine = self._read_only_engine if read_only else self._engine
        try:
            with engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            reason = getattr(exc, "orig", None) or exc
            raise LedgerError(
                f"the ledger database {_mask(self.url)} could not {action}: {reason}",
                remedy="check that the database is reachable and writable (ledger.url in "
                "dolirelance.toml); if another dolirelance holds it locked, run again later",
            ) from exc

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
        now = self._clock()
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
            "lease_until": self._lease_end(),
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
            with self._transaction(f"claim {key}") as conn:
                won = self._claim_in(conn, key, now, fresh, cleared)
        except LedgerError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            won = False  # a concurrent claim on the same quote got in first (unique index)
        if won:
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
        with self._transaction(f"read the follow-up in flight of quote {quote_id}", read_only=True) as conn:
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
        """About to send or file; what is known by now (message id, recipients, the model chosen once the
        history was read, the letter's file name, the facts to record) is kept so an uncertain one can be
        recorded."""
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
        return self._move(key, (FollowUpState.CLAIMED,), FollowUpState.SENDING, lease_until=self._lease_end(), **known)

    def mark_sent(self, key: str, *, message_id: str, recipients: str | Sequence[str]) -> Entry:
        now = self._clock()
        shown = recipients if isinstance(recipients, str) else ", ".join(recipients)
        return self._move(
            key,
            (FollowUpState.SENDING,),
            FollowUpState.SENT,
            message_id=message_id,
            recipients=shown,
            sent_at=now,
            lease_until=self._lease_end(),
            error=None,
        )

    def take_for_recording(self, key: str) -> bool:
        """Own a SENT or RESOLVED_SENT entry before recording it (``retry`` of another run's work).

        True when this process now holds it: it was already ours, or its lease has expired.
        """
        now = self._clock()
        with self._transaction(f"take {key} for recording") as conn:
            result = conn.execute(
                update(followups)
                .where(
                    followups.c.key == key,
                    followups.c.state.in_([state.value for state in TO_RECORD_STATES]),
                    or_(followups.c.owner == self.owner, self._lease_expired()),
                )
                .values(owner=self.owner, lease_until=self._lease_end(), updated_at=now)
                .returning(followups.c.key)
            ).first()
            return result is not None

    def mark_recorded(
        self, key: str, *, event_id: int, todo_event_id: int | None = None, file_name: str | None = None
    ) -> Entry:
        """Dolibarr has the event. Allowed to the sender, or to anyone once the lease has expired
        (``retry`` after a crash, or a resolved entry); call :meth:`take_for_recording` first when
        several processes may record the same entry."""
        return self._move(
            key,
            TO_RECORD_STATES,
            FollowUpState.RECORDED,
            event_id=event_id,
            todo_event_id=todo_event_id,
            file_name=file_name,
            recorded_at=self._clock(),
            lease_until=None,
            error=None,
            or_released=True,
        )

    def mark_record_failed(self, key: str, error: str) -> Entry:
        """Writing to Dolibarr failed: the entry stays to record, released for a later retry."""
        return self._move(key, TO_RECORD_STATES, None, error=error, lease_until=None, or_released=True)

    def mark_failed(self, key: str, error: str) -> Entry:
        """Nothing was sent (refused before or by SMTP): release the key."""
        return self._move(
            key,
            (FollowUpState.CLAIMED, FollowUpState.SENDING),
            FollowUpState.FAILED,
            error=error,
            lease_until=None,
        )

    def mark_uncertain(self, key: str, error: str) -> Entry:
        """SMTP took the message but never answered: a person must say whether it left."""
        return self._move(key, (FollowUpState.SENDING,), FollowUpState.UNCERTAIN, error=error, lease_until=None)

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
        now = self._clock()
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
        with self._transaction(f"mark {key} {target}") as conn:
            changed = conn.execute(statement, {**params, "moved_key": key}).first()
            if changed is not None:
                return Entry.from_row(changed)
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

    def _lease_expired(self) -> ColumnElement[bool]:
        return or_(followups.c.lease_until.is_(None), followups.c.lease_until < self._lease_now(0))

    def _lease_end(self) -> ColumnElement[datetime]:
        return self._lease_now(int(self.lease.total_seconds()))

    def _lease_now(self, plus_seconds: int) -> ColumnElement[datetime]:
        """The lease clock's now (+ seconds) as SQL: the database's clock unless ``lease_clock`` is set."""
        # the clock is read when the statement runs: the expression is built once
        expression = self._database_now.get(plus_seconds)
        if expression is None:
            lease_clock = self._lease_clock
            if lease_clock is not None:
                expression = bindparam(
                    f"lease_now_{plus_seconds}".replace("-", "minus_"),
                    type_=_UtcDateTime,
                    callable_=lambda: lease_clock() + timedelta(seconds=plus_seconds),
                )
            elif self._engine.dialect.name == "postgresql":
                expression = func.now() + literal(timedelta(seconds=plus_seconds), Interval)
            else:  # SQLite's clock, in the text form SQLAlchemy stores (UTC, microseconds)
                stamp = func.strftime("%Y-%m-%d %H:%M:%f", "now", f"{plus_seconds:+d} seconds")
                expression = type_coerce(stamp.concat("000"), _UtcDateTime)
            self._database_now[plus_seconds] = expression
        return expression

    # -- recovery and resolution ----------------------------------------------------------------

    def recover_abandoned(self) -> list[Entry]:
        """Expired SENDING → UNCERTAIN, expired CLAIMED → FAILED; returns the rows changed here."""
        now = self._clock()
        changed: list[Entry] = []
        moves = (
            (FollowUpState.SENDING, FollowUpState.UNCERTAIN, "the process died while talking to SMTP"),
            (FollowUpState.CLAIMED, FollowUpState.FAILED, "abandoned before sending"),
        )
        with self._transaction("recover abandoned claims") as conn:
            for from_state, to_state, error in moves:
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
        now = self._clock()
        to_state = FollowUpState.RESOLVED_SENT if sent else FollowUpState.RESOLVED_NOT_SENT
        with self._transaction(f"resolve {key}") as conn:
            changed = conn.execute(
                update(followups)
                .where(followups.c.key == key, followups.c.state == FollowUpState.UNCERTAIN.value)
                .values(
                    state=to_state.value,
                    resolved_by=by,
                    resolution="sent" if sent else "not sent",
                    updated_at=now,
                    lease_until=None,
                )
                .returning(*followups.c)
            ).first()
            if changed is not None:
                return Entry.from_row(changed)
            row = conn.execute(select(followups).where(followups.c.key == key)).first()
        if row is None:
            raise LedgerError(f"no ledger entry {key!r}", remedy="list uncertain entries with `dolirelance status`")
        raise LedgerError(
            f"ledger entry {key!r} is {Entry.from_row(row).state.value}, not uncertain: nothing to resolve",
            remedy="only uncertain entries are resolved; see `dolirelance status`",
        )

    # -- reading --------------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        query = self._statement("get", lambda: select(followups).where(followups.c.key == bindparam("key")))
        with self._transaction(f"read {key}", read_only=True) as conn:
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
        with self._transaction(action, read_only=True) as conn:
            return [Entry.from_row(row) for row in conn.execute(query)]

    def uncertain(self) -> list[Entry]:
        return self._select("list uncertain entries", followups.c.state == FollowUpState.UNCERTAIN.value)

    def to_record(self) -> list[Entry]:
        """Sent but not yet in Dolibarr (SENT and RESOLVED_SENT)."""
        states = [state.value for state in TO_RECORD_STATES]
        return self._select("list entries to record", followups.c.state.in_(states))

    def entries_for_quotes(self, quote_ids: Sequence[int]) -> list[Entry]:
        if not quote_ids:
            return []
        entries: list[Entry] = []
        unique = sorted(set(quote_ids))
        query = self._statement(
            "entries of quotes",
            lambda: (
                select(followups)
                .where(
                    followups.c.instance == self.instance, followups.c.quote_id.in_(bindparam("ids", expanding=True))
                )
                .order_by(followups.c.created_at, followups.c.key)
            ),
        )
        for start in range(0, len(unique), 500):  # keep the IN list within every driver's limits
            chunk = unique[start : start + 500]
            with self._transaction("read entries of quotes", read_only=True) as conn:
                entries += [Entry.from_row(row) for row in conn.execute(query, {"ids": chunk})]
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
        with self._transaction("count entries", read_only=True) as conn:
            found: Mapping[str, int] = {str(state): int(count) for state, count in conn.execute(query)}
        return {state: found.get(state.value, 0) for state in FollowUpState}


class MailboxLedger:
    """The ledger's memory of the replies mailbox: each message (UIDVALIDITY, UID) processed once.

    Life of a message::

        claim_message ─► CLAIMED ─► (Dolibarr holds the record) ─► RECORDED ─► (flagged or moved) ─► DONE
             │              └─ (dies: lease expires, the next run takes it over and finds what Dolibarr has)
             ├─► IGNORED     not about our follow-ups: left alone
             └─► UNREADABLE  left in place, reported

    A claim is won by one process only (insert, or take over an expired CLAIMED row); RECORDED means
    Dolibarr needs nothing more, whoever flags the message afterwards.
    """

    def __init__(self, ledger: Ledger, mailbox: str) -> None:
        self._ledger = ledger
        self.mailbox = mailbox[:255]

    def _where(self, uidvalidity: int, uid: int) -> ColumnElement[bool]:
        table = mailbox_messages
        return and_(
            table.c.instance == self._ledger.instance,
            table.c.mailbox == self.mailbox,
            table.c.uidvalidity == uidvalidity,
            table.c.uid == uid,
        )

    def known(self, uidvalidity: int, uids: Sequence[int]) -> dict[int, MailboxMessage]:
        """The rows of these UIDs (of this UIDVALIDITY) the ledger already has."""
        found: dict[int, MailboxMessage] = {}
        table = mailbox_messages
        unique = sorted(set(uids))
        for start in range(0, len(unique), 500):
            query = select(table).where(
                table.c.instance == self._ledger.instance,
                table.c.mailbox == self.mailbox,
                table.c.uidvalidity == uidvalidity,
                table.c.uid.in_(unique[start : start + 500]),
            )
            with self._ledger._transaction("read mailbox messages", read_only=True) as conn:
                found.update({row.uid: MailboxMessage.from_row(row) for row in conn.execute(query)})
        return found

    def claim_message(self, uidvalidity: int, uid: int) -> MailboxMessage | None:
        """Take one message for this process; None when it is finished, RECORDED or held by a live claim."""
        ledger, table = self._ledger, mailbox_messages
        now = ledger._clock()
        lease_expired = or_(table.c.lease_until.is_(None), table.c.lease_until < ledger._lease_now(0))
        with ledger._transaction(f"claim mailbox message {uid}") as conn:
            dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            row = conn.execute(
                dialect_insert(table)
                .values(
                    instance=ledger.instance,
                    mailbox=self.mailbox,
                    uidvalidity=uidvalidity,
                    uid=uid,
                    state=MessageState.CLAIMED.value,
                    owner=ledger.owner,
                    lease_until=ledger._lease_end(),
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing()
                .returning(*table.c)
            ).first()
            if row is None:
                row = conn.execute(
                    update(table)
                    .where(
                        self._where(uidvalidity, uid),
                        table.c.state == MessageState.CLAIMED.value,
                        or_(table.c.owner == ledger.owner, lease_expired),
                    )
                    .values(owner=ledger.owner, lease_until=ledger._lease_end(), updated_at=now)
                    .returning(*table.c)
                ).first()
        return MailboxMessage.from_row(row) if row is not None else None

    def note(self, uidvalidity: int, uid: int, **values: Any) -> MailboxMessage:
        """Keep what is known of a claimed message (kind, sender, quote, event ids...)."""
        return self._set(uidvalidity, uid, (MessageState.CLAIMED,), None, **values)

    def mark(self, uidvalidity: int, uid: int, state: MessageState, **values: Any) -> MailboxMessage:
        """CLAIMED → RECORDED / IGNORED / UNREADABLE, or RECORDED → DONE."""
        from_states = (MessageState.RECORDED,) if state is MessageState.DONE else (MessageState.CLAIMED,)
        return self._set(uidvalidity, uid, from_states, state, **values)

    def _set(
        self,
        uidvalidity: int,
        uid: int,
        from_states: Sequence[MessageState],
        to_state: MessageState | None,
        **values: Any,
    ) -> MailboxMessage:
        ledger, table = self._ledger, mailbox_messages
        if to_state is not None:
            values["state"] = to_state.value
            if to_state is not MessageState.CLAIMED:
                values["lease_until"] = None
        conditions = [self._where(uidvalidity, uid), table.c.state.in_([s.value for s in from_states])]
        if MessageState.CLAIMED in from_states:
            conditions.append(table.c.owner == ledger.owner)
        with ledger._transaction(f"note mailbox message {uid}") as conn:
            row = conn.execute(
                update(table).where(*conditions).values(updated_at=ledger._clock(), **values).returning(*table.c)
            ).first()
        if row is None:
            raise LedgerError(
                f"mailbox message {uid} (UIDVALIDITY {uidvalidity}) is no longer held by this process",
                remedy="another run took it over after this one's lease expired; nothing is lost, run again",
            )
        return MailboxMessage.from_row(row)

    def start_reading(self, uidvalidity: int, uid: int) -> int:
        """Count one more reading of a claimed message that begins parsing it; the readings before
        that never finished (see :meth:`finish_reading`): a message that killed its reader is not
        parsed again and again."""
        table = mailbox_messages
        row = self._set(uidvalidity, uid, (MessageState.CLAIMED,), None, read_attempts=table.c.read_attempts + 1)
        return row.read_attempts - 1

    def finish_reading(self, uidvalidity: int, uid: int) -> None:
        """The parsing came back (read or found unreadable): no unfinished reading to count."""
        self._set(uidvalidity, uid, (MessageState.CLAIMED,), None, read_attempts=0)

    def recorded_not_done(self) -> list[MailboxMessage]:
        """Messages Dolibarr holds but not flagged or moved yet (a run died in between)."""
        table = mailbox_messages
        query = select(table).where(
            table.c.instance == self._ledger.instance,
            table.c.mailbox == self.mailbox,
            table.c.state == MessageState.RECORDED.value,
        )
        with self._ledger._transaction("read recorded mailbox messages", read_only=True) as conn:
            return [MailboxMessage.from_row(row) for row in conn.execute(query.order_by(table.c.uid))]

    def all_messages(self) -> list[MailboxMessage]:
        table = mailbox_messages
        query = select(table).where(table.c.instance == self._ledger.instance, table.c.mailbox == self.mailbox)
        with self._ledger._transaction("read mailbox messages", read_only=True) as conn:
            return [MailboxMessage.from_row(row) for row in conn.execute(query.order_by(table.c.uid))]


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


def _upgrade_schema(conn: Connection, url: str) -> None:
    """Apply the migrations in :mod:`dolirelance.migrations` (a ledger from before them is stamped 0001)."""
    config = AlembicConfig()
    config.set_main_option("script_location", "dolirelance:migrations")
    config.attributes["connection"] = conn
    config.attributes["version_table"] = SCHEMA_VERSION_TABLE
    # Alembic narrates every step at INFO; the daemon's log gets one line of ours instead.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    inspector = inspect(conn)
    if inspector.has_table(followups.name) and not inspector.has_table(SCHEMA_VERSION_TABLE):
        alembic_command.stamp(config, FIRST_RELEASED_REVISION)
    before = MigrationContext.configure(conn, opts={"version_table": SCHEMA_VERSION_TABLE}).get_current_revision()
    try:
        alembic_command.upgrade(config, "head")
    except RuntimeError as exc:  # a migration that cannot go on says why
        raise LedgerError(
            f"the ledger database {_mask(url)} cannot be upgraded: {exc}",
            remedy="nothing was changed; do what the message says, then start again",
        ) from None
    after = MigrationContext.configure(conn, opts={"version_table": SCHEMA_VERSION_TABLE}).get_current_revision()
    if after != before:
        log.info("ledger schema upgraded from %s to %s", before or "(new)", after)


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    """WAL, a busy timeout, and BEGIN IMMEDIATE so two processes on one file queue up, not fail."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS}")
        if wal:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("dolirelance_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
