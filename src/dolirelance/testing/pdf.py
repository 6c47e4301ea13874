"""The PDF the fake Dolibarr builds for a proposal (``PUT /documents/builddoc``, closing a proposal).

A real, small A4 document in French (like Dolibarr's ``azur``/``cyan`` templates): ref, dates, our
company, the customer, the lines and the totals. More than ~25 lines flow onto a second page, so tests
can check page counts after merging.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

__all__ = ["ProposalPdfLine", "ProposalPdfParty", "render_proposal_pdf"]


@dataclass(frozen=True, slots=True)
class ProposalPdfParty:
    name: str
    address_lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProposalPdfLine:
    description: str
    qty: Decimal
    unit_price: Decimal
    vat_rate: Decimal
    total_excl_tax: Decimal


def _money(amount: Decimal) -> str:
    text = f"{amount:,.2f}".replace(",", " ").replace(".", ",")
    return f"{text} €"


def _day(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


_LINES_PER_FIRST_PAGE = 25
_LINES_PER_PAGE = 40


def render_proposal_pdf(
    *,
    ref: str,
    issue_date: date | None,
    end_of_validity: date | None,
    company: ProposalPdfParty,
    customer: ProposalPdfParty,
    lines: Sequence[ProposalPdfLine],
    total_excl_tax: Decimal,
    total_tax: Decimal,
    total_incl_tax: Decimal,
    note_public: str = "",
    made_at: datetime | None = None,
) -> bytes:
    """Return the bytes of the proposal PDF (1 page, or 2+ when there are many lines).

    ``made_at``: stated as the PDF's creation date, as Dolibarr's TCPDF states the moment it drew it
    (None: ReportLab's fixed date of 2000-01-01, the same bytes every time).
    """
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=True)
    canvas.setTitle(f"Proposition commerciale {ref}")
    canvas.setAuthor(company.name)
    width, height = A4

    def header() -> float:
        canvas.setFont("Helvetica-Bold", 14)
        canvas.drawString(20 * mm, height - 20 * mm, company.name)
        canvas.setFont("Helvetica", 9)
        y = height - 26 * mm
        for text in company.address_lines:
            canvas.drawString(20 * mm, y, text)
            y -= 4.5 * mm
        canvas.setFont("Helvetica-Bold", 13)
        canvas.drawRightString(width - 20 * mm, height - 20 * mm, "Proposition commerciale")
        canvas.setFont("Helvetica", 10)
        canvas.drawRightString(width - 20 * mm, height - 26 * mm, f"Réf. : {ref}")
        canvas.drawRightString(width - 20 * mm, height - 31 * mm, f"Date : {_day(issue_date)}")
        canvas.drawRightString(
            width - 20 * mm, height - 36 * mm, f"Date de fin de validité : {_day(end_of_validity)}"
        )
        return float(min(y, height - 42 * mm))

    y = header()
    canvas.setFont("Helvetica-Bold", 10)
    canvas.drawString(110 * mm, y - 6 * mm, "Destinataire")
    canvas.setFont("Helvetica", 10)
    customer_y = y - 11 * mm
    for text in (customer.name, *customer.address_lines):
        canvas.drawString(110 * mm, customer_y, text)
        customer_y -= 4.5 * mm
    y = customer_y - 10 * mm

    def table_header(top: float) -> float:
        canvas.setFont("Helvetica-Bold", 9)
        canvas.drawString(20 * mm, top, "Désignation")
        canvas.drawRightString(125 * mm, top, "TVA")
        canvas.drawRightString(150 * mm, top, "P.U. HT")
        canvas.drawRightString(165 * mm, top, "Qté")
        canvas.drawRightString(width - 20 * mm, top, "Total HT")
        canvas.line(20 * mm, top - 2 * mm, width - 20 * mm, top - 2 * mm)
        canvas.setFont("Helvetica", 9)
        return float(top - 7 * mm)

    y = table_header(y)
    capacity = _LINES_PER_FIRST_PAGE
    page = 1
    for index, line in enumerate(lines):
        if index >= capacity:
            canvas.drawRightString(width - 20 * mm, 12 * mm, f"Page {page}")
            canvas.showPage()
            page += 1
            capacity += _LINES_PER_PAGE
            y = table_header(height - 25 * mm)
        canvas.drawString(20 * mm, y, line.description[:60])
        canvas.drawRightString(125 * mm, y, f"{line.vat_rate.normalize():f} %")
        canvas.drawRightString(150 * mm, y, _money(line.unit_price))
        canvas.drawRightString(165 * mm, y, f"{line.qty.normalize():f}")
        canvas.drawRightString(width - 20 * mm, y, _money(line.total_excl_tax))
        y -= 6 * mm

    if y < 60 * mm:
        canvas.drawRightString(width - 20 * mm, 12 * mm, f"Page {page}")
        canvas.showPage()
        page += 1
        y = height - 25 * mm
    y -= 4 * mm
    canvas.setFont("Helvetica", 10)
    for label, amount in (("Total HT", total_excl_tax), ("Total TVA", total_tax)):
        canvas.drawString(120 * mm, y, label)
        canvas.drawRightString(width - 20 * mm, y, _money(amount))
        y -= 5.5 * mm
    canvas.setFont("Helvetica-Bold", 10)
    canvas.drawString(120 * mm, y, "Total TTC")
    canvas.drawRightString(width - 20 * mm, y, _money(total_incl_tax))
    y -= 12 * mm
    canvas.setFont("Helvetica", 9)
    if note_public:
        canvas.drawString(20 * mm, y, note_public[:100])
        y -= 6 * mm
    canvas.drawString(20 * mm, y, "Bon pour accord, date et signature :")
    canvas.drawRightString(width - 20 * mm, 12 * mm, f"Page {page}")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue() if made_at is None else _stamped(buffer.getvalue(), made_at)


def _stamped(content: bytes, made_at: datetime) -> bytes:
    """The PDF with ``made_at`` as its creation and modification dates (``D:20261128093000+01'00'``)."""
    offset = made_at.strftime("%z") or "+0000"
    stamp = f"D:{made_at.strftime('%Y%m%d%H%M%S')}{offset[:3]}'{offset[3:]}'"
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(content)))
    writer.add_metadata({"/CreationDate": stamp, "/ModDate": stamp})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
