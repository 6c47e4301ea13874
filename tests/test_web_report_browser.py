"""The report page in a real browser (Debian's Chromium via Playwright): charts drawn, tables = JSON.

Screenshots (desktop, phone, English) land in ``test-output/screenshots/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_pages import NEEDS_BROWSER, SCREENSHOTS, chromium, sign_in
from conftest import SAMPLE_NOW, SAMPLE_TODAY
from dolirelance.testing import FakeDolibarr, create_app, load_sample_data, serve_in_thread
from dolirelance.testing.report_history import seed_report_history
from dolirelance.web import create_web_app
from test_web import web_settings
from test_web_report import french_amount

pytestmark = NEEDS_BROWSER


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    fake = FakeDolibarr(timezone="Europe/Paris", now=lambda: SAMPLE_NOW)
    sample = load_sample_data(fake, SAMPLE_TODAY)
    seed_report_history(fake, sample)
    with serve_in_thread(create_app(fake)) as dolibarr_url:
        settings = web_settings(tmp_path, dolibarr_url=dolibarr_url, smtp_port=25)
        with serve_in_thread(create_web_app(settings, now=lambda: SAMPLE_NOW)) as web_url:
            yield web_url.removesuffix("/api/index.php")


def test_manager_reads_the_report_in_chromium(served: str) -> None:
    """Every chart is drawn; each table row says what /report.json says; readable on a phone."""
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{served}/report")
        sign_in(page)
        expect(page).to_have_url(f"{served}/report")
        expect(page.locator("h1")).to_have_text("Efficacité des relances")
        expect(page.locator("#summary")).to_contain_text("Signés après une relance : 3/6 (50 %)")

        images = page.locator("figure.chart img")
        expect(images).to_have_count(5)
        page.wait_for_function(
            "() => [...document.querySelectorAll('figure.chart img')].every(i => i.complete && i.naturalWidth > 0)"
        )
        page.screenshot(path=str(SCREENSHOTS / "10-efficacite-des-relances.png"), full_page=True)

        data = json.loads(page.request.get(f"{served}/report.json").text())
        for grouping in ("model", "step", "channel", "sales_person"):
            rows = page.locator(f"#by-{grouping} tbody tr")
            expect(rows).to_have_count(len(data["by"][grouping]))
            for row in data["by"][grouping]:
                line = page.locator(f"#by-{grouping} tr[data-key='{row['key']}']")
                expect(line.locator("[data-field=followups]")).to_have_text(str(row["followups"]))
                expect(line.locator("[data-field=quotes]")).to_have_text(str(row["quotes"]))
                conversion = row["conversion"]
                expect(line.locator("[data-field=signed]")).to_contain_text(
                    f"{conversion['count']}/{conversion['of']}"
                )
                expect(line.locator("[data-field=amount]")).to_have_text(
                    french_amount(row["amount_signed_excl_tax"])
                )
        for stage in data["funnel"]:
            line = page.locator(f"#funnel tr[data-key='{stage['rank']}']")
            expect(line.locator("[data-field=reached]")).to_have_text(str(stage["reached"]))
            expect(line.locator("[data-field=signed]")).to_have_text(str(stage["signed"]))

        # the charts are files a manager can take away
        with page.expect_download() as svg_download:
            page.locator("#chart-funnel a", has_text="SVG").click()
        svg = Path(svg_download.value.path()).read_text(encoding="utf-8")
        assert "<svg" in svg and "1re relance" in svg
        with page.expect_download() as png_download:
            page.locator("#chart-months a", has_text="PNG").click()
        assert Path(png_download.value.path()).read_bytes().startswith(b"\x89PNG")

        page.goto(f"{served}/report?lang=en")
        expect(page.locator("h1")).to_have_text("Follow-up effectiveness")
        page.wait_for_function(
            "() => [...document.querySelectorAll('figure.chart img')].every(i => i.complete && i.naturalWidth > 0)"
        )
        page.screenshot(path=str(SCREENSHOTS / "11-report-english.png"), full_page=True)

        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                    storage_state=context.storage_state())
        small = phone.new_page()
        small.goto(f"{served}/report?lang=fr")
        small.wait_for_function(
            "() => [...document.querySelectorAll('figure.chart img')].every(i => i.complete && i.naturalWidth > 0)"
        )
        small.screenshot(path=str(SCREENSHOTS / "12-efficacite-telephone.png"), full_page=True)
        # nothing wider than the screen but the tables' own scroll boxes
        wide = small.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391)"
            ".filter(e => !e.closest('.scroll')).map(e => e.tagName + '.' + e.className + '#' + e.id)"
        )
        assert small.evaluate("document.documentElement.scrollWidth") <= 390, wide
