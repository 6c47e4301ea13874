"""Every page at a desktop's and a phone's width in Debian's Chromium (Playwright), checked by axe-core.

On each page, at 1366 × 900 and 390 × 844: no horizontal scroll of the page itself, and no serious or
critical axe-core violation (axe-core comes from the npm registry: ``.ci/run`` installs it in
``tests/browser/node_modules``). The journey shows the preview before a send, the recent-follow-up
warning and the French 404. Screenshots land in ``test-output/screenshots/pages/``; the axe-core
figures of every page in ``test-output/axe-report.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_pages import NEEDS_BROWSER, SCREENSHOTS, Served, chromium, sign_in
from conftest import SAMPLE_NOW, SAMPLE_TODAY
from dolirelance.testing import FakeDolibarr, create_app, load_sample_data, serve_in_thread
from dolirelance.testing.smtp_sink import SmtpSink
from dolirelance.web import create_web_app
from test_web import seed_xss_customer, web_settings

AXE_JS = Path(os.environ.get("DOLIRELANCE_AXE_JS", "")) if os.environ.get("DOLIRELANCE_AXE_JS") else (
    Path(__file__).resolve().parent / "browser" / "node_modules" / "axe-core" / "axe.min.js"
)
PAGE_SHOTS = SCREENSHOTS / "pages"
AXE_REPORT = SCREENSHOTS.parent / "axe-report.json"
WIDTHS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
FAILING_IMPACTS = ("serious", "critical")
# what sticks out, to say where to look when the page is wider than the window
WIDER_THAN_THE_WINDOW = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5)
  .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''))"""

pytestmark = [
    NEEDS_BROWSER,
    pytest.mark.skipif(
        not AXE_JS.is_file() and not os.environ.get("CI"),
        reason="axe-core missing: npm ci --prefix tests/browser (as .ci/run does)",
    ),
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    fake = FakeDolibarr(timezone="Europe/Paris", now=lambda: SAMPLE_NOW)
    sample = load_sample_data(fake, SAMPLE_TODAY)
    seed_xss_customer(fake, sample)
    with SmtpSink() as sink, serve_in_thread(create_app(fake)) as dolibarr_url:
        settings = web_settings(tmp_path, dolibarr_url=dolibarr_url, smtp_port=sink.port, html_email=True)
        with serve_in_thread(create_web_app(settings, now=lambda: SAMPLE_NOW)) as web_url:
            yield Served(web_url.removesuffix("/api/index.php"), fake, sample, sink)


def _axe(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as shown (WCAG 2 A and AA rules and best practices)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE_JS.read_text(encoding="utf-8"))
    # iframes off: a previewed e-mail's frame runs no script (sandbox), so axe cannot enter it (it would
    # wait for an answer); the e-mail itself is checked in test_html_email_browser.py
    result = page.evaluate("() => window.axe.run(document, {resultTypes: ['violations'], iframes: false})")
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def axe_tab(browser: Any, viewport: dict[str, int]) -> tuple[Any, Any]:
    """A new context and its tab at ``viewport``, in French. axe-core is injected as a script: the pages'
    CSP (scripts from 'self' only) is bypassed for it."""
    context = browser.new_context(viewport=viewport, bypass_csp=True, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(20_000)
    return context, page


def check_page(page: Any, name: str, width: str, problems: list[str]) -> dict[str, int]:
    """No sideways scroll of the page, no serious axe violation (each one said in ``problems``); a
    screenshot ``name-width.png``. Returns axe's violations counted by impact."""
    page.wait_for_load_state("networkidle")
    overflow = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if overflow[0] > overflow[1]:
        wide = page.evaluate(WIDER_THAN_THE_WINDOW)
        problems.append(f"{name} at {width}: page {overflow[0]} px wide in {overflow[1]} px: {wide}")
    counts: dict[str, int] = {}
    for violation in _axe(page):
        impact = violation.get("impact") or "minor"
        counts[impact] = counts.get(impact, 0) + 1
        if impact in FAILING_IMPACTS:
            problems.append(f"{name} at {width}: axe {impact} {violation['id']}: "
                            f"{[n['target'] for n in violation['nodes']][:3]}")
    page.screenshot(path=str(PAGE_SHOTS / f"{name}-{width}.png"), full_page=True)
    return counts


def _expect_framed_email(page: Any, ref: str) -> None:
    """The HTML e-mail in its frame, styled as sent and no wider than the frame; its text part one click away."""
    from playwright.sync_api import expect

    frame = page.frame_locator("#preview-html")
    expect(frame.locator("strong", has_text=ref)).to_be_visible()
    inside = page.frame_locator("#preview-html").locator("body")
    assert inside.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(243, 244, 246)"  # its own styles
    assert inside.evaluate("b => b.ownerDocument.documentElement.scrollWidth <= innerWidth + 1")
    assert inside.evaluate("b => [...b.ownerDocument.images].every(i => i.complete && i.naturalWidth > 0)")
    expect(page.locator("#preview-text")).to_be_hidden()
    page.click("#preview-text-version summary")
    expect(page.locator("#preview-text")).to_contain_text(ref)


def test_every_page_at_both_widths_with_axe_core(served: Served) -> None:
    from playwright.sync_api import expect

    PAGE_SHOTS.mkdir(parents=True, exist_ok=True)
    quotes, refs, customers = served.sample.quotes, served.sample.refs, served.sample.customers
    figures: dict[str, dict[str, dict[str, int]]] = {}
    problems: list[str] = []
    with chromium() as browser:
        for width_name, viewport in WIDTHS.items():
            context, page = axe_tab(browser, viewport)

            def check(name: str, *, width: str = width_name, pg: Any = page) -> None:
                figures.setdefault(name, {})[width] = check_page(pg, name, width, problems)

            page.goto(f"{served.url}/login")
            if width_name == "desktop":  # the check can fail: an unlabelled field is a critical violation
                page.evaluate("() => document.querySelector('main').append(document.createElement('input'))")
                assert "label" in {v["id"] for v in _axe(page) if v["impact"] == "critical"}
                page.reload()
            check("01-connexion")
            sign_in(page)
            expect(page.locator("h1")).to_have_text("Relance massive")
            expect(page.locator("#mass-count")).not_to_have_text("calcul…")  # the totals came
            check("02-relance-massive")
            page.goto(f"{served.url}/mass?all=1&due=0")
            expect(page.locator("#mass-table")).to_be_visible()
            check("03-relance-massive-tous")

            # mass: the preview lists what leaves (nothing has left yet), then the run and its result
            letter_ref = refs["expired"] if width_name == "desktop" else refs["no_email"]
            page.check(f"input[name=letter][value='{letter_ref}']")
            page.check(f"input[name=email][value='{refs['about_to_expire']}']")
            page.click("#run-mass")
            expect(page.locator("#mass-preview")).to_be_visible()
            emailed = page.locator(f"#mass-preview tr[data-ref='{refs['about_to_expire']}']")
            expect(emailed).to_contain_text("sophie.dupont@garage-dupont.test")
            if width_name == "phone":  # e-mailed by the desktop's run: held, with the warning
                expect(emailed).to_contain_text("relancé le")
                expect(page.locator("#force")).to_be_visible()
            assert len(served.sink.messages) == (0 if width_name == "desktop" else 2)
            check("04-relance-massive-apercu")
            if width_name == "desktop":  # each e-mail that goes can be seen first, in a new tab
                expect(emailed.locator("a.see-email")).to_have_attribute("target", "_blank")
            email_page = context.new_page()
            email_page.goto(f"{served.url}/followup/email?quote={quotes['about_to_expire']}&model=1ère relance")
            _expect_framed_email(email_page, refs["about_to_expire"])
            check("18-apercu-email", pg=email_page)
            email_page.close()
            page.click("#confirm-mass")
            expect(page.locator("#result")).to_be_visible(timeout=30_000)
            check("05-relance-massive-resultat")

            # individual: form, preview, send; then the recent warning
            page.goto(f"{served.url}/quotes/{quotes['no_email']}/followup")
            expect(page.locator("#channel-email")).to_be_disabled()
            expect(page.locator("#no-email")).to_be_visible()
            check("06-nouvelle-relance-sans-email")
            if width_name == "desktop":  # from the keyboard: the skip link first, a quote by arrows and Enter
                page.goto(f"{served.url}/followup/new")
                page.keyboard.press("Tab")
                assert page.evaluate("() => document.activeElement.getAttribute('href')") == "#content"
                page.focus("#quote")
                page.keyboard.press("ArrowDown")
                page.keyboard.press("ArrowDown")
                assert "quote=" not in page.url  # arrows go through the list, nothing reloads
                chosen = page.eval_on_selector("#quote", "select => select.value")
                page.keyboard.press("Enter")
                page.wait_for_url(f"**/followup/new?quote={chosen}")
                expect(page.locator("#channel")).to_be_visible()
            target = quotes["not_yet_due"] if width_name == "desktop" else quotes["two_contacts"]
            page.goto(f"{served.url}/quotes/{target}/followup")
            expect(page.locator("#recipient")).to_be_visible()
            check("07-nouvelle-relance")
            page.click("#preview")
            expect(page.locator("#preview-card")).to_be_visible()
            expect(page.locator("#preview-subject")).to_contain_text("Votre devis")
            expect(page.locator("#recent-warning")).to_have_count(0)
            assert len(served.sink.messages) == (1 if width_name == "desktop" else 2)  # nothing left yet
            ref = refs["not_yet_due"] if width_name == "desktop" else refs["two_contacts"]
            _expect_framed_email(page, ref)
            check("08-apercu-avant-envoi")
            page.click("#send")
            expect(page.locator("#done")).to_be_visible()
            check("09-relance-envoyee")
            page.goto(f"{served.url}/quotes/{target}/followup")
            page.click("#preview")
            expect(page.locator("#recent-warning")).to_contain_text("Ce devis a déjà été relancé le")
            expect(page.locator("#force")).to_be_visible()
            check("10-apercu-relance-recente")

            page.goto(f"{served.url}/followups")
            check("11-suivi")
            page.goto(f"{served.url}/quotes/{target}/followups")
            check("12-suivi-devis")
            page.goto(f"{served.url}/customers/{customers['garage']}/followups")
            check("13-suivi-client")
            page.goto(f"{served.url}/todo")
            check("14-a-relancer")
            page.goto(f"{served.url}/report")
            expect(page.locator("#summary")).to_be_visible()
            check("15-efficacite")
            answer = page.goto(f"{served.url}/quotes/99999/followup")
            assert answer is not None and answer.status == 404
            expect(page.locator("#error")).to_contain_text("Ce devis (ou ce client) n'existe pas dans Dolibarr")
            check("16-devis-introuvable")
            page.goto(f"{served.url}/logout")
            check("17-deconnexion")
            context.close()
    AXE_REPORT.write_text(json.dumps(figures, indent=2, sort_keys=True), encoding="utf-8")
    # the desktop's mass e-mail, then one follow-up sent at each width after its preview
    assert len(served.sink.messages) == 3
    assert not problems, "\n".join(problems)
