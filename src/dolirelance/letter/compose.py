"""The letter itself (reportlab), followed by the quote's PDFs: one follow-up PDF."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Paragraph, Spacer

from dolirelance.config import Settings
from dolirelance.domain import Company
from dolirelance.errors import LetterError
from dolirelance.formatting import format_day
from dolirelance.letter.fonts import letter_fonts
from dolirelance.letter.pdfmerge import PdfPageCache, PdfStream, Relocatable, own_pages
from dolirelance.render import FollowUpContext, RenderedFollowUp, civility_label

# Binary streams are fine in a PDF; ASCII85 only costs time (about 10 % of a letter).
rl_config.useA85 = 0

# Words of the letter that are not in the model.
_WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "subject": "Objet :",
        "attention": "À l'attention de",
        "our_ref": "Notre référence :",
        "your_ref": "votre référence :",
        "place_date": "{place}, le {date}",
        "page": "Page {n}/{total}",
        "phone": "Tél.",
        "siret": "SIRET",
        "vat": "TVA",
        "capital": "au capital de",
    },
    "en": {
        "subject": "Subject:",
        "attention": "For the attention of",
        "our_ref": "Our reference:",
        "your_ref": "your reference:",
        "place_date": "{place}, {date}",
        "page": "Page {n}/{total}",
        "phone": "Tel.",
        "siret": "SIRET",
        "vat": "VAT",
        "capital": "capital",
    },
}


def _words(lang: str) -> dict[str, str]:
    return _WORDS.get(lang, _WORDS["en"])


class LetterComposer:
    """Builds one follow-up PDF: the letter, then each attachment PDF in order."""

    def __init__(
        self,
        settings: Settings,
        company: Company,
        *,
        prefer_system_fonts: bool = True,
        pages: PdfPageCache | None = None,
    ) -> None:
        self._settings = settings
        self._pages = pages if pages is not None else PdfPageCache()
        self._company = company
        self._fonts = letter_fonts(prefer_system=prefer_system_fonts)
        self._logo: ImageReader | None = None
        if settings.letter.logo is not None:
            logo_path = settings.resolve_path(settings.letter.logo)
            try:
                self._logo = ImageReader(str(logo_path))
            except Exception as exc:  # reportlab raises bare exceptions for bad images
                raise LetterError(
                    f"the letter logo {logo_path} cannot be read: {exc}",
                    remedy="use a PNG or JPEG file, or remove letter.logo",
                ) from None
        self._styles = self._make_styles()

    @property
    def font_name(self) -> str:
        return self._fonts.regular

    def compose(
        self,
        ctx: FollowUpContext,
        rendered: RenderedFollowUp,
        *,
        attachments: Sequence[tuple[str, bytes]],
    ) -> bytes:
        """The letter followed by every attachment (main quote PDF first); one PDF."""
        parts = [self._pages.attachment(name, data) for name, data in attachments]
        letter = self.letter_pdf(ctx, rendered)
        merged = Relocatable.concat([own_pages(letter), *parts])
        out = io.BytesIO()
        writer = PdfStream(out)
        writer.add_pages(merged)
        writer.close()
        pdf = out.getvalue()
        self._pages.remember_composed(pdf, merged)
        return pdf

    def letter_pdf(self, ctx: FollowUpContext, rendered: RenderedFollowUp) -> bytes:
        """The letter alone (A4, one or more pages)."""
        lang = rendered.letter_language
        words = _words(lang)
        buffer = io.BytesIO()
        width, height = A4
        window = self._settings.letter.address_window
        margin = 20 * mm
        # The first page's text starts below the envelope window (45 mm high).
        first_top = height - (window.top_mm + 45 + 8) * mm
        first = Frame(margin, 25 * mm, width - 2 * margin, first_top - 25 * mm, id="first", showBoundary=0)
        later = Frame(margin, 25 * mm, width - 2 * margin, height - 45 * mm, id="later", showBoundary=0)
        footer = self._footer_line(lang)

        def first_page(canvas: Canvas, _doc: Any) -> None:
            self._draw_letterhead(canvas)
            self._draw_address(canvas, ctx, lang)
            self._draw_footer(canvas, footer)

        def later_page(canvas: Canvas, _doc: Any) -> None:
            self._draw_footer(canvas, footer)

        doc = BaseDocTemplate(
            buffer,
            pagesize=A4,
            title=rendered.letter_subject,
            author=self._company.name,
            creator="dolirelance",
            pageTemplates=[
                PageTemplate(id="first", frames=[first], onPage=first_page, autoNextPageTemplate="later"),
                PageTemplate(id="later", frames=[later], onPage=later_page),
            ],
        )
        page_label = words["page"]
        font = self._fonts.regular

        class _NumberedCanvas(Canvas):  # type: ignore[misc]
            """Defers pages so the footer can say "Page 2/3"."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._pages: list[dict[str, Any]] = []

            def showPage(self) -> None:
                self._pages.append(dict(self.__dict__))
                self._startPage()

            def save(self) -> None:
                total = len(self._pages)
                for state in self._pages:
                    self.__dict__.update(state)
                    if total > 1:
                        self.setFont(font, 8)
                        label = page_label.format(n=self._pageNumber, total=total)
                        self.drawRightString(width - margin, 12 * mm, label)
                    Canvas.showPage(self)
                Canvas.save(self)

        doc.build(self._story(ctx, rendered, lang), canvasmaker=_NumberedCanvas)
        return buffer.getvalue()

    # -- drawing ------------------------------------------------------------------------------

    def _make_styles(self) -> dict[str, ParagraphStyle]:
        regular, bold = self._fonts.regular, self._fonts.bold
        body = ParagraphStyle("body", fontName=regular, fontSize=10.5, leading=14, spaceAfter=8)
        return {
            "body": body,
            "place": ParagraphStyle("place", parent=body, alignment=TA_RIGHT, spaceAfter=14),
            "subject": ParagraphStyle("subject", parent=body, fontName=bold, spaceAfter=2),
            "refs": ParagraphStyle("refs", parent=body, fontSize=9.5, spaceAfter=16),
            "signature": ParagraphStyle("signature", parent=body, leftIndent=90 * mm, spaceBefore=10),
            "address": ParagraphStyle("address", fontName=regular, fontSize=10.5, leading=13.5),
        }

    def _text(self, value: str) -> str:
        """Plain text → Paragraph markup, with glyphs the font has."""
        if not self._fonts.has_narrow_nbsp:
            value = value.replace("\u202f", "\u00a0")
        return escape(value).replace("\n", "<br/>")

    def _story(self, ctx: FollowUpContext, rendered: RenderedFollowUp, lang: str) -> list[Any]:
        words = _words(lang)
        styles = self._styles
        place = self._settings.letter.place or self._company.town
        day = format_day(ctx.today, lang)
        place_date = words["place_date"].format(place=place, date=day) if place else day
        story: list[Any] = [Paragraph(self._text(place_date), styles["place"])]
        subject = f"<b>{self._text(words['subject'])}</b> {self._text(rendered.letter_subject)}"
        story.append(Paragraph(subject, styles["subject"]))
        refs = f"{words['our_ref']} {ctx.quote.ref}"
        if ctx.quote.customer_ref:
            refs += f" — {words['your_ref']} {ctx.quote.customer_ref}"
        story.append(Paragraph(self._text(refs), styles["refs"]))
        for paragraph in _paragraphs(rendered.letter_text):
            story.append(Paragraph(self._text(paragraph), styles["body"]))
        signature = "\n".join(line for line in (ctx.user.full_name, ctx.user.job) if line)
        story.append(Spacer(1, 6 * mm))
        story.append(Paragraph(self._text(signature), styles["signature"]))
        return story

    def _draw_letterhead(self, canvas: Canvas) -> None:
        company = self._company
        _width, height = A4
        x, y = 20 * mm, height - 18 * mm
        if self._logo is not None:
            logo_w, logo_h = self._logo.getSize()
            scale = min(45 * mm / logo_w, 20 * mm / logo_h)
            canvas.drawImage(
                self._logo, x, y - logo_h * scale + 4 * mm, logo_w * scale, logo_h * scale, mask="auto"
            )
            y -= logo_h * scale + 2 * mm
        canvas.setFont(self._fonts.bold, 12)
        canvas.drawString(x, y, self._glyphs(company.name))
        canvas.setFont(self._fonts.regular, 8.5)
        lines = list(company.address_lines)
        if company.phone:
            lines.append(f"{_words('fr')['phone']} {company.phone}")
        if company.email:
            lines.append(company.email)
        for line in lines:
            y -= 11
            canvas.drawString(x, y, self._glyphs(line))

    def _draw_address(self, canvas: Canvas, ctx: FollowUpContext, lang: str) -> None:
        window = self._settings.letter.address_window
        lines = [ctx.customer.name]
        contact = ctx.contact
        if contact is not None and contact.full_name:
            civility = civility_label(contact.civility, lang)
            who = " ".join(part for part in (civility, contact.firstname, contact.lastname) if part)
            lines.append(f"{_words(lang)['attention']} {who}")
        lines += list(ctx.customer.address_lines)
        block = Paragraph(self._text("\n".join(lines)), self._styles["address"])
        _, page_height = A4
        _, used = block.wrap(window.width_mm * mm, 45 * mm)
        top = page_height - (window.top_mm + 5) * mm  # a little inside the window's top edge
        block.drawOn(canvas, window.left_mm * mm, top - used)

    def _draw_footer(self, canvas: Canvas, footer: str) -> None:
        if not footer:
            return
        width, _ = A4
        canvas.setFont(self._fonts.regular, 7.5)
        canvas.drawCentredString(width / 2, 16 * mm, self._glyphs(footer))

    def _footer_line(self, lang: str) -> str:
        company, words = self._company, _words(lang)
        parts = [company.name]
        if company.capital:
            parts[0] += f" {words['capital']} {company.capital}"
        if company.siret:
            parts.append(f"{words['siret']} {company.siret}")
        elif company.siren:
            parts.append(f"SIREN {company.siren}")
        if company.rcs:
            parts.append(company.rcs)
        if company.ape:
            parts.append(f"APE {company.ape}")
        if company.vat_number:
            parts.append(f"{words['vat']} {company.vat_number}")
        return " — ".join(parts) if len(parts) > 1 else ""

    def _glyphs(self, value: str) -> str:
        return value if self._fonts.has_narrow_nbsp else value.replace("\u202f", "\u00a0")


def _paragraphs(text: str) -> list[str]:
    """Blank lines separate paragraphs; single newlines stay line breaks."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip():
            current.append(line.rstrip())
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    return paragraphs
