"""The ledger's schema: migrations from the first released schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Index, MetaData, Table, create_engine, insert, inspect, select

from dolirelance.errors import LedgerError
from dolirelance.ledger import SCHEMA_VERSION_TABLE, FollowUpState, Ledger, followups, metadata

NOW = datetime(2026, 11, 28, 8, 30, tzinfo=UTC)


def head_revision() -> str:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "dolirelance:migrations")
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def first_released_schema(ledger_url: str, *rows: dict[str, object]) -> None:
    """What the first release made with ``metadata.create_all``: the table and its two plain indexes; the
    ``rows`` written in it."""
    legacy = MetaData()
    later_columns = {"printed_at", "facts"}  # added by migrations 0005 and 0006
    columns = [
        Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in followups.columns
        if c.name not in later_columns
    ]
    table = Table(followups.name, legacy, *columns)
    # the first release's two plain indexes; later migrations add the others
    Index("ix_followups_instance_quote", table.c.instance, table.c.quote_id)
    Index("ix_followups_instance_state", table.c.instance, table.c.state)
    engine = create_engine(ledger_url)
    with engine.begin() as conn:
        legacy.create_all(conn)
        if rows:
            conn.execute(insert(table), list(rows))
    engine.dispose()


def row(key: str, quote_id: int, state: FollowUpState) -> dict[str, object]:
    return {
        "key": key, "instance": "test", "quote_id": quote_id, "quote_ref": f"PR2611-{quote_id:04d}", "step": None,
        "model": "1ère relance", "channel": "email", "state": state.value, "run_id": "remind-1", "owner": "old:1",
        "lease_until": None, "created_at": NOW, "updated_at": NOW, "sent_at": NOW,
    }  # fmt: skip


def test_a_new_ledger_is_at_the_head_and_matches_the_model(ledger_url: str) -> None:
    Ledger(ledger_url, instance="test", clock=lambda: NOW).close()
    engine = create_engine(ledger_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": SCHEMA_VERSION_TABLE})
        assert context.get_current_revision() == head_revision()
        assert compare_metadata(context, metadata) == []  # the migrations build exactly what the code queries
    engine.dispose()
    Ledger(ledger_url, instance="test", clock=lambda: NOW).close()  # opening again changes nothing


def test_a_ledger_of_the_first_release_is_upgraded_with_its_rows(ledger_url: str) -> None:
    first_released_schema(
        ledger_url, row("manual:a", 1, FollowUpState.RECORDED), row("manual:b", 2, FollowUpState.SENT)
    )
    engine = create_engine(ledger_url)
    with Ledger(ledger_url, instance="test", clock=lambda: NOW) as ledger:
        assert {e.key: e.state for e in ledger.recent()} == {
            "manual:a": FollowUpState.RECORDED,
            "manual:b": FollowUpState.SENT,
        }
        refused = ledger.claim(
            "manual:c", quote_id=2, quote_ref="PR2611-0002", step=None, model="m", channel="email", run_id="r"
        )
        assert not refused and refused.holder is not None and refused.holder.key == "manual:b"
        assert ledger.claim(
            "manual:d", quote_id=1, quote_ref="PR2611-0001", step=None, model="m", channel="email", run_id="r"
        )
    with engine.connect() as conn:
        assert conn.execute(select(followups.c.key)).scalars().all()
        assert {"ux_followups_one_in_flight", "ix_followups_message_id"} <= {
            ix["name"] for ix in inspect(conn).get_indexes("followups")
        }
        assert inspect(conn).has_table("mailbox_messages")  # 0003
        columns = {column["name"] for column in inspect(conn).get_columns("followups")}
        assert {"printed_at", "facts"} <= columns  # 0005, 0006
    engine.dispose()


def test_a_first_release_ledger_with_two_follow_ups_in_flight_for_one_quote_is_not_touched(ledger_url: str) -> None:
    first_released_schema(
        ledger_url, row("manual:a", 2, FollowUpState.SENT), row("manual:b", 2, FollowUpState.UNCERTAIN)
    )
    engine = create_engine(ledger_url)
    with pytest.raises(LedgerError, match=r"several follow-ups in flight for one quote: PR2611-0002 \(2 in flight\)"):
        Ledger(ledger_url, instance="test", clock=lambda: NOW)
    with engine.connect() as conn:
        assert not inspect(conn).has_table(SCHEMA_VERSION_TABLE)  # rolled back: the old version still runs
    engine.dispose()
