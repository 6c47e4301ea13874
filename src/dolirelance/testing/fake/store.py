"""``FakeDolibarr``: the fake server's state, its clock, and the methods that seed and change it."""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from dolirelance.testing.cost import CostModel, RequestCosts
from dolirelance.testing.fake.faults import FaultInjection
from dolirelance.testing.fake.proposal_pdf import proposal_pdf
from dolirelance.testing.fake.records import (
    ALL_RIGHTS,
    DAY,
    DEFAULT_VALIDITY_DAYS,
    DOLIBARR_VERSION,
    AgendaEventRecord,
    ApiError,
    ContactLink,
    ContactRecord,
    ExtraFieldRecord,
    GroupRecord,
    ProductRecord,
    ProposalLineRecord,
    ProposalRecord,
    StoredFile,
    ThirdPartyRecord,
    UserRecord,
    int_or_none,
    php_int,
    sanitize_filename,
    to_decimal,
)
from dolirelance.testing.fake_versions import FakeVersion

# The headers an e-mail event keeps (AgendaEventRecord's fields of the same names).
EMAIL_HEADERS = (
    "email_msgid", "email_from", "email_sender", "email_to", "email_tocc", "email_tobcc", "email_subject", "errors_to",
)


def _attendees(ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """An event's userassigned or socpeopleassigned: each attendee as Dolibarr stores them (no answer yet)."""
    return {int(i): {"id": str(i), "mandatory": "0", "answer_status": "0", "transparency": "0"} for i in ids}


class FakeDolibarr(FaultInjection):
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
        self._counters: Counter[str] = Counter()
        self._highest_ref_number: int | None = None
        if create_admin:
            self.add_user("admin", api_key="admin-key", password="admin", admin=True, lastname="SuperAdmin")

    # ---- clock and dates ------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._now()

    def now_epoch(self) -> int:
        return int(self._now().timestamp())

    def epoch_of_day(self, day: date) -> int:
        """Server-local midnight of ``day``."""
        return int(datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp())

    def day_of_epoch(self, epoch: int) -> date:
        return datetime.fromtimestamp(epoch, self.tz).date()

    def local_naive(self, epoch: int | None) -> datetime | None:
        if epoch is None:
            return None
        return datetime.fromtimestamp(epoch, self.tz).replace(tzinfo=None)

    def midnight(self, epoch: int) -> int:
        return self.epoch_of_day(self.day_of_epoch(epoch))

    def _epoch_in(self, value: int | date | datetime | None) -> int | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return int(value.timestamp())
        if isinstance(value, date):
            return self.epoch_of_day(value)
        return int(value)

    def _next_id(self, table: str) -> int:
        self._counters[table] += 1
        return self._counters[table]


    # ---- users ----------------------------------------------------------------------------------------

    def add_user(
        self,
        login: str,
        *,
        api_key: str,
        password: str = "",
        admin: bool = False,
        rights: Iterable[str] = (),
        firstname: str = "",
        lastname: str = "",
        email: str = "",
        office_phone: str = "",
        user_mobile: str = "",
        job: str = "",
        signature: str = "",
        socid: int | None = None,
    ) -> UserRecord:
        user = UserRecord(
            id=self._next_id("user"),
            login=login,
            api_key=api_key,
            password=password,
            firstname=firstname,
            lastname=lastname,
            email=email,
            office_phone=office_phone,
            user_mobile=user_mobile,
            job=job,
            signature=signature,
            admin=admin,
            rights=set(ALL_RIGHTS if admin else rights),
            socid=socid,
        )
        self.users[user.id] = user
        return user

    def user_by_key(self, key: str) -> UserRecord | None:
        for user in self.users.values():
            if user.api_key == key and user.status == 1:
                return user
        return None

    def user_by_login(self, login: str) -> UserRecord | None:
        return next((user for user in self.users.values() if user.login == login), None)

    @property
    def admin_user(self) -> UserRecord:
        return next(user for user in self.users.values() if user.admin)

    # ---- user groups (Users & Groups > Groups; the REST API cannot create them) -----------------------

    def add_group(self, name: str, *, note: str = "", members: Iterable[int] = ()) -> GroupRecord:
        group = GroupRecord(
            id=self._next_id("usergroup"), name=name, note=note, member_ids=set(members), datec=self.now_epoch()
        )
        self.groups[group.id] = group
        return group

    def group_by_name(self, name: str) -> GroupRecord | None:
        return next((group for group in self.groups.values() if group.name == name), None)

    def add_to_group(self, user_id: int, group_id: int) -> None:
        self.groups[group_id].member_ids.add(user_id)

    def remove_from_group(self, user_id: int, group_id: int) -> None:
        self.groups[group_id].member_ids.discard(user_id)

    def groups_of(self, user_id: int) -> list[GroupRecord]:
        """Dolibarr's UserGroup::listGroupsForUser: ordered by name."""
        return sorted((g for g in self.groups.values() if user_id in g.member_ids), key=lambda g: g.name)

    # ---- company, extrafields -------------------------------------------------------------------------

    def set_company(self, **fields: str) -> None:
        self.company.update(fields)

    def add_extrafield(
        self, elementtype: str, name: str, *, label: str, type: str = "boolean", **options: Any
    ) -> ExtraFieldRecord:
        if name in self.extrafields.get(elementtype, {}):
            raise ApiError(409, f"Extrafield {name} already exists on {elementtype}")
        record = ExtraFieldRecord(
            id=self._next_id("extrafield"),
            elementtype=elementtype,
            name=name,
            label=label,
            type=type,
            datec=self.local_naive(self.now_epoch()).strftime("%Y-%m-%d %H:%M:%S"),  # type: ignore[union-attr]
            **{key: value for key, value in options.items() if key in ExtraFieldRecord.__dataclass_fields__},
        )
        self.extrafields.setdefault(elementtype, {})[name] = record
        for proposal in self.proposals.values():
            proposal.row_cache = None
        return record

    # ---- third parties and contacts -------------------------------------------------------------------

    def add_thirdparty(
        self,
        name: str,
        *,
        client: int = 1,
        code_client: str = "auto",
        email: str | None = None,
        sales_rep_ids: Iterable[int] = (),
        **fields: Any,
    ) -> ThirdPartyRecord:
        record_id = self._next_id("thirdparty")
        if code_client == "auto" and client in (1, 3):
            code_client = self._next_customer_code()
        elif code_client == "auto":
            code_client = ""
        record = ThirdPartyRecord(
            id=record_id,
            name=name,
            client=client,
            code_client=code_client,
            email=email or None,
            datec=self.now_epoch(),
            sales_rep_ids=list(sales_rep_ids),
            **{key: value for key, value in fields.items() if key in ThirdPartyRecord.__dataclass_fields__},
        )
        self.thirdparties[record.id] = record
        return record

    def _next_customer_code(self) -> str:
        # mod_codeclient_monkey: CU{yy}{mm}-{nnnnn}
        prefix = self.local_naive(self.now_epoch()).strftime("CU%y%m-")  # type: ignore[union-attr]
        count = sum(1 for tp in self.thirdparties.values() if tp.code_client.startswith(prefix))
        return f"{prefix}{count + 1:05d}"

    def add_sales_rep(self, socid: int, user_id: int) -> None:
        reps = self.thirdparties[socid].sales_rep_ids
        if user_id not in reps:
            reps.append(user_id)

    def add_contact(self, socid: int | None, lastname: str, **fields: Any) -> ContactRecord:
        known: dict[str, Any] = {
            key: ("" if key == "email" and value is None else value)  # a contact's missing email reads ""
            for key, value in fields.items()
            if key in ContactRecord.__dataclass_fields__
        }
        record = ContactRecord(
            id=self._next_id("contact"), socid=socid, lastname=lastname, datec=self.now_epoch(), **known
        )
        self.contacts[record.id] = record
        return record

    def add_product(self, ref: str, label: str, **fields: Any) -> ProductRecord:
        record = ProductRecord(
            id=self._next_id("product"),
            ref=ref,
            label=label,
            type=int(fields.get("type", 0)),
            price=to_decimal(fields.get("price")),
            tva_tx=to_decimal(fields.get("tva_tx"), "20"),
            description=str(fields.get("description") or ""),
        )
        self.products[record.id] = record
        return record

    # ---- proposals ------------------------------------------------------------------------------------

    def add_proposal(
        self,
        socid: int,
        *,
        date: int | date | datetime | None = None,
        duree_validite: int = DEFAULT_VALIDITY_DAYS,
        user_id: int | None = None,
        ref_client: str = "",
        note_public: str = "",
        note_private: str = "",
        cond_reglement_id: int | None = None,
        mode_reglement_id: int | None = None,
    ) -> ProposalRecord:
        """A draft ``(PROVn)``. ``fin_validite`` = the date as given (with its time) + ``duree_validite``."""
        now = self.now_epoch()
        date_epoch = self._epoch_in(date) if date is not None else now
        assert date_epoch is not None
        record_id = self._next_id("proposal")
        record = ProposalRecord(
            id=record_id,
            ref=f"(PROV{record_id})",
            socid=socid,
            datep=self.midnight(date_epoch) if date_epoch > DAY else 0,
            fin_validite=date_epoch + duree_validite * DAY if duree_validite else None,
            date_creation=now,
            user_author_id=user_id or self.admin_user.id,
            ref_client=ref_client,
            note_public=note_public,
            note_private=note_private,
            cond_reglement_id=cond_reglement_id,
            mode_reglement_id=mode_reglement_id,
            tms=now,
        )
        self.proposals[record.id] = record
        return record

    def add_proposal_line(
        self,
        proposal_id: int,
        *,
        description: str = "",
        qty: Decimal | int | str = 1,
        subprice: Decimal | int | str | float = 0,
        tva_tx: Decimal | int | str = 20,
        product_type: int = 1,
        fk_product: int | None = None,
        remise_percent: Decimal | int | str = 0,
    ) -> ProposalLineRecord:
        proposal = self.proposals[proposal_id]
        line = ProposalLineRecord(
            id=self._next_id("proposal_line"),
            description=description,
            qty=to_decimal(qty, "1"),
            subprice=to_decimal(subprice),
            tva_tx=to_decimal(tva_tx, "20"),
            product_type=product_type,
            fk_product=fk_product,
            remise_percent=to_decimal(remise_percent),
            rang=len(proposal.lines) + 1,
        )
        proposal.lines.append(line)
        proposal.touch(self.now_epoch())
        return line

    def link_contact(
        self, proposal_id: int, contact_id: int, type_code: str = "CUSTOMER", source: str = "external"
    ) -> None:
        proposal = self.proposals[proposal_id]
        if any(
            link.contact_id == contact_id and link.type_code == type_code and link.source == source
            for link in proposal.contacts
        ):
            return
        proposal.contacts.append(ContactLink(self._next_id("contact_link"), contact_id, type_code, source))

    def unlink_contact(self, proposal_id: int, contact_id: int, type_code: str) -> None:
        proposal = self.proposals[proposal_id]
        proposal.contacts = [
            link
            for link in proposal.contacts
            if not (link.contact_id == contact_id and link.type_code == type_code)
        ]

    def validate_proposal(self, proposal_id: int, *, user_id: int | None = None) -> bool:
        """Draft -> open with a ``PR{yymm}-{nnnn}`` ref; False when it was already validated."""
        proposal = self.proposals[proposal_id]
        if proposal.status == 1:
            return False
        if proposal.status != 0:
            return True  # Dolibarr answers 200 and changes nothing (observed on a signed draft)
        user_id = user_id or self.admin_user.id
        now = self.now_epoch()
        if proposal.ref.startswith("(PROV"):
            proposal.ref = self._next_proposal_ref()
        proposal.status = 1
        proposal.date_valid = now
        proposal.user_valid_id = user_id
        proposal.touch(now)
        self._auto_event(proposal, "AC_PROPAL_VALIDATE", f"Proposition {proposal.ref} validée", user_id)
        return True

    def _next_proposal_ref(self) -> str:
        # mod_propale_marbre: PR{yymm of now}-{global sequence}. The highest number is kept rather
        # than searched, so that seeding thousands of proposals stays linear.
        if self._highest_ref_number is None:
            self._highest_ref_number = 0
            for other in self.proposals.values():
                match = re.fullmatch(r"PR\d{4}-(\d+)", other.ref)
                if match:
                    self._highest_ref_number = max(self._highest_ref_number, int(match.group(1)))
        self._highest_ref_number += 1
        yymm = self.local_naive(self.now_epoch()).strftime("%y%m")  # type: ignore[union-attr]
        return f"PR{yymm}-{self._highest_ref_number:04d}"

    def close_proposal(
        self, proposal_id: int, status: int, *, note_private: str = "", user_id: int | None = None
    ) -> None:
        """Sign (2) or refuse (3); no state check, like the real server; builds the PDF."""
        proposal = self.proposals[proposal_id]
        user_id = user_id or self.admin_user.id
        now = self.now_epoch()
        proposal.status = status
        if note_private:
            proposal.note_private = note_private
        proposal.date_cloture = now
        proposal.user_close_id = user_id
        if status == 2:
            proposal.date_signature = now
        proposal.touch(now)
        if status == 2:
            self._auto_event(
                proposal, "AC_PROPAL_CLOSE_SIGNED", f"Proposition {proposal.ref} signée", user_id
            )
        else:
            self._auto_event(
                proposal, "AC_PROPAL_CLOSE_REFUSED", f"Proposition {proposal.ref} refusée", user_id
            )
        self.build_proposal_pdf(proposal_id, user_id=user_id)

    def set_proposal_draft(self, proposal_id: int, *, user_id: int | None = None) -> None:
        proposal = self.proposals[proposal_id]
        user_id = user_id or self.admin_user.id
        proposal.status = 0
        proposal.touch(self.now_epoch())
        self._auto_event(
            proposal,
            "AC_PROPAL_MODIFY",
            f"Proposition {proposal.ref} de retour au statut de brouillon",
            user_id,
        )

    def corrupt_proposal(self, proposal_id: int, **values: Any) -> None:
        """Send these raw JSON values for the proposal from now on (``REMOVED`` drops the key), as a
        damaged database row or a buggy module would; filters still see the real columns."""
        self.proposals[proposal_id].corrupted.update(values)

    def set_proposal_options(self, proposal_id: int, **options: str | None) -> None:
        """Seed extrafield values (``norelance="1"``) without the PUT side effects."""
        proposal = self.proposals[proposal_id]
        for name, value in options.items():
            proposal.array_options[f"options_{name}"] = value
        proposal.row_cache = None

    def update_proposal(self, proposal_id: int, body: Mapping[str, Any], *, user_id: int) -> None:
        """PUT /proposals/{id}: Dolibarr 20's side effects included (fin_validite reset, two events)."""
        proposal = self.proposals[proposal_id]
        for key in ("note_public", "note_private", "ref_client"):
            if key in body and body[key] is not None:
                setattr(proposal, key, str(body[key]))
        for key in ("cond_reglement_id", "mode_reglement_id"):
            if key in body:
                setattr(proposal, key, int_or_none(body[key]))
        for key in ("date", "datep"):
            if key in body and body[key] not in (None, ""):
                stamp = php_int(body[key])
                proposal.datep = self.midnight(stamp) if stamp > DAY else 0
        if "status" in body or "statut" in body:
            # written straight to fk_statut by the real update()
            proposal.status = php_int(body.get("status", body.get("statut")))
        if isinstance(body.get("array_options"), Mapping):
            for key, value in body["array_options"].items():
                proposal.array_options[str(key)] = None if value is None else str(value)
        # update() recomputes fin_validite from the fetched duree_validite (the global default) unless
        # the body sets duree_validite to 0, in which case the fin_validite of the body is kept.
        duree = php_int(body["duree_validite"]) if "duree_validite" in body else DEFAULT_VALIDITY_DAYS
        if duree:
            proposal.fin_validite = proposal.datep + duree * DAY
        elif "fin_validite" in body and body["fin_validite"] not in (None, ""):
            proposal.fin_validite = php_int(body["fin_validite"])
        proposal.touch(self.now_epoch())
        for _ in range(2):  # PROPAL_MODIFY fires twice on a PUT
            self._auto_event(
                proposal,
                "AC_PROPAL_MODIFY",
                f"Proposition {proposal.ref} de retour au statut de brouillon",
                user_id,
            )

    def delete_proposal(self, proposal_id: int) -> None:
        proposal = self.proposals.pop(proposal_id)
        self.files.pop(sanitize_filename(proposal.ref), None)

    def proposal_by_ref(self, ref: str) -> ProposalRecord | None:
        return next((p for p in self.proposals.values() if p.ref == ref), None)

    def _auto_event(self, proposal: ProposalRecord, code: str, label: str, user_id: int) -> AgendaEventRecord:
        return self.add_event(
            type_code="AC_OTH_AUTO",
            code=code,
            label=label,
            note=label,
            datep=self.now_epoch(),
            percentage=-1,
            userownerid=user_id,
            socid=proposal.socid,
            elementtype="propal",
            fk_element=proposal.id,
        )

    # ---- agenda events --------------------------------------------------------------------------------

    def add_event(
        self,
        *,
        type_code: str,
        label: str,
        userownerid: int | None,
        code: str | None = None,
        datep: int | datetime | date | None = None,
        datef: int | datetime | date | None = None,
        note: str = "",
        percentage: int = 0,
        socid: int | None = None,
        contact_id: int | None = None,
        elementtype: str | None = None,
        fk_element: int | None = None,
        authorid: int | None = None,
        userassigned: Mapping[int, Mapping[str, str]] | None = None,
        socpeopleassigned: Mapping[int, Mapping[str, str]] | None = None,
        fulldayevent: int = 0,
        location: str = "",
        priority: int = 0,
        **email: str | None,
    ) -> AgendaEventRecord:
        """An event; ``email`` holds the headers of an e-mail event (``EMAIL_HEADERS``: email_to, email_msgid...)."""
        unknown = set(email).difference(EMAIL_HEADERS)
        if unknown:
            raise TypeError(f"add_event() got unexpected keyword arguments {sorted(unknown)}")
        now = self.now_epoch()
        assigned = _attendees(userassigned or ({userownerid: {}} if userownerid else {}))
        people = _attendees(socpeopleassigned or {})
        event = AgendaEventRecord(
            id=self._next_id("event"),
            type_code=type_code,
            code=code or type_code,
            label=label[:128],
            datep=self._epoch_in(datep) or now,
            datef=self._epoch_in(datef),
            userownerid=userownerid,
            authorid=authorid or userownerid or self.admin_user.id,
            datec=now,
            datem=now,
            note=note,
            percentage=percentage,
            fulldayevent=fulldayevent,
            location=location,
            priority=priority,
            socid=socid,
            contact_id=contact_id,
            elementtype=elementtype,
            fk_element=fk_element,
            userassigned=assigned,
            socpeopleassigned=people,
        )
        for header, value in email.items():  # checked against EMAIL_HEADERS above
            setattr(event, header, value)
        self.events[event.id] = event
        return event

    # ---- documents ------------------------------------------------------------------------------------

    def _store_file(
        self, proposal: ProposalRecord, name: str, content: bytes, origin: str, user_id: int
    ) -> StoredFile:
        directory = self.files.setdefault(sanitize_filename(proposal.ref), {})
        existing = directory.get(name)
        now = self.now_epoch()
        stored = StoredFile(
            name=name,
            content=content,
            origin=origin,
            date=now,
            ecm_id=existing.ecm_id if existing else self._next_id("ecm"),
            position=existing.position if existing else len(directory) + 1,
            src_object_id=proposal.id,
            share=(existing.share if existing else secrets.token_urlsafe(24)[:32])
            if origin == "generated"
            else None,
            user_id=user_id,
        )
        directory[name] = stored
        return stored

    def build_proposal_pdf(self, proposal_id: int, *, user_id: int | None = None) -> StoredFile:
        proposal = self.proposals[proposal_id]
        content = proposal_pdf(self, proposal)
        directory = sanitize_filename(proposal.ref)
        stored = self._store_file(
            proposal, f"{directory}.pdf", content, "generated", user_id or self.admin_user.id
        )
        main_doc = f"propale/{directory}/{directory}.pdf"
        if proposal.last_main_doc != main_doc:
            # CommonObject::indexFile() records the path with an UPDATE, which stamps the row's tms
            # (MariaDB's ON UPDATE CURRENT_TIMESTAMP: only when a value changes, not on a rebuild)
            proposal.last_main_doc = main_doc
            proposal.touch(self.now_epoch())
        proposal.row_cache = None
        return stored

    def upload_file(
        self,
        proposal_id: int,
        name: str,
        content: bytes,
        *,
        overwrite: bool = False,
        user_id: int | None = None,
    ) -> StoredFile:
        proposal = self.proposals[proposal_id]
        name = sanitize_filename(name)
        if not overwrite and name in self.files.get(sanitize_filename(proposal.ref), {}):
            raise ApiError(
                400,
                f"File with name '{name}' already exists, and overwriteifexists is not set",
                source="api_documents.class.php:1009",
            )
        return self._store_file(proposal, name, content, "uploaded", user_id or self.admin_user.id)

    def proposal_files(self, proposal: ProposalRecord) -> list[StoredFile]:
        return list(self.files.get(sanitize_filename(proposal.ref), {}).values())

    # ---- visibility -----------------------------------------------------------------------------------

    def user_sees_all(self, user: UserRecord) -> bool:
        return user.socid is None and user.has_right("societe.client.voir")

    def sees_thirdparty(self, user: UserRecord, socid: int | None) -> bool:
        """Without societe.client.voir a user only sees third parties where they are sales rep."""
        if user.socid is not None:
            return socid == user.socid
        if user.has_right("societe.client.voir"):
            return True
        if socid is None:
            return False
        thirdparty = self.thirdparties.get(socid)
        return thirdparty is not None and user.id in thirdparty.sales_rep_ids
