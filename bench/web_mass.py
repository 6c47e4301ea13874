"""The web mass page over HTTP with 10,000 open quotes, against a fake that costs like a real Dolibarr.

Scenario (issues 11 and 14): the first day of ``first_day.py`` (10,000 open quotes plus the sample's,
end of validity spread over 185 days). The fake Dolibarr serves them over HTTP with the cost model of
a real Dolibarr 20 in one process; ``dolirelance web`` runs in another, as in production; this
process is the browser: it logs in as the sales user and times, over HTTP:

- **first screen**: ``GET /mass``, what a sales person sees on opening the page (target: under 2 s),
  for a first visitor (the fake filters its 10,000 quotes in Python the first time it meets a filter,
  where a real server uses SQL) and for a second one (another session: nothing kept by the pages);
- **its totals**: ``GET /mass/summary``, the count and amount of every quote of the selection, which
  the page fetches right after it is shown (and a second time, from the cache);
- **every open quote**: ``GET /mass?all=1``, page 1, then page 50 and its totals;

Run: .venv/bin/python bench/web_mass.py [--open 10000] [--no-cost]
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
from first_day import API_KEY, NOW, serve_fake

from dolirelance.config import load_config
from dolirelance.demo import write_demo_config
from dolirelance.testing import CostModel, serve_in_thread


def serve_web(config: Path, pipe: Connection) -> None:
    """Child process: ``dolirelance web`` as in production (uvicorn), dated like the fake."""
    from dolirelance.web import create_web_app

    app = create_web_app(load_config(config), now=lambda: NOW)
    with serve_in_thread(app) as url:
        pipe.send(url.removesuffix("/api/index.php"))
        pipe.recv()


def timed(client: httpx.Client, path: str, **params: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.get(path, params=params)
    return time.perf_counter() - started, response


def log_in(client: httpx.Client) -> None:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    client.post("/login", data={"login": "jdupont", "password": "relance", "csrf": token.group(1)})


def shown_rows(html: str) -> int:
    return len(re.findall(r"<tr data-ref=", html))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--open", type=int, default=10_000, help="open quotes to seed (plus the sample's)")
    parser.add_argument("--no-cost", action="store_true", help="the fake answers as fast as it can")
    args = parser.parse_args(argv)
    ctx = multiprocessing.get_context("fork")
    fake_end, fake_child = ctx.Pipe()
    fake = ctx.Process(target=serve_fake, args=(args.open, not args.no_cost, fake_child), daemon=True)
    seeding = time.perf_counter()
    fake.start()
    dolibarr_url, open_count = fake_end.recv()
    print(f"fake Dolibarr: {open_count} open quotes, seeded and serving in {time.perf_counter() - seeding:.1f} s")
    print(f"cost model: {'off' if args.no_cost else CostModel()}")
    web_end, web_child = ctx.Pipe()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = write_demo_config(Path(tmp), dolibarr_url=dolibarr_url, api_key=API_KEY, smtp_port=25)
            web = ctx.Process(target=serve_web, args=(config, web_child), daemon=True)
            web.start()
            web_url = web_end.recv()
            try:
                screens = (
                    ("first screen (near end of validity)", {}),
                    ("every open quote, page 1", {"all": "1"}),
                    ("every open quote, page 50", {"all": "1", "page": "50"}),
                )
                # Two sales people, one after the other: the first meets a fake that filters 10,000
                # quotes in Python the first time it sees a filter (a real server does it in SQL); the
                # second a warm fake but nothing kept by the web pages (another session).
                for who in ("first visitor (fake cold)", "second visitor (fake warm, own session)"):
                    print(who)
                    with httpx.Client(base_url=web_url, timeout=120, follow_redirects=True) as client:
                        log_in(client)
                        for label, params in screens:
                            seconds, response = timed(client, "/mass", **params)
                            assert response.status_code == 200, response.status_code
                            print(f"  GET /mass {label}: {seconds:.2f} s, {shown_rows(response.text)} rows shown")
                            for attempt in ("first", "cached"):
                                seconds, summary = timed(client, "/mass/summary", **params)
                                assert summary.status_code == 200, summary.status_code
                                data = summary.json()
                                print(f"      its totals ({attempt}): {seconds:.2f} s: {data['count']} quotes, "
                                      f"{data['total_text']} excl. tax, {data['pages']} pages")  # fmt: skip
            finally:
                web_end.send("stop")
                web.join(timeout=10)
    finally:
        fake_end.send("stop")
        fake.join(timeout=10)


if __name__ == "__main__":
    main()
