"""Proposals: seeding them with their lines and contacts, their life (validate, close, back to draft, PUT),
and the events Dolibarr's triggers write on each step; the products their lines name."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from dolirelance.testing.fake.records import (
    DAY,
    DEFAULT_VALIDITY_DAYS,
    AgendaEventRecord,
    ContactLink,
    ProductRecord,
    ProposalLineRecord,
    ProposalRecord,
    int_or_none,
    php_int,
    sanitize_filename,
    to_decimal,
)
from dolirelance.testing.fake.store.agenda import AgendaStore
from dolirelance.testing.fake.store.documents import DocumentStore


class QuoteStore(AgendaStore, DocumentStore):
    """Proposals and products; a proposal's steps write their events (agenda) and build its PDF (documents)."""

    # ---- products -------------------------------------------------------------------------------------

    def add_product(self, ref: str, label: str, **fields: Any) -> ProductRecord:
        record = ProductRecord(
            id=self.numbers.next_id("product"),
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
        record_id = self.numbers.next_id("proposal")
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
            id=self.numbers.next_id("proposal_line"),
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
        proposal.contacts.append(ContactLink(self.numbers.next_id("contact_link"), contact_id, type_code, source))

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
            proposal.ref = self.numbers.proposal_ref(self.local_now(), (p.ref for p in self.proposals.values()))
        proposal.status = 1
        proposal.date_valid = now
        proposal.user_valid_id = user_id
        proposal.touch(now)
        self._auto_event(proposal, "AC_PROPAL_VALIDATE", f"Proposition {proposal.ref} validée", user_id)
        return True

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

