"""Letters have their own states (filing, filed, printed) and ``printed_at`` (in a print file): a letter
being filed or filed and not yet recorded holds its quote like an e-mail being sent or sent. The partial
unique index over the in-flight states is made again with them.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD_IN_FLIGHT = "state IN ('claimed', 'sending', 'sent', 'uncertain', 'resolved_sent')"
NEW_IN_FLIGHT = "state IN ('claimed', 'sending', 'sent', 'filing', 'filed', 'uncertain', 'resolved_sent')"


def _recreate(where: str) -> None:
    op.drop_index("ux_followups_one_in_flight", table_name="followups")
    op.create_index(
        "ux_followups_one_in_flight",
        "followups",
        ["instance", "quote_id"],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    op.add_column("followups", sa.Column("printed_at", sa.DateTime(timezone=True), nullable=True))
    # No row is in a new state yet: the new index holds wherever the old one did.
    _recreate(NEW_IN_FLIGHT)


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE followups SET state = 'sending' WHERE state = 'filing'"))
    bind.execute(sa.text("UPDATE followups SET state = 'sent' WHERE state = 'filed'"))
    bind.execute(sa.text("UPDATE followups SET state = 'recorded' WHERE state = 'printed'"))
    bind.execute(sa.text("UPDATE followups SET state = 'recorded' WHERE state = 'abandoned'"))  # never redone
    _recreate(OLD_IN_FLIGHT)
    with op.batch_alter_table("followups") as table:  # SQLite drops a column by copying the table
        table.drop_column("printed_at")
