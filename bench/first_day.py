"""The first day of automatic follow-ups on 10,000 open quotes, against a fake that costs like a real Dolibarr.

Scenario (issue 11): 10,000 open quotes (plus the sample's), their end of validity spread so that
~20 % of them have a step due today (steps -5 days / +10 days, window 30 days), none followed up
before. The fake Dolibarr runs in its own process over HTTP on loopback, with the cost model of a
real Dolibarr 20 (``dolirelance.testing.CostModel``: ~10 ms per request, ~0.7 ms per object listed whatever
its properties, per kind for requests on one object (builddoc ~140 ms), 8 PHP workers,
2 cores); it counts the server time it charges, by kind of request.

Measured, in this order, in the same run:

- **floor**: every open quote read once, ids only (``properties=id``), pages of 500, 4 requests in
  flight (a sliding window: a page read starts the next at once). Nothing can decide about every
  open quote faster than that;
- **dry run**: ``run_auto(dry_run=True)``: wall time and requests, by route, against the bound
  ceil(window / page) + event pages + 3 × ceil(due / 100) + a constant; then the command
  ``dolirelance run --once --dry-run`` in a subprocess, start-up included, as ops run it;
- **quotes**: ``dolirelance quotes --json`` over every open quote, in a subprocess: wall time and
  peak memory (max RSS of that process);
- **web mass page**: the first screen of the mass follow-up page (``GET /mass``);
- **mass**: ``mass_follow_up()`` of ``--mass`` open quotes (e-mail, a letter where there is no
  address), first one at a time (``max_concurrency = 1``, as before issue 11), then the same number
  of other quotes with the configured ``max_concurrency``: follow-ups per second of each;
- **real run**: ``run_auto()`` e-mailing the due quotes (capped by ``[auto] max_per_run``, 200) to an
  SMTP sink on loopback with the rate limit off, each recorded in Dolibarr: follow-ups per second,
  requests, Dolibarr's server time by kind of request, and the CPU time of the measured process;
  once with ``[followup] rebuild_pdf = "always"`` (as measured on a real Dolibarr in issue 28: 4
  requests in flight held, ``requests_at_once = 4`` and the pace off; the figures printed beside),
  then on a fresh first day with ``"when_stale"`` as ``run --once`` runs by default
  (``requests_at_once = 1``);
- **pace**: the real run on a small server (``CostModel.small_server()``: every request CPU, 2 served at
  once, the others queueing, the wait counted as server time as Apache's ``%D`` does; ``--pace-open``
  open quotes, each measure on a fresh first day): the automatic run's default (``[auto]
  requests_at_once = 1``, the pace adapting up to ``max_concurrency = 4`` for its list pages), the
  adaptive pace under ``requests_at_once = 2`` and 4 (4: the pace as before ``requests_at_once``),
  then 4, 3 and 2 at once held (``adapt_concurrency = false``, ``requests_at_once`` the same): server
  time per follow-up and per request, beside the integrator's figures of a real 2-core Dolibarr.

The fake Dolibarr and the SMTP sink each run in their own process, as a real Dolibarr and a real
SMTP server would: the measured process pays only for its own work.

Run: .venv/bin/python bench/first_day.py [--open 10000] [--parts floor dry quotes web mass real pace] [--mass 200]
[--no-cost] [--pace-open 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import math
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from dolirelance.config import Settings, load_config
from dolirelance.demo import write_demo_config
from dolirelance.service import open_runtime, run_auto
from dolirelance.testing import CostModel, FakeDolibarr, create_app, load_sample_data, serve_in_thread
from dolirelance.testing.smtp_sink import SmtpSink

TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 7, 30, tzinfo=UTC)  # 08:30 in Paris
API_KEY = "demo-sales-key"
# End of validity from today - 135 to today + 49 days: the 37 days on which a step is due (5 days
# before the end, then 10 to 40 days after it) are ~20 % of them.
OFFSETS = (-135, 49)
FLOOR_PAGE = 500
FLOOR_IN_FLIGHT = 4


def seed_first_day(fake: FakeDolibarr, n: int, rng: random.Random) -> None:
    """``n`` open quotes with one line and one CUSTOMER contact each; no follow-up ever made."""
    sample = load_sample_data(fake, TODAY)
    owner = sample.users["jdupont"]
    customers = list(sample.customers.values())
    # each customer's own contacts (Dolibarr links a quote to contacts of its customer)
    contacts = {c: [k for k in fake.contacts.values() if k.socid == c] for c in customers}
    template = next(p for p in fake.proposals.values() if p.last_main_doc)
    pdf = next(f for f in fake.proposal_files(template) if f.name.endswith(".pdf")).content
    for index in range(n):
        end = TODAY + timedelta(days=rng.randint(*OFFSETS))
        customer = customers[index % len(customers)]
        proposal = fake.add_proposal(customer, date=end - timedelta(days=30), duree_validite=30, user_id=owner)
        fake.add_proposal_line(proposal.id, description="Installation photovoltaïque", qty=1, subprice="4800")
        own = contacts[customer]
        if index % 4 and own:  # three quotes in four have a follow-up contact, the others go to the customer
            fake.link_contact(proposal.id, own[index % len(own)].id, "CUSTOMER", "external")
        fake.validate_proposal(proposal.id, user_id=owner)
        # the same PDF for every quote: rendering 10,000 of them would only slow the seeding down
        fake.upload_file(proposal.id, f"{proposal.ref}.pdf", pdf)
        proposal.last_main_doc = f"propale/{proposal.ref}/{proposal.ref}.pdf"
        proposal.row_cache = None


def serve_sink(pipe: Connection) -> None:
    """Child process: an SMTP sink on loopback; answers "count" with the messages received, stops on "stop"."""
    with SmtpSink() as sink:
        pipe.send(sink.port)
        while pipe.recv() == "count":
            pipe.send(len(sink.messages))


def start_fake(ctx: Any, n: int, cost: CostModel | None) -> tuple[Any, Connection, str]:
    """A fake Dolibarr in its own process, seeded with ``n`` open quotes: (process, pipe, URL)."""
    parent_end, child_end = ctx.Pipe()
    server = ctx.Process(target=serve_fake, args=(n, cost, child_end), daemon=True)
    server.start()
    url, open_count = parent_end.recv()
    print(f"fake Dolibarr: {open_count} open quotes")
    return server, parent_end, url


def serve_fake(n: int, cost: CostModel | None, pipe: Connection) -> None:
    """Child process: seed, serve over HTTP, report the URL and the number of open quotes, wait."""
    fake = FakeDolibarr(timezone="Europe/Paris", now=lambda: NOW)
    seed_first_day(fake, n, random.Random(n))
    if cost is not None:
        # A real server's caches are warm after the first reads: so are the fake's (see _list_memo).
        fake.cost = CostModel.free()
        asyncio.run(warm_up(fake))
        fake.cost = cost
    open_count = sum(1 for p in fake.proposals.values() if p.status == 1)
    with serve_in_thread(create_app(fake)) as url:
        pipe.send((url, open_count))
        while pipe.recv() == "costs":  # the server time charged so far; anything else: stop
            pipe.send(fake._costs.summary() if fake._costs is not None else None)


async def warm_up(fake: FakeDolibarr) -> None:
    transport = httpx.ASGITransport(app=create_app(fake))
    async with httpx.AsyncClient(transport=transport, base_url="http://fake/api/index.php/") as http:
        answer = await http.get("proposals", params={"limit": 0}, headers={"DOLAPIKEY": API_KEY})
        answer.raise_for_status()


async def read_floor(url: str) -> tuple[float, int, int]:
    """Every open quote once, ids only, pages of 500, 4 in flight: (seconds, requests, quotes)."""
    requests = 0
    ids: set[str] = set()
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url + "/", headers={"DOLAPIKEY": API_KEY}, timeout=60) as http:

        async def page(number: int) -> int:
            nonlocal requests
            requests += 1
            params: dict[str, str | int] = {
                "sqlfilters": "(t.fk_statut:=:1)",
                "properties": "id",
                "limit": FLOOR_PAGE,
                "page": number,
                "sortfield": "t.rowid",
            }
            answer = (await http.get("proposals", params=params)).json()
            ids.update(str(item["id"]) for item in answer)
            return len(answer)

        # a sliding window: a page read starts the next one at once, 4 always in flight until a short page
        next_page, last_seen = 0, False

        async def reader() -> None:
            nonlocal next_page, last_seen
            while not last_seen:
                number, next_page = next_page, next_page + 1
                if await page(number) < FLOOR_PAGE:
                    last_seen = True

        await asyncio.gather(*(reader() for _ in range(FLOOR_IN_FLIGHT)))
    return time.perf_counter() - started, requests, len(ids)


async def auto_runs(
    config: Path,
    *,
    real: bool,
    max_per_run: int | None,
    rebuild_pdf: str = "when_stale",
    dry: bool = True,
    dolibarr: dict[str, Any] | None = None,
    requests_at_once: int | None = None,
) -> dict[str, Any]:
    settings = load_config(config)
    if dolibarr:
        settings = settings.model_copy(update={"dolibarr": settings.dolibarr.model_copy(update=dolibarr)})
    auto: dict[str, int] = {}
    if max_per_run is not None:
        auto["max_per_run"] = max_per_run
    if requests_at_once is not None:
        auto["requests_at_once"] = requests_at_once
    followup = settings.followup.model_copy(update={"rebuild_pdf": rebuild_pdf})
    settings = settings.model_copy(update={"auto": settings.auto.model_copy(update=auto), "followup": followup})
    # model_copy checks nothing: the settings again through their cross-section checks, as a config file's
    # (requests_at_once above max_concurrency is refused there)
    settings = Settings.model_validate({name: getattr(settings, name) for name in Settings.model_fields})
    results: dict[str, Any] = {}
    async with open_runtime(settings, now=lambda: NOW) as rt:
        await rt.dolibarr.status()  # the connection and /status, outside of the measures
        for label, dry_run in (("dry run", True), ("real run", False)):
            if (dry_run and not dry) or (not dry_run and not real):
                continue
            before = rt.dolibarr.request_count
            by_route_before = dict(rt.dolibarr.requests_by_route)
            started = time.perf_counter()
            report = await run_auto(rt, dry_run=dry_run)
            elapsed = time.perf_counter() - started
            assert report.error is None, report.error
            by_route = {
                route: count - by_route_before.get(route, 0)
                for route, count in rt.dolibarr.requests_by_route.items()
                if count - by_route_before.get(route, 0)
            }
            results[label] = {
                "seconds": elapsed,
                "requests": rt.dolibarr.request_count - before,
                "by_route": by_route,
                "candidates": len(report.decisions),
                "due": len(report.due),
                "deferred": len(report.deferred),
                "sent": len(report.sent),
                "failed": len(report.failed),
                "at_once": report.dolibarr.at_once if report.dolibarr else None,
                "fewest_at_once": report.dolibarr.fewest_at_once if report.dolibarr else None,
                "requests_at_once": report.dolibarr.requests_at_once if report.dolibarr else None,
                "max_concurrency": report.dolibarr.max_concurrency if report.dolibarr else None,
            }
    return results


def run_quotes_cli(config: Path) -> tuple[float, float, float, int]:
    """``dolirelance quotes --json`` in a subprocess: (seconds, CPU seconds, max RSS in MB, quotes printed)."""
    out = config.parent / "quotes.json"
    started = time.perf_counter()
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "dolirelance", "quotes", "--json", "--config", str(config)], stdout=sink
        )
        _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"dolirelance quotes exited with {process.returncode}")
    import json

    count = len(json.loads(out.read_text(encoding="utf-8")))
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, count


def run_dry_cli(config: Path) -> float:
    """``dolirelance run --once --dry-run --on <NOW's day>`` in a subprocess: its wall time in seconds."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "dolirelance", "run", "--once", "--dry-run", "--on", NOW.date().isoformat()]
    done = subprocess.run([*command, "--config", str(config)], stdout=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: something would fail (the run's report says what)
        raise RuntimeError(f"dolirelance run --dry-run exited with {done.returncode}")
    return elapsed


async def quotes_in_process(config: Path) -> tuple[float, int]:
    """What ``quotes`` did before issue 28, once started: every open quote streamed with its history and
    customer, each with every property a run reads (the command now reads only what it shows)."""
    from dolirelance.domain import QuoteFilter
    from dolirelance.service import iter_quote_rows

    count = 0
    async with open_runtime(load_config(config), now=lambda: NOW) as rt:
        await rt.dolibarr.status()  # as the CLI's first request
        started = time.perf_counter()
        async for rows in iter_quote_rows(rt, QuoteFilter()):
            count += len(rows)
        return time.perf_counter() - started, count


def web_first_screen(config: Path) -> tuple[float, int]:
    """Seconds to the first screen of the mass page, logged in as the sales user; and its status code."""
    from starlette.testclient import TestClient

    from dolirelance.web import create_web_app

    settings = load_config(config)
    app = create_web_app(settings, now=lambda: NOW)
    with TestClient(app) as client:
        login_page = client.get("/login")
        token = login_page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"login": "jdupont", "password": "relance", "csrf": token})
        started = time.perf_counter()
        response = client.get("/mass", params={"all": "1"})
        return time.perf_counter() - started, response.status_code


async def mass_runs(config: Path, url: str, size: int) -> list[dict[str, Any]]:
    """Two mass follow-ups of ``size`` different open quotes each: one at a time, then side by side."""
    from dolirelance.service import MassSelection, mass_follow_up, plan_mass

    async with httpx.AsyncClient(base_url=url + "/", headers={"DOLAPIKEY": API_KEY}, timeout=60) as http:
        params: dict[str, str | int] = {"sqlfilters": "(t.fk_statut:=:1)", "properties": "ref", "limit": 2 * size}
        refs = [item["ref"] for item in (await http.get("proposals", params=params)).json()]
    settings = load_config(config)
    results = []
    for concurrency, chosen in ((1, refs[:size]), (settings.dolibarr.max_concurrency, refs[size:])):
        dolibarr = settings.dolibarr.model_copy(update={"max_concurrency": concurrency})
        async with open_runtime(settings.model_copy(update={"dolibarr": dolibarr}), now=lambda: NOW) as rt:
            await rt.dolibarr.status()
            items = await plan_mass(rt, MassSelection(refs=tuple(chosen)), channel="prefer-email")
            before = rt.dolibarr.request_count
            started = time.perf_counter()
            report = await mass_follow_up(rt, items, channel="prefer-email")
            elapsed = time.perf_counter() - started
            done = [o for o in report.outcomes if o.ok]
            results.append(
                {
                    "concurrency": concurrency,
                    "seconds": elapsed,
                    "done": len(done),
                    "letters": report.letters_count,
                    "emails": sum(1 for o in done if o.channel.value == "email"),
                    "failed": len(report.failed),
                    "requests": rt.dolibarr.request_count - before,
                }
            )
    return results


PARTS = ("floor", "dry", "quotes", "web", "mass", "real", "pace")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--open", type=int, default=10_000, help="open quotes to seed (plus the sample's)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure")
    parser.add_argument("--mass", type=int, default=200, help="quotes in each mass follow-up measured")
    parser.add_argument("--skip-real", action="store_true", help="measure without the real run")
    parser.add_argument("--no-cost", action="store_true", help="the fake answers as fast as it can")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the real run to this file")
    parser.add_argument("--pace-open", type=int, default=2000,
                        help="open quotes of each first day of the pace part (~20 %% due, 200 sent)")  # fmt: skip
    parser.add_argument("--pace-capacity", type=int, nargs="+", default=[2, 1],
                        help="requests the small server serves at once in the pace part, one measure each")  # fmt: skip
    parser.add_argument("--cost", nargs="*", default=[], metavar="FIELD=SECONDS",
                        help="change the cost model, e.g. per_property=0.00002 (to calibrate it)")  # fmt: skip
    args = parser.parse_args(argv)
    model = CostModel(**{field: float(value) for field, value in (item.split("=", 1) for item in args.cost)})
    parts = set(args.parts) - ({"real"} if args.skip_real else set())
    ctx = multiprocessing.get_context("fork")
    sink_end, sink_child_end = ctx.Pipe()
    sink = ctx.Process(target=serve_sink, args=(sink_child_end,), daemon=True)
    seeding = time.perf_counter()
    sink.start()
    server, parent_end, url = start_fake(ctx, args.open, None if args.no_cost else model)
    sink_port = sink_end.recv()
    print(f"fake Dolibarr: seeded and serving in {time.perf_counter() - seeding:.1f} s")
    cost = "off" if args.no_cost else str(model)
    print(f"cost model: {cost}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    floor_s = math.nan
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            config = write_demo_config(workdir, dolibarr_url=url, api_key=API_KEY, smtp_port=sink_port)
            if "floor" in parts or "quotes" in parts or "dry" in parts:
                floor_s, floor_requests, floor_quotes = asyncio.run(read_floor(url))
                print(f"floor: {floor_quotes} open quotes read once (ids, pages of {FLOOR_PAGE}, "
                      f"{FLOOR_IN_FLIGHT} in flight): {floor_s:.2f} s, {floor_requests} requests")  # fmt: skip
            if "dry" in parts:
                measure_dry_runs(config, floor_s)
            if "quotes" in parts:
                quotes_s, quotes_cpu, quotes_mb, quotes_count = run_quotes_cli(config)
                print(f"quotes --json: {quotes_count} quotes in {quotes_s:.2f} s ({quotes_s / floor_s:.2f} × floor), "
                      f"CPU {quotes_cpu:.2f} s, max RSS {quotes_mb:.0f} MB (the whole process)")  # fmt: skip
                inside_s, inside_count = asyncio.run(quotes_in_process(config))
                print(f"quotes with every property a run reads (real Dolibarr: 1.44 × floor), in this process: "
                      f"{inside_count} quotes in {inside_s:.2f} s ({inside_s / floor_s:.2f} × floor)")  # fmt: skip
                if "floor" in parts:  # the floor again: the machine's load may have changed meanwhile
                    again, _, _ = asyncio.run(read_floor(url))
                    print(f"floor again: {again:.2f} s; quotes --json is {quotes_s / max(floor_s, again):.2f} × "
                          "the slower floor")  # fmt: skip
            if "web" in parts:
                web_s, web_status = web_first_screen(config)
                print(f"web mass page, first screen: {web_s:.2f} s (HTTP {web_status})")
            if "mass" in parts:
                for mass in asyncio.run(mass_runs(config, url, args.mass)):
                    rate = mass["done"] / mass["seconds"] if mass["seconds"] else 0.0
                    print(f"mass, max_concurrency {mass['concurrency']}: {mass['done']} follow-ups "
                          f"({mass['emails']} e-mails, {mass['letters']} letters) in {mass['seconds']:.1f} s = "
                          f"{rate:.1f}/s; {mass['failed']} failed; {mass['requests']} requests")  # fmt: skip
            if "real" in parts:
                # each mode on the first day as it was: the second one on a fresh fake, seeded the same.
                # "always" as issue 28 measured it on a real Dolibarr: 4 requests in flight, held (before
                # the adaptive pace, which holds 2–3 here, and [auto] requests_at_once, whose default 1
                # would hold them to one). The default cost model's server time and requests do not depend
                # on how many are in flight (it charges each request's cost, not its queueing), but the
                # run's wall time and rate do: 20 s at the pace (2-3 at once), 18 s 4 held, 13.7 s real.
                # "when_stale" as `run --once` runs now, requests_at_once at its default.
                measure_real_run(config, "always", sink_end, parent_end, args.profile, REAL_RUN_IN_FLIGHT)
                fresh, fresh_end, fresh_url = start_fake(ctx, args.open, None if args.no_cost else model)
                try:
                    (workdir / "fresh").mkdir()
                    fresh_config = write_demo_config(workdir / "fresh", dolibarr_url=fresh_url, api_key=API_KEY,
                                                     smtp_port=sink_port)  # fmt: skip
                    measure_real_run(fresh_config, "when_stale", sink_end, fresh_end, args.profile)
                finally:
                    fresh_end.send("stop")
                    fresh.join(timeout=10)
            if "pace" in parts:
                for capacity in args.pace_capacity:
                    measure_pace(ctx, args.pace_open, capacity, sink_end, sink_port, workdir)
                print_real_pace()
    finally:
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        parent_end.send("stop")
        sink_end.send("stop")
        server.join(timeout=10)
        sink.join(timeout=10)


# Issue 28, measured on a real Dolibarr 20.0.0 (10,006 open quotes, first day): the dry run at
# 0.76–0.99 × the floor; a real run of 200 follow-ups that rebuilt each quote's PDF, 4 requests in
# flight: 800 requests, 40 s of Dolibarr's time, 13.7 s.
REAL_DRY_RATIO = (0.76, 0.99)
REAL_RUN_REQUESTS = 800
REAL_RUN_SERVER_SECONDS = 40.0
REAL_RUN_WALL_SECONDS = 13.7
REAL_RUN_IN_FLIGHT = 4  # held: there was no pace yet


def server_costs(fake_end: Connection) -> dict[str, Any]:
    fake_end.send("costs")
    costs: dict[str, Any] | None = fake_end.recv()
    return costs or {"server_seconds": 0.0, "requests": 0, "seconds_by_kind": {}, "requests_by_kind": {}}


def measure_real_run(
    config: Path,
    mode: str,
    sink_end: Connection,
    fake_end: Connection,
    profile: Path | None,
    held_at_once: int | None = None,
) -> None:
    """A real run capped at [auto] max_per_run (200), the quote PDFs rebuilt ``always`` or ``when_stale``;
    ``held_at_once``: that many requests in flight, held (``max_concurrency`` and ``requests_at_once``, the
    pace off), else the configuration's (``requests_at_once = 1`` by default)."""
    sink_end.send("count")
    received_before = sink_end.recv()
    costs_before = server_costs(fake_end)
    cpu_before = time.process_time()
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    held = {"max_concurrency": held_at_once, "adapt_concurrency": False} if held_at_once else None
    runs = auto_runs(
        config, real=True, max_per_run=None, rebuild_pdf=mode, dry=False, dolibarr=held, requests_at_once=held_at_once
    )
    real = asyncio.run(runs)["real run"]
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(profile.with_suffix(f".{mode}.prof"))
    cpu = time.process_time() - cpu_before
    costs = server_costs(fake_end)
    sink_end.send("count")
    received = sink_end.recv() - received_before
    sent = max(real["sent"], 1)
    server = costs["server_seconds"] - costs_before["server_seconds"]
    rate = real["sent"] / real["seconds"] if real["seconds"] else 0.0
    print(f"real run, rebuild_pdf = {mode!r}, requests_at_once = {real['requests_at_once']} (max_concurrency "
          f"{real['max_concurrency']}; {real['at_once']} at once at the end, fewest {real['fewest_at_once']}): "
          f"{real['sent']} follow-ups sent and recorded in "
          f"{real['seconds']:.1f} s = {rate:.1f}/s; {real['failed']} failed; {received} e-mails received; "
          f"{real['requests']} requests; Dolibarr server time {server:.1f} s = {server / sent * 1000:.0f} ms "
          f"per follow-up; CPU of this process {cpu:.1f} s ({cpu / sent * 1000:.1f} ms per follow-up)")  # fmt: skip
    if mode == "always":
        print(f"    real Dolibarr (issue 28), 200 sent, {REAL_RUN_IN_FLIGHT} in flight: {REAL_RUN_REQUESTS} requests, "
              f"{REAL_RUN_SERVER_SECONDS:.0f} s of server time, {REAL_RUN_WALL_SECONDS} s; here, scaled to 200: "
              f"{real['requests'] / sent * 200:.0f} requests "
              f"({real['requests'] / sent * 200 / REAL_RUN_REQUESTS:.2f} × real), {server / sent * 200:.1f} s "
              f"({server / sent * 200 / REAL_RUN_SERVER_SECONDS:.2f} × real)")  # fmt: skip
    before_seconds, before_requests = costs_before["seconds_by_kind"], costs_before["requests_by_kind"]
    spent = {kind: seconds - before_seconds.get(kind, 0.0) for kind, seconds in costs["seconds_by_kind"].items()}
    own = sum(seconds for kind, seconds in spent.items() if kind in CostModel().kinds)
    print(f"    of which the follow-ups' own requests (one object each): {own / sent * 1000:.0f} ms per follow-up; "
          f"the run's list reads: {(server - own):.1f} s")  # fmt: skip
    for kind in sorted(spent, key=lambda k: -spent[k]):
        count = costs["requests_by_kind"].get(kind, 0) - before_requests.get(kind, 0)
        if count:
            print(f"    {count:>6}  {kind:<32} {spent[kind]:6.1f} s server time "
                  f"({spent[kind] / sent * 1000:5.1f} ms per follow-up)")  # fmt: skip


# The integrator's real Dolibarr 20.0.0 (Apache mod_php prefork, MariaDB, the same 2 cores as dolirelance
# and an SMTP sink), a real run of 200 follow-ups each with a CUSTOMER contact (817 requests), interleaved
# rounds at load 0.75–1.8 (six at requests_at_once 1): server time per follow-up (Σ Apache's %D), wall
# time, Dolibarr's CPU (PHP and MariaDB) per follow-up.
REAL_PACE = {
    "requests_at_once 1, max_concurrency 4 (run --once's default)": (
        "45.9–51.4 ms per follow-up, wall 13.8–16.1 s, CPU 43–48 ms per follow-up"
    ),
    "requests_at_once 2, max_concurrency 4 (the pace as before requests_at_once: it stayed at 2 there)": (
        "61.8–67.4 ms per follow-up, wall 10.0–11.1 s, CPU 40.5–46 ms per follow-up"
    ),
}
# the same rounds at requests_at_once 2, per request of each kind, and the run's list reads per follow-up
REAL_AT_2 = {"POST /agendaevents": 15.0, "GET /proposals/{id}": 17.5, "GET /documents/download": 13.7}
REAL_AT_2_LISTS = 3.7
# earlier rounds on the same server (before requests_at_once; three interleaved rounds unless said)
REAL_PACE_EARLIER = {
    "4 at once, fixed": "82–94 ms per follow-up, wall 8.7–10.0 s",
    "2 at once, fixed": "57–60.5 ms per follow-up, wall 10.2–10.7 s",
    "1 at once, fixed": "44 ms per follow-up, wall 14.5 s",
    "adaptive, start 4, rise at 0.8 × the limit (the first pace)": "64–74 ms per follow-up",
    "adaptive, start 2, rise at 0.9 × the limit, before its floor of 2": (
        "58–65 ms per follow-up, wall 10.4–10.5 s; 54–58 ms, wall 9.0–9.7 s in five later runs at load 0.3–1.0"
    ),
    "adaptive with its floor of 2 (later runs, MariaDB restarted; 2 held there: 60–70 ms)": (
        "65–80 ms per follow-up, wall 10.7–12.4 s"
    ),
}
# each request alone, from an earlier measure of the same server (CostModel.small_server's costs)
REAL_ALONE = {"POST /agendaevents": 8.8, "GET /proposals/{id}": 10.4, "GET /documents/download": 8.2}
FOLLOW_UP_KINDS = {
    "POST /agendaevents": "event",
    "GET /proposals/{id}": "quote read",
    "GET /documents/download": "download",
}


# The pace part's measures: (label, [dolibarr] max_concurrency and adapt_concurrency, [auto] requests_at_once).
# Each sets requests_at_once: its default, 1, would hold every measure's follow-up requests to one in flight.
PACE_MEASURES: tuple[tuple[str, dict[str, Any], int], ...] = (
    ("requests_at_once 1, adaptive, at most 4 (run --once's default)",
     {"max_concurrency": 4, "adapt_concurrency": True}, 1),
    # the integrator's "as before" on the real server, where the pace stayed at 2
    ("requests_at_once 2, adaptive, at most 4", {"max_concurrency": 4, "adapt_concurrency": True}, 2),
    # exactly the pace before requests_at_once: its limit free to rise to max_concurrency
    ("requests_at_once 4, adaptive, at most 4 (the pace before requests_at_once)",
     {"max_concurrency": 4, "adapt_concurrency": True}, 4),
    ("4 at once, fixed", {"max_concurrency": 4, "adapt_concurrency": False}, 4),
    ("3 at once, fixed", {"max_concurrency": 3, "adapt_concurrency": False}, 3),
    ("2 at once, fixed", {"max_concurrency": 2, "adapt_concurrency": False}, 2),
)  # fmt: skip


def measure_pace(ctx: Any, n: int, capacity: int, sink_end: Connection, sink_port: int, workdir: Path) -> None:
    """A real run on a small server (``CostModel.small_server()``: every request CPU, ``capacity`` served
    at once, the others queueing, their wait counted as server time as Apache's %D does), each on a fresh
    first day: the measures of :data:`PACE_MEASURES`."""
    model = CostModel.small_server(capacity)
    print(f"pace: cost model {model}")
    for label, dolibarr, requests_at_once in PACE_MEASURES:
        fake, fake_end, url = start_fake(ctx, n, model)
        try:
            here = workdir / (f"pace-{capacity}-{dolibarr['max_concurrency']}-{dolibarr['adapt_concurrency']}"
                              f"-{requests_at_once}")  # fmt: skip
            here.mkdir()
            config = write_demo_config(here, dolibarr_url=url, api_key=API_KEY, smtp_port=sink_port)
            costs_before = server_costs(fake_end)
            runs = auto_runs(config, real=True, max_per_run=None, dry=False, dolibarr=dolibarr,
                             requests_at_once=requests_at_once)  # fmt: skip
            real = asyncio.run(runs)
            costs = server_costs(fake_end)
        finally:
            fake_end.send("stop")
            fake.join(timeout=10)
        run = real["real run"]
        sent = max(run["sent"], 1)
        server = costs["server_seconds"] - costs_before["server_seconds"]
        seconds = {kind: value - costs_before["seconds_by_kind"].get(kind, 0.0)
                   for kind, value in costs["seconds_by_kind"].items()}  # fmt: skip
        counts = {kind: value - costs_before["requests_by_kind"].get(kind, 0)
                  for kind, value in costs["requests_by_kind"].items()}  # fmt: skip
        own = sum(seconds.get(kind, 0.0) for kind in FOLLOW_UP_KINDS)
        each = ", ".join(f"{name} {seconds[kind] / counts[kind] * 1000:.1f} ms"
                         for kind, name in FOLLOW_UP_KINDS.items() if counts.get(kind))  # fmt: skip
        print(f"pace, capacity {capacity}, {label}: {run['sent']} sent in {run['seconds']:.1f} s, "
              f"{run['requests']} requests; {run['at_once']} at once at the end (fewest {run['fewest_at_once']}; "
              f"requests_at_once {run['requests_at_once']}, max_concurrency {run['max_concurrency']}); server time "
              f"{own / sent * 1000:.0f} ms per follow-up in its own requests ({each}), "
              f"{server / sent * 1000:.0f} ms with the run's list reads "
              f"({(server - own) / sent * 1000:.1f} ms)")  # fmt: skip


def print_real_pace() -> None:
    """The real server's figures, to set beside the pace part's."""
    for label, figures in REAL_PACE.items():
        print(f"pace, real Dolibarr, {label}: {figures}")
    at_2 = ", ".join(f"{FOLLOW_UP_KINDS[kind]} {ms:.1f} ms" for kind, ms in REAL_AT_2.items())
    print(f"pace, real Dolibarr, requests_at_once 2, per request: {at_2} (two events per follow-up); "
          f"the run's list reads {REAL_AT_2_LISTS} ms per follow-up")  # fmt: skip
    for label, figures in REAL_PACE_EARLIER.items():
        print(f"pace, real Dolibarr, earlier rounds, {label}: {figures}")
    alone = ", ".join(f"{FOLLOW_UP_KINDS[kind]} {ms:.1f} ms" for kind, ms in REAL_ALONE.items())
    print(f"pace, real Dolibarr, each request alone (an earlier measure): {alone}")


def measure_dry_runs(config: Path, floor_s: float) -> None:
    capped = asyncio.run(auto_runs(config, real=False, max_per_run=None))["dry run"]
    print(f"dry run with the default cap: {capped['seconds']:.2f} s, {capped['requests']} requests, "
          f"{capped['due']} due, {capped['deferred']} deferred")  # fmt: skip
    runs = asyncio.run(auto_runs(config, real=False, max_per_run=100_000))
    dry = runs["dry run"]
    page = load_config(config).dolibarr.page_size
    window = dry["candidates"]
    events = dry["by_route"].get("GET /agendaevents", 0)
    bound = math.ceil(window / page) + events + 3 * math.ceil(dry["due"] / 100)
    print(f"dry run, every due quote checked (cap lifted): {dry['seconds']:.2f} s "
          f"({dry['seconds'] / floor_s:.2f} × floor), "
          f"{dry['requests']} requests (bound without the constant: {bound}); "
          f"{window} quotes in the window, {dry['due']} due, {dry['deferred']} deferred")  # fmt: skip
    # A dry run as ops run it, start-up included: the command, with the default cap, deciding as on NOW.
    command_s = run_dry_cli(config)
    ratio = command_s / floor_s
    low, high = REAL_DRY_RATIO
    print(f"    `dolirelance run --once --dry-run` (a process, start-up included, default cap): {command_s:.2f} s "
          f"= {ratio:.2f} × floor; real Dolibarr (issue 28): {low:.2f}–{high:.2f} × floor "
          f"({ratio / ((low + high) / 2):.2f} × the middle of the real range)")  # fmt: skip
    for route, count in sorted(dry["by_route"].items()):
        print(f"    {count:>6}  {route}")


if __name__ == "__main__":
    main()
