"""Messages of the replies mailbox, each processed once: its UID and UIDVALIDITY, and what became of it.

Also an index on the follow-ups' Message-ID, which replies are matched against.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "mailbox_messages",
        sa.Column("instance", sa.String(64), primary_key=True),
        sa.Column("mailbox", sa.String(255), primary_key=True),
        sa.Column("uidvalidity", sa.BigInteger, primary_key=True),
        sa.Column("uid", sa.BigInteger, primary_key=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=True),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("lease_until", moment, nullable=True),
        sa.Column("message_id", sa.String(998), nullable=True),
        sa.Column("sender", sa.String(320), nullable=True),
        sa.Column("subject", sa.Text, nullable=True),
        sa.Column("received_at", moment, nullable=True),
        sa.Column("followup_key", sa.String(200), nullable=True),
        sa.Column("quote_id", sa.Integer, nullable=True),
        sa.Column("quote_ref", sa.String(128), nullable=True),
        sa.Column("address", sa.String(320), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("event_id", sa.Integer, nullable=True),
        sa.Column("todo_event_id", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
    )
    op.create_index("ix_mailbox_messages_state", "mailbox_messages", ["instance", "mailbox", "state"])
    op.create_index("ix_followups_message_id", "followups", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_followups_message_id", table_name="followups")
    op.drop_table("mailbox_messages")
