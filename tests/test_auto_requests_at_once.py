"""``[auto] requests_at_once``: the automatic run's follow-ups send their Dolibarr requests that many at
once (1 by default, the least server time per follow-up), whatever the pace; list pages aside."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import FAKE_URL, MutableClock
from dolirelance.config import Settings, load_config
from dolirelance.demo import write_demo_config
from dolirelance.errors import ConfigError
from dolirelance.service import open_runtime, run_auto
from dolirelance.testing import CostModel, FakeDolibarr, SampleData, create_app
from dolirelance.testing.smtp_sink import SmtpSink
from test_auto_run import _seed_open_quotes

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class InFlight:
    """Counts the requests the app serves at once: single requests apart from pages of lists."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app
        self.singles = 0
        self.most_singles = 0
        self.single_requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        page = scope["type"] == "http" and b"limit=" in scope.get("query_string", b"")
        if scope["type"] != "http" or page:
            await self.app(scope, receive, send)
            return
        self.singles += 1
        self.single_requests += 1
        self.most_singles = max(self.most_singles, self.singles)
        try:
            await self.app(scope, receive, send)
        finally:
            self.singles -= 1


async def _runs(
    settings: Settings, fake: FakeDolibarr, clock: MutableClock, *, at_once: int = 1
) -> tuple[InFlight, int, int]:
    """``at_once`` automatic runs side by side in one process: the requests counted, the follow-ups
    recorded, and the pace's ceiling once they have all ended."""
    fake.cost = CostModel(per_request=0.005, per_row=0.0, kinds={})  # requests last: they can overlap
    counted = InFlight(create_app(fake))
    async with open_runtime(settings, transport=httpx.ASGITransport(app=counted), now=clock) as rt:
        reports = await asyncio.gather(*(run_auto(rt) for _ in range(at_once)))
        ceiling = rt.dolibarr.pace.ceiling
    for report in reports:
        assert report.ok and report.dolibarr is not None
        assert report.dolibarr.requests_at_once == settings.auto.requests_at_once
    recorded = sum(1 for report in reports for o in report.outcomes if o.outcome == "recorded")
    return counted, recorded, ceiling


@pytest.mark.parametrize("at_once", [1, 3])
async def test_the_run_sends_its_follow_ups_requests_at_most_requests_at_once(
    at_once: int,
    settings: Settings,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    clock: MutableClock,
) -> None:
    """12 due quotes, 4 follow-ups prepared side by side: at 1 (the default), Dolibarr never has two of
    their requests at once; at 3, it does (and never more than 3). Every follow-up is sent and recorded."""
    due_ids = _seed_open_quotes(fake_dolibarr, sample_data, 60, due=12)
    assert settings.auto.requests_at_once == 1
    auto = settings.auto.model_copy(update={"requests_at_once": at_once})
    counted, recorded, _ = await _runs(settings.model_copy(update={"auto": auto}), fake_dolibarr, clock)
    assert recorded >= len(due_ids)
    assert len(smtp_sink.messages) == recorded
    assert counted.single_requests >= 4 * len(due_ids)  # read, PDF, event, to-do each
    if at_once == 1:
        assert counted.most_singles == 1
    else:
        assert 2 <= counted.most_singles <= at_once


def test_requests_at_once_above_max_concurrency_is_refused(tmp_path: Path, sample_data: SampleData) -> None:
    """A bound above ``[dolibarr] max_concurrency`` could never be reached: the configuration says so."""
    path = write_demo_config(tmp_path, dolibarr_url=FAKE_URL, api_key=sample_data.api_keys["jdupont"], smtp_port=25)
    text = path.read_text(encoding="utf-8")
    assert text.count("[auto]\n") == 1
    path.write_text(text.replace("[auto]\n", "[auto]\nrequests_at_once = 5\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "requests_at_once = 5" in message and "max_concurrency = 4" in message, message


async def test_two_runs_at_once_keep_the_hold_and_leave_it_lifted(
    settings: Settings,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    clock: MutableClock,
) -> None:
    """Two automatic runs in one process (the ledger lets each quote go once): one request at a time
    while either runs, and the pace's own limit back once both have ended, whichever ends first."""
    due_ids = _seed_open_quotes(fake_dolibarr, sample_data, 60, due=12)
    counted, recorded, ceiling = await _runs(settings, fake_dolibarr, clock, at_once=2)
    assert ceiling == settings.dolibarr.max_concurrency == 4
    assert recorded >= len(due_ids) and len(smtp_sink.messages) == recorded
    assert counted.most_singles == 1
