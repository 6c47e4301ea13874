"""Steady days of automatic runs: what a daily run costs grows with the due quotes and the window, not the open ones.

The fake Dolibarr answers in-process (httpx.ASGITransport) with the cost model of a real Dolibarr 20
(``fake.cost = CostModel()``: ~10 ms per request, ~0.7 ms per object listed whatever its properties,
per kind for requests on one object, 8 workers, 2 cores).
``bench/first_day.py`` measures the first day (no history, ~20 % due) against a fake in its own process.

Each scenario seeds three kinds of open quotes (steps -5 days / +10 days, last window 30 days):

- ``window``: quotes whose end of validity puts a step window around today (today - 40 to today + 5
  days), the ones an automatic run must look at. Their steps that fell due are already done (an
  automatic follow-up event in Dolibarr), except for
- ``due`` of them, left due today;
- ``outside``: open quotes valid beyond today + 5 days, outside every step window.

Measured per scenario: ``run_auto(dry_run=True)`` (the decisions) and ``run_auto()`` (e-mailing the
due quotes to an SMTP sink on loopback and recording them): requests, list requests, wall time.
The default scenarios change one thing at a time: ten times the open quotes outside the window, ten
times the due quotes, ten times the window. With ``--naive``, a baseline that asks per open quote
(``GET /proposals/{id}`` + ``GET /agendaevents``, ``max_concurrency`` in flight) is measured too.

Run: .venv/bin/python bench/auto_run.py [--scenario WINDOW,OUTSIDE,DUE ...] [--naive] [--dolibarr-version 23.0.0-beta]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote as percent

import httpx

from dolirelance.config import load_config
from dolirelance.demo import write_demo_config
from dolirelance.domain import EventFilter
from dolirelance.service import open_runtime, run_auto
from dolirelance.testing import CostModel, FakeDolibarr, create_app, load_sample_data
from dolirelance.testing.smtp_sink import SmtpSink

TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 7, 30, tzinfo=UTC)  # 08:30 in Paris
STEPS = ((1, "1ère relance", -5), (2, "2nde relance", 10))
LAST_WINDOW = 30
# What deciding costs: the list reads and the quotes read one by one (not the PDFs and events of the sending).
READ_ROUTES = frozenset(
    {"GET /proposals", "GET /agendaevents", "GET /thirdparties", "GET /contacts", "GET /proposals/{id}"}
)


def _step_due(end: date) -> tuple[int, str] | None:
    """The step due today for a quote valid until ``end`` (the demo's rules), if any."""
    if end - timedelta(days=5) <= TODAY <= end:
        return 1, "1ère relance"
    if end + timedelta(days=10) <= TODAY <= end + timedelta(days=10 + LAST_WINDOW):
        return 2, "2nde relance"
    return None


def seed(fake: FakeDolibarr, window: int, outside: int, due: int, rng: random.Random) -> int:
    """The open quotes of one scenario (see the module docstring); returns how many were left due."""
    sample = load_sample_data(fake, TODAY)
    # the sample's own due quotes stay due; every other quote of ours follows the plan below
    owner = sample.users["jdupont"]
    customers = list(sample.customers.values())
    contacts = [sample.contacts["paul_girard"], sample.contacts["jean_martin"], sample.contacts["claire_lefevre"]]
    offsets = [rng.randint(-40, 5) for _ in range(window)]
    eligible = [i for i, offset in enumerate(offsets) if _step_due(TODAY + timedelta(days=offset))]
    left_due = set(rng.sample(eligible, min(due, len(eligible))))
    # the quotes outside come last, from their own draw: the window is the same whatever their number
    outside_rng = random.Random(outside)
    offsets += [outside_rng.randint(6, 365) for _ in range(outside)]
    for index, offset in enumerate(offsets):
        issued = TODAY + timedelta(days=offset - 30)
        customer = customers[index % len(customers)]
        proposal = fake.add_proposal(customer, date=issued, duree_validite=30, user_id=owner)
        fake.add_proposal_line(proposal.id, description="Installation photovoltaïque", qty=1, subprice="4800")
        fake.link_contact(proposal.id, contacts[index % len(contacts)], "CUSTOMER", "external")
        fake.validate_proposal(proposal.id, user_id=owner)
        assert proposal.fin_validite is not None
        step = _step_due(fake.day_of_epoch(proposal.fin_validite))
        if step is None:
            continue
        if index in left_due:
            fake.build_proposal_pdf(proposal.id, user_id=owner)
            continue
        number, model = step  # already done, a few days ago
        facts = f"key={percent(f'auto:demo:{proposal.id}:step{number}', safe='')}; model={percent(model, safe='')}"
        fake.add_event(
            type_code="AC_OTH_AUTO",
            code="AC_RELANCE_EMAIL",
            label=f"Relance devis {proposal.ref}",
            userownerid=owner,
            percentage=100,
            datep=NOW - timedelta(days=4 + index % 3),
            elementtype="propal",
            fk_element=proposal.id,
            socid=customer,
            note=f"dolirelance: {facts}; level={number}; channel=email; auto=1; step={number}",
        )
    return len(left_due)


async def measure(
    scenario: tuple[int, int, int], naive_limit: int, workdir: Path, version: str = "20.0.0"
) -> dict[str, object]:
    window, outside, due = scenario
    rng = random.Random(window * 1000 + due)
    fake = FakeDolibarr(timezone="Europe/Paris", now=lambda: NOW, version=version)
    seeded_due = seed(fake, window, outside, due, rng)
    with SmtpSink() as sink:
        config = write_demo_config(workdir, dolibarr_url="http://dolibarr.test/api/index.php",
                                   api_key="demo-sales-key", smtp_port=sink.port)  # fmt: skip
        settings = load_config(config)
        fake.cost = CostModel()
        results: dict[str, object] = {"open": sum(1 for p in fake.proposals.values() if p.status == 1)}
        async with open_runtime(settings, transport=httpx.ASGITransport(app=create_app(fake)), now=lambda: NOW) as rt:
            for label, dry in (("dry-run", True), ("real run", False)):
                fake.reset_requests()
                routes_before = dict(rt.dolibarr.requests_by_route)
                started = time.perf_counter()
                report = await run_auto(rt, dry_run=dry)
                elapsed = time.perf_counter() - started
                assert report.ok, report.error
                by_path = fake.requests_by_path()
                results[label] = {
                    "seconds": elapsed,
                    "requests": len(fake.requests),
                    "proposal_lists": by_path["GET /proposals"],
                    "event_lists": by_path["GET /agendaevents"],
                    "candidates": len(report.decisions),
                    "reads": sum(
                        count - routes_before.get(route, 0)
                        for route, count in rt.dolibarr.requests_by_route.items()
                        if route in READ_ROUTES
                    ),
                    "due": len(report.due),
                    "sent": len(report.sent),
                }
            results["emails"] = len(sink.messages)
            results["seeded_due"] = seeded_due
            if not naive_limit:
                return results

            # The naive baseline: two requests per open quote, max_concurrency in flight.
            open_ids = [p.id for p in fake.proposals.values() if p.status == 1]
            sample_ids = open_ids[: min(len(open_ids), naive_limit)]
            semaphore = asyncio.Semaphore(settings.dolibarr.max_concurrency)

            async def per_quote(quote_id: int) -> None:
                async with semaphore:
                    await rt.dolibarr.get_quote(quote_id)
                    await rt.dolibarr.list_events(
                        EventFilter(code_prefix="AC_RELANCE", element_type="propal", element_ids=(quote_id,))
                    )

            fake.reset_requests()
            started = time.perf_counter()
            await asyncio.gather(*(per_quote(quote_id) for quote_id in sample_ids))
            elapsed = time.perf_counter() - started
            scale = len(open_ids) / len(sample_ids)
            results["naive"] = {
                "seconds": elapsed * scale,
                "requests": math.ceil(len(fake.requests) * scale),
                "extrapolated": scale > 1,
            }
    return results


DEFAULT_SCENARIOS = ("1000,0,10", "1000,9000,10", "1000,0,100", "10000,0,10", "10000,0,100")


def parse_scenario(text: str) -> tuple[int, int, int]:
    window, outside, due = (int(part) for part in text.split(","))
    return window, outside, due


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenario", nargs="+", default=list(DEFAULT_SCENARIOS), help="WINDOW,OUTSIDE,DUE")
    parser.add_argument("--naive", action="store_true", help="also measure the per-quote baseline")
    parser.add_argument("--naive-limit", type=int, default=2000, help="quotes the baseline reads (extrapolated)")
    parser.add_argument("--dolibarr-version", default="20.0.0", help="version the fake plays (20.0.0, 23.0.0-beta)")
    args = parser.parse_args(argv)
    print(f"fake Dolibarr {args.dolibarr_version}, in-process, cost model {CostModel()}")
    print("page size 100, max_concurrency 4; reads = list requests of proposals, events, thirdparties, contacts "
          "and quotes read one by one")  # fmt: skip
    header = f"{'open':>6} {'window':>6} {'outside':>7} {'due':>4} {'what':<9} {'requests':>8} {'reads':>6} "
    print(header + f"{'list /proposals':>15} {'list /agendaevents':>18} {'candidates':>10} {'sent':>5} {'wall s':>7}")
    for text in args.scenario:
        window, outside, due = parse_scenario(text)
        with tempfile.TemporaryDirectory() as tmp:
            results = asyncio.run(measure((window, outside, due), args.naive_limit if args.naive else 0, Path(tmp),
                                          args.dolibarr_version))  # fmt: skip
        for label in ("dry-run", "real run"):
            row = results[label]
            assert isinstance(row, dict)
            print(
                f"{results['open']:>6} {window:>6} {outside:>7} {row['due']:>4} {label:<9} {row['requests']:>8} "
                f"{row['reads']:>6} {row['proposal_lists']:>15} {row['event_lists']:>18} {row['candidates']:>10} "
                f"{row['sent']:>5} {row['seconds']:>7.2f}"
            )
        naive = results.get("naive")
        if isinstance(naive, dict):
            mark = "~" if naive["extrapolated"] else ""
            naive_s = mark + format(naive["seconds"], ".2f")
            print(f"{results['open']:>6} {'':>6} {'':>7} {'':>4} {'naive':<9} {mark + str(naive['requests']):>8} "
                  f"{'':>6} {'':>15} {'':>18} {'':>10} {'':>5} {naive_s:>7}")  # fmt: skip
        print(f"       e-mails received by the sink: {results['emails']} (seeded due: {results['seeded_due']})")


if __name__ == "__main__":
    main()
