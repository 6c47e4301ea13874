"""Letters filed and recorded but in no print file yet, and the print file that gathers them.

A mass letter run writes its print file at the end; a run killed midway (or a letter done alone, without
a local copy) leaves letters that are in the quotes' files in Dolibarr but were never printed. The ledger
lists them (RECORDED letters, :meth:`~dolirelance.ledger.Ledger.letters_to_print`); :func:`print_letters`
downloads them from the quotes' files into one print file and marks them PRINTED.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from dolirelance.errors import DolibarrError, LetterError
from dolirelance.ledger import Entry
from dolirelance.service.access import Access, require_access
from dolirelance.service.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class PrintReport:
    """What :func:`print_letters` did: the print file, the letters in it, those it could not take."""

    path: Path | None = None
    printed: list[Entry] = field(default_factory=list)
    missing: list[tuple[Entry, str]] = field(default_factory=list)  # (letter, why it is not in the file)


def letters_to_print(rt: Runtime, user_id: int | None = None) -> list[Entry]:
    """Letters filed in Dolibarr but in no print file yet (oldest first); ``user_id``: only that user's."""
    return [e for e in rt.ledger.letters_to_print() if user_id is None or e.user_id == user_id]


async def print_letters(rt: Runtime, out_dir: Path | None = None, *, user_id: int | None = None) -> PrintReport:
    """One print file of every letter filed but not printed yet, taken from the quotes' files in Dolibarr
    (the letter as filed, attachments included), in ``[letter] batch_order``; those letters are then PRINTED.

    A letter whose file is no longer in its quote's files is left out and said so (it stays listed).
    ``user_id``: only the letters that user made (a sales person on the web pages).
    """
    from dolirelance.letter import LetterBatch, batch_sort_key

    report = PrintReport()
    pending = await asyncio.to_thread(letters_to_print, rt, user_id)
    if not pending:
        return report
    await require_access(rt, Access.SEND)
    found: list[tuple[tuple[str, ...], Entry, bytes]] = []
    for entry in pending:
        try:
            quote = await rt.dolibarr.get_quote(entry.quote_id)
            customer = await rt.dolibarr.get_customer(quote.customer_id)
            document = next((d for d in await rt.dolibarr.list_documents(quote) if d.name == entry.file_name), None)
            if document is None:
                report.missing.append((entry, f"{entry.file_name or 'its letter'} is not in the quote's files"))
                continue
            pdf = await rt.dolibarr.download_document(document.relative_path)
        except DolibarrError as exc:
            report.missing.append((entry, exc.message))
            continue
        found.append((batch_sort_key(rt.settings.letter.batch_order, customer, quote), entry, pdf))
    if not found:
        return report
    found.sort(key=lambda item: item[0])
    out = rt.settings.resolve_path(out_dir or rt.settings.letter.output_dir)
    path = out / f"relances-{rt.today().isoformat()}-{uuid.uuid4().hex[:8]}.pdf"  # named like a mass run's

    def write() -> None:
        with LetterBatch(path, duplex=rt.settings.letter.duplex, pages=rt.letter_pages) as batch:
            for _, entry, pdf in found:
                batch.add(pdf, label=entry.quote_ref)

    try:
        await asyncio.to_thread(write)
    except OSError as exc:
        raise LetterError(
            f"cannot write the print file in {out}: {exc}",
            remedy="give a writable folder with --out (or letter.output_dir); the letters stay listed",
        ) from None
    keys = [entry.key for _, entry, _ in found]
    await asyncio.to_thread(rt.ledger.mark_printed, keys)
    report.path = path
    report.printed = [entry for _, entry, _ in found]
    return report
