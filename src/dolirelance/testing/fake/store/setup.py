"""Our company (``/setup/company``) and the extra fields (``/setup/extrafields``) of each kind of object."""

from __future__ import annotations

from typing import Any

from dolirelance.testing.fake.records import ApiError, ExtraFieldRecord, known_fields
from dolirelance.testing.fake.store.tables import Tables


class SetupStore(Tables):
    """The company's details and the extra fields defined on each element type."""

    def set_company(self, **fields: str) -> None:
        self.company.update(fields)

    def add_extrafield(
        self, elementtype: str, name: str, *, label: str, type: str = "boolean", **options: Any
    ) -> ExtraFieldRecord:
        if name in self.extrafields.get(elementtype, {}):
            raise ApiError(409, f"Extrafield {name} already exists on {elementtype}")
        record = ExtraFieldRecord(
            id=self.numbers.next_id("extrafield"),
            elementtype=elementtype,
            name=name,
            label=label,
            type=type,
            datec=self.local_now().strftime("%Y-%m-%d %H:%M:%S"),
            **known_fields(ExtraFieldRecord, options),
        )
        self.extrafields.setdefault(elementtype, {})[name] = record
        for proposal in self.proposals.values():
            proposal.row_cache = None  # the proposals' rows gain the new column
        return record
