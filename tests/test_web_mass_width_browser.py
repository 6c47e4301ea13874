"""The screens people have, in Debian's Chromium: on a laptop (1366 × 900 and 1280 × 800) the mass page's
tick boxes, its main action, are in view without scrolling sideways, whatever the length of a ref's labels;
on a phone the header leaves the page its room and the report's tables need no sideways scroll."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_pages import NEEDS_BROWSER, SCREENSHOTS, chromium, sign_in
from conftest import SAMPLE_NOW, SAMPLE_TODAY
from dolirelance.testing import FakeDolibarr, create_app, load_sample_data, serve_in_thread
from dolirelance.testing.smtp_sink import SmtpSink
from dolirelance.web import create_web_app
from test_web import seed_xss_customer, web_settings

pytestmark = NEEDS_BROWSER
LAPTOPS = ({"width": 1366, "height": 900}, {"width": 1280, "height": 800})
# Each tick box of the table: where it is, and whether the table's region can scroll sideways.
BOXES = """() => {
  const region = document.querySelector('#mass-table').closest('.scroll');
  const boxes = [...document.querySelectorAll('#mass-table tbody input[type=checkbox]')].map(box => {
    const r = box.getBoundingClientRect();
    return {label: box.getAttribute('aria-label'), left: r.left, right: r.right};
  });
  return {boxes, regionScroll: region.scrollWidth - region.clientWidth,
          pageScroll: document.documentElement.scrollWidth - window.innerWidth, width: window.innerWidth};
}"""


@pytest.fixture
def web_url(tmp_path: Path) -> Iterator[str]:
    fake = FakeDolibarr(timezone="Europe/Paris", now=lambda: SAMPLE_NOW)
    sample = load_sample_data(fake, SAMPLE_TODAY)
    seed_xss_customer(fake, sample)  # a long, hostile customer name
    for customer in fake.thirdparties.values():
        customer.name += " et Fils, Boulangerie-Pâtisserie artisanale"
    with SmtpSink() as sink, serve_in_thread(create_app(fake)) as dolibarr_url:
        settings = web_settings(tmp_path, dolibarr_url=dolibarr_url, smtp_port=sink.port)
        with serve_in_thread(create_web_app(settings, now=lambda: SAMPLE_NOW)) as url:
            yield url.removesuffix("/api/index.php")


@pytest.mark.parametrize("viewport", LAPTOPS, ids=lambda v: f"{v['width']}x{v['height']}")
def test_the_tick_boxes_are_in_view_on_a_laptop(web_url: str, viewport: dict[str, int]) -> None:
    from playwright.sync_api import expect

    with chromium() as browser:
        page: Any = browser.new_context(viewport=viewport, locale="fr-FR").new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{web_url}/login")
        sign_in(page)
        expect(page.locator("h1")).to_have_text("Relance massive")
        page.goto(f"{web_url}/mass?all=1")
        expect(page.locator("#mass-table .opt-out").first).to_be_visible()  # the long label is there
        page.wait_for_load_state("networkidle")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"mass-{viewport['width']}.png"))
        seen = page.evaluate(BOXES)
    assert len(seen["boxes"]) >= 10, seen  # a letter and an e-mail box per quote
    hidden = [box for box in seen["boxes"] if box["left"] < 0 or box["right"] > seen["width"]]
    assert not hidden, (viewport, hidden)
    assert seen["regionScroll"] <= 0 and seen["pageScroll"] <= 0, (viewport, seen)


def test_on_a_phone_the_header_leaves_the_page_its_room(web_url: str) -> None:
    """At 390 × 844 the header (name, languages, log-out, menu) takes under a fifth of the screen (it took
    225 px), and the report's tables read without scrolling sideways."""
    from playwright.sync_api import expect

    with chromium() as browser:
        page: Any = browser.new_context(viewport={"width": 390, "height": 844}, locale="fr-FR").new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{web_url}/login")
        sign_in(page)
        expect(page.locator("h1")).to_have_text("Relance massive")
        page.wait_for_load_state("load")  # the style sheet applied: measured as the person sees it
        header = page.evaluate("() => document.querySelector('header').getBoundingClientRect().height")
        menu = page.evaluate("() => [...document.querySelectorAll('header nav a')].map(a => a.offsetHeight)")
        logout_visible = page.locator("header .logout button").is_visible()
        page.goto(f"{web_url}/report")
        expect(page.locator("#by-model")).to_be_attached()
        sideways = page.evaluate(
            "() => [...document.querySelectorAll('table.report')].map(t => t.closest('.scroll'))"
            ".map(r => r.scrollWidth - r.clientWidth)"
        )
    assert header <= 150, header
    assert all(height >= 44 for height in menu) and logout_visible, (menu, logout_visible)  # still easy to touch
    assert sideways and all(extra <= 0 for extra in sideways), sideways  # the report's tables: cards, no scroll
