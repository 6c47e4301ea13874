"""In Debian's Chromium, under the pages' real security policies: the previewed HTML e-mail shows with its own
styles and inline logo, and nothing can run inside its frame (sandboxed, opaque origin)."""

from __future__ import annotations

from typing import Any

from browser_pages import NEEDS_BROWSER, chromium, sign_in
from test_web_pages_browser import Served
from test_web_pages_browser import served as served  # the fixture: fake Dolibarr, SMTP sink, web pages

pytestmark = NEEDS_BROWSER  # skipped where Chromium or Playwright is missing


def test_the_framed_email_is_styled_as_sent_and_runs_nothing(served: Served) -> None:
    from playwright.sync_api import expect

    customer = served.sample.customers["garage"]
    quote, ref = served.sample.quotes["about_to_expire"], served.sample.refs["about_to_expire"]
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fr-FR")  # CSP enforced
        page = context.new_page()
        page.set_default_timeout(20_000)
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(f"{served.url}/login")
        sign_in(page)
        page.goto(f"{served.url}/customers/{customer}/followup?quote={quote}")
        page.check("#channel-email")
        page.click("#preview")
        expect(page.locator("#preview-html")).to_have_attribute("sandbox", "")
        body = page.frame_locator("#preview-html").locator("body")
        expect(body.locator("strong", has_text=ref)).to_be_visible()
        # the e-mail's <style> and inline styles apply, and its inline logo shows: its own policy allows them
        assert body.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(243, 244, 246)"
        logo: Any = body.evaluate("b => [...b.ownerDocument.images].map(i => [i.complete, i.naturalWidth])")
        assert logo == [[True, 1]]
        # nothing runs in the frame, and it cannot reach the page's cookies or origin
        # (an inline script runs as it is inserted, where scripts may run at all)
        ran = body.evaluate("""b => {
            const script = b.ownerDocument.createElement('script');
            script.textContent = 'document.body.dataset.ran = "yes"; alert("ran")';
            b.appendChild(script);
            return b.dataset.ran || "no";
        }""")
        assert ran == "no" and not dialogs
        cookie = body.evaluate("b => { try { return b.ownerDocument.cookie; } catch (e) { return e.name; } }")
        assert cookie == "SecurityError"
        assert body.evaluate("b => b.ownerDocument.defaultView.origin") == "null"
        assert len(served.sink.messages) == 0  # a preview: nothing has left
        context.close()
