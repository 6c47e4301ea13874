"""The records as Dolibarr 20 puts them on the wire (key order = PHP object property order)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from dolirelance.testing import fake_versions
from dolirelance.testing.fake.php_object import php_object
from dolirelance.testing.fake.records import (
    ALL_RIGHTS,
    CONTACT_TYPE_BY_KEY,
    DEFAULT_VALIDITY_DAYS,
    EVENT_TYPES,
    PAYMENT_MODES,
    PAYMENT_TERMS,
    REMOVED,
    AgendaEventRecord,
    ContactLink,
    ContactRecord,
    ExtraFieldRecord,
    GroupRecord,
    ProposalLineRecord,
    ProposalRecord,
    StoredFile,
    ThirdPartyRecord,
    UserRecord,
    amount,
    str_id,
)
from dolirelance.testing.fake.store import FakeDolibarr

ContactsMode = Literal["null", "ids", "full"]


def _array_options(
    fake: FakeDolibarr, elementtype: str, stored: Mapping[str, Any]
) -> dict[str, Any] | list[Any]:
    defined = fake.extrafields.get(elementtype, {})
    if not defined:
        return []  # PHP's empty array
    return {f"options_{name}": stored.get(f"options_{name}") for name in defined}


def _identity(fake: FakeDolibarr, element: str, record_id: int, options: Mapping[str, Any]) -> dict[str, Any]:
    """The CommonObject values of an object whose ref is its id (every kind here but proposals and lines)."""
    return {
        "id": str(record_id),
        "entity": "1",
        "array_options": _array_options(fake, element, options),
        "ref": str(record_id),
        "specimen": 0,
    }


def render_line(fake: FakeDolibarr, proposal: ProposalRecord, line: ProposalLineRecord) -> dict[str, Any]:
    product = fake.products.get(line.fk_product) if line.fk_product else None
    obj = php_object(
        "line",
        {
            "id": str(line.id),
            "array_options": [],
            "ref": product.ref if product else None,
            "rowid": str(line.id),
            "fk_propal": str(proposal.id),
            "desc": line.description or (product.description if product else ""),
            "description": line.description or (product.description if product else ""),
            "fk_product": str_id(line.fk_product),
            "product_type": str(line.product_type),
            "qty": f"{line.qty.normalize():f}",
            "subprice": amount(line.subprice),
            "remise_percent": f"{line.remise_percent.normalize():f}",
            "tva_tx": f"{line.tva_tx:.3f}",
            "vat_src_code": "",
            "info_bits": "0",
            "special_code": "0",
            "rang": str(line.rang),
            "date_start": "",
            "date_end": "",
            "product_ref": product.ref if product else None,
            "product_label": product.label if product else None,
            "product_desc": product.description if product else None,
            "total_ht": amount(line.total_ht),
            "total_tva": amount(line.total_tva),
            "total_localtax1": "0.00000000",
            "total_localtax2": "0.00000000",
            "total_ttc": amount(line.total_ttc),
            "multicurrency_subprice": amount(line.subprice),
            "multicurrency_total_ht": amount(line.total_ht),
            "multicurrency_total_tva": amount(line.total_tva),
            "multicurrency_total_ttc": amount(line.total_ttc),
        },
    )
    return fake_versions.reshape_line(fake.version, obj)


def render_contact_row(fake: FakeDolibarr, proposal: ProposalRecord, link: ContactLink) -> dict[str, Any]:
    type_row = CONTACT_TYPE_BY_KEY.get((link.source, link.type_code), {})
    if link.source == "internal":
        user = fake.users.get(link.contact_id)
        socid, lastname, firstname, email, login, civility, active = (
            None,
            user.lastname if user else "",
            user.firstname if user else "",
            user.email if user else "",
            user.login if user else "",
            None,
            user.status if user else 0,
        )
    else:
        contact = fake.contacts.get(link.contact_id)
        socid = contact.socid if contact else None
        lastname = contact.lastname if contact else ""
        firstname = contact.firstname if contact else ""
        email = contact.email if contact else ""
        login = None
        civility = contact.civility_code if contact else None
        active = contact.statut if contact else 0
    return {
        "parentId": str(proposal.id),
        "source": link.source,
        "socid": str_id(socid),
        "id": str(link.contact_id),
        "nom": lastname,
        "civility": civility,
        "lastname": lastname,
        "firstname": firstname,
        "email": email,
        "login": login,
        "photo": None,
        "gender": None,
        "statuscontact": str(active),
        "rowid": str(link.link_id),
        "code": link.type_code,
        "libelle": type_row.get("label", link.type_code),
        "status": "4",
        "fk_c_type_contact": type_row.get("rowid"),
    }


def _date_or_empty(value: int | None) -> int | str:
    return "" if value is None else value  # PHP's jdate(NULL) is ""


def render_proposal(
    fake: FakeDolibarr, proposal: ProposalRecord, contacts: ContactsMode = "ids", *, single: bool = False
) -> dict[str, Any]:
    if contacts == "null":
        contacts_value: Any = None
    elif contacts == "full":
        contacts_value = [
            render_contact_row(fake, proposal, link)
            for link in proposal.contacts
            if link.source == "external"
        ]
    else:
        contacts_value = [str(link.contact_id) for link in proposal.contacts if link.source == "external"]
    total_ht, total_tva, total_ttc = proposal.total_ht, proposal.total_tva, proposal.total_ttc
    obj = php_object(
        "proposal",
        {
            "id": str(proposal.id),
            "entity": "1",
            "array_options": _array_options(fake, "propal", proposal.array_options),
            "contacts_ids": contacts_value,
            "linkedObjectsIds": [],
            "ref": proposal.ref,
            "ref_ext": "",
            "statut": proposal.status,
            "status": proposal.status,
            "mode_reglement_id": str_id(proposal.mode_reglement_id),
            "cond_reglement_id": str_id(proposal.cond_reglement_id),
            "demand_reason_id": "0",
            "fk_multicurrency": "0",
            "multicurrency_code": "EUR",
            "multicurrency_tx": "1.00000000",
            "multicurrency_total_ht": amount(total_ht),
            "multicurrency_total_tva": amount(total_tva),
            "multicurrency_total_ttc": amount(total_ttc),
            "last_main_doc": proposal.last_main_doc,
            "note_public": proposal.note_public,
            "note_private": proposal.note_private,
            "total_ht": amount(total_ht),
            "total_tva": amount(total_tva),
            "total_localtax1": "0.00000000",
            "total_localtax2": "0.00000000",
            "total_ttc": amount(total_ttc),
            "lines": [render_line(fake, proposal, line) for line in proposal.lines],
            "date_creation": proposal.date_creation,
            "date_validation": _date_or_empty(proposal.date_valid),
            "date_modification": proposal.tms,
            "tms": proposal.tms,
            "user_validation_id": str_id(proposal.user_valid_id),
            "specimen": 0,
            "extraparams": [],
            "code": "",
            "socid": str(proposal.socid),
            "ref_client": proposal.ref_client,
            "ref_customer": proposal.ref_client,
            "datev": _date_or_empty(proposal.date_valid),
            "date_signature": _date_or_empty(proposal.date_signature),
            "date": proposal.datep,
            "datep": proposal.datep,
            "delivery_date": "",
            "fin_validite": _date_or_empty(proposal.fin_validite),
            "user_author_id": str(proposal.user_author_id),
            "cond_reglement_code": PAYMENT_TERMS.get(proposal.cond_reglement_id or 0),
            "mode_reglement_code": PAYMENT_MODES.get(proposal.mode_reglement_id or 0),
            "availability_id": "0",
            "duree_validite": DEFAULT_VALIDITY_DAYS,  # always the global default on read
            "fk_incoterms": "0",
            "location_incoterms": "",
        },
    )
    internal: list[Any] | None = None
    if contacts != "null":
        internal = [
            render_contact_row(fake, proposal, link) if contacts == "full" else str(link.contact_id)
            for link in proposal.contacts
            if link.source == "internal"
        ]
    shaped = fake_versions.reshape_proposal(fake.version, obj, single=single, internal_contacts=internal)
    for key, value in proposal.corrupted.items():
        if value is REMOVED:
            shaped.pop(key, None)
        else:
            shaped[key] = value
    return shaped


def render_event(fake: FakeDolibarr, event: AgendaEventRecord, *, in_list: bool = False) -> dict[str, Any]:
    type_id, type_kind, _label, _active = EVENT_TYPES.get(event.type_code, (0, "system", "", True))
    obj = php_object(
        "event",
        {
            **_identity(fake, "actioncomm", event.id, event.array_options),
            "linkedObjectsIds": None if in_list else [],  # only fetch() loads linked objects
            "fk_project": str_id(event.fk_project),
            "status": "0",
            "note_private": event.note,
            "type_id": str(type_id),
            "type": type_kind,
            "type_code": event.type_code,
            "code": event.code,
            "label": event.label,
            "datec": event.datec,
            "datem": event.datem,
            "authorid": str_id(event.authorid),
            "usermodid": str_id(event.usermodid),
            "datep": event.datep,
            "datef": "" if event.datef is None else event.datef,
            "durationp": -1,
            "fulldayevent": str(event.fulldayevent),
            "percentage": str(event.percentage),
            "location": event.location,
            "transparency": "0",
            "priority": str(event.priority),
            "userassigned": {str(uid): dict(row) for uid, row in event.userassigned.items()},
            "userownerid": str_id(event.userownerid),
            "socpeopleassigned": {str(cid): dict(row) for cid, row in event.socpeopleassigned.items()} or [],
            "otherassigned": [],
            "reminders": [],
            "socid": str_id(event.socid),
            "elementid": str_id(event.fk_element),
            "elementtype": event.elementtype,
            "email_msgid": event.email_msgid,
            "email_from": event.email_from,
            "email_sender": event.email_sender,
            "email_to": event.email_to,
            "email_tocc": event.email_tocc,
            "email_tobcc": event.email_tobcc,
            "email_subject": event.email_subject,
            "errors_to": event.errors_to,
        },
    )
    return fake_versions.reshape_event(fake.version, obj)


def render_thirdparty(fake: FakeDolibarr, tp: ThirdPartyRecord) -> dict[str, Any]:
    obj = php_object(
        "thirdparty",
        {
            **_identity(fake, "societe", tp.id, {}),
            "module": "societe",
            "status": str(tp.status),
            "country_id": str_id(tp.country_id),
            "country_code": tp.country_code,
            "note_public": tp.note_public,
            "note_private": tp.note_private,
            "name": tp.name,
            "date_creation": tp.datec,
            "date_modification": tp.tms or tp.datec,
            "name_alias": tp.name_alias,
            "address": tp.address,
            "zip": tp.zip,
            "town": tp.town,
            "country": "France" if tp.country_code == "FR" else tp.country_code,
            "phone": tp.phone,
            "email": tp.email,
            "no_email": tp.no_email,
            "socialnetworks": [],
            "idprof1": "",
            "idprof2": "",
            "idprof3": "",
            "idprof4": "",
            "idprof5": "",
            "idprof6": "",
            "tva_assuj": "1",
            "tva_intra": "",
            "typent_id": "0",
            "forme_juridique_code": "0",
            "remise_percent": 0,
            "client": str(tp.client),
            "prospect": 1 if tp.client in (2, 3) else 0,
            "fournisseur": "0",
            "code_client": tp.code_client or None,
            "default_lang": tp.default_lang,
        },
    )
    return fake_versions.reshape_thirdparty(fake.version, obj)


def render_contact(fake: FakeDolibarr, contact: ContactRecord) -> dict[str, Any]:
    obj = php_object(
        "contact",
        {
            **_identity(fake, "socpeople", contact.id, {}),
            "statut": str(contact.statut),
            "lastname": contact.lastname,
            "firstname": contact.firstname,
            "date_creation": contact.datec,
            "date_modification": contact.tms or contact.datec,
            "civility_code": contact.civility_code,
            "civility": {"MR": "Monsieur", "MME": "Madame", "MLE": "Mademoiselle"}.get(
                contact.civility_code or ""
            ),
            "address": "",
            "zip": "",
            "town": "",
            "poste": contact.poste,
            "socid": str_id(contact.socid),
            "socname": fake.thirdparties[contact.socid].name if contact.socid in fake.thirdparties else None,
            "email": contact.email,
            "no_email": contact.no_email,
            "socialnetworks": [],
            "phone_pro": contact.phone_pro,
            "phone_perso": "",
            "phone_mobile": contact.phone_mobile,
            "fax": "",
            "priv": "0",
            "birthday": "",
            "default_lang": contact.default_lang,
            "roles": [],
        },
    )
    return fake_versions.reshape_contact(fake.version, obj)


def _nested_rights(rights: Iterable[str]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for right in sorted(rights):
        parts = right.split(".")
        node = nested
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = 1
    return nested


def render_user(
    fake: FakeDolibarr, user: UserRecord, *, with_rights: bool = False, in_info: bool = False
) -> dict[str, Any]:
    """A user; only ``/users/info`` fills ``user_group_list`` (Users::getInfo), elsewhere it is null."""
    obj = php_object(
        "user",
        {
            **_identity(fake, "user", user.id, {}),
            "statut": str(user.status),
            "status": str(user.status),
            "note_private": "",
            "lastname": user.lastname,
            "firstname": user.firstname,
            "employee": "1",
            "birth": "",
            "email": user.email,
            "personal_email": "",
            "socialnetworks": [],
            "job": user.job,
            "signature": user.signature,
            "address": "",
            "zip": "",
            "town": "",
            "office_phone": user.office_phone,
            "office_fax": "",
            "user_mobile": user.user_mobile,
            "personal_mobile": "",
            "admin": "1" if user.admin else "0",
            "login": user.login,
            "socid": str_id(user.socid),
            "datelastlogin": "",
            "datepreviouslogin": "",
            "datestartvalidity": "",
            "dateendvalidity": "",
            "user_group_list": [render_group(fake, group, in_user_list=True) for group in fake.groups_of(user.id)]
            if in_info
            else None,
        },
    )
    if with_rights:
        obj["rights"] = _nested_rights(ALL_RIGHTS if user.admin else user.rights)
    return obj


def render_representative(user: UserRecord) -> dict[str, Any]:
    """A row of /thirdparties/{id}/representatives (getSalesRepresentatives: llx_user's columns as they are)."""
    as_stored = {column: getattr(user, column) for column in ("id", "login", "lastname", "firstname", "email")}
    return as_stored | {
        "phone": user.office_phone,
        "office_phone": user.office_phone,
        "job": user.job,
        "statut": str(user.status),
        "status": str(user.status),
        "entity": "1",
        "photo": None,
        "gender": None,
        "user_mobile": user.user_mobile,
    }


def render_file(fake: FakeDolibarr, directory: str, stored: StoredFile) -> dict[str, Any]:
    path = f"{fake.data_root}/propale/{directory}"
    return {
        "name": stored.name,
        "path": path,
        "level1name": directory,
        "relativename": stored.name,
        "fullname": f"{path}/{stored.name}",
        "date": stored.date,
        "size": len(stored.content),
        "type": "file",
        "label": hashlib.md5(stored.content).hexdigest(),
        "entity": "1",
        "filename": stored.name,
        "filepath": f"propale/{directory}",
        "fullpath_orig": stored.name if stored.origin == "uploaded" else "",
        "description": "",
        "keywords": "",
        "cover": None,
        "position": str(stored.position),
        "gen_or_uploaded": stored.origin,
        "extraparams": None,
        "date_c": stored.date,
        "date_m": stored.date,
        "fk_user_c": str(stored.user_id),
        "fk_user_m": None,
        "acl": None,
        "src_object_type": "propal",
        "src_object_id": str(stored.src_object_id),
        "id": str(stored.ecm_id),
        "ref": str(stored.ecm_id),
        "share": stored.share,
    }


def content_type(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith(".pdf"):
        return "application/pdf"
    if lowered.endswith(".txt"):
        return "text/plain"
    if lowered.endswith(".png"):
        return "image/png"
    return "application/octet-stream"


def render_group(fake: FakeDolibarr, group: GroupRecord, *, in_user_list: bool = False,
                  with_members: bool = False) -> dict[str, Any]:
    """A UserGroup as the API cleans it. In ``/users/info``'s ``user_group_list``
    (_cleanUserGroupListDatas) ``datec``, ``tms``, ``members`` and ``note`` are removed; elsewhere
    ``members`` is ``[]`` unless loaded, then an object keyed by user id (PHP array keyed by rowid)."""
    obj: dict[str, Any] = {
        "module": None,
        "id": str(group.id),
        "entity": "1",
        "import_key": None,
        "array_options": [],
        "ref": str(group.id),
        "name": group.name,
        "nom": group.name,
        "globalgroup": None,
        "usergroup_entity": [1] if in_user_list else None,
        "note": group.note,
        "datec": datetime.fromtimestamp(group.datec, fake.tz).strftime("%Y-%m-%d %H:%M:%S") if group.datec else None,
        "tms": None,
        "members": [],
    }
    if with_members:
        members = [fake.users[uid] for uid in sorted(group.member_ids) if uid in fake.users]
        obj["members"] = {
            str(user.id): {
                "id": str(user.id),
                "login": user.login,
                "lastname": user.lastname,
                "firstname": user.firstname,
                "email": user.email,
                "statut": str(user.status),
                "status": str(user.status),
                "admin": "1" if user.admin else "0",
                "socid": str_id(user.socid),
                "entity": "1",
            }
            for user in members
        } or []
    if in_user_list:
        for key in ("datec", "tms", "members", "note"):
            del obj[key]
    return obj


def render_extrafield(record: ExtraFieldRecord) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "type": record.type,
        "label": record.label,
        "size": record.size,
        "elementtype": record.elementtype,
        "default": record.default,
        "computed": None,
        "unique": str(record.unique),
        "required": str(record.required),
        "param": record.param,
        "pos": str(record.pos),
        "alwayseditable": str(record.alwayseditable),
        "perms": None,
        "list": record.list,
        "printable": str(record.printable),
        "totalizable": str(record.totalizable),
        "langs": None,
        "help": record.help,
        "css": None,
        "cssview": None,
        "csslist": None,
        "fk_user_author": str(record.user_id),
        "fk_user_modif": str(record.user_id),
        "datec": record.datec,
        "tms": record.datec,
    }
