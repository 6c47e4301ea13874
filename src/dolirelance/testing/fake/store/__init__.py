"""``FakeDolibarr``: the fake server's state and the methods that seed, change and read it, by resource.

- ``clock``: now, and epochs as server-local days;
- ``numbering``: ids per table, customer codes, proposal refs;
- ``tables``: what the state is made of (a table of records per resource, the cost model);
- ``people``: users, groups, third parties, contacts, and who sees which third party;
- ``setup``: our company and the extra fields;
- ``agenda``: events; ``documents``: a proposal's files and generated PDF;
- ``quotes``: proposals (lines, contacts, their life and the events it writes) and products.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from dolirelance.testing.fake.records import DOLIBARR_VERSION
from dolirelance.testing.fake.store.agenda import EMAIL_HEADERS
from dolirelance.testing.fake.store.numbering import Numbering
from dolirelance.testing.fake.store.people import PeopleStore
from dolirelance.testing.fake.store.quotes import QuoteStore
from dolirelance.testing.fake.store.setup import SetupStore
from dolirelance.testing.fake_versions import FakeVersion

__all__ = ["EMAIL_HEADERS", "FakeDolibarr"]


class FakeDolibarr(QuoteStore, PeopleStore, SetupStore):
    """State of the fake server plus seeding methods. Ids are ints here and strings on the wire."""

    def __init__(
        self,
        *,
        timezone: str = "UTC",
        now: Callable[[], datetime] | None = None,
        bad_key_delay: float = 0.0,
        data_root: str = "/var/lib/dolibarr/documents",
        create_admin: bool = True,
        version: str = DOLIBARR_VERSION,
    ) -> None:
        """A fresh install: empty tables, the company's defaults and (``create_admin``) the superadmin."""
        self.version = FakeVersion(version)
        self.tz = ZoneInfo(timezone)
        self.timezone_name = timezone
        self._now = now or (lambda: datetime.now(UTC))
        self.bad_key_delay = bad_key_delay
        self.data_root = data_root
        self.cost = None
        self._costs = None
        self._list_memo = {}
        super().__init__()

        self.users = {}
        self.groups = {}
        self.thirdparties = {}
        self.contacts = {}
        self.products = {}
        self.proposals = {}
        self.events = {}
        self.extrafields = {}
        self.files = {}
        self.company = {
            "name": "Ma Société",
            "address": "",
            "zip": "",
            "town": "",
            "country_code": "FR",
        }
        self.numbers = Numbering()
        if create_admin:
            self.add_user("admin", api_key="admin-key", password="admin", admin=True, lastname="SuperAdmin")
