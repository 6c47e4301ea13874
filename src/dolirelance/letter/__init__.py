"""Follow-up letters: the letter itself (reportlab), merged with the quote's PDFs (pypdf), and print batches.

reportlab and pypdf live only in this package, one concern a module:

- ``fonts``: the TrueType fonts with every French glyph, their subsets made once per process;
- ``compose``: ``LetterComposer``, the letter laid out and followed by its attachments;
- ``pdfmerge``: pages of PDFs copied object by object into one file, in bounded memory;
- ``batch``: ``LetterBatch``, one PDF of many letters for printing, and ``batch_sort_key``.
"""

from dolirelance.letter.batch import LetterBatch, batch_sort_key
from dolirelance.letter.compose import LetterComposer
from dolirelance.letter.pdfmerge import PdfPageCache

__all__ = ["LetterBatch", "LetterComposer", "PdfPageCache", "batch_sort_key"]
