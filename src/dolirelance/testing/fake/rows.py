"""The fake's records as the SQL rows that ``sqlfilters`` and ``sortfield`` read (columns and values)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from dolirelance.testing.fake.records import (
    EVENT_TYPES,
    AgendaEventRecord,
    ContactRecord,
    GroupRecord,
    ProposalRecord,
    ThirdPartyRecord,
    UserRecord,
    php_int,
)
from dolirelance.testing.sqlfilters import (
    ColumnKind,
    RowValue,
)

if TYPE_CHECKING:
    from dolirelance.testing.fake.store import FakeDolibarr


def _extrafield_kind(type_name: str) -> ColumnKind:
    if type_name in ("boolean", "int"):
        return ColumnKind.INT
    if type_name in ("double", "price"):
        return ColumnKind.FLOAT
    if type_name == "date":
        return ColumnKind.DATE
    if type_name == "datetime":
        return ColumnKind.DATETIME
    return ColumnKind.TEXT


def _extrafield_value(type_name: str, raw: str | None) -> RowValue:
    if raw in (None, ""):
        return None
    if type_name in ("boolean", "int"):
        return php_int(raw)
    return raw


_I, _F, _T, _D, _DT = ColumnKind.INT, ColumnKind.FLOAT, ColumnKind.TEXT, ColumnKind.DATE, ColumnKind.DATETIME
PROPOSAL_COLUMNS: dict[str, ColumnKind] = {
    "t.rowid": _I,
    "t.entity": _I,
    "t.ref": _T,
    "t.ref_client": _T,
    "t.ref_ext": _T,
    "t.fk_soc": _I,
    "t.fk_projet": _I,
    "t.fk_statut": _I,
    "t.datec": _DT,
    "t.tms": _DT,
    "t.datep": _D,
    "t.fin_validite": _DT,
    "t.date_valid": _DT,
    "t.date_cloture": _DT,
    "t.date_signature": _DT,
    "t.fk_user_author": _I,
    "t.fk_user_valid": _I,
    "t.fk_user_cloture": _I,
    "t.total_ht": _F,
    "t.total_tva": _F,
    "t.total_ttc": _F,
    "t.multicurrency_code": _T,
    "t.fk_cond_reglement": _I,
    "t.fk_mode_reglement": _I,
    "t.note_public": _T,
    "t.note_private": _T,
    "t.last_main_doc": _T,
    "t.model_pdf": _T,
}
EVENT_COLUMNS: dict[str, ColumnKind] = {
    "t.id": _I,
    "t.ref": _T,
    "t.entity": _I,
    "t.code": _T,
    "t.fk_action": _I,
    "t.label": _T,
    "t.note": _T,
    "t.datep": _DT,
    "t.datep2": _DT,
    "t.datec": _DT,
    "t.tms": _DT,
    "t.percent": _I,
    "t.fk_element": _I,
    "t.elementtype": _T,
    "t.fk_soc": _I,
    "t.fk_contact": _I,
    "t.fk_project": _I,
    "t.fk_user_action": _I,
    "t.fk_user_author": _I,
    "t.fk_user_mod": _I,
    "t.fulldayevent": _I,
    "t.location": _T,
    "t.priority": _I,
    "t.email_msgid": _T,
    "t.email_from": _T,
    "t.email_to": _T,
    "t.email_subject": _T,
}
THIRDPARTY_COLUMNS: dict[str, ColumnKind] = {
    "t.rowid": _I,
    "t.entity": _I,
    "t.nom": _T,
    "t.name_alias": _T,
    "t.email": _T,
    "t.phone": _T,
    "t.address": _T,
    "t.zip": _T,
    "t.town": _T,
    "t.fk_pays": _I,
    "t.client": _I,
    "t.fournisseur": _I,
    "t.code_client": _T,
    "t.status": _I,
    "t.default_lang": _T,
    "t.datec": _DT,
}
CONTACT_COLUMNS: dict[str, ColumnKind] = {
    "t.rowid": _I,
    "t.entity": _I,
    "t.fk_soc": _I,
    "t.lastname": _T,
    "t.firstname": _T,
    "t.civility": _T,
    "t.email": _T,
    "t.poste": _T,
    "t.phone": _T,
    "t.phone_mobile": _T,
    "t.statut": _I,
    "t.default_lang": _T,
    "t.datec": _DT,
}
USER_COLUMNS: dict[str, ColumnKind] = {
    "t.rowid": _I,
    "t.entity": _I,
    "t.login": _T,
    "t.lastname": _T,
    "t.firstname": _T,
    "t.email": _T,
    "t.job": _T,
    "t.statut": _I,
    "t.admin": _I,
    "t.fk_soc": _I,
    "t.employee": _I,
}
GROUP_COLUMNS: dict[str, ColumnKind] = {
    "t.rowid": _I,
    "t.entity": _I,
    "t.nom": _T,
    "t.note": _T,
}
CONTACT_TYPE_COLUMNS: dict[str, ColumnKind] = {
    "t.rowid": _I,
    "t.element": _T,
    "t.source": _T,
    "t.code": _T,
    "t.libelle": _T,
    "t.active": _I,
    "t.module": _T,
    "t.position": _I,
}


def with_extrafields(
    fake: FakeDolibarr, columns: Mapping[str, ColumnKind], element: str
) -> dict[str, ColumnKind]:
    """``columns`` and the extrafields of ``element``, as the list's join names them (ef.<name>)."""
    joined = dict(columns)
    for extrafield in fake.extrafields.get(element, {}).values():
        joined[f"ef.{extrafield.name}"] = _extrafield_kind(extrafield.type)
    return joined


def proposal_row(fake: FakeDolibarr, proposal: ProposalRecord) -> dict[str, RowValue]:
    if proposal.row_cache is not None:
        return proposal.row_cache
    local = fake.local_naive
    row: dict[str, RowValue] = {
        "t.rowid": proposal.id,
        "t.entity": 1,
        "t.ref": proposal.ref,
        "t.ref_client": proposal.ref_client,
        "t.ref_ext": None,
        "t.fk_soc": proposal.socid,
        "t.fk_projet": None,
        "t.fk_statut": proposal.status,
        "t.datec": local(proposal.date_creation),
        "t.tms": local(proposal.tms),
        "t.datep": fake.day_of_epoch(proposal.datep) if proposal.datep else None,
        "t.fin_validite": local(proposal.fin_validite),
        "t.date_valid": local(proposal.date_valid),
        "t.date_cloture": local(proposal.date_cloture),
        "t.date_signature": local(proposal.date_signature),
        "t.fk_user_author": proposal.user_author_id,
        "t.fk_user_valid": proposal.user_valid_id,
        "t.fk_user_cloture": proposal.user_close_id,
        "t.total_ht": float(proposal.total_ht),
        "t.total_tva": float(proposal.total_tva),
        "t.total_ttc": float(proposal.total_ttc),
        "t.multicurrency_code": "EUR",
        "t.fk_cond_reglement": proposal.cond_reglement_id,
        "t.fk_mode_reglement": proposal.mode_reglement_id,
        "t.note_public": proposal.note_public,
        "t.note_private": proposal.note_private,
        "t.last_main_doc": proposal.last_main_doc,
        "t.model_pdf": "azur",
    }
    for extrafield in fake.extrafields.get("propal", {}).values():
        raw = proposal.array_options.get(f"options_{extrafield.name}")
        row[f"ef.{extrafield.name}"] = _extrafield_value(extrafield.type, raw)
    proposal.row_cache = row
    return row

def event_row(fake: FakeDolibarr, event: AgendaEventRecord) -> Mapping[str, RowValue]:
    # Lazy: a filter reads two or three columns of each of thousands of events per request.
    return _LazyEventRow(fake, event)

# The columns that hold a record's attribute as it is, by column (the others are computed in *_row).
_THIRDPARTY_ATTRIBUTES = dict(zip(
    ("t.rowid", "t.nom", "t.name_alias", "t.email", "t.phone", "t.address", "t.zip", "t.town", "t.fk_pays",
     "t.client", "t.status", "t.default_lang"),
    ("id", "name", "name_alias", "email", "phone", "address", "zip", "town", "country_id",
     "client", "status", "default_lang"), strict=True,
))
_CONTACT_ATTRIBUTES = dict(zip(
    ("t.rowid", "t.fk_soc", "t.lastname", "t.firstname", "t.civility", "t.email", "t.poste", "t.phone",
     "t.phone_mobile", "t.statut", "t.default_lang"),
    ("id", "socid", "lastname", "firstname", "civility_code", "email", "poste", "phone_pro",
     "phone_mobile", "statut", "default_lang"), strict=True,
))
_USER_ATTRIBUTES = dict(zip(
    ("t.rowid", "t.login", "t.lastname", "t.firstname", "t.email", "t.job", "t.statut", "t.fk_soc"),
    ("id", "login", "lastname", "firstname", "email", "job", "status", "socid"), strict=True,
))


def _attributes(record: object, columns: Mapping[str, str]) -> dict[str, RowValue]:
    return {column: getattr(record, attribute) for column, attribute in columns.items()}


def thirdparty_row(fake: FakeDolibarr, tp: ThirdPartyRecord) -> dict[str, RowValue]:
    computed: dict[str, RowValue] = {
        "t.entity": 1, "t.fournisseur": 0, "t.code_client": tp.code_client or None,
        "t.datec": fake.local_naive(tp.datec),
    }
    return _attributes(tp, _THIRDPARTY_ATTRIBUTES) | computed


def contact_row(fake: FakeDolibarr, contact: ContactRecord) -> dict[str, RowValue]:
    computed: dict[str, RowValue] = {"t.entity": 1, "t.datec": fake.local_naive(contact.datec)}
    return _attributes(contact, _CONTACT_ATTRIBUTES) | computed


def user_row(fake: FakeDolibarr, user: UserRecord) -> dict[str, RowValue]:
    computed: dict[str, RowValue] = {"t.entity": 1, "t.admin": int(user.admin), "t.employee": 1}
    return _attributes(user, _USER_ATTRIBUTES) | computed


def group_row(fake: FakeDolibarr, group: GroupRecord) -> dict[str, RowValue]:
    return {"t.rowid": group.id, "t.entity": 1, "t.nom": group.name, "t.note": group.note}


def contact_type_row(fake: FakeDolibarr, row: Mapping[str, Any]) -> dict[str, RowValue]:
    """A row of llx_c_type_contact (``CONTACT_TYPES``)."""
    return {
        "t.rowid": int(row["rowid"]),
        "t.element": row["type"],
        "t.source": row["source"],
        "t.code": row["code"],
        "t.libelle": row["label"],
        "t.active": 1,
        "t.module": row["module"],
        "t.position": 0,
    }


_EVENT_COLUMN_VALUES: dict[str, Callable[[FakeDolibarr, AgendaEventRecord], RowValue]] = {
    "t.id": lambda fake, e: e.id,
    "t.ref": lambda fake, e: str(e.id),
    "t.entity": lambda fake, e: 1,
    "t.code": lambda fake, e: e.code,
    "t.fk_action": lambda fake, e: EVENT_TYPES.get(e.type_code, (0,))[0],
    "t.label": lambda fake, e: e.label,
    "t.note": lambda fake, e: e.note,
    "t.datep": lambda fake, e: fake.local_naive(e.datep),
    "t.datep2": lambda fake, e: fake.local_naive(e.datef),
    "t.datec": lambda fake, e: fake.local_naive(e.datec),
    "t.tms": lambda fake, e: fake.local_naive(e.datem),
    "t.percent": lambda fake, e: e.percentage,
    "t.fk_element": lambda fake, e: e.fk_element,
    "t.elementtype": lambda fake, e: e.elementtype,
    "t.fk_soc": lambda fake, e: e.socid,
    "t.fk_contact": lambda fake, e: e.contact_id,
    "t.fk_project": lambda fake, e: e.fk_project,
    "t.fk_user_action": lambda fake, e: e.userownerid,
    "t.fk_user_author": lambda fake, e: e.authorid,
    "t.fk_user_mod": lambda fake, e: e.usermodid,
    "t.fulldayevent": lambda fake, e: e.fulldayevent,
    "t.location": lambda fake, e: e.location,
    "t.priority": lambda fake, e: e.priority,
    "t.email_msgid": lambda fake, e: e.email_msgid,
    "t.email_from": lambda fake, e: e.email_from,
    "t.email_to": lambda fake, e: e.email_to,
    "t.email_subject": lambda fake, e: e.email_subject,
}


class _LazyEventRow(Mapping[str, RowValue]):
    """An event as a table row whose columns are computed when a filter or a sort reads them."""

    __slots__ = ("_event", "_fake")

    def __init__(self, fake: FakeDolibarr, event: AgendaEventRecord) -> None:
        self._fake = fake
        self._event = event

    def __getitem__(self, column: str) -> RowValue:
        return _EVENT_COLUMN_VALUES[column](self._fake, self._event)

    def __iter__(self) -> Iterator[str]:
        return iter(_EVENT_COLUMN_VALUES)

    def __len__(self) -> int:
        return len(_EVENT_COLUMN_VALUES)
