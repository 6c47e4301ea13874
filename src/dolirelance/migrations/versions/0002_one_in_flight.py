"""One follow-up in flight per quote: a partial unique index over the in-flight states.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

IN_FLIGHT = "state IN ('claimed', 'sending', 'sent', 'uncertain', 'resolved_sent')"


def upgrade() -> None:
    clashes = (
        op.get_bind()
        .execute(
            sa.text(
                f"SELECT instance, quote_ref, COUNT(*) FROM followups WHERE {IN_FLIGHT} "
                "GROUP BY instance, quote_id, quote_ref HAVING COUNT(*) > 1"
            )
        )
        .all()
    )
    if clashes:
        listed = ", ".join(f"{ref} ({count} in flight)" for _, ref, count in clashes)
        # Raised as is; the ledger turns it into a LedgerError with this text and a remedy.
        raise RuntimeError(
            f"the ledger holds several follow-ups in flight for one quote: {listed}; settle them first "
            "(`dolirelance ledger resolve KEY --sent|--not-sent` for uncertain ones, `dolirelance retry` "
            "for unrecorded ones) with the previous version, then start this one again"
        )
    op.create_index(
        "ux_followups_one_in_flight",
        "followups",
        ["instance", "quote_id"],
        unique=True,
        sqlite_where=sa.text(IN_FLIGHT),
        postgresql_where=sa.text(IN_FLIGHT),
    )


def downgrade() -> None:
    op.drop_index("ux_followups_one_in_flight", table_name="followups")
