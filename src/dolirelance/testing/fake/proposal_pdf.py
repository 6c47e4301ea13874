"""The PDF of a proposal as Dolibarr's default model prints it (what ``builddoc`` stores)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from dolirelance.testing.fake.records import ProposalLineRecord, ProposalRecord
from dolirelance.testing.pdf import ProposalPdfLine, ProposalPdfParty, render_proposal_pdf

if TYPE_CHECKING:
    from dolirelance.testing.fake.store.tables import Tables


def proposal_pdf(fake: Tables, proposal: ProposalRecord) -> bytes:
    customer = fake.thirdparties.get(proposal.socid)
    return render_proposal_pdf(
        ref=proposal.ref,
        issue_date=fake.day_of_epoch(proposal.datep),
        end_of_validity=fake.day_of_epoch(proposal.fin_validite) if proposal.fin_validite else None,
        company=ProposalPdfParty(
            fake.company.get("name", ""),
            tuple(
                part
                for part in (
                    fake.company.get("address", ""),
                    f"{fake.company.get('zip', '')} {fake.company.get('town', '')}".strip(),
                )
                if part
            ),
        ),
        customer=ProposalPdfParty(
            customer.name if customer else "",
            tuple(part for part in (customer.address, f"{customer.zip} {customer.town}".strip()) if part)
            if customer
            else (),
        ),
        lines=[
            ProposalPdfLine(_line_label(fake, line), line.qty, line.subprice, line.tva_tx, line.total_ht)
            for line in proposal.lines
        ],
        total_excl_tax=proposal.total_ht,
        total_tax=proposal.total_tva,
        total_incl_tax=proposal.total_ttc,
        note_public=proposal.note_public,
        made_at=datetime.fromtimestamp(fake.now_epoch(), fake.tz),  # TCPDF states when it drew the PDF
    )


def _line_label(fake: Tables, line: ProposalLineRecord) -> str:
    product = fake.products.get(line.fk_product) if line.fk_product else None
    if product:
        return f"{product.ref} - {product.label}" if not line.description else line.description
    return line.description
