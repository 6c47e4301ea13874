"""Dolibarr versions: the range dolirelance is tested on and the known quirks of each version.

The client reads the version from ``GET /status`` and picks the path each quirk calls for; when the
preferred path fails anyway (a patched or unreleased build), it falls back on the other path and
remembers that for the rest of the process. Facts: ``shared/dolibarr/API.md`` (PHP sources of 16, 20,
22) and ``differences-23.0.0-beta.md`` (a real 23.0.0-beta against a real 20.0.0).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "KNOWN_QUIRKS",
    "TESTED_RANGE",
    "Quirk",
    "in_tested_range",
    "quirks_for",
]

# Majors the client is built for; 20.0.0 and 23.0.0-beta are run in tests (fakes recorded on real servers).
TESTED_RANGE = (18, 23)


@dataclass(frozen=True, slots=True)
class Quirk:
    """A behaviour of some Dolibarr versions the client works around."""

    key: str
    what: str  # what the server does, and what the client does about it
    first: int | None = None  # first major affected (None: since ever)
    last: int | None = None  # last major affected (None: still so)

    def applies_to(self, version: tuple[int, ...]) -> bool:
        if not version:
            return False
        major = version[0]
        return (self.first is None or major >= self.first) and (self.last is None or major <= self.last)


REF_ROUTE_BROKEN = Quirk(
    "ref_route_broken",
    "GET /proposals/ref/{ref} answers 400 'No proposal with id=0' (issue #37805): "
    "quotes are looked up by reference through the list filter",
    first=23,
)
CONTACT_SOURCE_IN_QUERY = Quirk(
    "contact_source_in_query",
    "contacts are linked with POST /proposals/{id}/contact/{cid}/{type}?source=external "
    "(the /{type}/{source} form answers 404)",
    first=23,
)
REPRESENTATIVES_BROKEN = Quirk(
    "representatives_broken",
    "GET /thirdparties/{id}/representatives always answers 404 (issue #38985): "
    "mails are signed by the quote's author or the configured default sales rep",
    first=22,
    last=23,
)
DOCUMENT_NAME_NULL = Quirk(
    "document_name_null",
    "document entries have a null 'name': file names are read from 'filename'/'relativename'",
    first=23,
)
PAGINATION_TOTAL = Quirk(
    "pagination_total",
    "lists give their total with pagination_data=true: exactly the pages needed are read at once",
    first=21,
)
NO_PAGINATION_TOTAL = Quirk(
    "no_pagination_total",
    "lists give no total: pages are read two at a time until a short one",
    last=20,
)
EMPTY_CONTACTS_AS_LIST = Quirk(
    "empty_contacts_as_list", "an empty contact list is [] instead of 404 (both are read as empty)", first=22
)
RIGHTS_AS_401 = Quirk(
    "rights_as_401",
    "a missing right is answered 401 like a bad API key: errors name both causes",
    last=19,
)
EMPTY_LISTS_404 = Quirk("empty_lists_404", "empty proposal and event lists answer 404 (read as empty)", last=18)

KNOWN_QUIRKS: tuple[Quirk, ...] = (
    REF_ROUTE_BROKEN,
    CONTACT_SOURCE_IN_QUERY,
    REPRESENTATIVES_BROKEN,
    DOCUMENT_NAME_NULL,
    PAGINATION_TOTAL,
    NO_PAGINATION_TOTAL,
    EMPTY_CONTACTS_AS_LIST,
    RIGHTS_AS_401,
    EMPTY_LISTS_404,
)


def quirks_for(version: tuple[int, ...]) -> tuple[Quirk, ...]:
    """The known quirks of ``version`` (``(23, 0, 0)``); none for an unreadable version."""
    return tuple(quirk for quirk in KNOWN_QUIRKS if quirk.applies_to(version))


def in_tested_range(version: tuple[int, ...]) -> bool:
    return bool(version) and TESTED_RANGE[0] <= version[0] <= TESTED_RANGE[1]
