"""Replies and bounces on the web pages in Debian's Chromium, at a desktop's and a phone's width, checked by
axe-core: the quote's "Suivi" with the reply, "Suivi des relances" with the bounce, "Nouvelle relance"
with the reply's box, the marks of the mass page and the to-do list.

They are recorded the real way first: the automatic run's e-mails, a reply and a bounce delivered into a
real dovecot, the mailbox read once (``read_replies``, what ``replies --once`` runs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from browser_pages import chromium, sign_in
from conftest import MutableClock, product_settings
from dolirelance.config import load_config
from dolirelance.service import open_runtime, read_replies, run_auto
from dolirelance.testing import FakeDolibarr, SampleData, create_app, serve_in_thread
from dolirelance.testing.imap_server import DovecotServer
from dolirelance.testing.smtp_sink import SmtpSink
from dolirelance.web import create_web_app
from mailbox_samples import IMAP_PASSWORD_ENV, NEEDS_DOVECOT, add_imap_section
from test_replies import dovecot
from test_replies_history import AFTER_THE_REPLIES, BOUNCED, REPLIER, Answered, deliver_reply_and_bounce
from test_web import web_settings
from test_web_pages_browser import AXE_JS, PAGE_SHOTS, WIDTHS, axe_tab, check_page
from test_web_pages_browser import pytestmark as pages_mark

__all__ = ["dovecot"]  # the fixture, served here too

pytestmark = [
    *pages_mark,
    NEEDS_DOVECOT,
]


@dataclass
class Served:
    url: str
    answered: Answered


@pytest.fixture
def served(
    tmp_path: Path,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    clock: MutableClock,
    dovecot: DovecotServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Served]:
    """The reply and the bounce recorded by the service, then the web pages served over HTTP."""
    monkeypatch.setenv(IMAP_PASSWORD_ENV, dovecot.password)
    config = product_settings(tmp_path, smtp_sink.port, sample_data.api_keys["jdupont"]).base_dir / "dolirelance.toml"
    add_imap_section(config, dovecot)
    settings = load_config(config)

    async def record() -> Answered:
        transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
        async with open_runtime(settings, transport=transport, now=clock) as rt:
            assert len((await run_auto(rt)).sent) == 3
            clock.set(AFTER_THE_REPLIES)
            answered = deliver_reply_and_bounce(smtp_sink, dovecot, sample_data)
            assert [m.outcome for m in (await read_replies(rt)).messages] == ["recorded", "recorded"]
            return answered

    answered = asyncio.run(record())
    web_dir = tmp_path / "web"
    web_dir.mkdir()
    with serve_in_thread(create_app(fake_dolibarr)) as dolibarr_url:
        web = web_settings(web_dir, dolibarr_url=dolibarr_url, smtp_port=smtp_sink.port)
        with serve_in_thread(create_web_app(web, now=lambda: AFTER_THE_REPLIES)) as web_url:
            yield Served(web_url.removesuffix("/api/index.php"), answered)


def test_replies_and_bounces_on_the_pages_at_both_widths_with_axe_core(served: Served) -> None:
    """Each page shows the reply or the bounce, fits the window, and has no serious axe-core violation."""
    from playwright.sync_api import expect

    PAGE_SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with chromium() as browser:
        for width_name, viewport in WIDTHS.items():
            context, page = axe_tab(browser, viewport)

            def check(name: str, *, width: str = width_name, pg: Any = page) -> None:
                check_page(pg, name, width, problems)

            page.goto(f"{served.url}/login")
            sign_in(page)
            expect(page.locator("h1")).to_have_text("Relance massive")

            page.goto(f"{served.url}/quotes/{served.answered.reply_quote}/followups")
            reply = page.locator("tr.answer.reply")
            expect(reply).to_contain_text(f"Réponse de {REPLIER}")
            expect(reply).to_contain_text("Nous signons la semaine prochaine")
            expect(reply).to_contain_text("30/11/2026 09:12")
            check("18-suivi-devis-reponse")

            page.goto(f"{served.url}/followups")
            expect(page.locator("tr.answer.bounce")).to_contain_text(f"{BOUNCED} : e-mail non remis")
            expect(page.locator("tr.answer")).to_have_count(2)
            check("19-suivi-reponse-et-echec")

            page.goto(f"{served.url}/quotes/{served.answered.reply_quote}/followup")
            expect(page.locator("#answers")).to_contain_text(f"Le client a répondu le 30/11/2026 09:12 ({REPLIER})")
            check("20-nouvelle-relance-client-a-repondu")

            # the lists: the marks, a long address kept inside a phone's card
            page.goto(f"{served.url}/mass?all=1&due=0")
            replied = page.locator(f"#mass-table tr[data-ref='{served.answered.reply_ref}'] a.mark.reply")
            expect(replied).to_have_text("a répondu le 30/11/2026")
            bounced = page.locator(f"#mass-table tr[data-ref='{served.answered.bounce_ref}'] a.mark.bounce")
            expect(bounced).to_have_text(f"e-mail non remis\u00a0: {BOUNCED}")
            expect(bounced).to_be_visible()
            box = bounced.bounding_box()  # the address breaks inside the card: it does not stick out
            assert box is not None and box["x"] + box["width"] <= viewport["width"], box
            check("21-relance-massive-reponses")
            page.goto(f"{served.url}/todo")
            expect(page.locator("#todo a.mark.bounce")).to_have_text(f"e-mail non remis\u00a0: {BOUNCED}")
            check("22-a-relancer-adresse-non-remise")
            page.locator("#todo a.mark.bounce").click()  # to the bounce's row of the quote's "Suivi"
            expect(page.locator("tr.answer.bounce")).to_contain_text(f"{BOUNCED} : e-mail non remis")
            bounce_row = page.locator("tr.answer.bounce").get_attribute("id")
            assert page.url.endswith(f"/quotes/{served.answered.bounce_quote}/followups#{bounce_row}")
            context.close()
    assert AXE_JS.is_file()
    assert not problems, "\n".join(problems)
