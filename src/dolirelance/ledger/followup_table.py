"""What every part of :class:`~dolirelance.ledger.Ledger` stands on: its database, instance and owner,
the heartbeat that keeps its claims' leases alive, and statements built once per shape."""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping
from datetime import datetime
from typing import Any, Self

from sqlalchemy import ColumnElement, bindparam, update
from sqlalchemy.engine import URL
from sqlalchemy.sql import Executable

from dolirelance.ledger.database import LedgerDatabase, utc_now
from dolirelance.ledger.lease import BEATS_PER_LEASE, Heartbeat
from dolirelance.ledger.schema import LIVE_STATES, default_ledger_path, followups


class FollowUpTable:
    """The ``followups`` rows of one ``instance``, and the leases this process holds on them."""

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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _statement(self, shape: Hashable, build: Callable[[], Executable]) -> Any:
        """The statement of this shape, built the first time it is asked for."""
        statement = self._statements.get(shape)
        if statement is None:
            statement = self._statements[shape] = build()
        return statement

    def _lease_expired(self) -> ColumnElement[bool]:
        return self.database.lease_expired(followups.c.lease_until)

    # -- leases ---------------------------------------------------------------------------------

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


def value_shape(values: Mapping[str, Any]) -> tuple[tuple[tuple[str, int | None], ...], dict[str, Any]]:
    """The shape of the values a statement sets (which columns; which take a SQL expression, and
    which) and the parameters for the others: two calls of one shape share one statement."""
    shape = tuple(
        (name, id(values[name]) if isinstance(values[name], ColumnElement) else None) for name in sorted(values)
    )
    params = {f"v_{name}": value for name, value in values.items() if not isinstance(value, ColumnElement)}
    return shape, params


def setters(values: Mapping[str, Any]) -> dict[str, Any]:
    """What :func:`value_shape` describes, as the SET (or VALUES) of a statement: bound parameters
    named ``v_<column>``, SQL expressions as they are."""
    return {
        name: value if isinstance(value, ColumnElement) else bindparam(f"v_{name}", type_=followups.c[name].type)
        for name, value in values.items()
    }
