"""The page "Efficacité des relances": the same figures as the JSON, charts as SVG and PNG."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from conftest import SAMPLE_NOW
from dolirelance.testing import FakeDolibarr, SampleData, create_app
from dolirelance.testing.report_history import seed_report_history
from dolirelance.web import create_web_app
from test_web import csrf_of, web_settings

FAKE_URL = "http://dolibarr.test/api/index.php"


class Tables(HTMLParser):
    """``{table id: {row data-key: {cell data-field: text}}}`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, dict[str, str]]] = {}
        self._table: str | None = None
        self._row: str | None = None
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "table" and values.get("id"):
            self._table = values["id"]
            self.tables[self._table or ""] = {}
        elif tag == "tr" and self._table and values.get("data-key") is not None:
            self._row = values["data-key"]
            self.tables[self._table][self._row or ""] = {}
        elif tag == "td" and self._row is not None and values.get("data-field"):
            self._field = values["data-field"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._field = None
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._table and self._row is not None and self._field:
            row = self.tables[self._table][self._row]
            row[self._field] = (row.get(self._field, "") + data).strip()


def tables_of(html: str) -> dict[str, dict[str, dict[str, str]]]:
    parser = Tables()
    parser.feed(html)
    return parser.tables


def french_amount(text: str) -> str:
    """``"6000.00"`` as the French page writes it: ``"6 000,00 €"`` (narrow no-break spaces)."""
    whole, cents = text.split(".")
    groups = f"{int(whole):,}".replace(",", "\u202f")
    return f"{groups},{cents}\u00a0€"


@pytest.fixture
async def client(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> AsyncIterator[httpx.AsyncClient]:
    seed_report_history(fake_dolibarr, sample_data)
    settings = web_settings(tmp_path, dolibarr_url=FAKE_URL, smtp_port=25)
    app = create_web_app(settings, dolibarr_transport=httpx.ASGITransport(app=create_app(fake_dolibarr)),
                         now=lambda: SAMPLE_NOW)
    # the page waits for its figures however slow the machine (the default gives up after 1.5 s)
    app.state.report_first_answer_seconds = None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar.test") as http:
        page = await http.get("/login")
        await http.post("/login", data={"csrf": csrf_of(page.text), "login": "jdupont", "password": "relance",
                                        "next": "/report"})
        yield http


async def test_page_tables_show_the_figures_of_the_json(client: httpx.AsyncClient) -> None:
    """Every table cell is the JSON's figure: one computation, two views."""
    page = await client.get("/report")
    assert page.status_code == 200
    data = (await client.get("/report.json")).json()
    tables = tables_of(page.text)
    for grouping in ("model", "step", "channel", "sales_person"):
        shown = tables[f"by-{grouping}"]
        assert set(shown) == {row["key"] for row in data["by"][grouping]}
        for row in data["by"][grouping]:
            cells = shown[row["key"]]
            conversion = row["conversion"]
            percent = f"{conversion['percent']:g}".replace(".", ",")
            assert cells["signed"] == f"{conversion['count']}/{conversion['of']} ({percent} %)"
            for field in ("followups", "quotes", "refused", "open", "expired", "other"):
                assert cells[field] == str(row[field]), (grouping, row["key"], field)
            median = row["median_days_to_signature"]
            assert cells["median_days"] == ("" if median is None else f"{median:g}".replace(".", ","))
            assert cells["amount"] == french_amount(row["amount_signed_excl_tax"])
    assert {key: (cells["reached"], cells["signed"]) for key, cells in tables["funnel"].items()} == {
        str(stage["rank"]): (str(stage["reached"]), str(stage["signed"])) for stage in data["funnel"]
    }
    assert {key: cells["followups"] for key, cells in tables["months"].items()} == {
        month["month"]: str(month["followups"]) for month in data["months"]
    }
    # the hand-computed headline of the seeded history (tests/test_report_e2e.py)
    assert "Signés après une relance : 3/6 (50 %)" in page.text
    assert "jamais relancés : 2/12 (16,7 %)" in page.text


async def test_charts_are_svg_and_png_drawn_from_one_reading(
    client: httpx.AsyncClient, fake_dolibarr: FakeDolibarr
) -> None:
    """The page and its five charts cost one events list; SVG keeps its text; downloads are attachments."""
    fake_dolibarr.reset_requests()
    page = await client.get("/report?from=2026-09-01&to=2026-11-30")
    assert page.status_code == 200
    for name in ("models", "steps", "funnel", "months", "comparison"):
        assert f'src="/report/charts/{name}.svg?from=2026-09-01&amp;to=2026-11-30"' in page.text
        svg = await client.get(f"/report/charts/{name}.svg?from=2026-09-01&to=2026-11-30")
        assert svg.status_code == 200
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert b"<svg" in svg.content
    steps = (await client.get("/report/charts/steps.svg?from=2026-09-01&to=2026-11-30")).text
    assert "Étape 1" in steps and "Manuelle" in steps and "1/4 · 25 %" in steps
    assert fake_dolibarr.requests_by_path()["GET /agendaevents"] == 1
    png = await client.get("/report/charts/funnel.png?download=1&from=2026-09-01&to=2026-11-30")
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert png.headers["content-disposition"] == 'attachment; filename="relances-funnel.png"'
    assert (await client.get("/report/charts/pie.svg")).status_code == 404


async def test_english_page_and_charts(client: httpx.AsyncClient) -> None:
    """?lang=en: English words on the page and in the charts."""
    page = await client.get("/report?lang=en")
    assert "Follow-up effectiveness" in page.text
    assert "Signed after a follow-up: 3/6 (50 %)" in page.text
    assert "Step 1" in (await client.get("/report/charts/steps.svg")).text


async def test_bad_dates_and_a_reversed_period_are_explained(client: httpx.AsyncClient) -> None:
    """A date that is not YYYY-MM-DD and an end before the start: a message on the page, no trace."""
    bad = await client.get("/report?from=28/11/2026")
    assert bad.status_code == 400
    assert "Date invalide" in bad.text
    reversed_period = await client.get("/report?from=2026-11-01&to=2026-10-01")
    assert reversed_period.status_code == 400
    assert "before it starts" in reversed_period.text


async def test_the_page_answers_before_a_slow_reading_and_its_figures_follow(
    client: httpx.AsyncClient, fake_dolibarr: FakeDolibarr
) -> None:
    """Dolibarr slow to list the events: the page answers with its filters, then /report/figures gives the
    same tables once read; the reading the page started is the one the figures and charts use."""
    client_app = client._transport.app  # type: ignore[attr-defined]
    client_app.state.report_first_answer_seconds = 0  # the first answer does not wait at all
    fake_dolibarr.hang_next(1, 60, path_prefix="/agendaevents", method="GET")
    fake_dolibarr.reset_requests()
    page = await client.get("/report?from=2026-09-01&to=2026-11-30")
    assert page.status_code == 200
    assert 'data-figures-url="/report/figures?from=2026-09-01&amp;to=2026-11-30"' in page.text
    assert "Calcul des chiffres en cours" in page.text and tables_of(page.text) == {}
    assert 'href="/report?from=2026-09-01&amp;to=2026-11-30&amp;wait=1"' in page.text  # without JavaScript
    for _ in range(10_000):  # the reading goes on after the answer (same event loop, no clock involved)
        if fake_dolibarr.hanging:
            break
        await asyncio.sleep(0)
    assert fake_dolibarr.hanging == 1
    fake_dolibarr.release_hangs()
    figures = await client.get("/report/figures?from=2026-09-01&to=2026-11-30")
    assert figures.status_code == 200 and not figures.text.lstrip().startswith("<!DOCTYPE")
    waited = await client.get("/report?from=2026-09-01&to=2026-11-30")  # read now: the page shows them
    assert tables_of(figures.text) == tables_of(waited.text) != {}
    assert (await client.get("/report/charts/funnel.svg?from=2026-09-01&to=2026-11-30")).status_code == 200
    assert fake_dolibarr.requests_by_path()["GET /agendaevents"] == 1  # one reading for all of them


async def test_figures_of_a_bad_period_say_what_is_wrong(client: httpx.AsyncClient) -> None:
    """The figures asked alone for an end before the start: the same message as the page, status 400."""
    answer = await client.get("/report/figures?from=2026-11-01&to=2026-10-01")
    assert answer.status_code == 400 and "before it starts" in answer.text
