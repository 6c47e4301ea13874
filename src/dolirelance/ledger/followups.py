"""The follow-ups ledger of one instance (see :mod:`dolirelance.ledger`), put together from its parts:

- :mod:`~dolirelance.ledger.entries`: an entry, a claim's answer, the keys, what an abandoned claim becomes;
- :mod:`~dolirelance.ledger.followup_table`: the database, the owner, the leases' heartbeat, statements kept;
- :mod:`~dolirelance.ledger.reads`: the queries;
- :mod:`~dolirelance.ledger.claims`: claiming a key and its quote, taking a sent entry over for recording;
- :mod:`~dolirelance.ledger.transitions`: the moves of the process working on a follow-up;
- :mod:`~dolirelance.ledger.resolution`: recovering abandoned claims, a person's word on a stuck entry.
"""

from __future__ import annotations

from dolirelance.ledger.claims import FollowUpClaims
from dolirelance.ledger.resolution import FollowUpResolution
from dolirelance.ledger.transitions import FollowUpTransitions

__all__ = ["Ledger"]


class Ledger(FollowUpClaims, FollowUpTransitions, FollowUpResolution):
    """Claims and outcomes of follow-ups for one ``instance``."""
