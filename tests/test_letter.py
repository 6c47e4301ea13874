"""Letters read back with pypdf: pages, text, merge, batch files."""

from __future__ import annotations

import dataclasses
import io
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen.canvas import Canvas

from dolirelance import starter
from dolirelance.config import Settings, load_config
from dolirelance.domain import Company, Customer
from dolirelance.errors import LetterError
from dolirelance.letter import LetterBatch, LetterComposer, PdfPageCache, batch_sort_key
from dolirelance.render import FollowUpContext, RenderedFollowUp, Renderer, sample_context

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = Path(starter.__file__).parent / "defaults"
TODAY = date(2026, 11, 28)
BODY = "Madame,\n\nCœur de l’offre : « 1\u202f448,00\u00a0€ » à régler, ça va.\nLigne deux.\n\nŒuvre finale."


def _spaces(text: str) -> str:
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


def quote_pdf(pages: int = 2) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    for number in range(1, pages + 1):
        canvas.drawString(100, 700, f"DEVIS PR2611-0001 page {number}")
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_config(DEFAULTS / "dolirelance.toml")


@pytest.fixture
def ctx() -> FollowUpContext:
    return sample_context(TODAY)


def rendered(text: str = BODY, lang: str = "fr") -> RenderedFollowUp:
    return RenderedFollowUp(
        "1ère relance", lang, "s", "t", None, "Relance de notre proposition PR2611-0001", text
    )


def text_of(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


@pytest.mark.parametrize("system_fonts", [True, False], ids=["system-font", "bundled-vera"])
def test_letter_with_quote(settings: Settings, ctx: FollowUpContext, system_fonts: bool) -> None:
    composer = LetterComposer(settings, ctx.company, prefer_system_fonts=system_fonts)
    pdf = composer.compose(ctx, rendered(), attachments=[("PR2611-0001.pdf", quote_pdf())])
    pages = text_of(pdf)
    assert len(pages) == 3
    first = _spaces(pages[0])
    assert "Solaire Rhône-Alpes SARL" in first
    assert "Lyon, le 28 novembre 2026" in first
    assert "Objet : Relance de notre proposition PR2611-0001" in first
    assert "Notre référence : PR2611-0001 — votre référence : CMD-2026-118" in first
    assert "À l'attention de Madame Julie Dupont" in first
    assert "3 place Bellecour" in first and "69002 Lyon" in first
    assert "Cœur de l’offre : « 1 448,00 € » à régler, ça va." in first
    assert "Œuvre finale." in first
    assert "Thomas Bernard" in first and "Chargé d'affaires" in first
    assert "SIRET 123 456 789 00012" in first and "TVA FR12123456789" in first
    assert "page 1" in pages[1] and "page 2" in pages[2]


def test_english_letter(settings: Settings, ctx: FollowUpContext) -> None:
    pdf = LetterComposer(settings, ctx.company).compose(
        ctx, rendered("Dear Ms Dupont,", "en"), attachments=[]
    )
    first = _spaces(text_of(pdf)[0])
    assert "Lyon, 28 November 2026" in first
    assert "Subject: Relance" in first
    assert "For the attention of Ms Julie Dupont" in first


def test_example_model_letter(settings: Settings, ctx: FollowUpContext) -> None:
    out = Renderer(settings).render("2nde relance", ctx)
    pdf = LetterComposer(settings, ctx.company).compose(ctx, out, attachments=[("q.pdf", quote_pdf(1))])
    first = _spaces(text_of(pdf)[0])
    assert "1 206,67 € HT (1 448,00 € TTC)" in first


def test_place_from_settings_and_no_contact(settings: Settings, ctx: FollowUpContext) -> None:
    custom = settings.model_copy(
        update={"letter": settings.letter.model_copy(update={"place": "Villeurbanne"})}
    )
    nobody = dataclasses.replace(ctx, contact=None)
    pdf = LetterComposer(custom, ctx.company).compose(nobody, rendered(), attachments=[])
    first = _spaces(text_of(pdf)[0])
    assert "Villeurbanne, le 28 novembre 2026" in first
    assert "attention" not in first


def test_long_body_flows_with_page_numbers(settings: Settings, ctx: FollowUpContext) -> None:
    body = "\n\n".join(f"Paragraphe {n} : " + "texte de relance " * 30 for n in range(30))
    pdf = LetterComposer(settings, ctx.company).compose(
        ctx, rendered(body), attachments=[("q.pdf", quote_pdf())]
    )
    pages = text_of(pdf)
    letter_pages = len(pages) - 2
    assert letter_pages >= 2
    assert f"Page 1/{letter_pages}" in pages[0]
    assert f"Page 2/{letter_pages}" in pages[1]
    assert "Paragraphe 29" in "".join(pages[:letter_pages])
    assert "Thomas Bernard" in pages[letter_pages - 1]
    assert "SIRET" in pages[1]


def test_corrupt_attachment(settings: Settings, ctx: FollowUpContext) -> None:
    composer = LetterComposer(settings, ctx.company)
    with pytest.raises(LetterError, match=r"PR2611-0001\.pdf is not a readable PDF"):
        composer.compose(ctx, rendered(), attachments=[("PR2611-0001.pdf", b"%PDF-1.4 garbage")])
    with pytest.raises(LetterError, match=r"notes\.pdf is not a readable PDF"):
        composer.compose(ctx, rendered(), attachments=[("notes.pdf", b"hello")])


def test_encrypted_attachment(settings: Settings, ctx: FollowUpContext) -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(quote_pdf())))
    writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(LetterError, match=r"PR2611-0001\.pdf is encrypted; attach an unencrypted copy"):
        LetterComposer(settings, ctx.company).compose(
            ctx, rendered(), attachments=[("PR2611-0001.pdf", buffer.getvalue())]
        )


def test_attachments_in_order(settings: Settings, ctx: FollowUpContext) -> None:
    other = io.BytesIO()
    canvas = Canvas(other)
    canvas.drawString(100, 700, "CONDITIONS GENERALES")
    canvas.save()
    pdf = LetterComposer(settings, ctx.company).compose(
        ctx, rendered(), attachments=[("q.pdf", quote_pdf(1)), ("cgv.pdf", other.getvalue())]
    )
    pages = text_of(pdf)
    assert len(pages) == 3
    assert "DEVIS" in pages[1] and "CONDITIONS" in pages[2]


def test_batch_duplex_padding(tmp_path: Path, settings: Settings, ctx: FollowUpContext) -> None:
    composer = LetterComposer(settings, ctx.company)
    three = composer.compose(ctx, rendered(), attachments=[("q.pdf", quote_pdf(2))])
    two = composer.compose(ctx, rendered(), attachments=[("q.pdf", quote_pdf(1))])
    target = tmp_path / "out" / "relances.pdf"
    with LetterBatch(target, duplex=True) as batch:
        batch.add(three, label="PR1")
        batch.add(two, label="PR2")
        batch.add(three, label="PR3")
    pages = text_of(target.read_bytes())
    assert len(pages) == 4 + 2 + 4
    starts = [i + 1 for i, text in enumerate(pages) if "Objet" in text]
    assert starts == [1, 5, 7]
    assert all(start % 2 == 1 for start in starts)
    assert pages[3] == "" and pages[9] == ""
    assert [p.name for p in target.parent.iterdir()] == ["relances.pdf"]


def test_batch_simplex_keeps_pages(tmp_path: Path, settings: Settings, ctx: FollowUpContext) -> None:
    pdf = LetterComposer(settings, ctx.company).compose(
        ctx, rendered(), attachments=[("q.pdf", quote_pdf(2))]
    )
    with LetterBatch(tmp_path / "b.pdf", duplex=False) as batch:
        batch.add(pdf, label="PR1")
        batch.add(pdf, label="PR2")
    assert len(PdfReader(tmp_path / "b.pdf").pages) == 6


def test_batch_exception_leaves_no_file(tmp_path: Path, settings: Settings, ctx: FollowUpContext) -> None:
    pdf = LetterComposer(settings, ctx.company).compose(ctx, rendered(), attachments=[])
    target = tmp_path / "b.pdf"
    with pytest.raises(RuntimeError), LetterBatch(target, duplex=False) as batch:
        batch.add(pdf, label="PR1")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with (
        pytest.raises(LetterError, match="PR9 is not a readable PDF"),
        LetterBatch(target, duplex=False) as batch,
    ):
        batch.add(b"nope", label="PR9")
    assert list(tmp_path.iterdir()) == []


def test_batch_sort_keys(ctx: FollowUpContext) -> None:
    customers = [
        Customer(1, "Zèbre SA", zip="75001"),
        Customer(2, "éclair", zip="69002"),
        Customer(3, "Abeille", zip="69002"),
    ]
    quote = ctx.quote
    by_name = sorted(customers, key=lambda c: batch_sort_key("customer", c, quote))
    assert [c.name for c in by_name] == ["Abeille", "éclair", "Zèbre SA"]
    by_zip = sorted(customers, key=lambda c: batch_sort_key("postcode", c, quote))
    assert [c.name for c in by_zip] == ["Abeille", "éclair", "Zèbre SA"]
    assert batch_sort_key("ref", customers[0], quote) == ("PR2611-0001",)
    with pytest.raises(ValueError):
        batch_sort_key("size", customers[0], quote)


def test_logo(tmp_path: Path, settings: Settings, ctx: FollowUpContext) -> None:
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", (4).to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00")
        + chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(4))))
        + chunk(b"IEND", b"")
    )
    (tmp_path / "logo.png").write_bytes(png)
    custom = settings.model_copy(
        update={
            "base_dir": tmp_path,
            "letter": settings.letter.model_copy(update={"logo": Path("logo.png")}),
        }
    )
    pdf = LetterComposer(custom, Company(name="Solaire", town="Lyon")).compose(
        ctx, rendered(), attachments=[]
    )
    assert "Solaire" in text_of(pdf)[0]


def test_batch_remembered_and_parsed_match(tmp_path: Path, settings: Settings, ctx: FollowUpContext) -> None:
    """A follow-up added to a batch reads the same whether remembered from compose() or parsed again."""
    pages = PdfPageCache()
    pdf = LetterComposer(settings, ctx.company, pages=pages).compose(
        ctx, rendered(), attachments=[("q.pdf", quote_pdf(2))]
    )
    remembered, parsed = tmp_path / "remembered.pdf", tmp_path / "parsed.pdf"
    with LetterBatch(remembered, duplex=False, pages=pages) as batch:
        batch.add(pdf, label="PR1")
        batch.add(quote_pdf(1), label="foreign")
    pages.forget_composed()
    with LetterBatch(parsed, duplex=False, pages=pages) as batch:
        batch.add(pdf, label="PR1")
        batch.add(quote_pdf(1), label="foreign")
    assert text_of(remembered.read_bytes()) == text_of(parsed.read_bytes()) == text_of(pdf) + text_of(quote_pdf(1))


def test_page_cache_belongs_to_its_owner(settings: Settings, ctx: FollowUpContext) -> None:
    """What one runtime's composer remembers is reused by its own batches, not by another owner's."""
    mine, other = PdfPageCache(), PdfPageCache()
    pdf = LetterComposer(settings, ctx.company, pages=mine).compose(
        ctx, rendered(), attachments=[("q.pdf", quote_pdf(1))]
    )
    assert mine.for_batch("PR1", pdf) is mine.for_batch("PR1", pdf)  # remembered, not parsed again
    assert other.for_batch("PR1", pdf) is not other.for_batch("PR1", pdf)  # parsed each time
    attachment = quote_pdf(2)
    assert mine.attachment("q.pdf", attachment) is mine.attachment("q.pdf", attachment)


def test_page_cache_stays_whole_under_threads(settings: Settings, ctx: FollowUpContext) -> None:
    """Letters composed in threads (the daemon and web prepare concurrently) share one cache safely."""
    pages = PdfPageCache(attachments=2, composed=2)
    composer = LetterComposer(settings, ctx.company, pages=pages)
    quotes = [quote_pdf(n) for n in (1, 2, 3)]

    def compose(index: int) -> str:
        pdf = composer.compose(ctx, rendered(), attachments=[("q.pdf", quotes[index % 3])])
        assert len(pages.for_batch(f"L{index}", pdf).pages) == 1 + (index % 3) + 1  # letter + quote
        return text_of(pdf)

    with ThreadPoolExecutor(max_workers=6) as pool:
        texts = list(pool.map(compose, range(24)))
    for index, text in enumerate(texts):
        assert text == texts[index % 3]


def test_letter_fonts_embedded_and_subsets_cached(settings: Settings, ctx: FollowUpContext) -> None:
    composer = LetterComposer(settings, ctx.company)
    first = composer.letter_pdf(ctx, rendered())
    second = composer.compose(ctx, rendered(), attachments=[])
    for pdf in (first, second):
        reader = PdfReader(io.BytesIO(pdf))
        fonts = reader.pages[0]["/Resources"]["/Font"]
        embedded = [
            font["/FontDescriptor"]["/FontFile2"].get_data()
            for font in fonts.values()
            if "/FontDescriptor" in font
        ]
        assert len(embedded) == 2  # regular and bold, each a TrueType subset
        assert all(data[:4] == b"\x00\x01\x00\x00" for data in embedded)
    assert _spaces(text_of(first)[0]) == _spaces(text_of(second)[0])


def test_letter_pages_parsed_without_pypdf_match_pypdf(settings: Settings, ctx: FollowUpContext) -> None:
    from dolirelance.letter import pdfmerge

    body = "\n\n".join(f"Paragraphe {n} : (parenthèses) \\ " + "texte de relance " * 30 for n in range(30))
    pdf = LetterComposer(settings, ctx.company).letter_pdf(ctx, rendered(body))
    fast = pdfmerge._simple_pages(pdf)
    slow = pdfmerge._from_reader(PdfReader(io.BytesIO(pdf)))
    assert len(fast.pages) == len(slow.pages) >= 2

    def write(pages: pdfmerge.Relocatable) -> bytes:
        out = io.BytesIO()
        stream = pdfmerge.PdfStream(out)
        stream.add_pages(pages)
        stream.close()
        return out.getvalue()

    assert text_of(write(fast)) == text_of(write(slow)) == text_of(pdf)
    with pytest.raises(pdfmerge._NotSimple):
        pdfmerge._simple_pages(b"%PDF-1.4 garbage")


def test_corrupt_attachment_not_cached(settings: Settings, ctx: FollowUpContext) -> None:
    composer = LetterComposer(settings, ctx.company)
    for _ in range(2):
        with pytest.raises(LetterError, match=r"bad\.pdf is not a readable PDF"):
            composer.compose(ctx, rendered(), attachments=[("q.pdf", quote_pdf(1)), ("bad.pdf", b"%PDF-1.4 x")])


def test_batch_shares_identical_font_files(tmp_path: Path, settings: Settings, ctx: FollowUpContext) -> None:
    composer = LetterComposer(settings, ctx.company)
    pdf = composer.compose(ctx, rendered(), attachments=[("q.pdf", quote_pdf(1))])
    target = tmp_path / "b.pdf"
    with LetterBatch(target, duplex=False) as batch:
        for n in range(3):
            batch.add(pdf, label=f"PR{n}")
    data = target.read_bytes()
    assert len(data) < 1.5 * len(pdf)  # the font subsets are written once
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 6
    for page in (reader.pages[0], reader.pages[4]):
        fonts = page["/Resources"]["/Font"].values()
        files = [f["/FontDescriptor"]["/FontFile2"].get_data() for f in fonts if "/FontDescriptor" in f]
        assert len(files) == 2 and all(data[:4] == b"\x00\x01\x00\x00" for data in files)
    texts = [_spaces(page.extract_text()) for page in reader.pages]
    assert texts[0] == texts[2] == texts[4] and "Œuvre finale." in texts[4]


def test_raw_stream_data_is_the_encoded_bytes(settings: Settings, ctx: FollowUpContext) -> None:
    """Streams of a foreign PDF are copied still compressed, byte for byte, through pypdf's public API."""
    import zlib

    from dolirelance.letter import pdfmerge

    pdf = LetterComposer(settings, ctx.company).letter_pdf(ctx, rendered())
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    contents = page["/Contents"].get_object()
    assert "/FlateDecode" in contents["/Filter"]
    raw = pdfmerge._raw_stream_data(contents)
    assert raw != contents.get_data()
    assert zlib.decompress(raw) == contents.get_data()
