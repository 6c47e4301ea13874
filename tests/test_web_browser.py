"""The web pages in a real browser: Debian's Chromium, headless, driven by Playwright.

The fake Dolibarr and the web app are served by uvicorn on 127.0.0.1; mail goes to an SMTP sink.
Screenshots of every page land in ``test-output/screenshots/``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pypdf import PdfReader

from browser_pages import NEEDS_BROWSER, SCREENSHOTS, chromium, sign_in
from browser_pages import Served as ServedPages
from conftest import RECORDED_VERSIONS, SAMPLE_NOW, SAMPLE_TODAY
from dolirelance.testing import FakeDolibarr, create_app, load_sample_data, serve_in_thread
from dolirelance.testing.smtp_sink import SmtpSink
from dolirelance.web import create_web_app
from test_web import XSS_NAME, seed_xss_customer, web_settings

pytestmark = NEEDS_BROWSER


@dataclass
class Served(ServedPages):
    xss_customer_id: int


@pytest.fixture(params=RECORDED_VERSIONS)
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    """The whole journey runs against a Dolibarr 20.0.0 and a 23.0.0-beta."""
    fake = FakeDolibarr(timezone="Europe/Paris", now=lambda: SAMPLE_NOW, version=request.param)
    sample = load_sample_data(fake, SAMPLE_TODAY)
    xss_customer_id = seed_xss_customer(fake, sample)
    with SmtpSink() as sink, serve_in_thread(create_app(fake)) as dolibarr_url:
        settings = web_settings(tmp_path, dolibarr_url=dolibarr_url, smtp_port=sink.port)
        app = create_web_app(settings, now=lambda: SAMPLE_NOW)
        with serve_in_thread(app) as web_url:
            yield Served(web_url.removesuffix("/api/index.php"), fake, sample, sink, xss_customer_id)


def test_sales_person_journey_in_chromium(served: Served) -> None:
    from playwright.sync_api import expect

    # 20.0.0's journey at the top, the others' in a folder named after the version
    version = served.fake.version.text
    screenshots = SCREENSHOTS if version == "20.0.0" else SCREENSHOTS / version
    screenshots.mkdir(parents=True, exist_ok=True)
    refs, quotes = served.sample.refs, served.sample.quotes
    dialogs: list[str] = []
    with chromium() as browser:
        context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

        def shot(name: str) -> None:
            page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)

        # Log in: a deep link leads to the login page, then back to it.
        page.goto(f"{served.url}/mass")
        expect(page).to_have_url(f"{served.url}/login?next=%2Fmass")
        shot("01-login")
        sign_in(page)
        expect(page).to_have_url(f"{served.url}/mass")
        expect(page.locator("h1")).to_have_text("Relance massive")

        # The customer named like a script shows as text and runs nothing.
        expect(page.get_by_text(XSS_NAME, exact=True).first).to_be_visible()
        shot("02-relance-massive")

        # "tous courriers" ticks every letter box, "aucun" clears them.
        page.click("button.tick[data-tick=letter][data-on='1']")
        assert page.locator("input[name=letter]:checked").count() == page.locator("input[name=letter]").count()
        page.click("button.tick[data-tick=letter][data-on='0']")
        assert page.locator("input[name=letter]:checked").count() == 0
        # The farm has no e-mail address: no e-mail box to tick.
        farm_row = page.locator(f"tr[data-ref='{refs['no_email']}']")
        expect(farm_row.locator("input[type=checkbox][disabled]")).to_have_count(1)
        expect(farm_row.locator("input[name=email]")).to_have_count(0)

        page.check(f"input[name=letter][value='{refs['expired']}']")
        page.check(f"input[name=letter][value='{refs['no_email']}']")
        page.check(f"input[name=email][value='{refs['about_to_expire']}']")
        page.select_option(f"select[name='model:{refs['expired']}']", "2nde relance")
        page.fill("input[name=note]", "Campagne de fin de mois")
        page.click("#run-mass")
        # the preview first: what would leave, nothing sent yet
        expect(page.locator("#mass-preview tr.goes")).to_have_count(3)
        assert not served.sink.messages
        page.click("#confirm-mass")
        expect(page.locator("#result")).to_be_visible(timeout=30_000)
        expect(page.locator("#outcomes tbody tr.ok")).to_have_count(3)
        shot("03-relance-massive-resultat")

        with page.expect_download() as download_info:
            page.click("#letters-pdf")
        pdf_path = download_info.value.path()
        reader = PdfReader(io.BytesIO(Path(pdf_path).read_bytes()))
        text = "\n".join(p.extract_text() for p in reader.pages)
        assert len(reader.pages) >= 4  # two letters, each followed by its quote
        assert "Seconde relance de la proposition" in text and refs["no_email"] in text
        assert len(served.sink.messages) == 1

        # The three history views.
        page.goto(f"{served.url}/followups")
        expect(page.locator("#followups tbody tr")).to_have_count(3)
        shot("04-suivi-tous")
        page.goto(f"{served.url}/quotes/{quotes['expired']}/followups")
        expect(page.locator("#followups tbody tr")).to_have_count(1)
        expect(page.locator("#followups")).to_contain_text("Campagne de fin de mois")
        expect(page.locator("#followups")).to_contain_text("Julie Dupont")
        shot("05-suivi-devis")
        page.goto(f"{served.url}/customers/{served.sample.customers['garage']}/followups")
        expect(page.locator("#followups tbody tr")).to_have_count(1)
        expect(page.locator("#followups")).to_contain_text(refs["about_to_expire"])
        shot("06-suivi-client")

        # Nouvelle relance from a customer card, and À relancer.
        page.goto(f"{served.url}/customers/{served.xss_customer_id}/followup")
        expect(page.get_by_text(f"Client : {XSS_NAME}")).to_be_visible()
        shot("07-nouvelle-relance")
        page.goto(f"{served.url}/todo")
        expect(page.locator("#todo")).to_contain_text(refs["expired"])
        shot("08-a-relancer")
        assert served.sample.api_keys["jdupont"] not in page.content()
    assert dialogs == []
