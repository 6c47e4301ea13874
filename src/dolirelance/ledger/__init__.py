"""The ledger: claims and outcomes of follow-ups, so nothing is ever sent twice.

SQLAlchemy Core over a SQLite file (default, in the user's state directory) or PostgreSQL
(``postgresql+psycopg://...``, shared by several replicas). Every method is one short
transaction, and every state change is a conditional ``UPDATE ... WHERE state IN (...)`` whose
row count says whether this process won, so SQLite and PostgreSQL give the same guarantees.
Read-only queries take no write lock. The schema is versioned with Alembic
(:mod:`dolirelance.migrations`) and brought up to date each time a ledger is opened.

One follow-up in flight per quote: a partial unique index on ``(instance, quote_id)`` over the
in-flight states (:data:`IN_FLIGHT_STATES`) makes the database itself refuse a second claim on a quote,
whatever its key, in every process and replica. Automatic steps also keep their per-step key
(``auto:<instance>:<quote>:step<n>``), so a step done is never done again.

Life of a follow-up (e-mail above, letter below)::

    claim ─► CLAIMED ─► SENDING ─► SENT ─────► RECORDED
                │          │  └─(no answer, or dies)─► UNCERTAIN ─resolve─► RESOLVED_SENT ─► RECORDED
                │          │                                         └────► RESOLVED_NOT_SENT
                ├─► FILING ─► FILED ─► RECORDED ─► PRINTED (in a print file)
                │     └─(no answer, not found by its name, or dies)─► UNCERTAIN (`retry` looks for the file)
                └──────────┴─► FAILED (nothing left; a later claim may take the key over)
    SENT, FILED, UNCERTAIN... ─(its quote is gone, or ``ledger resolve --abandon``)─► ABANDONED

Leases (:mod:`dolirelance.ledger.lease`): a claim holds a lease measured on the database's clock
(PostgreSQL ``now()``, SQLite's own); while its process lives, the process's heartbeat renews it every
third of its length, whatever the follow-up waits for. Only a claim whose heartbeat stopped runs out:
:meth:`Ledger.recover_abandoned` then turns expired SENDING and FILING rows into UNCERTAIN (settled by a
person with :meth:`Ledger.resolve`, or for a letter by a look in the quote's files; never re-sent by
itself) and expired CLAIMED rows into FAILED.

Modules: :mod:`~dolirelance.ledger.schema` (tables, states, migrations), :mod:`~dolirelance.ledger.database`
(engine, transactions, clocks), :mod:`~dolirelance.ledger.lease`, :mod:`~dolirelance.ledger.followups`
(:class:`Ledger`, put together from :mod:`~dolirelance.ledger.entries`, :mod:`~dolirelance.ledger.followup_table`,
:mod:`~dolirelance.ledger.reads`, :mod:`~dolirelance.ledger.claims`, :mod:`~dolirelance.ledger.transitions` and
:mod:`~dolirelance.ledger.resolution`), :mod:`~dolirelance.ledger.mailbox` (:class:`MailboxLedger`).
"""

from dolirelance.ledger.entries import Claim, Entry, auto_key, manual_key
from dolirelance.ledger.followups import Ledger
from dolirelance.ledger.mailbox import MailboxLedger, MailboxMessage
from dolirelance.ledger.schema import (
    ABANDONABLE_STATES,
    APP_NAME,
    COUNTS_AS_DONE_STATES,
    DEFAULT_FILE_NAME,
    FINISHED_MESSAGE_STATES,
    FIRST_RELEASED_REVISION,
    HANDING_OVER_STATES,
    IN_FLIGHT_STATES,
    LIVE_STATES,
    RECORDED_STATES,
    RELEASED_STATES,
    SCHEMA_VERSION_TABLE,
    TO_RECORD_STATES,
    FollowUpState,
    MessageState,
    default_ledger_path,
    followups,
    mailbox_messages,
    metadata,
)

__all__ = [
    "ABANDONABLE_STATES",
    "APP_NAME",
    "COUNTS_AS_DONE_STATES",
    "DEFAULT_FILE_NAME",
    "FINISHED_MESSAGE_STATES",
    "FIRST_RELEASED_REVISION",
    "HANDING_OVER_STATES",
    "IN_FLIGHT_STATES",
    "LIVE_STATES",
    "RECORDED_STATES",
    "RELEASED_STATES",
    "SCHEMA_VERSION_TABLE",
    "TO_RECORD_STATES",
    "Claim",
    "Entry",
    "FollowUpState",
    "Ledger",
    "MailboxLedger",
    "MailboxMessage",
    "MessageState",
    "auto_key",
    "default_ledger_path",
    "followups",
    "mailbox_messages",
    "manual_key",
    "metadata",
]
