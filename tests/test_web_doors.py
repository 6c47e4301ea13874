"""The web's doors: one-time sending forms, login attempts counted before Dolibarr, Secure cookies
behind a trusted proxy, bounded sessions before login, and addresses that are one address."""

from __future__ import annotations

import asyncio
import functools
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.responses import Response

from conftest import SAMPLE_NOW
from dolirelance.testing import FakeDolibarr, SampleData, create_app, serve_in_thread
from dolirelance.testing.smtp_sink import SmtpSink
from dolirelance.web import create_web_app
from dolirelance.web.forms import OneTimeForms, Replay, Replayed
from dolirelance.web.security import MAX_PRE_LOGIN, PRE_LOGIN_SECONDS, SessionStore
from test_web import Web, csrf_of, once_of, run_mass, served_web, web_settings
from test_web import web as web  # the fixture, shared

DISPLAY_NAME_FORM = '"claire@lefevre-archi.test" <evil@attacker.test>'


async def _job_done(web: Web, job_url: str) -> httpx.Response:
    for _ in range(600):
        if (await web.client.get(f"{job_url}/status")).json()["finished"]:
            break
        await asyncio.sleep(0.05)
    return await web.client.get(job_url)


# --------------------------------------------------------------------------- one-time sending forms


async def test_the_mass_confirmation_posted_twice_at_once_sends_once(web: Web) -> None:
    """« Relancer quand même » posted twice in parallel: one run, one e-mail; the second post shows the first run."""
    await web.login()
    quote_id, ref = web.sample.quotes["about_to_expire"], web.sample.refs["about_to_expire"]
    first = await web.client.post("/followup/new", data={"csrf": await web.csrf(), "quote": str(quote_id),
                                                         "channel": "email", "model": "1ère relance"})
    assert first.status_code == 200 and 'id="done"' in first.text
    assert len(web.sink.messages) == 1
    asked = {"email": [ref], "note": "double clic"}
    preview = await web.client.post("/mass", data={"csrf": await web.csrf(), **asked})
    assert preview.status_code == 200 and 'name="force"' in preview.text  # the recent follow-up is shown
    confirm = {"csrf": csrf_of(preview.text), "once": once_of(preview.text), **asked, "step": "run", "force": "1"}

    answers = await asyncio.gather(*(web.client.post("/mass", data=confirm) for _ in range(2)))

    started = [a for a in answers if a.status_code == 303]
    again = [a for a in answers if a.status_code == 409]
    assert len(started) == 1 and len(again) == 1, [a.status_code for a in answers]
    job_url = started[0].headers["location"]
    assert 'id="already-posted"' in again[0].text and "rien n&#39;est reparti une seconde fois" in again[0].text
    assert f'id="see-result" href="{job_url}"' in again[0].text
    assert (await _job_done(web, job_url)).text.count('class="ok"') == 1
    later = await web.client.post("/mass", data=confirm)  # a reload of the confirmation, once all is done
    assert later.status_code == 409 and f'href="{job_url}"' in later.text
    assert len(web.sink.messages) == 2  # the individual follow-up and one mass e-mail, not two
    done = [e for e in web.fake.events.values() if e.code == "AC_RELANCE_EMAIL" and e.fk_element == quote_id]
    assert len(done) == 2


async def test_a_mass_run_needs_a_token_this_session_was_given(web: Web) -> None:
    """No token, a made-up one or another session's: nothing runs, the page says to preview again."""
    await web.login()
    asked = {"letter": [web.sample.refs["expired"]], "step": "run"}
    for once in ("", "0" * 32, "not-a-token"):
        answer = await web.client.post("/mass", data={"csrf": await web.csrf(), "once": once, **asked})
        assert answer.status_code == 409, once
        assert "Ce formulaire a expiré ou a déjà servi : rien n&#39;est parti." in answer.text
    english = await web.client.post("/mass?lang=en", data={"csrf": await web.csrf(), "once": "", **asked})
    assert english.status_code == 409 and "This form has expired or was used already: nothing left." in english.text
    preview = await web.client.post("/mass?lang=fr", data={"csrf": await web.csrf(), **asked, "step": "preview"})
    token = once_of(preview.text)
    await web.client.post("/logout", data={"csrf": await web.csrf()})
    await web.login("admin", "admin")
    stolen = await web.client.post("/mass", data={"csrf": await web.csrf(), "once": token, **asked})
    assert stolen.status_code == 409 and 'data-why="unknown"' in stolen.text
    assert not [e for e in web.fake.events.values() if e.code.startswith("AC_RELANCE")]


async def new_follow_up_form(web: Web) -> tuple[int, str, dict[str, str]]:
    """Signed in, the « Nouvelle relance » form of the quote about to expire: the quote's id, the form's
    attempt token and the fields it posts (an e-mail)."""
    await web.login()
    quote_id = web.sample.quotes["about_to_expire"]
    page = (await web.client.get(f"/quotes/{quote_id}/followup")).text
    attempt = re.search(r'name="attempt" value="([0-9a-f]{32})"', page)
    assert attempt
    posted = {"csrf": csrf_of(page), "attempt": attempt.group(1), "quote": str(quote_id), "channel": "email"}
    return quote_id, attempt.group(1), posted


async def test_the_new_follow_up_form_posted_twice_at_once_sends_once(web: Web) -> None:
    """The same « Nouvelle relance » form posted twice in parallel: one e-mail; the other post links to it."""
    quote_id, _, form = await new_follow_up_form(web)
    posted = {**form, "model": "1ère relance"}

    answers = await asyncio.gather(*(web.client.post("/followup/new", data=posted) for _ in range(3)))

    assert sorted(a.status_code for a in answers) == [200, 409, 409]
    assert sum('id="done"' in a.text for a in answers) == 1
    for again in (a for a in answers if a.status_code == 409):
        assert f'id="see-result" href="/quotes/{quote_id}/followups"' in again.text
    assert len(web.sink.messages) == 1


async def test_a_form_whose_first_post_did_nothing_can_be_posted_again(web: Web) -> None:
    """A refused first post (a date in the past) hands the token back: the corrected form sends."""
    _, attempt, posted = await new_follow_up_form(web)
    wrong = await web.client.post("/followup/new", data={**posted, "next_date": "2020-01-01"})
    assert wrong.status_code == 400 and f'value="{attempt}"' in wrong.text
    right = await web.client.post("/followup/new", data={**posted, "next_date": "2026-12-20"})
    assert right.status_code == 200 and 'id="done"' in right.text
    assert len(web.sink.messages) == 1


# --------------------------------------------------------------------------- login attempts


async def test_forty_parallel_logins_reach_dolibarr_at_most_five_times(web: Web) -> None:
    """39 wrong passwords and one right one at once: the limiter counts them before Dolibarr is asked."""
    web.fake.hang_next(40, 0.3, path_prefix="/login", method="POST")  # every answer comes late
    csrf = csrf_of((await web.client.get("/login")).text)
    passwords = ["wrong"] * 20 + ["relance"] + ["wrong"] * 19

    answers = await asyncio.gather(*(
        web.client.post("/login", data={"csrf": csrf, "login": "jdupont", "password": password})
        for password in passwords
    ))

    assert web.fake.count_requests("/login", "POST") <= 5
    codes = [a.status_code for a in answers]
    assert codes.count(429) >= 35, codes
    refused = next(a for a in answers if a.status_code == 429)
    assert "Trop d&#39;essais de connexion : réessayez dans 5 min." in refused.text
    assert 0 < int(refused.headers["retry-after"]) <= 300


async def test_the_limit_holds_per_login_across_addresses_and_per_address_across_logins(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, sink: SmtpSink
) -> None:
    """Behind a trusted proxy: one login from six addresses, six logins from one address, both stop at five."""
    async def try_once(web: Web, login: str, address: str) -> int:
        csrf = csrf_of((await web.client.get("/login")).text)
        answer = await web.client.post("/login", data={"csrf": csrf, "login": login, "password": "wrong"},
                                       headers={"x-forwarded-for": address})
        return answer.status_code

    async for served in served_web(tmp_path, fake_dolibarr, sample_data, sink, trusted_proxies=["127.0.0.0/8"]):
        attempt = functools.partial(try_once, served)

        assert [await attempt("jdupont", f"203.0.113.{n}") for n in range(6)] == [401] * 5 + [429]
        assert [await attempt(f"someone{n}", "198.51.100.7") for n in range(6)] == [401] * 5 + [429]
        assert await attempt("mleroy", "192.0.2.1") == 401  # another login from another address may try
        good = await served.login("admin", "admin")
        assert good.status_code == 303  # a good login is not counted against anyone
        assert fake_dolibarr.count_requests("/login", "POST") == 12


# --------------------------------------------------------------------------- Secure cookie, HSTS


async def test_https_through_a_trusted_proxy_gets_a_secure_cookie_and_hsts(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, sink: SmtpSink
) -> None:
    """X-Forwarded-Proto: https from a trusted proxy: Secure session cookie and Strict-Transport-Security."""
    async for served in served_web(tmp_path, fake_dolibarr, sample_data, sink, trusted_proxies=["127.0.0.0/8"]):
        page = await served.client.get("/login", headers={"x-forwarded-proto": "https"})
        assert "; Secure" in page.headers["set-cookie"]
        assert page.headers["strict-transport-security"] == "max-age=31536000"
        served.client.cookies.clear()
        plain = await served.client.get("/login", headers={"x-forwarded-proto": "http"})
        assert "Secure" not in plain.headers["set-cookie"] and "strict-transport-security" not in plain.headers


async def test_a_forwarded_proto_from_an_unknown_peer_is_not_believed(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, sink: SmtpSink
) -> None:
    """A client saying https itself (no trusted proxy in between): no Secure flag, no HSTS."""
    async for served in served_web(tmp_path, fake_dolibarr, sample_data, sink, peer="192.0.2.9",
                          trusted_proxies=["127.0.0.0/8"]):
        page = await served.client.get("/login", headers={"x-forwarded-proto": "https"})
        assert "Secure" not in page.headers["set-cookie"] and "strict-transport-security" not in page.headers


async def test_secure_cookie_setting_makes_every_cookie_secure(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, sink: SmtpSink
) -> None:
    """[web] secure_cookie = true: Secure and HSTS whatever the proxy says, the login's cookie too."""
    async for served in served_web(tmp_path, fake_dolibarr, sample_data, sink, secure_cookie=True):
        page = await served.client.get("/login")
        assert "; Secure" in page.headers["set-cookie"] and "strict-transport-security" in page.headers
        # a Secure cookie is not sent back over http by the client: given back by hand, as https would
        served.client.cookies.set("dolirelance_session", page.cookies["dolirelance_session"])
        answer = await served.client.post("/login", data={"csrf": csrf_of(page.text), "login": "jdupont",
                                                       "password": "relance"})
        assert answer.status_code == 303 and "; Secure" in answer.headers["set-cookie"]


# --------------------------------------------------------------------------- sessions before login


async def test_ten_thousand_login_pages_leave_bounded_state(web: Web) -> None:
    """GET /login without a cookie, 10,000 times: at most MAX_PRE_LOGIN sessions kept; a logged-in one stays."""
    await web.login()
    app = web.client._transport.app  # type: ignore[attr-defined]
    stranger = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar.test")
    async with stranger:
        for _ in range(10_000):
            page = await stranger.get("/login")
            assert page.status_code == 200
            stranger.cookies.clear()
        sessions = app.state.web.sessions
        assert len(sessions) <= MAX_PRE_LOGIN + 1
        first_cookie = page.headers["set-cookie"]
        assert f"Max-Age={PRE_LOGIN_SECONDS}" in first_cookie  # short-lived, not session_hours
    assert (await web.client.get("/mass")).status_code == 200  # the session logged in before the flood
    assert len(app.state.web.forms) < 10  # no token handed out by a login page


def test_a_session_before_login_expires_soon_and_a_logged_in_one_lasts() -> None:
    """Before login: PRE_LOGIN_SECONDS; after login: the configured lifetime."""
    now = [1_000_000.0]
    store = SessionStore(secret_key=b"k" * 32, lifetime_seconds=8 * 3600, clock=lambda: now[0])
    before = store.create()
    logged = store.renew(store.create())
    logged.api_key = "key"
    now[0] += PRE_LOGIN_SECONDS + 1
    assert store.from_cookie(store.cookie_value(before)) is None
    assert store.from_cookie(store.cookie_value(logged)) is logged
    for _ in range(MAX_PRE_LOGIN * 2):
        store.create()
    assert len(store) == MAX_PRE_LOGIN + 1  # the oldest pre-login sessions went; the logged-in one stays
    assert store.from_cookie(store.cookie_value(logged)) is logged


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    "address",
    [DISPLAY_NAME_FORM, "claire@lefevre-archi.test, evil@attacker.test", "<evil@attacker.test>",
     "claire@lefevre-archi.test (Claire)", "Claire <evil@attacker.test>"],
)
async def test_a_contact_address_that_is_not_one_plain_address_is_refused(web: Web, address: str) -> None:
    """The display-name form is refused like the comma form: a 400 that says so, nothing sent to anyone."""
    contact = web.fake.contacts[web.sample.contacts["claire_lefevre"]]
    contact.email = address
    await web.login()
    quote_id = web.sample.quotes["not_yet_due"]
    answer = await web.client.post("/followup/new", data={"csrf": await web.csrf(), "quote": str(quote_id),
                                                          "channel": "email", "model": "1ère relance"})
    assert answer.status_code == 400, answer.text
    words = "Une adresse e-mail de Dolibarr n&#39;est pas une adresse unique valide : rien n&#39;est parti."
    assert words in answer.text
    assert "is not a single valid e-mail address" in answer.text  # the detail, as for the comma form
    assert "serveur d&#39;e-mail a refusé" not in answer.text
    assert web.sink.messages == []
    email_page = await web.client.get(f"/followup/email?quote={quote_id}")
    assert email_page.status_code == 400 and "pas une adresse unique valide" in email_page.text


async def test_a_mass_run_reports_the_address_that_is_not_one_address(web: Web) -> None:
    """In a mass run, the quote with the display-name address is left out in those words; nothing sent to it."""
    web.fake.contacts[web.sample.contacts["claire_lefevre"]].email = DISPLAY_NAME_FORM
    await web.login()
    refs = web.sample.refs
    result = await run_mass(web, {"email": [refs["not_yet_due"], refs["about_to_expire"]]})
    assert result.text.count('class="ko"') == 1 and result.text.count('class="ok"') == 1, result.text
    assert "pas une adresse unique valide" in result.text
    assert [m.rcpt_tos for m in web.sink.messages] == [["sophie.dupont@garage-dupont.test"]]


# --------------------------------------------------------------------------- over real HTTP


@contextmanager
def _served(tmp_path: Path, fake: FakeDolibarr, sink: SmtpSink) -> Iterator[str]:
    """The fake Dolibarr and the web pages, each served by uvicorn on a free port: the pages' URL."""
    with serve_in_thread(create_app(fake)) as dolibarr_url:
        settings = web_settings(tmp_path, dolibarr_url=dolibarr_url, smtp_port=sink.port)
        with serve_in_thread(create_web_app(settings, now=lambda: SAMPLE_NOW)) as web_url:
            yield web_url.removesuffix("/api/index.php")


def _posted_at_once(base: str, cookie: str, path: str, forms: list[dict[str, Any]]) -> list[httpx.Response]:
    """Each form posted by its own thread and connection, all at once."""
    start = threading.Barrier(len(forms))

    def post(form: dict[str, Any]) -> httpx.Response:
        with httpx.Client(base_url=base, cookies={"dolirelance_session": cookie}, timeout=60) as browser:
            start.wait()
            return browser.post(path, data=form)

    with ThreadPoolExecutor(len(forms)) as pool:
        return list(pool.map(post, forms))


def test_over_http_a_confirmation_posted_four_times_at_once_sends_once(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, sink: SmtpSink
) -> None:
    """Four connections post the same « relancer quand même » confirmation at once: one run, one e-mail."""
    ref = sample_data.refs["about_to_expire"]
    with _served(tmp_path, fake_dolibarr, sink) as base, httpx.Client(base_url=base, timeout=60) as browser:
        login = browser.get("/login")
        browser.post("/login", data={"csrf": csrf_of(login.text), "login": "jdupont", "password": "relance"})
        page = browser.get(f"/quotes/{sample_data.quotes['about_to_expire']}/followup").text
        quote = sample_data.quotes["about_to_expire"]
        first = browser.post("/followup/new", data={"csrf": csrf_of(page), "quote": quote, "channel": "email"})
        assert 'id="done"' in first.text and len(sink.messages) == 1
        asked = {"email": [ref]}
        preview = browser.post("/mass", data={"csrf": csrf_of(browser.get("/mass").text), **asked})
        confirm = {"csrf": csrf_of(preview.text), "once": once_of(preview.text), **asked, "step": "run", "force": "1"}

        answers = _posted_at_once(base, browser.cookies["dolirelance_session"], "/mass", [confirm] * 4)

        assert sorted(a.status_code for a in answers) == [303, 409, 409, 409]
        job_url = next(a for a in answers if a.status_code == 303).headers["location"]
        assert all(f'href="{job_url}"' in a.text for a in answers if a.status_code == 409)
        for _ in range(600):
            if browser.get(f"{job_url}/status").json()["finished"]:
                break
            time.sleep(0.05)
    assert len(sink.messages) == 2  # the individual follow-up, then one mass e-mail


def test_over_http_forty_logins_at_once_reach_dolibarr_at_most_five_times(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, sink: SmtpSink
) -> None:
    """40 connections log in at once (one with the right password): Dolibarr sees at most 5 of them."""
    fake_dolibarr.hang_next(40, 0.3, path_prefix="/login", method="POST")
    with _served(tmp_path, fake_dolibarr, sink) as base, httpx.Client(base_url=base, timeout=60) as browser:
        csrf = csrf_of(browser.get("/login").text)
        forms = [{"csrf": csrf, "login": "jdupont", "password": "relance" if n == 7 else "wrong"} for n in range(40)]
        answers = _posted_at_once(base, browser.cookies["dolirelance_session"], "/login", forms)
    assert fake_dolibarr.count_requests("/login", "POST") <= 5
    assert sum(a.status_code == 429 for a in answers) >= 35


# --------------------------------------------------------------------------- the token store itself


async def test_the_token_store_is_bounded_and_forgets_expired_tokens() -> None:
    """At most max_tokens kept (the oldest forgotten first); an expired token is unknown."""
    now = [0.0]
    forms = OneTimeForms(lifetime_seconds=60, clock=lambda: now[0], max_tokens=100)
    first = forms.issue("s")
    for _ in range(1_000):
        forms.issue("s")
    assert len(forms) == 100
    replay = await forms.once("s", first, _never, result_of=_location, issued_only=True)
    assert replay == Replayed(Replay.UNKNOWN)
    recent = forms.issue("s")
    now[0] += 61
    assert await forms.once("s", recent, _never, result_of=_location, issued_only=True) == Replayed(Replay.UNKNOWN)
    forms.issue("s")
    assert len(forms) == 1  # the expired ones went


async def test_a_second_post_waits_for_the_first_only_so_long() -> None:
    """Still at work after wait_seconds: the second post says so and does nothing."""
    forms = OneTimeForms(lifetime_seconds=60, wait_seconds=0.05)
    token = forms.issue("s")
    release = asyncio.Event()
    runs = []

    async def slow() -> Response:
        runs.append(1)
        await release.wait()
        return Response(status_code=303, headers={"location": "/mass/jobs/1"})

    first = asyncio.create_task(forms.once("s", token, slow, result_of=_location, issued_only=True))
    await asyncio.sleep(0)
    assert await forms.once("s", token, slow, result_of=_location, issued_only=True) == Replayed(Replay.RUNNING)
    release.set()
    assert isinstance(await first, Response)
    again = await forms.once("s", token, slow, result_of=_location, issued_only=True)
    assert again == Replayed(Replay.DONE, "/mass/jobs/1") and runs == [1]


async def _never() -> Response:
    raise AssertionError("a replayed or unknown token must not run the work")


def _location(response: Response) -> str | None:
    return response.headers.get("location")
