"""Web limits: bodies bounded while read, letters only for entitled users, forwarded headers from proxies only."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

from dolirelance.dolibarr.wire import safe_file_name
from dolirelance.service.prepare import letter_file_name
from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.sample_data import SALES_RIGHTS
from dolirelance.testing.smtp_sink import SmtpSink
from test_web import Web, csrf_of, run_mass, served_web
from test_web import web as web  # the fixture, shared

CHUNK = b"x" * 65_536


class CountingBody:
    """A huge request body, produced chunk by chunk, counting what the server pulled."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.read += 1
            yield CHUNK


async def test_a_declared_huge_body_is_refused_before_it_is_read(web: Web) -> None:
    """Content-Length over the limit: 413 at once, the body is not read."""
    body = CountingBody(23_000)  # 1.5 GB if anyone read it
    answer = await web.client.post(
        "/login",
        content=body,
        headers={"content-length": str(23_000 * len(CHUNK)), "content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 413
    assert body.read <= 1


async def test_a_streamed_huge_body_is_cut_at_the_limit(web: Web) -> None:
    """No Content-Length (chunked): reading stops just past 1 MB, not at the end of the stream."""
    body = CountingBody(23_000)
    form = {"content-type": "application/x-www-form-urlencoded"}
    answer = await web.client.post("/login", content=body, headers=form)
    assert answer.status_code == 413
    assert body.read <= 1_000_000 // len(CHUNK) + 2


async def _fail_logins(web: Web, count: int) -> list[int]:
    codes = []
    for number in range(count):
        page = await web.client.get("/login")
        answer = await web.client.post(
            "/login",
            data={"csrf": csrf_of(page.text), "login": f"someone{number}", "password": "wrong"},
            headers={"x-forwarded-for": f"203.0.113.{number}"},
        )
        codes.append(answer.status_code)
    return codes


async def test_forwarded_for_from_an_unknown_peer_is_ignored(web: Web) -> None:
    """Without trusted proxies, a made-up X-Forwarded-For does not escape the per-address limit."""
    codes = await _fail_logins(web, 6)
    assert codes == [401] * 5 + [429]


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, sink: SmtpSink
) -> None:
    """Behind a configured proxy, each client address has its own limit."""
    async for served in served_web(tmp_path, fake_dolibarr, sample_data, sink, trusted_proxies=["127.0.0.0/8"]):
        assert await _fail_logins(served, 6) == [401] * 6


async def test_generated_letters_only_for_their_maker_and_users_who_see_every_customer(web: Web) -> None:
    """A batch made by a sales person without societe.client.voir: they and the admin see it, others do not."""
    fake, sample = web.fake, web.sample
    own_customers_only = SALES_RIGHTS - {"societe.client.voir"}
    seller = fake.add_user("vendeur", api_key="k-vendeur", password="vente", rights=own_customers_only)
    fake.add_user("collegue", api_key="k-collegue", password="autre", rights=own_customers_only)
    fake.add_sales_rep(sample.customers["boulangerie"], seller.id)
    await web.login("vendeur", "vente")
    done = await run_mass(web, {"letter": [sample.refs["expired"]]})
    link = re.search(r'id="letters-pdf" href="(/files/relances-[^"]+\.pdf)"', done.text)
    assert link, done.text
    assert (await web.client.get(link.group(1))).status_code == 200
    assert link.group(1) in (await web.client.get("/mass")).text

    for login, password, allowed in (("collegue", "autre", False), ("admin", "admin", True)):
        await web.client.post("/logout", data={"csrf": await web.csrf("/logout")})
        assert (await web.login(login, password)).status_code == 303
        assert ((await web.client.get(link.group(1))).status_code == 200) is allowed, login
        assert (link.group(1) in (await web.client.get("/mass")).text) is allowed, login


def test_upload_names_are_safe_whatever_the_ref() -> None:
    """A ref with slashes, spaces, quotes or dots never reaches Dolibarr's upload as such."""
    assert safe_file_name("../../etc/passwd") == "etc_passwd"
    assert safe_file_name('relance-PR 26/11 "x"<b>.pdf') == "relance-PR_26_11_x_b.pdf"
    assert safe_file_name("..pdf") == "document.pdf"
    assert safe_file_name("a" * 300 + ".pdf") == "a" * 100 + ".pdf"
    from datetime import date
    from decimal import Decimal

    from dolirelance.domain import Quote, QuoteStatus

    quote = Quote(7, "PR/../26 <x>", 1, QuoteStatus.OPEN, None, None, Decimal(0), Decimal(0), Decimal(0), "EUR")
    name = letter_file_name(quote, date(2026, 11, 28), "manual:demo:7:abcdef123456")
    assert name == "relance-PR_.._26_x_-2026-11-28-abcdef12.pdf"
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name)


async def test_mass_page_lists_the_good_quotes_when_one_is_damaged(web: Web) -> None:
    """A quote valid until year 9999 no longer turns the mass page into a 500: it is named above the list."""
    web.fake.corrupt_proposal(web.sample.quotes["expired"], fin_validite=253402214400)
    await web.login()
    page = await web.client.get("/mass")
    assert page.status_code == 200
    assert web.sample.refs["about_to_expire"] in page.text
    left_out = page.text[page.text.index('id="left-out"') :]
    ref, quote_id = web.sample.refs["expired"], web.sample.quotes["expired"]
    assert f"quote {ref} (id {quote_id}): field fin_validite = 253402214400" in left_out
    assert ref not in page.text[page.text.index('id="mass-form"') :]
