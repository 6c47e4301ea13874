"""The validation entry points: one object, a list, or a list row by row.

A failure becomes a :class:`~dolirelance.errors.DolibarrResponseError` naming the route and the
field; in a list parsed row by row (:func:`parse_rows`) a row that cannot be understood is set aside
as a :class:`RejectedRow` naming the object, the field, the value and what to fix in Dolibarr, and
the other rows go on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from dolirelance.errors import DolibarrResponseError

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse(model: type[ModelT], data: object, route: str) -> ModelT:
    """Validate one object; a failure becomes a :class:`DolibarrResponseError` naming route and field.

    When the object is a recognisable row (it has an id or a ref), the error names it and says
    what to correct in Dolibarr instead.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        rejected = _rejection(model, data, route, exc)
        if rejected.row_id is not None or rejected.ref is not None:
            raise DolibarrResponseError(
                f"{rejected.describe()} (answer of {route})", remedy=rejected.remedy
            ) from None
        raise shape_error(route, rejected.field, rejected.problem) from None


def parse_list(model: type[ModelT], data: object, route: str) -> list[ModelT]:
    if not isinstance(data, list):
        raise shape_error(route, "body", f"expected a list, got {type(data).__name__}")
    return [parse(model, item, f"{route} item {index}") for index, item in enumerate(data)]


DomainT = TypeVar("DomainT")

# What each wire model is, in words, and the Dolibarr label of the fields a person can correct.
_ROW_KINDS: dict[str, str] = {
    "WireQuote": "quote",
    "WireCustomer": "third party",
    "WireContact": "contact",
    "WireEvent": "agenda event",
    "WireUser": "user",
    "WireDocument": "document",
    "WireQuoteContact": "contact of a quote",
}
_FIELD_LABELS: dict[str, str] = {
    "ref": "reference",
    "status": "status",
    "statut": "status",
    "date": "date",
    "datep": "date",
    "datef": "end date",
    "fin_validite": "end of validity date",
    "total_ht": "amount excl. tax",
    "total_tva": "VAT amount",
    "total_ttc": "amount incl. tax",
    "socid": "third party",
    "name": "name",
    "email": "e-mail",
    "note_public": "public note",
    "note_private": "note",
    "contacts_ids": "contacts",
}


@dataclass(frozen=True)
class RejectedRow:
    """One row Dolibarr sent that cannot be understood: left out, and named in reports."""

    route: str
    kind: str  # "quote", "third party", "agenda event"...
    row_id: str | None
    ref: str | None
    field: str
    value: str  # shortened, printable
    problem: str

    @property
    def name(self) -> str:
        if self.ref and self.row_id:
            return f"{self.kind} {self.ref} (id {self.row_id})"
        if self.ref or self.row_id:
            return f"{self.kind} {self.ref or 'id ' + str(self.row_id)}"
        return f"a {self.kind} without id"

    def describe(self) -> str:
        return f"{self.name}: field {self.field} = {self.value}: {self.problem}"

    @property
    def remedy(self) -> str:
        label = _FIELD_LABELS.get(self.field.split(".")[0], self.field)
        return f"correct the {label} of this {self.kind} in Dolibarr; until then it is left out"


def parse_rows(
    model: type[ModelT],
    data: object,
    route: str,
    convert: Callable[[ModelT], DomainT],
    rejected: list[RejectedRow],
) -> list[DomainT]:
    """Validate and convert a list row by row; rows that fail go to ``rejected``, the others on."""
    if not isinstance(data, list):
        raise shape_error(route, "body", f"expected a list, got {type(data).__name__}")
    values: list[DomainT] = []
    for item in data:
        try:
            parsed = model.model_validate(item)
        except ValidationError as exc:
            rejected.append(_rejection(model, item, route, exc))
            continue
        try:
            values.append(convert(parsed))
        except (ValueError, OverflowError, ArithmeticError) as exc:  # a value valid alone, not together
            rejected.append(_row(model, item, route, "row", "", str(exc) or type(exc).__name__))
    return values


def _rejection(model: type[BaseModel], data: object, route: str, exc: ValidationError) -> RejectedRow:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    field = ".".join(loc) or "body"
    value: object = data
    for part in loc:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            value = "(missing)" if error["type"] == "missing" else value
            break
    problem = str(error["msg"]).removeprefix("Value error, ")
    return _row(model, data, route, field, value, problem)


def _row(model: type[BaseModel], data: object, route: str, field: str, value: object, problem: str) -> RejectedRow:
    row = data if isinstance(data, Mapping) else {}
    row_id = row.get("id", row.get("rowid"))
    ref = row.get("ref")
    shown = value if isinstance(value, str) and value == "(missing)" else _short(value)
    return RejectedRow(
        route=route,
        kind=_ROW_KINDS.get(model.__name__, "row"),
        row_id=_short(row_id, quote=False) if row_id not in (None, "") else None,
        ref=_short(ref, quote=False) if isinstance(ref, str) and ref.strip() else None,
        field=field,
        value=shown,
        problem=problem,
    )


def _short(value: object, *, quote: bool = True, limit: int = 60) -> str:
    """A value as a short one-line text (for messages): never the whole of a huge field."""
    text = repr(value) if quote else str(value)
    text = "".join(char if char.isprintable() else "?" for char in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shape_error(route: str, field: str, detail: str) -> DolibarrResponseError:
    return DolibarrResponseError(
        f"unexpected answer from Dolibarr on {route}: field {field!r}: {detail}",
        remedy="check that the Dolibarr version is supported (18 to 23); report it with that version",
    )
