"""The web forms warn before a manual or mass follow-up made on a day off, and still send it."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from conftest import MutableClock
from dolirelance.testing import FakeDolibarr, SampleData, create_app
from dolirelance.testing.smtp_sink import SmtpSink
from dolirelance.web import create_web_app
from test_web import FAKE_URL, csrf_of, web_settings

SATURDAY = datetime(2026, 11, 28, 8, 30, tzinfo=UTC)
MONDAY = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
CHRISTMAS = datetime(2026, 12, 25, 8, 30, tzinfo=UTC)


@pytest.fixture
async def client(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, clock: MutableClock, sink: SmtpSink
) -> AsyncIterator[httpx.AsyncClient]:
    """The web app ([auto] defaults: Monday to Friday, French holidays) on the shared clock, logged in."""
    settings = web_settings(tmp_path, dolibarr_url=FAKE_URL, smtp_port=sink.port)
    app = create_web_app(settings, dolibarr_transport=httpx.ASGITransport(app=create_app(fake_dolibarr)), now=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar.test") as web:
        page = await web.get("/login")
        await web.post(
            "/login", data={"csrf": csrf_of(page.text), "login": "jdupont", "password": "relance", "next": "/"}
        )
        yield web


def notice(page: str) -> str | None:
    start = page.find('id="day-off">')
    if start < 0:
        return None
    return html.unescape(page[start + len('id="day-off">') : page.index("</div>", start)])


@pytest.mark.parametrize(
    ("now", "lang", "expected"),
    [
        pytest.param(SATURDAY, "fr", "Aujourd'hui (28/11/2026) n'est pas un jour ouvré", id="Saturday in French"),
        pytest.param(SATURDAY, "en", "Today (28/11/2026) is not a working day", id="Saturday in English"),
        pytest.param(CHRISTMAS, "fr", "Aujourd'hui (25/12/2026) est un jour férié", id="Christmas"),
        pytest.param(MONDAY, "fr", None, id="a working day"),
    ],
)
async def test_forms_warn_on_a_day_off(
    client: httpx.AsyncClient, clock: MutableClock, sample_data: SampleData, now: datetime, lang: str,
    expected: str | None,
) -> None:
    """Both the mass page and the "Nouvelle relance" form carry the warning on a day off, none on a working day."""
    clock.set(now)
    for path in ("/mass", f"/quotes/{sample_data.quotes['about_to_expire']}/followup"):
        text = notice((await client.get(f"{path}?lang={lang}")).text)
        if expected is None:
            assert text is None
        else:
            assert text is not None and text.startswith(expected), text


async def test_a_follow_up_on_saturday_still_goes_out(
    client: httpx.AsyncClient, clock: MutableClock, sample_data: SampleData, sink: SmtpSink
) -> None:
    """The warning does not stop a person: the form's e-mail leaves on a Saturday."""
    clock.set(SATURDAY)
    quote_id = sample_data.quotes["about_to_expire"]
    form = await client.get(f"/quotes/{quote_id}/followup")
    answer = await client.post("/followup/new", data={
        "csrf": csrf_of(form.text), "quote": str(quote_id), "note": "", "model": "1ère relance",
        "next_date": "2026-12-14", "send_email": "1",
    })  # fmt: skip
    assert answer.status_code == 200 and "Relance enregistrée dans Dolibarr." in answer.text
    assert len(sink.messages) == 1
