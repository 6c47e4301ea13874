"""Each default model's HTML e-mail, as the SMTP server received it, rendered in Chromium (headless).

At 600 px (a desktop mail client) and 375 px (a phone), light and dark: screenshots land in
``test-output/screenshots/email-*.png`` (``email-N-en-*`` for the English variants).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from dolirelance.domain import Channel
from dolirelance.service import Runtime, follow_up
from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.smtp_sink import SmtpSink

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-output" / "screenshots"
XSS = "<img src=x onerror=alert(1)>"

_missing = [
    what
    for what, ok in (
        ("playwright", importlib.util.find_spec("playwright") is not None),
        (CHROMIUM, shutil.which(CHROMIUM) is not None),
    )
    if not ok
]
pytestmark = pytest.mark.skipif(
    bool(_missing) and not os.environ.get("CI"),
    reason=f"browser test needs {' and '.join(_missing)} (install playwright in the venv, apt-get install chromium)",
)


# The closing words each language's default models end with, before the signature.
CLOSING = {"fr": "Bien cordialement", "en": "Kind regards"}


async def test_each_default_model_reads_well_in_chromium_at_600_and_375_px(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """In French and in English (the customer's Dolibarr language): logo shown, text and signature there,
    nothing wider than the screen, dark mode readable, no script run."""
    customer = fake_dolibarr.thirdparties[sample_data.customers["garage"]]
    customer.name = XSS  # shown as text, never run
    pages: list[tuple[str, str, Path]] = []
    for lang, dolibarr_lang in (("fr", None), ("en", "en_GB")):
        customer.default_lang = dolibarr_lang
        for number, model in enumerate(runtime.settings.models, start=1):
            ref = sample_data.refs["about_to_expire"]
            await follow_up(runtime, ref, channel=Channel.EMAIL, model=model.name, force=True)
            received = smtp_sink.messages[-1]
            assert received.message["Content-Language"] == lang, model.name
            html = received.viewable_html()
            assert html is not None, (model.name, lang)
            name = f"email-{number}" if lang == "fr" else f"email-{number}-{lang}"
            path = tmp_path / f"{name}.html"
            path.write_text(html, encoding="utf-8")
            pages.append((name, lang, path))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await _check_in_chromium(pages)


async def _check_in_chromium(pages: list[tuple[str, str, Path]]) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        dialogs: list[str] = []
        try:
            for name, lang, path in pages:
                for width, scheme in ((600, "light"), (375, "light"), (375, "dark")):
                    page = await browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
                    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
                    await page.goto(path.as_uri())
                    facts: dict[str, Any] = await page.evaluate(
                        """() => {
                          const logo = document.querySelector('img[alt^="Solaire"]');
                          const body = document.querySelector('.dr-body');
                          const card = document.querySelector('.dr-card');
                          return {
                            logoWidth: logo ? logo.naturalWidth : 0,
                            text: document.body.innerText,
                            scrollWidth: document.documentElement.scrollWidth,
                            cardWidth: card.getBoundingClientRect().width,
                            color: getComputedStyle(body).color,
                            background: getComputedStyle(body).backgroundColor,
                          };
                        }"""
                    )
                    suffix = f"{width}" if scheme == "light" else f"{width}-dark"
                    await page.screenshot(path=str(SCREENSHOTS / f"{name}-{suffix}.png"), full_page=True)
                    await page.close()
                    assert facts["logoWidth"] > 0, (name, width)  # the inline logo, shown
                    assert CLOSING[lang] in facts["text"] and "Chargée d'affaires" in facts["text"], (name, width)
                    assert "PR2611-" in facts["text"]
                    assert facts["scrollWidth"] <= width, (name, width, facts["scrollWidth"])
                    assert facts["cardWidth"] <= 600
                    text_rgb = [int(v) for v in facts["color"].strip("rgba()").split(",")[:3]]
                    ground_rgb = [int(v) for v in facts["background"].strip("rgba()").split(",")[:3]]
                    contrast = sum(text_rgb) - sum(ground_rgb)
                    if scheme == "dark":
                        assert contrast > 300, facts  # light text on a dark ground
                    else:
                        assert contrast < -300, facts  # dark text on a light ground
                    assert dialogs == []
        finally:
            await browser.close()
