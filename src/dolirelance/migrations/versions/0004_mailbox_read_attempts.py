"""Messages of the replies mailbox: how many readings began parsing one and never finished.

A message that kills its reader (memory, time) is then marked unreadable instead of being parsed again
at every reading.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailbox_messages") as batch:
        batch.add_column(sa.Column("read_attempts", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("mailbox_messages") as batch:
        batch.drop_column("read_attempts")
