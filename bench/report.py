"""Effectiveness report: requests, wall time and memory over 10,000 quotes and 20,000 follow-ups.

The fake Dolibarr answers in-process (httpx.ASGITransport), optionally after ``--latency`` seconds
per request. Seeded: N quotes issued over the last 12 months (a quarter signed, a sixth refused, the
rest open or expired), 2·N follow-ups (steps 1 and 2, e-mail or letter, some manual) each with the
to-do it planned, as dolirelance writes them: so the events list holds 4·N events.
The bound to check: requests = O(N / page size) — events / page + quotes / page (+ older quotes
by id / 200) + one per sales person — never one per quote.

The fake filters every stored row on each page it serves (O(rows) per request, so O(N²) for a
whole list): the bench memoizes the fake's filter-and-sort per query (the data does not change
while the report reads it) so that the wall time is not the fake's. Request counts are unchanged.
Memory: the growth of the process's peak RSS while the report runs (the fake's answers included).

With ``--web``: the page « Efficacité des relances » over the same data, the fake charging what a real
Dolibarr 20 does (``CostModel``): seconds to the page's first answer, then to its figures
(``/report/figures``, which the page's script asks for when they were not ready in time).

Run: .venv/bin/python bench/report.py [--sizes 1000 10000] [--latency 0.0] [--web]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import resource
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from dolirelance.config import load_config
from dolirelance.demo import write_demo_config
from dolirelance.domain import Channel
from dolirelance.history import CODE_BY_CHANNEL, CODE_TODO, compose_note
from dolirelance.service import open_runtime
from dolirelance.service.report import effectiveness_report
from dolirelance.testing import CostModel, FakeDolibarr, create_app, load_sample_data
from dolirelance.testing.fake.routes import listing

TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
MODELS = ("1ère relance", "2nde relance")


def memoize_fake_filters() -> None:
    original = listing.filter_and_sort
    memo: dict[tuple[object, ...], list[Any]] = {}

    def remembered(call: Any, records: list[Any], spec: listing.Listing) -> list[Any]:
        key = (id(spec), len(records), call.param("sqlfilters"), call.param("sortfield"), call.param("sortorder"))
        if key not in memo:
            memo[key] = original(call, records, spec)
        return memo[key]

    listing.filter_and_sort = remembered  # type: ignore[assignment]


def seed(fake: FakeDolibarr, n: int, rng: random.Random) -> int:
    """N quotes and about 2·N follow-ups; returns the number of follow-ups."""
    sample = load_sample_data(fake, TODAY)
    reps = [sample.users["jdupont"], sample.users["admin"]]
    customers = list(sample.customers.values())
    followups = 0
    for index in range(n):
        issued = TODAY - timedelta(days=rng.randint(20, 360))
        customer = customers[index % len(customers)]
        rep = reps[index % 2]
        proposal = fake.add_proposal(customer, date=issued, duree_validite=30, user_id=rep)
        fake.add_proposal_line(proposal.id, description="Installation", qty=1, subprice=str(rng.randint(5, 90) * 100))
        fake.validate_proposal(proposal.id, user_id=rep)
        count = rng.choice((1, 2, 3, 3))
        day = issued + timedelta(days=25)
        for rank in range(count):
            day += timedelta(days=rng.randint(3, 15))
            if day > TODAY:
                break
            channel = Channel.LETTER if rng.random() < 0.3 else Channel.EMAIL
            manual = rng.random() < 0.2
            key = f"bench:{proposal.id}:{rank}"
            facts: dict[str, str | int | None] = {
                "key": key, "model": MODELS[min(rank, 1)], "level": min(rank, 1) + 1, "channel": channel.value,
                "auto": None if manual else 1, "step": None if manual else min(rank, 1) + 1,
            }  # fmt: skip
            done_at = fake.epoch_of_day(day) + 9 * 3600
            label = f"Relance devis {proposal.ref}"
            fake.add_event(type_code="AC_OTH_AUTO", code=CODE_BY_CHANNEL[channel], label=label, userownerid=rep,
                           datep=done_at, percentage=100, socid=customer,
                           elementtype="propal", fk_element=proposal.id, note=compose_note("", facts))  # fmt: skip
            fake.add_event(type_code="AC_OTH", code=CODE_TODO, label=f"À relancer : devis {proposal.ref}",
                           userownerid=rep, datep=done_at + 15 * 86400, percentage=100, socid=customer,
                           elementtype="propal", fk_element=proposal.id,
                           note=compose_note("", {"key": key}))  # fmt: skip
            followups += 1
        outcome = rng.random()
        if outcome < 0.42:
            fake.close_proposal(proposal.id, 2 if outcome < 0.25 else 3, user_id=rep)
            proposal.date_signature = fake.epoch_of_day(min(day + timedelta(days=rng.randint(0, 20)), TODAY))
            proposal.row_cache = None
    return followups


async def measure(n: int, latency: float, workdir: Path) -> dict[str, object]:
    rng = random.Random(n)
    fake = FakeDolibarr(timezone="Europe/Paris", now=lambda: NOW)
    followups = seed(fake, n, rng)
    config = write_demo_config(workdir, dolibarr_url="http://dolibarr.test/api/index.php",
                               api_key="demo-sales-key", smtp_port=25)  # fmt: skip
    settings = load_config(config)
    fake.latency = latency
    results: dict[str, object] = {"n": len(fake.proposals), "followups": followups, "events": len(fake.events)}
    async with open_runtime(settings, transport=httpx.ASGITransport(app=create_app(fake)), now=lambda: NOW) as rt:
        fake.reset_requests()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        report = await effectiveness_report(rt)
        results["seconds"] = time.perf_counter() - started
        results["rss_growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
        by_path = fake.requests_by_path()
        results["requests"] = len(fake.requests)
        results["proposal_lists"] = by_path["GET /proposals"]
        results["event_lists"] = by_path["GET /agendaevents"]
        results["reported"] = (report.total.followups, report.total.quotes, str(report.total.conversion))
        page = settings.dolibarr.page_size
        results["bound"] = math.ceil(len(fake.events) / page) + math.ceil(len(fake.proposals) / page) + 6
    results["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def measure_web(n: int, workdir: Path) -> dict[str, object]:
    """The report page over N quotes and ~2·N follow-ups, the fake costing like a real Dolibarr."""
    from starlette.testclient import TestClient

    from dolirelance.web import create_web_app

    fake = FakeDolibarr(timezone="Europe/Paris", now=lambda: NOW)
    followups = seed(fake, n, random.Random(n))
    fake.cost = CostModel.free()  # a real server's caches are warm: so are the fake's (its list memo)
    config = write_demo_config(workdir, dolibarr_url="http://dolibarr.test/api/index.php",
                               api_key="demo-sales-key", smtp_port=25)  # fmt: skip
    app = create_web_app(load_config(config), dolibarr_transport=httpx.ASGITransport(app=create_app(fake)),
                         now=lambda: NOW)  # fmt: skip
    with TestClient(app) as client:
        token = client.get("/login").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"login": "jdupont", "password": "relance", "csrf": token})
        client.get("/report.json?from=2026-11-01")  # warm the fake's caches on another period
        fake.cost = CostModel()
        fake.reset_requests()
        started = time.perf_counter()
        page = client.get("/report")
        first = time.perf_counter() - started
        later = "data-figures-url" in page.text
        figures = client.get("/report/figures") if later else page
        ready = time.perf_counter() - started
        costs = fake._costs.summary() if fake._costs is not None else {"server_seconds": 0.0}
    return {"n": len(fake.proposals), "followups": followups, "events": len(fake.events), "first": first,
            "later": later, "ready": ready, "status": (page.status_code, figures.status_code),
            "requests": len(fake.requests), "server": costs["server_seconds"]}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--web", action="store_true", help="the web page, the fake costing like a real Dolibarr")
    args = parser.parse_args(argv)
    if args.web:
        print(f"cost model: {CostModel()}")
        for n in args.sizes:
            with tempfile.TemporaryDirectory() as tmp:
                r = measure_web(n, Path(tmp))
            print(f"{r['n']} quotes, {r['followups']} follow-ups ({r['events']} events): first answer of the "
                  f"report page {r['first']:.2f} s (figures {'after it' if r['later'] else 'in it'}), figures "
                  f"ready after {r['ready']:.1f} s; HTTP {r['status']}; {r['requests']} requests to Dolibarr, "
                  f"{r['server']:.1f} s of its time")  # fmt: skip
        return
    memoize_fake_filters()
    print(f"latency {args.latency * 1000:.0f} ms per request, page size 100, max_concurrency 4")
    print(f"{'quotes':>7} {'follow-ups':>10} {'events':>7} {'requests':>8} {'bound':>6} {'/proposals':>10} "
          f"{'/agendaevents':>13} {'wall s':>7} {'+RSS MB':>8} {'maxrss MB':>9}  report")  # fmt: skip
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            r = asyncio.run(measure(n, args.latency, Path(tmp)))
        print(f"{r['n']:>7} {r['followups']:>10} {r['events']:>7} {r['requests']:>8} {r['bound']:>6} "
              f"{r['proposal_lists']:>10} {r['event_lists']:>13} {r['seconds']:>7.1f} {r['rss_growth_mb']:>8.1f} "
              f"{r['maxrss_mb']:>9.0f}  {r['reported']}")  # fmt: skip


if __name__ == "__main__":
    main()
