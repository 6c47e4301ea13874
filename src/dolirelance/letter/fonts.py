"""The letter's fonts: a TrueType font with every French glyph (é è à ç œ Œ ’ « » €).

DejaVu Sans when the system has it (widest coverage); otherwise Bitstream Vera, which ships inside
the reportlab wheel and so is always there. Vera lacks U+202F (babel's narrow no-break space), which
is then drawn as U+00A0. The fonts subset and compress each glyph subset once per process.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import reportlab
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import (
    TTFont,
    TTFontFace,
)

from dolirelance.errors import LetterError

_DEJAVU_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts/dejavu"),
)
_VERA_DIR = Path(reportlab.__file__).parent / "fonts"


@dataclass(frozen=True)
class LetterFonts:
    """The registered regular and bold letter fonts, and whether they have U+202F."""

    regular: str
    bold: str
    has_narrow_nbsp: bool


_fonts_cache: dict[bool, LetterFonts] = {}


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


def letter_fonts(*, prefer_system: bool = True) -> LetterFonts:
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
            fonts = LetterFonts(regular_name, bold_name, 0x202F in font.face.charToGlyph)
            _fonts_cache[prefer_system] = fonts
            return fonts
    raise LetterError("no TrueType font found for letters", remedy="reinstall reportlab")
