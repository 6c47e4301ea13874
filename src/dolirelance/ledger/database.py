"""The ledger's database: its engine, one short transaction per call, and the clocks rows and leases run on.

Shared by the follow-ups (:class:`~dolirelance.ledger.Ledger`) and the replies mailbox
(:class:`~dolirelance.ledger.MailboxLedger`), so that both see one owner identity and one lease clock.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Interval,
    bindparam,
    create_engine,
    func,
    literal,
    or_,
    text,
    type_coerce,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from dolirelance.errors import LedgerError
from dolirelance.ledger.schema import (
    _SCHEMA_LOCK_ID,
    _SQLITE_BUSY_TIMEOUT_MS,
    _configure_sqlite,
    _mask,
    _upgrade_schema,
    _UtcDateTime,
)


def _owner_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def utc_now() -> datetime:
    return datetime.now(UTC)


class LedgerDatabase:
    """One ledger database opened by one process: its schema brought up to date on opening.

    ``clock`` dates the rows (created, sent...); leases run on the database's own clock (PostgreSQL
    ``now()``, SQLite's), so replicas whose clocks differ agree on when one ends. ``lease_clock``
    replaces the database's clock (tests that move time). ``owner`` names this process in its claims.
    """

    def __init__(
        self,
        url: str,
        *,
        lease_seconds: float,
        clock: Callable[[], datetime] = utc_now,
        lease_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.url = url
        self.lease = timedelta(seconds=lease_seconds)
        self.owner = _owner_identity()
        self._clock = clock
        self._lease_clock = lease_clock
        self._database_now: dict[float, ColumnElement[datetime]] = {}
        self._engine = _create_engine(url)
        self._read_only_engine = self._engine.execution_options(dolirelance_read_only=True)
        with self.transaction("bring its schema up to date") as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SCHEMA_LOCK_ID})
            _upgrade_schema(conn, self.url)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    def now(self) -> datetime:
        """The time rows are dated with (the process's clock, or the one injected)."""
        return self._clock()

    @contextmanager
    def transaction(self, action: str, *, read_only: bool = False) -> Iterator[Connection]:
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

    # -- leases, on the database's clock --------------------------------------------------------------

    def lease_expired(self, lease_until: ColumnElement[datetime]) -> ColumnElement[bool]:
        """SQL: the lease in this column has run out (or there is none)."""
        return or_(lease_until.is_(None), lease_until < self.lease_now(0))

    def lease_end(self) -> ColumnElement[datetime]:
        """SQL: when a lease taken or renewed now ends."""
        return self.lease_now(self.lease.total_seconds())

    def lease_now(self, plus_seconds: float) -> ColumnElement[datetime]:
        """The lease clock's now (+ seconds) as SQL: the database's clock unless ``lease_clock`` is set."""
        # the clock is read when the statement runs: the expression is built once
        expression = self._database_now.get(plus_seconds)
        if expression is None:
            lease_clock = self._lease_clock
            if lease_clock is not None:
                name = f"lease_now_{plus_seconds}".replace("-", "minus_").replace(".", "_")
                expression = bindparam(
                    name, type_=_UtcDateTime, callable_=lambda: lease_clock() + timedelta(seconds=plus_seconds)
                )
            elif self.dialect == "postgresql":
                expression = func.now() + literal(timedelta(seconds=plus_seconds), Interval)
            else:  # SQLite's clock, in the text form SQLAlchemy stores (UTC, microseconds)
                stamp = func.strftime("%Y-%m-%d %H:%M:%f", "now", f"{plus_seconds:+.3f} seconds")
                expression = type_coerce(stamp.concat("000"), _UtcDateTime)
            self._database_now[plus_seconds] = expression
        return expression


def _create_engine(url: str) -> Engine:
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
