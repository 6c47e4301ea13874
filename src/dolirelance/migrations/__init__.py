"""The ledger's schema history (Alembic), applied by :class:`dolirelance.ledger.Ledger` when it opens.

``0001`` is the first released schema (what ``create_all`` made before migrations existed); a ledger
from that time has no version table and is stamped ``0001`` before upgrading.
"""
