"""``FakeDolibarr``: the fake server's state and the methods that seed, change and read it, by resource.

- ``clock``: now, and epochs as server-local days;
- ``numbering``: ids per table, customer codes, proposal refs;
- ``tables``: the state (a table of records per resource, the cost model) on which the rooms below work;
- ``people``: users, groups, third parties, contacts, and who sees which third party;
- ``setup``: our company and the extra fields;
- ``agenda``: events; ``documents``: a proposal's files and generated PDF;
- ``quotes``: proposals (lines, contacts, their life and the events it writes) and products.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from dolirelance.testing.fake.records import DOLIBARR_VERSION
from dolirelance.testing.fake.store.agenda import EMAIL_HEADERS
from dolirelance.testing.fake.store.people import PeopleStore
from dolirelance.testing.fake.store.quotes import QuoteStore
from dolirelance.testing.fake.store.setup import SetupStore

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
        super().__init__(timezone=timezone, now=now, bad_key_delay=bad_key_delay, data_root=data_root, version=version)
        if create_admin:
            self.add_user("admin", api_key="admin-key", password="admin", admin=True, lastname="SuperAdmin")
