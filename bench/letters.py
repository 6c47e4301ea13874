"""Mass letters: follow-ups per second and peak memory for batches of 100 and 1,000.

Each follow-up: the first packaged default model (dolirelance/defaults) rendered for a sample context, composed
with a 2-page quote PDF, and added to a LetterBatch. Run: .venv/bin/python bench/letters.py
"""

from __future__ import annotations

import io
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path

from reportlab.pdfgen.canvas import Canvas

from dolirelance import starter
from dolirelance.config import load_config
from dolirelance.letter import LetterBatch, LetterComposer
from dolirelance.render import Renderer, sample_context

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = Path(starter.__file__).parent / "defaults"


def quote_pdf() -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    for page in (1, 2):
        canvas.setFont("Helvetica", 11)
        for line in range(40):
            canvas.drawString(
                60, 780 - 18 * line, f"DEVIS PR2611-0001 — page {page} — ligne {line} — 1 448,00 EUR"
            )
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def run(count: int, *, trace: bool) -> tuple[float, float, int]:
    settings = load_config(DEFAULTS / "dolirelance.toml")
    renderer = Renderer(settings)
    model = settings.models[0].name
    ctx = sample_context(date(2026, 11, 28))
    composer = LetterComposer(settings, ctx.company)
    quote = quote_pdf()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "relances.pdf"
        with LetterBatch(target, duplex=True) as batch:
            for _ in range(count):
                rendered = renderer.render(model, ctx)
                pdf = composer.compose(ctx, rendered, attachments=[("PR2611-0001.pdf", quote)])
                batch.add(pdf, label=ctx.quote.ref)
        elapsed = time.perf_counter() - started
        size = target.stat().st_size
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else 0.0
    if trace:
        tracemalloc.stop()
    return count / elapsed, peak, size


def main() -> None:
    counts = [int(arg) for arg in sys.argv[1:]] or [100, 1000]
    for count in counts:
        rate, _, size = run(count, trace=False)
        _, peak, _ = run(count, trace=True)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{count:>5} letters: {rate:6.1f} follow-ups/s, tracemalloc peak {peak:6.1f} MB, "
            f"process max RSS {rss:6.1f} MB, batch file {size / 2**20:.1f} MB"
        )


if __name__ == "__main__":
    main()
