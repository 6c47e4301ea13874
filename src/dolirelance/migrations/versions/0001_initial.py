"""The first released schema: one row per follow-up claim and its outcome.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "followups",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("quote_id", sa.Integer, nullable=False),
        sa.Column("quote_ref", sa.String(128), nullable=False),
        sa.Column("step", sa.Integer, nullable=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("lease_until", moment, nullable=True),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.Column("recipients", sa.Text, nullable=True),
        sa.Column("event_id", sa.Integer, nullable=True),
        sa.Column("todo_event_id", sa.Integer, nullable=True),
        sa.Column("file_name", sa.String(255), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.Column("sent_at", moment, nullable=True),
        sa.Column("recorded_at", moment, nullable=True),
        sa.Column("resolved_by", sa.String(255), nullable=True),
        sa.Column("resolution", sa.String(32), nullable=True),
        sa.Column("next_date", sa.Date, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("user_id", sa.Integer, nullable=True),
    )
    op.create_index("ix_followups_instance_quote", "followups", ["instance", "quote_id"])
    op.create_index("ix_followups_instance_state", "followups", ["instance", "state"])


def downgrade() -> None:
    op.drop_table("followups")
