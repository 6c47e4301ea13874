"""The ledger's tables, states and schema upgrades (Alembic), shared by follow-ups and the mailbox."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
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
    Connection,
    Date,
    DateTime,
    Dialect,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from dolirelance.errors import LedgerError

APP_NAME = "dolirelance"
DEFAULT_FILE_NAME = "dolirelance-ledger.sqlite3"
_SQLITE_BUSY_TIMEOUT_MS = 30_000
_SCHEMA_LOCK_ID = 0x646F6C69  # "doli": serialises schema upgrades between replicas on PostgreSQL
SCHEMA_VERSION_TABLE = "dolirelance_ledger_version"
FIRST_RELEASED_REVISION = "0001"  # the schema create_all made before migrations existed

log = logging.getLogger("dolirelance.ledger")


class FollowUpState(StrEnum):
    CLAIMED = "claimed"  # we will send or file; nothing left yet
    SENDING = "sending"  # an e-mail's SMTP turn: outcome unknown if we die now
    SENT = "sent"  # the e-mail left; Dolibarr not written yet
    FILING = "filing"  # a letter being uploaded to the quote's files: look for it by name if we die now
    FILED = "filed"  # the letter is in the quote's files; Dolibarr's events not written yet
    RECORDED = "recorded"  # Dolibarr has the event
    PRINTED = "printed"  # a recorded letter that is in a print file
    FAILED = "failed"  # nothing was sent or filed; the key may be claimed again
    UNCERTAIN = "uncertain"  # died (or lost the answer) while SENDING or FILING: settled by a person or a look
    RESOLVED_SENT = "resolved_sent"  # a person (or a look in the quote's files) confirmed it left: still to record
    RESOLVED_NOT_SENT = "resolved_not_sent"  # confirmed it did not: released
    ABANDONED = "abandoned"  # closed unrecorded (its quote is gone, or a person gave up): never redone by itself


# States in which a follow-up holds its quote: at most one such row per quote (unique index, migration 0005).
IN_FLIGHT_STATES = (
    FollowUpState.CLAIMED,
    FollowUpState.SENDING,
    FollowUpState.SENT,
    FollowUpState.FILING,
    FollowUpState.FILED,
    FollowUpState.UNCERTAIN,
    FollowUpState.RESOLVED_SENT,
)
# States in which the process that holds a claim is working on it: its heartbeat renews their lease.
LIVE_STATES = (
    FollowUpState.CLAIMED,
    FollowUpState.SENDING,
    FollowUpState.SENT,
    FollowUpState.FILING,
    FollowUpState.FILED,
    FollowUpState.RESOLVED_SENT,
)
# The hand-over in progress: an e-mail's SMTP turn, a letter's upload (uncertain if the process dies now).
HANDING_OVER_STATES = (FollowUpState.SENDING, FollowUpState.FILING)
# States a new claim may take over (besides CLAIMED with an expired lease).
RELEASED_STATES = (FollowUpState.FAILED, FollowUpState.RESOLVED_NOT_SENT)
# Done (e-mail sent, letter filed) and still to record in Dolibarr.
TO_RECORD_STATES = (FollowUpState.SENT, FollowUpState.FILED, FollowUpState.RESOLVED_SENT)
# A letter in the quote's files (to record, or recorded): what a print file may take.
FILED_STATES = (FollowUpState.FILED, FollowUpState.RESOLVED_SENT, FollowUpState.RECORDED)
# Done and recorded.
RECORDED_STATES = (FollowUpState.RECORDED, FollowUpState.PRINTED)
# States a follow-up counts as done in (or about to be, or may be): never done again by itself, and the
# minimum gap since the last follow-up counts from it. Only FAILED and RESOLVED_NOT_SENT do not count.
COUNTS_AS_DONE_STATES = tuple(state for state in FollowUpState if state not in RELEASED_STATES)
# Stuck states a person may close with ``ledger resolve KEY --abandon`` (once no process works on them).
ABANDONABLE_STATES = IN_FLIGHT_STATES


def default_ledger_path() -> Path:
    return Path(platformdirs.user_state_dir(APP_NAME)) / DEFAULT_FILE_NAME


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
    Column("printed_at", _UtcDateTime, nullable=True),  # a letter: when it went into a print file
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
    """What became of one message of the replies mailbox (see :meth:`MailboxLedger.claim_message`)."""

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


def _mask(url: str | None) -> str:
    if url is None:
        return "(none)"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


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
