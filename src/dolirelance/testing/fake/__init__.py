"""A stateful fake of Dolibarr's REST API (20.0.0 by default, or 22/23), as a Starlette ASGI app.

``FakeDolibarr`` holds the state and has plain methods to seed it (users, third parties, contacts,
proposals, events, documents...). ``create_app(fake)`` serves it under ``/api/index.php/`` with the
shapes, types, errors and quirks recorded in ``transcript-20.0.0.md`` (string ids, 8-decimal amount
strings, 404-as-empty on some lists, 304 with no body, the PUT ``fin_validite`` reset...).

``FakeDolibarr(version="23.0.0-beta")`` plays another version: what differs is in
:mod:`dolirelance.testing.fake_versions`.

Cost: ``fake.cost = CostModel()`` makes every request cost what it costs a real Dolibarr 20 (per
request, per kind of request, per row listed, at most 8 served at once; see
:mod:`dolirelance.testing.cost`); ``CostModel.small_server()`` one whose requests are all CPU, 2 served
at once, the others queueing (their wait counted as server time). Off by
default. Fault injection for tests: ``fake.latency``, ``fake.fail_next()``, ``fake.hang_next()``,
``fake.hang_after_applying()``, and the request
log ``fake.requests`` / ``fake.count_requests()``.

Not from the transcript, so guessed from Dolibarr's PHP source: the texts of the 409 "extrafield
exists", of upload's "already exists", of failed ``/login`` and of plain 403 "Forbidden", and the WAF
page. User groups (``add_group``, ``add_to_group``, ``remove_from_group``) are also from
the PHP source (``api_users.class.php``, alike on 20 and 23): ``/users/info``'s ``user_group_list``,
``/users/{id}/groups``, ``/users/groups[/{id}]`` and ``setGroup``, with the rights each checks; no
route creates a group. Not implemented: ``/setinvoiced``, PUT/DELETE of one proposal line,
``/proposals/ref_ext``, ``/contacts/email``. JSON is compact UTF-8 where PHP escapes non-ASCII.

Where each part lives: ``records`` (the tables, constants and errors), ``store/`` (``FakeDolibarr``:
the state, its clock and numbering, and its seeding methods, one module per resource), ``proposal_pdf``
(the PDF ``builddoc`` stores), ``faults`` (failures, hangs, the request log), ``rows`` (records as the
SQL rows ``sqlfilters`` reads), ``php_object`` (every property of each kind of object, in PHP's order)
and ``render`` (records as JSON on the wire), ``routes/`` (one module per resource, with ``call`` and
``listing`` for what they share) and ``app`` (router, WAF, authentication, dispatch).
"""

from dolirelance.testing.fake.app import create_app
from dolirelance.testing.fake.records import (
    ALL_RIGHTS,
    REMOVED,
    AgendaEventRecord,
    ApiError,
    ContactRecord,
    GroupRecord,
    ProposalRecord,
    RequestLogEntry,
    StoredFile,
    ThirdPartyRecord,
    UserRecord,
)
from dolirelance.testing.fake.store import FakeDolibarr

__all__ = [
    "ALL_RIGHTS",
    "REMOVED",
    "AgendaEventRecord",
    "ApiError",
    "ContactRecord",
    "FakeDolibarr",
    "GroupRecord",
    "ProposalRecord",
    "RequestLogEntry",
    "StoredFile",
    "ThirdPartyRecord",
    "UserRecord",
    "create_app",
]
