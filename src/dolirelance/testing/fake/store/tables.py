"""What the fake server's state is made of: a table of records per resource, its clock, numbering and cost.

The rooms of the store (``people``, ``setup``, ``agenda``, ``documents``, ``quotes``) each read and change
some of it; ``FakeDolibarr.__init__`` fills it as a fresh install has it.
"""

from __future__ import annotations

from typing import Any

from dolirelance.testing.cost import CostModel, RequestCosts
from dolirelance.testing.fake.faults import FaultInjection
from dolirelance.testing.fake.records import (
    AgendaEventRecord,
    ContactRecord,
    ExtraFieldRecord,
    GroupRecord,
    ProductRecord,
    ProposalRecord,
    StoredFile,
    ThirdPartyRecord,
    UserRecord,
)
from dolirelance.testing.fake.store.clock import ServerClock
from dolirelance.testing.fake.store.numbering import Numbering
from dolirelance.testing.fake_versions import FakeVersion


class Tables(ServerClock, FaultInjection):
    """State of the fake server. Ids are ints here and strings on the wire."""

    version: FakeVersion
    timezone_name: str
    bad_key_delay: float
    data_root: str
    # What a real server charges per request and per row, with its workers (off: tests stay fast).
    cost: CostModel | None
    _costs: RequestCosts | None
    # With the cost model on, a list's matching rows are kept until the next write through HTTP,
    # so that the fake's own Python time (one core) stays under what the model charges.
    _list_memo: dict[tuple[Any, ...], list[Any]]

    users: dict[int, UserRecord]
    groups: dict[int, GroupRecord]
    thirdparties: dict[int, ThirdPartyRecord]
    contacts: dict[int, ContactRecord]
    products: dict[int, ProductRecord]
    proposals: dict[int, ProposalRecord]
    events: dict[int, AgendaEventRecord]
    extrafields: dict[str, dict[str, ExtraFieldRecord]]  # element type -> name -> field
    files: dict[str, dict[str, StoredFile]]  # proposal directory -> name -> file
    company: dict[str, str]
    numbers: Numbering

    @property
    def admin_user(self) -> UserRecord:
        return next(user for user in self.users.values() if user.admin)
