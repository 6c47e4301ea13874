"""PDF pages merged without a PdfWriter: pages as relocatable objects, streamed straight to the output.

Instead of building a pypdf ``PdfWriter``, the merge writes PDF objects to the output as pages are
added, so a print batch of thousands of letters keeps a small, constant memory footprint: only the
page list and the cross-reference offsets grow. Our own letters are cut into objects without pypdf;
other PDFs go through pypdf once and are remembered by content (``PdfPageCache``).
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

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

from dolirelance.errors import LetterError


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
class Relocatable:
    """Pages of one or more PDFs with every object they use, cut at their references (see above)."""

    objects: tuple[tuple[_Part, ...], ...]
    pages: tuple[int, ...]  # indexes into ``objects``, in page order

    @staticmethod
    def concat(sets: Sequence[Relocatable]) -> Relocatable:
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
        return Relocatable(tuple(objects), tuple(pages))

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


def _from_reader(reader: PdfReader) -> Relocatable:
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
    return Relocatable(tuple(objects), tuple(range(len(pages))))


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


def _simple_pages(data: bytes) -> Relocatable:
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
    return Relocatable(tuple(out), tuple(range(len(page_numbers))))


def own_pages(pdf: bytes) -> Relocatable:
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
        self._items: OrderedDict[bytes, Relocatable] = OrderedDict()

    def get(self, key: bytes) -> Relocatable | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: bytes, value: Relocatable) -> None:
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

    def attachment(self, name: str, data: bytes) -> Relocatable:
        """Pages of an attached PDF; ``name`` names it in errors."""
        key = _digest(data)
        with self._lock:
            pages = self._attachments.get(key)
        if pages is None:
            pages = _parse_pages(name, data)
            with self._lock:
                self._attachments.put(key, pages)
        return pages

    def remember_composed(self, pdf: bytes, pages: Relocatable) -> None:
        with self._lock:
            self._composed.put(_digest(pdf), pages)

    def for_batch(self, label: str, pdf: bytes) -> Relocatable:
        """Pages of a follow-up for a batch: remembered if just composed, parsed otherwise."""
        with self._lock:
            pages = self._composed.get(_digest(pdf))
        return pages if pages is not None else _parse_pages(label, pdf)

    def forget_composed(self) -> None:
        with self._lock:
            self._composed.clear()


def _parse_pages(label: str, pdf: bytes) -> Relocatable:
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


class PdfStream:
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

    def add_pages(self, pages: Relocatable) -> int:
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


