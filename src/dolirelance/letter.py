"""Follow-up letters: the letter itself (reportlab), merged with the quote's PDFs (pypdf).

reportlab and pypdf live only here. The merge streams PDF objects straight to the output
instead of building a pypdf ``PdfWriter``, so a print batch of thousands of letters keeps a
small, constant memory footprint: only the page list and the cross-reference offsets grow.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal
from xml.sax.saxutils import escape

import reportlab
from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    NullObject,
    NumberObject,
    PdfObject,
    StreamObject,
)
from reportlab import rl_config
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Paragraph, Spacer

from dolirelance.config import Settings
from dolirelance.domain import Company, Customer, Quote
from dolirelance.errors import LetterError
from dolirelance.render import FollowUpContext, RenderedFollowUp, civility_label, format_day

# --------------------------------------------------------------------------------------------
# Fonts: a TrueType font with every French glyph (é è à ç œ Œ ’ « » €). DejaVu Sans when the
# system has it (widest coverage); otherwise Bitstream Vera, which ships inside the reportlab
# wheel and so is always there. Vera lacks U+202F (babel's narrow no-break space), which is
# then drawn as U+00A0.

_DEJAVU_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts/dejavu"),
)
_VERA_DIR = Path(reportlab.__file__).parent / "fonts"

# Binary streams are fine in a PDF; ASCII85 only costs time (about 10 % of a letter).
rl_config.useA85 = 0


@dataclass(frozen=True)
class _Fonts:
    regular: str
    bold: str
    has_narrow_nbsp: bool


_fonts_cache: dict[bool, _Fonts] = {}


def _fonts(*, prefer_system: bool = True) -> _Fonts:
    """Register the letter fonts once per process."""
    cached = _fonts_cache.get(prefer_system)
    if cached is not None:
        return cached
    candidates: list[tuple[str, Path, Path]] = []
    if prefer_system:
        candidates += [
            ("DejaVuSans", folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf")
            for folder in _DEJAVU_DIRS
        ]
    candidates.append(("Vera", _VERA_DIR / "Vera.ttf", _VERA_DIR / "VeraBd.ttf"))
    for family, regular, bold in candidates:
        if regular.is_file() and bold.is_file():
            regular_name, bold_name = f"Letter-{family}", f"Letter-{family}-Bold"
            if regular_name not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(regular_name, str(regular)))
                pdfmetrics.registerFont(TTFont(bold_name, str(bold)))
                pdfmetrics.registerFontFamily(regular_name, normal=regular_name, bold=bold_name)
            font = pdfmetrics.getFont(regular_name)
            fonts = _Fonts(regular_name, bold_name, 0x202F in font.face.charToGlyph)
            _fonts_cache[prefer_system] = fonts
            return fonts
    raise LetterError("no TrueType font found for letters", remedy="reinstall reportlab")


# --------------------------------------------------------------------------------------------
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

    def __init__(self, settings: Settings, company: Company, *, prefer_system_fonts: bool = True) -> None:
        self._settings = settings
        self._company = company
        self._fonts = _fonts(prefer_system=prefer_system_fonts)
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
        # Parsed attachments, by content: a batch attaches the same few quote PDFs over and over.
        self._readers: OrderedDict[bytes, PdfReader] = OrderedDict()

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
        readers = [self._reader(name, data) for name, data in attachments]
        letter = self.letter_pdf(ctx, rendered)
        out = io.BytesIO()
        writer = _PdfStream(out)
        writer.add(_open_pdf("letter", letter))
        for reader in readers:
            writer.add(reader)
        writer.close()
        return out.getvalue()

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

    def _reader(self, name: str, data: bytes) -> PdfReader:
        key = hashlib.blake2b(data, digest_size=16).digest()
        reader = self._readers.get(key)
        if reader is None:
            reader = _open_pdf(name, data)
            self._readers[key] = reader
            if len(self._readers) > 8:
                self._readers.popitem(last=False)
        else:
            self._readers.move_to_end(key)
        return reader


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


def _open_pdf(name: str, data: bytes) -> PdfReader:
    """Parse a PDF fully enough to know it can be merged; LetterError naming the file otherwise."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
    except Exception as exc:  # pypdf raises many kinds of errors on broken files
        raise LetterError(
            f"{name} is not a readable PDF: {exc}", remedy="regenerate the document in Dolibarr"
        ) from None
    if encrypted:
        raise LetterError(f"{name} is encrypted; attach an unencrypted copy")
    try:
        if len(reader.pages) == 0:
            raise LetterError(f"{name} is not a readable PDF: it has no pages")
    except LetterError:
        raise
    except Exception as exc:
        raise LetterError(
            f"{name} is not a readable PDF: {exc}", remedy="regenerate the document in Dolibarr"
        ) from None
    return reader


# --------------------------------------------------------------------------------------------
# Streaming PDF concatenation


class _PdfStream:
    """Writes the pages of several PDFs into one, object by object, as they are added.

    Objects 1 and 2 are reserved for the catalog and the page tree, written at the end.
    """

    _CATALOG, _PAGES = 1, 2

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._start = out.tell()
        self._offsets: dict[int, int] = {}
        self._next_id = 3
        self._page_ids: list[int] = []
        self._write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")

    @property
    def page_count(self) -> int:
        return len(self._page_ids)

    def add(self, reader: PdfReader) -> int:
        """Copy every page of ``reader``; return how many."""
        mapping: dict[int, int] = {}
        pending: list[tuple[int, IndirectObject]] = []

        def remap(value: Any) -> Any:
            if isinstance(value, IndirectObject):
                new_id = mapping.get(value.idnum)
                if new_id is None:
                    new_id = mapping[value.idnum] = self._allocate()
                    pending.append((new_id, value))
                return IndirectObject(new_id, 0, None)
            if isinstance(value, StreamObject):
                stream = StreamObject()
                for key, inner in value.items():
                    if key != "/Length":  # recomputed when written
                        stream[key] = remap(inner)
                stream._data = value._data  # raw (still encoded) bytes: no recompression
                return stream
            if isinstance(value, DictionaryObject):
                return DictionaryObject({key: remap(inner) for key, inner in value.items()})
            if isinstance(value, ArrayObject):
                return ArrayObject(remap(inner) for inner in value)
            return value

        count = 0
        for page in reader.pages:
            page_id = self._allocate()
            if page.indirect_reference is not None:
                mapping[page.indirect_reference.idnum] = page_id
            copy = DictionaryObject(
                {key: remap(inner) for key, inner in page.items() if key not in ("/Parent", "/StructParents")}
            )
            copy[NameObject("/Parent")] = IndirectObject(self._PAGES, 0, None)
            self._write_object(page_id, copy)
            self._page_ids.append(page_id)
            count += 1
            while pending:
                new_id, reference = pending.pop()
                resolved = reference.get_object()
                self._write_object(new_id, NullObject() if resolved is None else remap(resolved))
        return count

    def add_blank_page(self) -> None:
        page_id = self._allocate()
        page = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Page"),
                NameObject("/Parent"): IndirectObject(self._PAGES, 0, None),
                NameObject("/MediaBox"): ArrayObject(
                    [NumberObject(0), NumberObject(0), NumberObject(595), NumberObject(842)]
                ),
                NameObject("/Resources"): DictionaryObject(),
            }
        )
        self._write_object(page_id, page)
        self._page_ids.append(page_id)

    def close(self) -> None:
        pages = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Pages"),
                NameObject("/Kids"): ArrayObject(IndirectObject(i, 0, None) for i in self._page_ids),
                NameObject("/Count"): NumberObject(len(self._page_ids)),
            }
        )
        self._write_object(self._PAGES, pages)
        catalog = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Catalog"),
                NameObject("/Pages"): IndirectObject(self._PAGES, 0, None),
            }
        )
        self._write_object(self._CATALOG, catalog)
        xref_at = self._tell()
        size = self._next_id
        lines = [f"xref\n0 {size}\n", "0000000000 65535 f \n"]
        for object_id in range(1, size):
            offset = self._offsets.get(object_id)
            lines.append(f"{offset:010d} 00000 n \n" if offset is not None else "0000000000 00000 f \n")
        lines.append(f"trailer\n<< /Size {size} /Root {self._CATALOG} 0 R >>\nstartxref\n{xref_at}\n%%EOF\n")
        self._write("".join(lines).encode("ascii"))

    def _allocate(self) -> int:
        object_id = self._next_id
        self._next_id += 1
        return object_id

    def _tell(self) -> int:
        return self._out.tell() - self._start

    def _write(self, data: bytes) -> None:
        self._out.write(data)

    def _write_object(self, object_id: int, value: PdfObject) -> None:
        self._offsets[object_id] = self._tell()
        self._write(f"{object_id} 0 obj\n".encode("ascii"))
        value.write_to_stream(self._out)
        self._write(b"\nendobj\n")


# --------------------------------------------------------------------------------------------
# Print batches


class LetterBatch:
    """One PDF holding many letters, for printing; written atomically, in bounded memory.

    >>> with LetterBatch(path, duplex=True) as batch:
    ...     batch.add(pdf, label="PR2611-0001")
    """

    def __init__(self, path: Path, *, duplex: bool) -> None:
        self.path = path
        self.duplex = duplex
        self.letters = 0
        self._file: IO[bytes] | None = None
        self._stream: _PdfStream | None = None
        self._temp_path: Path | None = None

    def __enter__(self) -> LetterBatch:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part", delete=False
        )
        self._file = handle
        self._temp_path = Path(handle.name)
        self._stream = _PdfStream(handle)
        return self

    @property
    def page_count(self) -> int:
        return self._stream.page_count if self._stream is not None else 0

    def add(self, pdf_bytes: bytes, *, label: str) -> None:
        """Append one letter (with its attachments); ``label`` names it in errors."""
        if self._stream is None:
            raise LetterError("the letter batch is not open; use it in a `with` block")
        pages = self._stream.add(_open_pdf(label, pdf_bytes))
        if self.duplex and pages % 2 == 1:
            self._stream.add_blank_page()  # the next letter starts on a recto
        self.letters += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        handle, temp_path, stream = self._file, self._temp_path, self._stream
        self._file = self._stream = self._temp_path = None
        if handle is None or temp_path is None or stream is None:
            return False
        try:
            if exc_type is None:
                stream.close()
                handle.flush()
                os.fsync(handle.fileno())
            handle.close()
            if exc_type is None:
                os.replace(temp_path, self.path)
        finally:
            if temp_path.exists():
                temp_path.unlink()
        return False


def _name_key(name: str) -> str:
    """Case- and accent-insensitive sort key: "Éric" sorts with "eric"."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().strip()


def batch_sort_key(order: str, customer: Customer, quote: Quote) -> tuple[str, ...]:
    """Sort key for mass letters: ``customer`` (name), ``postcode`` (zip then name) or ``ref``."""
    if order == "customer":
        return (_name_key(customer.name), quote.ref)
    if order == "postcode":
        return (customer.zip.strip(), _name_key(customer.name), quote.ref)
    if order == "ref":
        return (quote.ref,)
    raise ValueError(f"unknown batch order {order!r}; use customer, postcode or ref")
