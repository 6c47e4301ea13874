"""Steady days of automatic runs: requests and wall time for 1,000 and 10,000 open quotes.

The fake Dolibarr answers in-process (httpx.ASGITransport) with the cost model of a real Dolibarr 20
(``fake.cost = CostModel()``: ~10 ms per request, ~1 ms per object returned, 4 workers, 2 cores).
``bench/first_day.py`` measures the first day (no history, ~20 % due) against a fake in its own process.
Open quotes have their end of validity spread over today ± 60 days; the steps that fell due in the
past are already done (an automatic follow-up event in Dolibarr), except for ~1% of the quotes,
which are due today. Measured:

- ``run_auto(dry_run=True)``: the decisions (list, history, re-read of each due quote);
- ``run_auto()``: the real run, e-mailing the due quotes to an SMTP sink on loopback and recording them;
- a naive baseline that asks per quote: ``GET /proposals/{id}`` + ``GET /agendaevents`` filtered on
  that quote, for every open quote, with the same concurrency (``max_concurrency``). For N above
  ``--naive-limit`` it is measured on that many quotes and extrapolated linearly (marked ``~``).

Run: .venv/bin/python bench/auto_run.py [--sizes 1000 10000] [--naive-limit 2000] [--dolibarr-version 23.0.0-beta]
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
DUE_SHARE = 0.027  # of the quotes with a step due today: ~1% of all open quotes
STEPS = ((1, "1ère relance", -5), (2, "2nde relance", 10))
LAST_WINDOW = 30


def _step_due(end: date) -> tuple[int, str] | None:
    """The step due today for a quote valid until ``end`` (the demo's rules), if any."""
    if end - timedelta(days=5) <= TODAY <= end:
        return 1, "1ère relance"
    if end + timedelta(days=10) <= TODAY <= end + timedelta(days=10 + LAST_WINDOW):
        return 2, "2nde relance"
    return None


def seed(fake: FakeDolibarr, n: int, rng: random.Random) -> int:
    """``n`` open quotes; returns how many are due today."""
    sample = load_sample_data(fake, TODAY)
    # the sample's own due quotes stay due; every other quote of ours follows the plan below
    owner = sample.users["jdupont"]
    customers = list(sample.customers.values())
    contacts = [sample.contacts["paul_girard"], sample.contacts["jean_martin"], sample.contacts["claire_lefevre"]]
    due = 0
    for index in range(n):
        offset = rng.randint(-60, 60)
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
        if rng.random() < DUE_SHARE:
            fake.build_proposal_pdf(proposal.id, user_id=owner)
            due += 1
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
    return due


async def measure(n: int, naive_limit: int, workdir: Path, version: str = "20.0.0") -> dict[str, object]:
    rng = random.Random(n)
    fake = FakeDolibarr(timezone="Europe/Paris", now=lambda: NOW, version=version)
    seeded_due = seed(fake, n, rng)
    with SmtpSink() as sink:
        config = write_demo_config(workdir, dolibarr_url="http://dolibarr.test/api/index.php",
                                   api_key="demo-sales-key", smtp_port=sink.port)  # fmt: skip
        settings = load_config(config)
        fake.cost = CostModel()
        results: dict[str, object] = {"n": n, "open": sum(1 for p in fake.proposals.values() if p.status == 1)}
        async with open_runtime(settings, transport=httpx.ASGITransport(app=create_app(fake)), now=lambda: NOW) as rt:
            for label, dry in (("dry-run", True), ("real run", False)):
                fake.reset_requests()
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
                    "due": len(report.due),
                    "sent": len(report.sent),
                }
            results["emails"] = len(sink.messages)
            results["seeded_due"] = seeded_due

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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--naive-limit", type=int, default=2000)
    parser.add_argument("--dolibarr-version", default="20.0.0", help="version the fake plays (20.0.0, 23.0.0-beta)")
    args = parser.parse_args(argv)
    print(f"fake Dolibarr {args.dolibarr_version}")
    print(f"cost model {CostModel()}, page size 100, max_concurrency 4, ~1% of the open quotes due")
    header = f"{'N open':>7} {'what':<9} {'requests':>9} {'list /proposals':>16} {'list /agendaevents':>19} "
    print(header + f"{'candidates':>10} {'due':>5} {'sent':>5} {'wall s':>8}")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            results = asyncio.run(measure(n, args.naive_limit, Path(tmp), args.dolibarr_version))
        for label in ("dry-run", "real run"):
            row = results[label]
            assert isinstance(row, dict)
            print(
                f"{results['open']:>7} {label:<9} {row['requests']:>9} {row['proposal_lists']:>16} "
                f"{row['event_lists']:>19} {row['candidates']:>10} {row['due']:>5} {row['sent']:>5} "
                f"{row['seconds']:>8.2f}"
            )
        naive = results["naive"]
        assert isinstance(naive, dict)
        mark = "~" if naive["extrapolated"] else ""
        print(
            f"{results['open']:>7} {'naive':<9} {mark + str(naive['requests']):>9} {'':>16} {'':>19} {'':>10} "
            f"{'':>5} {'':>5} {mark + format(naive['seconds'], '.2f'):>8}"
        )
        print(f"        e-mails received by the sink: {results['emails']}")


if __name__ == "__main__":
    main()
