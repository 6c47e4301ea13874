"""Follow-up letters: the letter itself (reportlab), merged with the quote's PDFs (pypdf).

reportlab and pypdf live only here. The merge streams PDF objects straight to the output
instead of building a pypdf ``PdfWriter``, so a print batch of thousands of letters keeps a
small, constant memory footprint: only the page list and the cross-reference offsets grow.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import threading
import unicodedata
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, TypeVar
from xml.sax.saxutils import escape

import reportlab
from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
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
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import (
    TTFont,
    TTFontFace,
)
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Paragraph, Spacer

from dolirelance.config import Settings
from dolirelance.domain import Company, Customer, Quote
from dolirelance.errors import LetterError
from dolirelance.formatting import format_day
from dolirelance.render import FollowUpContext, RenderedFollowUp, civility_label

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


class _SubsetCachingFace(TTFontFace):  # type: ignore[misc]
    """A font face that subsets and compresses each distinct glyph subset once per process.

    Letters of a batch use the same few subsets, and subsetting plus compressing a font file
    costs more than laying out the whole letter. Only public reportlab API: ``makeSubset`` is
    cached, and the font file stream that ``addSubsetObjects`` registers gets the cached
    compressed bytes (``Length1`` stays the uncompressed size, as reportlab sets it).
    """

    _MAX_SUBSETS = 32

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # glyph subset -> (subset font file, the same Flate-compressed)
        self._subsets: OrderedDict[tuple[int, ...], tuple[bytes, bytes]] = OrderedDict()

    def _subset_file(self, subset: Sequence[int]) -> tuple[bytes, bytes]:
        def make() -> tuple[bytes, bytes]:
            raw: bytes = super(_SubsetCachingFace, self).makeSubset(subset)
            return raw, zlib.compress(raw)

        return _cached(self._subsets, tuple(subset), make, self._MAX_SUBSETS)

    def makeSubset(self, subset: Sequence[int]) -> bytes:
        return self._subset_file(subset)[0]

    def addSubsetObjects(self, doc: Any, fontname: str, subset: Sequence[int]) -> Any:
        descriptor = super().addSubsetObjects(doc, fontname, subset)
        if doc.compression:  # hand the compressed bytes over so that reportlab does not compress again
            font_file = doc.idToObject[f"fontFile:{self.filename}({fontname})"]
            font_file.content = self._subset_file(subset)[1]
            font_file.filters = None
            font_file.dictionary["Filter"] = pdfdoc.PDFArray([pdfdoc.PDFName("FlateDecode")])
        return descriptor


class _LetterFont(TTFont):  # type: ignore[misc]
    """reportlab's TTFont on a face that caches its subsets, with the per-subset /Widths array and
    ToUnicode map formatted and compressed once per process instead of once per letter.

    Only public reportlab API: ``TTFont.addObjects`` makes its objects, then the ones already
    made for an earlier letter get the cached bytes (the same bytes reportlab would write).
    """

    _MAX_SUBSETS = 32

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name, str(path))
        self.face = _SubsetCachingFace(str(path))
        self._widths: OrderedDict[tuple[int, ...], bytes] = OrderedDict()  # subset -> formatted /Widths
        self._cmaps: OrderedDict[str, bytes] = OrderedDict()  # ToUnicode map -> Flate-compressed

    def addObjects(self, doc: Any) -> None:
        state = self.state.get(doc)
        subsets = [tuple(subset) for subset in state.subsets] if state is not None else []
        names = [self.getSubsetInternalName(n, doc)[1:] for n in range(len(subsets))]
        super().addObjects(doc)
        fonts = doc.idToObject["BasicFonts"].dict
        for name, subset in zip(names, subsets, strict=True):
            pdf_font = fonts[name]
            pdf_font.Widths = _cached(self._widths, subset, partial(pdf_font.Widths.format, doc), self._MAX_SUBSETS)
            if doc.compression:  # hand the compressed map over so that reportlab does not compress again
                cmap_stream = doc.idToObject[pdf_font.ToUnicode.name]
                text = cmap_stream.content
                cmap_stream.content = _cached(
                    self._cmaps, text, partial(pdfdoc.PDFZCompress.encode, text), self._MAX_SUBSETS
                )
                cmap_stream.filters = None
                cmap_stream.dictionary["Filter"] = pdfdoc.PDFArray([pdfdoc.PDFName("FlateDecode")])


_Value = TypeVar("_Value")
_font_caches_lock = threading.Lock()  # letters are composed in threads; the fonts are the process's


def _cached(cache: OrderedDict[Any, _Value], key: Any, make: Callable[[], _Value], limit: int) -> _Value:
    """The value of ``key`` in a small least-recently-used cache, made on a miss."""
    with _font_caches_lock:
        value = cache.get(key)
        if value is not None:
            cache.move_to_end(key)
            return value
    value = make()
    with _font_caches_lock:
        cache[key] = value
        if len(cache) > limit:
            cache.popitem(last=False)
    return value


def _letter_font(name: str, path: Path) -> TTFont:
    return _LetterFont(name, path)


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
                pdfmetrics.registerFont(_letter_font(regular_name, regular))
                pdfmetrics.registerFont(_letter_font(bold_name, bold))
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
        merged = _Relocatable.concat([_own_pages(letter), *parts])
        out = io.BytesIO()
        writer = _PdfStream(out)
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
# Relocatable pages: pages of a PDF with every object they use, ready to be renumbered.
#
# Each object is kept as its serialized text cut at its references: ``bytes`` parts are copied
# as they are, an ``int`` part n is a reference to the n-th object of the same set (written
# "<new number> 0 R"), and _PARENT a reference to the page tree of the output. Copying such a
# set into a file is a join, not a parse and a serialization: attachments are converted once
# per process, our own letters without pypdf, and a composed follow-up is not parsed again when
# it is added to a batch.

_PARENT = -1
_Part = bytes | int


@dataclass(frozen=True)
class _Relocatable:
    objects: tuple[tuple[_Part, ...], ...]
    pages: tuple[int, ...]  # indexes into ``objects``, in page order

    @staticmethod
    def concat(sets: Sequence[_Relocatable]) -> _Relocatable:
        objects: list[tuple[_Part, ...]] = []
        pages: list[int] = []
        for one in sets:
            base = len(objects)
            if base == 0:
                objects.extend(one.objects)
                pages.extend(one.pages)
                continue
            for parts in one.objects:
                objects.append(
                    tuple(p if isinstance(p, bytes) or p == _PARENT else p + base for p in parts)
                )
            pages.extend(page + base for page in one.pages)
        return _Relocatable(tuple(objects), tuple(pages))

    @property
    def size(self) -> int:
        return sum(len(p) for parts in self.objects for p in parts if isinstance(p, bytes))


def _compact(parts: list[_Part]) -> tuple[_Part, ...]:
    """Joins runs of bytes so that writing is one join per object."""
    out: list[_Part] = []
    run: list[bytes] = []
    for part in parts:
        if isinstance(part, bytes):
            run.append(part)
        else:
            if run:
                out.append(b"".join(run))
                run = []
            out.append(part)
    if run:
        out.append(b"".join(run))
    return tuple(out)


def _from_reader(reader: PdfReader) -> _Relocatable:
    """Pages of a pypdf reader (with what they use, /Parent and /StructParents excepted)."""
    local: dict[int, int] = {}
    objects: list[tuple[_Part, ...]] = []
    pending: list[tuple[int, IndirectObject]] = []
    pages = list(reader.pages)
    for number, page in enumerate(pages):
        objects.append(())
        if page.indirect_reference is not None:
            local[page.indirect_reference.idnum] = number

    def reference(value: IndirectObject) -> int:
        index = local.get(value.idnum)
        if index is None:
            index = local[value.idnum] = len(objects)
            objects.append(())
            pending.append((index, value))
        return index

    def emit(value: Any, out: list[_Part]) -> None:
        if isinstance(value, IndirectObject):
            out.append(reference(value))
        elif isinstance(value, StreamObject):
            data = _raw_stream_data(value)
            out.append(b"<<")
            for key, inner in value.items():
                if key != "/Length":  # recomputed for the raw data
                    _emit_entry(key, inner, out, emit)
            out.append(b"\n/Length %d\n>>\nstream\n" % len(data))
            out.append(data)
            out.append(b"\nendstream")
        elif isinstance(value, DictionaryObject):
            out.append(b"<<")
            for key, inner in value.items():
                _emit_entry(key, inner, out, emit)
            out.append(b"\n>>")
        elif isinstance(value, ArrayObject):
            out.append(b"[")
            for inner in value:
                out.append(b" ")
                emit(inner, out)
            out.append(b" ]")
        elif value is None:
            out.append(b"null")
        else:
            buffer = io.BytesIO()
            value.write_to_stream(buffer)
            out.append(buffer.getvalue())

    for number, page in enumerate(pages):
        parts: list[_Part] = [b"<<"]
        for key, inner in page.items():
            if key not in ("/Parent", "/StructParents"):
                _emit_entry(key, inner, parts, emit)
        parts += [b"\n/Parent ", _PARENT, b"\n>>"]
        objects[number] = _compact(parts)
        while pending:
            index, ref = pending.pop()
            parts = []
            emit(ref.get_object(), parts)
            objects[index] = _compact(parts)
    return _Relocatable(tuple(objects), tuple(range(len(pages))))


_STREAM_START = b"\nstream\n"
_STREAM_END = b"\nendstream"


def _raw_stream_data(stream: StreamObject) -> bytes:
    """A stream's raw (still encoded) bytes, so nothing is decoded and compressed again.

    pypdf's public way to them is writing the stream: its dictionary, then ``stream``, the bytes and
    ``endstream``. The dictionary cannot hold that first marker: pypdf writes every string byte that
    is not a letter or digit as an octal escape.
    """
    buffer = io.BytesIO()
    stream.write_to_stream(buffer)
    written = buffer.getvalue()
    return written[written.index(_STREAM_START) + len(_STREAM_START) : -len(_STREAM_END)]


def _emit_entry(key: Any, value: Any, out: list[_Part], emit: Any) -> None:
    buffer = io.BytesIO()
    NameObject(key).write_to_stream(buffer)
    out.append(b"\n" + buffer.getvalue() + b" ")
    emit(value, out)


# Our own (reportlab) PDFs: a classic cross-reference table, no object streams, literal strings
# with escaped parentheses. Anything else falls back to pypdf.
_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")
_XREF = re.compile(rb"xref\s+0 (\d+)\s*?\n")
_XREF_ENTRY = re.compile(rb"(\d{10}) (\d{5}) ([nf])")
_OBJ = re.compile(rb"(\d+) 0 obj\s*")
_ROOT = re.compile(rb"/Root (\d+) 0 R")
_PAGES_REF = re.compile(rb"/Pages (\d+) 0 R")
_KIDS = re.compile(rb"/Kids\s*\[([^\]]*)\]")
_COUNT = re.compile(rb"/Count (\d+)")
_REF = re.compile(rb"(\d+) 0 R")
_TOKEN = re.compile(rb"\((?:[^\\()]|\\.)*\)|[()%]|(\d+) (\d+) R|(?<=>>)\s*stream\r?\n|endobj", re.DOTALL)
_LENGTH = re.compile(rb"/Length (\d+)\b(?! \d+ R)")
_END_STREAM = re.compile(rb"\s*endstream\s*endobj")
_PAGE_TREE_KEYS = re.compile(rb"/(\w+)")


class _NotSimple(Exception):
    pass


def _simple_objects(data: bytes) -> tuple[int, dict[int, list[_Part]]]:
    """(root object number, every object cut at its references) of a simple PDF."""
    end = _STARTXREF.search(data, max(0, len(data) - 64))
    if end is None:
        raise _NotSimple
    xref_at = int(end.group(1))
    head = _XREF.match(data, xref_at)
    if head is None:
        raise _NotSimple
    count, position = int(head.group(1)), head.end()
    objects: dict[int, list[_Part]] = {}
    for number in range(count):
        entry = _XREF_ENTRY.match(data, position + 20 * number)
        if entry is None:
            raise _NotSimple
        if entry.group(3) == b"n":
            if entry.group(2) != b"00000":
                raise _NotSimple
            objects[number] = _simple_object(data, int(entry.group(1)), number)
    root = _ROOT.search(data, position + 20 * count)
    if root is None:
        raise _NotSimple
    return int(root.group(1)), objects


def _simple_object(data: bytes, offset: int, number: int) -> list[_Part]:
    header = _OBJ.match(data, offset)
    if header is None or int(header.group(1)) != number:
        raise _NotSimple
    parts: list[_Part] = []
    start = position = header.end()
    while True:
        token = _TOKEN.search(data, position)
        if token is None:
            raise _NotSimple
        text = token.group(0)
        if text[:1] == b"(" and len(text) > 1:
            position = token.end()
        elif token.group(1) is not None:
            if token.group(2) != b"0":
                raise _NotSimple
            parts += [data[start : token.start()], int(token.group(1))]
            start = position = token.end()
        elif text == b"endobj":
            parts.append(data[start : token.start()].rstrip())
            return parts
        elif text.endswith(b"\n") and b"stream" in text:
            dictionary = data[header.end() : token.start()]
            lengths = _LENGTH.findall(dictionary)
            if len(lengths) != 1:
                raise _NotSimple
            stream_end = token.end() + int(lengths[0])
            tail = _END_STREAM.match(data, stream_end)
            if tail is None:
                raise _NotSimple
            parts.append(data[start:stream_end] + b"\nendstream")
            return parts
        else:  # an unbalanced parenthesis or a comment: not ours
            raise _NotSimple


def _text_of(parts: list[_Part]) -> bytes:
    return b"".join(p if isinstance(p, bytes) else b"%d 0 R" % p for p in parts)


def _simple_pages(data: bytes) -> _Relocatable:
    """Pages of a simple PDF (see above) without parsing it into objects; _NotSimple otherwise."""
    root, objects = _simple_objects(data)
    catalog = _text_of(objects.get(root) or [])
    tree_ref = _PAGES_REF.search(catalog)
    if tree_ref is None:
        raise _NotSimple
    tree_number = int(tree_ref.group(1))
    tree = _text_of(objects.get(tree_number) or [])
    kids, count = _KIDS.search(tree), _COUNT.search(tree)
    # Inherited attributes or nested page trees: let pypdf flatten them.
    if kids is None or count is None or set(_PAGE_TREE_KEYS.findall(tree)) - {b"Type", b"Pages", b"Kids", b"Count"}:
        raise _NotSimple
    page_numbers = [int(n) for n in _REF.findall(kids.group(1))]
    if len(page_numbers) != int(count.group(1)) or not page_numbers:
        raise _NotSimple
    local = {number: index for index, number in enumerate(page_numbers)}
    order = list(page_numbers)
    out: list[tuple[_Part, ...]] = []
    index = 0
    while index < len(order):
        parts = objects.get(order[index])
        if parts is None:
            raise _NotSimple
        if index < len(page_numbers) and b"/Type /Pages" in _text_of(parts):
            raise _NotSimple
        relocated: list[_Part] = []
        for part in parts:
            if isinstance(part, bytes):
                relocated.append(part)
            elif part == tree_number:
                relocated.append(_PARENT)
            else:
                target = local.get(part)
                if target is None:
                    target = local[part] = len(order)
                    order.append(part)
                relocated.append(target)
        out.append(_compact(relocated))
        index += 1
    return _Relocatable(tuple(out), tuple(range(len(page_numbers))))


def _own_pages(pdf: bytes) -> _Relocatable:
    """Pages of a PDF that reportlab just made for us."""
    try:
        return _simple_pages(pdf)
    except _NotSimple:
        return _from_reader(_open_pdf("letter", pdf))


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=20).digest()


class _Lru:
    """A small least-recently-used map of parsed pages, by content digest."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._items: OrderedDict[bytes, _Relocatable] = OrderedDict()

    def get(self, key: bytes) -> _Relocatable | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: bytes, value: _Relocatable) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._limit:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


class PdfPageCache:
    """Parsed pages of PDFs seen lately, by content, shared by the composers and batches of a runtime.

    A mass run attaches the same few quote PDFs over and over and then adds each composed
    follow-up to the print batch: parsing each once saves most of the PDF work. A lock keeps
    the caches whole when letters are composed in threads.
    """

    def __init__(self, *, attachments: int = 16, composed: int = 8) -> None:
        self._lock = threading.Lock()
        self._attachments = _Lru(attachments)
        self._composed = _Lru(composed)

    def attachment(self, name: str, data: bytes) -> _Relocatable:
        """Pages of an attached PDF; ``name`` names it in errors."""
        key = _digest(data)
        with self._lock:
            pages = self._attachments.get(key)
        if pages is None:
            pages = _parse_pages(name, data)
            with self._lock:
                self._attachments.put(key, pages)
        return pages

    def remember_composed(self, pdf: bytes, pages: _Relocatable) -> None:
        with self._lock:
            self._composed.put(_digest(pdf), pages)

    def for_batch(self, label: str, pdf: bytes) -> _Relocatable:
        """Pages of a follow-up for a batch: remembered if just composed, parsed otherwise."""
        with self._lock:
            pages = self._composed.get(_digest(pdf))
        return pages if pages is not None else _parse_pages(label, pdf)

    def forget_composed(self) -> None:
        with self._lock:
            self._composed.clear()


def _parse_pages(label: str, pdf: bytes) -> _Relocatable:
    reader = _open_pdf(label, pdf)
    try:
        return _from_reader(reader)
    except LetterError:
        raise
    except Exception as exc:  # a broken object deep inside the file
        raise LetterError(
            f"{label} is not a readable PDF: {exc}", remedy="regenerate the document in Dolibarr"
        ) from None


# --------------------------------------------------------------------------------------------
# Streaming PDF concatenation


class _PdfStream:
    """Writes the pages of several PDFs into one, object by object, as they are added.

    Objects 1 and 2 are reserved for the catalog and the page tree, written at the end.
    """

    _CATALOG, _PAGES = 1, 2
    _SHARE_FROM = 1024  # bytes

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._position = 0
        self._shared: dict[bytes, int] = {}  # digest of a written object without references -> its number
        self._offsets: list[int] = [0, 0, 0]  # by object number; 1 and 2 set by close()
        self._page_ids: list[int] = []
        self._write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")

    @property
    def page_count(self) -> int:
        return len(self._page_ids)

    def add(self, reader: PdfReader) -> int:
        """Copy every page of ``reader``; return how many."""
        return self.add_pages(_from_reader(reader))

    def add_pages(self, pages: _Relocatable) -> int:
        """Copy relocatable pages; return how many.

        A large object without references (a font file, an image, a content stream) that is
        byte for byte one already written is not written again: the pages use the first copy.
        Letters of a batch embed the same font subsets and attach the same quotes, so this keeps
        the batch file (and the time to write it) small.
        """
        offsets, shared = self._offsets, self._shared
        ids: list[int] = []
        fresh: list[bool] = []
        next_id = len(offsets)
        for parts in pages.objects:
            if len(parts) == 1 and isinstance(parts[0], bytes) and len(parts[0]) >= self._SHARE_FROM:
                key = _digest(parts[0])
                known = shared.get(key)
                if known is not None:
                    ids.append(known)
                    fresh.append(False)
                    continue
                shared[key] = next_id
            ids.append(next_id)
            fresh.append(True)
            next_id += 1
        parent = b"%d 0 R" % self._PAGES
        chunks: list[bytes] = []
        position = self._position
        for index, parts in enumerate(pages.objects):
            if not fresh[index]:
                continue
            offsets.append(position)
            object_chunks = [b"%d 0 obj\n" % ids[index]]
            for part in parts:
                if isinstance(part, bytes):
                    object_chunks.append(part)
                elif part == _PARENT:
                    object_chunks.append(parent)
                else:
                    object_chunks.append(b"%d 0 R" % ids[part])
            object_chunks.append(b"\nendobj\n")
            text = b"".join(object_chunks)
            position += len(text)
            chunks.append(text)
        self._write(b"".join(chunks))
        self._page_ids.extend(ids[page] for page in pages.pages)
        return len(pages.pages)

    def add_blank_page(self) -> None:
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
        self._page_ids.append(self._write_object(None, page))

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
        xref_at = self._position
        size = len(self._offsets)
        lines = [f"xref\n0 {size}\n", "0000000000 65535 f \n"]
        lines += [f"{offset:010d} 00000 n \n" for offset in self._offsets[1:]]
        lines.append(f"trailer\n<< /Size {size} /Root {self._CATALOG} 0 R >>\nstartxref\n{xref_at}\n%%EOF\n")
        self._write("".join(lines).encode("ascii"))

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._position += len(data)

    def _write_object(self, object_id: int | None, value: PdfObject) -> int:
        if object_id is None:
            object_id = len(self._offsets)
            self._offsets.append(self._position)
        else:
            self._offsets[object_id] = self._position
        buffer = io.BytesIO()
        buffer.write(f"{object_id} 0 obj\n".encode("ascii"))
        value.write_to_stream(buffer)
        buffer.write(b"\nendobj\n")
        self._write(buffer.getvalue())
        return object_id


# --------------------------------------------------------------------------------------------
# Print batches


class LetterBatch:
    """One PDF holding many letters, for printing; written atomically, in bounded memory.

    >>> with LetterBatch(path, duplex=True) as batch:
    ...     batch.add(pdf, label="PR2611-0001")
    """

    def __init__(self, path: Path, *, duplex: bool, pages: PdfPageCache | None = None) -> None:
        self.path = path
        self._pages = pages if pages is not None else PdfPageCache()
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
        pages = self._stream.add_pages(self._pages.for_batch(label, pdf_bytes))
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
