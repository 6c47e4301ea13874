"""The fake server's state: one table of records per resource, its clock, its numbering, its cost model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dolirelance.testing.cost import CostModel, RequestCosts
from dolirelance.testing.fake.faults import FaultInjection
from dolirelance.testing.fake.records import (
    DOLIBARR_VERSION,
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

    def __init__(
        self,
        *,
        timezone: str = "UTC",
        now: Callable[[], datetime] | None = None,
        bad_key_delay: float = 0.0,
        data_root: str = "/var/lib/dolibarr/documents",
        version: str = DOLIBARR_VERSION,
    ) -> None:
        self.version = FakeVersion(version)
        self.tz = ZoneInfo(timezone)
        self.timezone_name = timezone
        self._now = now or (lambda: datetime.now(UTC))
        self.bad_key_delay = bad_key_delay
        self.data_root = data_root
        # What a real server charges per request and per row, with its workers (off: tests stay fast).
        self.cost: CostModel | None = None
        self._costs: RequestCosts | None = None
        # With the cost model on, a list's matching rows are kept until the next write through HTTP,
        # so that the fake's own Python time (one core) stays under what the model charges.
        self._list_memo: dict[tuple[Any, ...], list[Any]] = {}
        super().__init__()

        self.users: dict[int, UserRecord] = {}
        self.groups: dict[int, GroupRecord] = {}
        self.thirdparties: dict[int, ThirdPartyRecord] = {}
        self.contacts: dict[int, ContactRecord] = {}
        self.products: dict[int, ProductRecord] = {}
        self.proposals: dict[int, ProposalRecord] = {}
        self.events: dict[int, AgendaEventRecord] = {}
        self.extrafields: dict[str, dict[str, ExtraFieldRecord]] = {}
        self.files: dict[str, dict[str, StoredFile]] = {}  # proposal directory -> name -> file
        self.company: dict[str, str] = {
            "name": "Ma Société",
            "address": "",
            "zip": "",
            "town": "",
            "country_code": "FR",
        }
        self.numbers = Numbering()

    @property
    def admin_user(self) -> UserRecord:
        return next(user for user in self.users.values() if user.admin)
