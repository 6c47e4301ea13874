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

from dolirelance.ledger.followups import Claim, Entry, Ledger, auto_key, manual_key
from dolirelance.ledger.mailbox import MailboxLedger, MailboxMessage
from dolirelance.ledger.schema import (
    APP_NAME,
    DEFAULT_FILE_NAME,
    FINISHED_MESSAGE_STATES,
    FIRST_RELEASED_REVISION,
    IN_FLIGHT_STATES,
    LIVE_STATES,
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
    "APP_NAME",
    "DEFAULT_FILE_NAME",
    "FINISHED_MESSAGE_STATES",
    "FIRST_RELEASED_REVISION",
    "IN_FLIGHT_STATES",
    "LIVE_STATES",
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
