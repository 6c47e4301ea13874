"""What the browser tests share: Debian's Chromium, headless, driven by Playwright, and signing in.

Playwright is imported when a browser starts, not here: without it, the tests that need it skip
(``NEEDS_BROWSER``) instead of failing to import.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.smtp_sink import SmtpSink

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-output" / "screenshots"

_missing = [what for what, ok in (("playwright", importlib.util.find_spec("playwright") is not None),
                                  (CHROMIUM, shutil.which(CHROMIUM) is not None)) if not ok]
# In a browser test module: ``pytestmark = NEEDS_BROWSER`` (CI has both: there a missing one fails).
NEEDS_BROWSER = pytest.mark.skipif(
    bool(_missing) and not os.environ.get("CI"),
    reason=f"browser test needs {' and '.join(_missing)} (install playwright in the venv, apt-get install chromium)",
)


@dataclass
class Served:
    """What a browser test's fixture serves: the web pages' address, the fake Dolibarr behind them, its
    sample data and the SMTP sink."""

    url: str
    fake: FakeDolibarr
    sample: SampleData
    sink: SmtpSink


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright's sync API), closed when the block ends, whatever happens in it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Any, login: str = "jdupont", password: str = "relance") -> None:
    """Fill the login page shown in ``page`` and send it (the demo's sales person by default)."""
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
