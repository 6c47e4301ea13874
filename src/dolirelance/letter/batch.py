"""Print batches: many follow-ups in one PDF, written atomically, and the order they are printed in."""

from __future__ import annotations

import os
import tempfile
import unicodedata
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

from dolirelance.domain import Customer, Quote
from dolirelance.errors import LetterError
from dolirelance.letter.pdfmerge import PdfPageCache, PdfStream


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
        self._stream: PdfStream | None = None
        self._temp_path: Path | None = None

    def __enter__(self) -> LetterBatch:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part", delete=False
        )
        self._file = handle
        self._temp_path = Path(handle.name)
        self._stream = PdfStream(handle)
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
