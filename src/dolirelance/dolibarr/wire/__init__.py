"""Pydantic models of what Dolibarr sends, absorbing its quirks, and their conversion to domain values.

Quirks absorbed here (see ``shared/dolibarr/API.md``): ids and amounts as strings
(``"12"``, ``"1092.00000000"``); empty dates as ``""``, ``null`` or ``0``; epoch seconds whose
date-only values (proposal ``date``, ``fin_validite``) are midnight in the *server* timezone;
``array_options`` that is ``[]`` when empty; ``contacts_ids`` that is null, a list of ids or a list
of rows; HTML in signatures and notes; ``rights`` nested objects with ``1``/``"1"``/``true``.
Unknown keys are ignored.

Values are checked to sane ranges here, at the boundary, so nothing downstream ever sees
``NaN``, ``Infinity``, an amount of 10^999 or the year 9999: amounts are finite, below
:data:`MAX_AMOUNT` and kept to 8 decimals (Dolibarr's own precision); dates fall within
:data:`MIN_YEAR`..:data:`MAX_YEAR`; texts are at most :data:`MAX_TEXT_LENGTH` characters.
Lists are parsed row by row (:func:`parse_rows`): a row that cannot be understood is set aside as a
:class:`RejectedRow` naming the object, the field, the value and what to fix in Dolibarr, and the
other rows go on.

One module per concern: :mod:`.casts` (the shared value casts, ranges and base model),
:mod:`.parsing` (the validation entry points and rejected rows), and one module per resource
(:mod:`.quotes`, :mod:`.people`, :mod:`.agenda`, :mod:`.documents`, :mod:`.setup`). Callers import
from this package.
"""

from __future__ import annotations

from dolirelance.dolibarr.wire.agenda import WireEvent
from dolirelance.dolibarr.wire.casts import MAX_AMOUNT, MAX_TEXT_LENGTH, MAX_YEAR, MIN_YEAR, WireId, html_to_text
from dolirelance.dolibarr.wire.documents import WireDocument, WireFile, proposal_relative_path, safe_file_name
from dolirelance.dolibarr.wire.parsing import DomainT, ModelT, RejectedRow, parse, parse_list, parse_rows
from dolirelance.dolibarr.wire.people import WireContact, WireCustomer, WireGroup, WireUser
from dolirelance.dolibarr.wire.quotes import WireQuote
from dolirelance.dolibarr.wire.setup import WireCompany, WireStatus, extrafields_to_domain, parse_version

# the names the client, the service and the tests use; the casts and field types stay in their modules
__all__ = [
    "MAX_AMOUNT",
    "MAX_TEXT_LENGTH",
    "MAX_YEAR",
    "MIN_YEAR",
    "DomainT",
    "ModelT",
    "RejectedRow",
    "WireCompany",
    "WireContact",
    "WireCustomer",
    "WireDocument",
    "WireEvent",
    "WireFile",
    "WireGroup",
    "WireId",
    "WireQuote",
    "WireStatus",
    "WireUser",
    "extrafields_to_domain",
    "html_to_text",
    "parse",
    "parse_list",
    "parse_rows",
    "parse_version",
    "proposal_relative_path",
    "safe_file_name",
]
