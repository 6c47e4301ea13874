"""Exactly once, whatever starts the follow-up: remind, web form, mass and automatic runs at once.

Every actor has its own runtime and its own ``Ledger`` object (its own owner identity, its own
connections), as separate processes would, on one SQLite file or one PostgreSQL schema. Ledger
calls run in threads, so the actors really interleave at every await.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from conftest import SAMPLE_NOW, SAMPLE_TODAY, MutableClock, pg_schema_url, product_settings
from dolirelance.config import Settings
from dolirelance.domain import Channel
from dolirelance.errors import FollowUpInProgress, RecentFollowUp
from dolirelance.service import MassSelection, Runtime, follow_up, mass_follow_up, open_runtime, plan_mass, run_auto
from dolirelance.testing import FakeDolibarr, SampleData, create_app, load_sample_data
from dolirelance.testing.smtp_sink import SmtpSink
from dolirelance.web import create_web_app

ROUNDS = 20
# Due for the automatic run on SAMPLE_TODAY (see test_auto_run.DUE_TODAY); the people pick the first.
TARGET = "about_to_expire"
MASS_ROLES = ("about_to_expire", "expired")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class Tally:
    attempts: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    done_events: int = 0
    duplicates: int = 0


def _csrf_and_attempt(html: str) -> dict[str, str]:
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    attempt = re.search(r'name="attempt" value="([^"]+)"', html)
    assert csrf and attempt, "the form carries a CSRF token and an attempt token"
    return {"csrf": csrf.group(1), "attempt": attempt.group(1)}


async def _round(settings: Settings, smtp_sink: SmtpSink, tally: Tally) -> None:
    clock = MutableClock(SAMPLE_NOW)
    fake = FakeDolibarr(timezone="Europe/Paris", now=clock)
    sample = load_sample_data(fake, SAMPLE_TODAY)
    settings = settings.model_copy(
        update={"dolibarr": settings.dolibarr.model_copy(update={"api_key": SecretStr(sample.api_keys["jdupont"])})}
    )
    smtp_sink.clear()
    dolibarr = httpx.ASGITransport(app=create_app(fake))
    web_app = create_web_app(settings, dolibarr_transport=dolibarr, now=clock)
    target_ref, target_id = sample.refs[TARGET], sample.quotes[TARGET]

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web_app), base_url="http://sidecar.test") as web:
        page = await web.get("/login")
        await web.post("/login", data={**_csrf_and_attempt_login(page.text), "login": "jdupont", "password": "relance"})
        form = _csrf_and_attempt((await web.get(f"/quotes/{target_id}/followup")).text)
        posted = {**form, "quote": str(target_id), "send_email": "1", "note": "double clic"}

        async def remind() -> list[str]:
            async with open_runtime(settings, transport=dolibarr, now=clock) as rt:
                try:
                    return [(await follow_up(rt, target_ref, channel=Channel.EMAIL)).outcome]
                except (FollowUpInProgress, RecentFollowUp):
                    return ["refused"]

        async def web_post() -> list[str]:
            answer = await web.post("/followup/new", data=posted)
            if answer.status_code == 200 and 'class="success"' in answer.text:
                return ["recorded"]
            assert answer.status_code in (400, 409), answer.text
            return ["refused"]

        async def mass() -> list[str]:
            async with open_runtime(settings, transport=dolibarr, now=clock) as rt:
                refs = tuple(sample.refs[role] for role in MASS_ROLES)
                items = await plan_mass(rt, MassSelection(refs=refs), channel="email")
                report = await mass_follow_up(rt, items, channel="email")
                return [o.outcome for o in report.outcomes]

        async def automatic() -> list[str]:
            async with open_runtime(settings, transport=dolibarr, now=clock) as rt:
                report = await run_auto(rt)
                assert report.error is None
                return [o.outcome for o in report.outcomes]

        results = await asyncio.gather(remind(), remind(), web_post(), web_post(), mass(), automatic())

    for outcomes in results:
        tally.attempts += len(outcomes)
        tally.outcomes.update(outcomes)
    assert "failed" not in tally.outcomes and "uncertain" not in tally.outcomes, tally.outcomes
    done = [e for e in fake.events.values() if e.code == "AC_RELANCE_EMAIL"]
    per_quote = Counter(e.fk_element for e in done)
    sent_ids = Counter(str(m.message["Message-ID"]) for m in smtp_sink.messages)
    event_ids = Counter(e.email_msgid for e in done)
    tally.sent += len(smtp_sink.messages)
    tally.done_events += len(done)
    tally.duplicates += sum(n - 1 for n in per_quote.values() if n > 1)
    # One follow-up allowed per quote in a round (the others fall within [auto] min_gap).
    assert per_quote[target_id] == 1 and all(n == 1 for n in per_quote.values()), per_quote
    # Exactly one e-mail per done event, and the same ones.
    assert sent_ids == event_ids and all(n == 1 for n in sent_ids.values())
    todos = [e for e in fake.events.values() if e.code == "AC_RELANCE_TODO" and e.percentage == 0]
    assert Counter(e.fk_element for e in todos) == per_quote  # one open to-do per quote followed up


def _csrf_and_attempt_login(html: str) -> dict[str, str]:
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    assert csrf
    return {"csrf": csrf.group(1)}


async def test_torture_one_follow_up_per_quote_whoever_starts_it(
    backend: str, tmp_path: Path, smtp_sink: SmtpSink, capsys: pytest.CaptureFixture[str]
) -> None:
    tally = Tally()
    base = product_settings(tmp_path, smtp_sink.port, "set-per-round")
    for number in range(ROUNDS):
        sqlite_url = f"sqlite:///{tmp_path / f'ledger-{number}.sqlite3'}"
        with pg_schema_url() if backend == "postgres" else nullcontext(sqlite_url) as url:
            settings = base.model_copy(update={"ledger": base.ledger.model_copy(update={"url": url})})
            await _round(settings, smtp_sink, tally)
    with capsys.disabled():
        print(
            f"\n[{backend}] rounds={ROUNDS} attempts={tally.attempts} sent={tally.sent} "
            f"done_events={tally.done_events} outcomes={dict(tally.outcomes)} duplicates={tally.duplicates}"
        )
    assert tally.duplicates == 0 and tally.sent == tally.done_events


async def test_the_mass_preview_shows_what_is_then_sent(
    runtime: Runtime, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    """The quote's CUSTOMER contact, not the customer's own address; --prefer-email decided once, in the plan."""
    refs = tuple(sample_data.refs[role] for role in ("not_yet_due", "no_email", "contact_without_email"))
    items = await plan_mass(runtime, MassSelection(refs=refs), channel="prefer-email")
    shown = {item.row.quote.ref: (item.channel, item.recipient) for item in items}
    assert shown[sample_data.refs["not_yet_due"]] == (Channel.EMAIL, "claire@lefevre-archi.test")
    assert shown[sample_data.refs["contact_without_email"]] == (Channel.EMAIL, "accueil@garage-dupont.test")
    assert shown[sample_data.refs["no_email"]][0] is Channel.LETTER
    report = await mass_follow_up(runtime, items, channel="prefer-email")
    sent = {o.quote_ref: (o.channel, o.recipients) for o in report.outcomes}
    assert sent == shown
    received = {tuple(m.rcpt_tos) for m in smtp_sink.messages}
    assert received == {("claire@lefevre-archi.test",), ("accueil@garage-dupont.test",)}


async def test_the_web_form_posted_twice_makes_one_follow_up_and_a_recent_one_asks_to_confirm(
    settings: Settings, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    web_app = create_web_app(settings, dolibarr_transport=transport, now=clock)
    quote_id = sample_data.quotes[TARGET]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web_app), base_url="http://sidecar.test") as web:
        page = await web.get("/login")
        await web.post("/login", data={**_csrf_and_attempt_login(page.text), "login": "jdupont", "password": "relance"})
        form = _csrf_and_attempt((await web.get(f"/quotes/{quote_id}/followup")).text)
        posted = {**form, "quote": str(quote_id), "send_email": "1"}
        first = await web.post("/followup/new", data=posted)
        assert first.status_code == 200 and 'class="success"' in first.text
        again = await web.post("/followup/new", data=posted)  # the same form, a second time
        # the second post shows the first one's result (the quote's follow-ups), nothing is sent again
        assert again.status_code == 409 and "Ce formulaire a déjà été envoyé : c&#39;est fait" in again.text
        assert f'href="/quotes/{quote_id}/followups"' in again.text
        assert len(smtp_sink.messages) == 1

        fresh = _csrf_and_attempt((await web.get(f"/quotes/{quote_id}/followup")).text)
        recent = await web.post("/followup/new", data={**fresh, "quote": str(quote_id), "send_email": "1"})
        assert recent.status_code == 409 and "il y a moins de 3 jours" in recent.text
        assert 'name="force"' in recent.text and "Relancer quand même" in recent.text
        assert len(smtp_sink.messages) == 1
        confirmed = _csrf_and_attempt(recent.text)
        assert confirmed["attempt"] == fresh["attempt"]  # the same attempt, confirmed
        forced = await web.post(
            "/followup/new", data={**confirmed, "quote": str(quote_id), "send_email": "1", "force": "1"}
        )
        assert forced.status_code == 200 and 'class="success"' in forced.text
    assert len(smtp_sink.messages) == 2
    done = [e for e in fake_dolibarr.events.values() if e.code == "AC_RELANCE_EMAIL"]
    assert len(done) == 2
