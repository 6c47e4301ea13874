"""Arriving signed in from the Dolibarr module: its signed token, over the web app, against the fake Dolibarr.

The token accepted once in place of the password; expired, replayed, forged, another login's key, too
long-lived: refused like a wrong password. Without a shared secret, or without an API key, the login page.
The Python signer and the PHP one (tests/php/DolirelanceTokenTest.php) check the same vectors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import SAMPLE_NOW, without_backoff
from dolirelance.config import Settings
from dolirelance.testing import FakeDolibarr, SampleData, create_app
from dolirelance.web import create_web_app
from dolirelance.web.sso import MAX_LIFETIME, NonceStore, SsoRefused, SsoVerifier, sign_token
from test_web import FAKE_URL, web_settings

SECRET = "a-secret-shared-with-dolibarr-0123456789abcdef"
SECRET_ENV = "DOLIRELANCE_TEST_SSO_SECRET"
NOW = int(SAMPLE_NOW.timestamp())
VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "fixtures" / "sso-tokens.json").read_text("utf-8"))


def with_sso(settings: Settings) -> Settings:
    return settings.model_copy(update={"web": settings.web.model_copy(update={"dolibarr_sso_secret_env": SECRET_ENV})})


@pytest.fixture
async def sidecar(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    settings = with_sso(web_settings(tmp_path, dolibarr_url=FAKE_URL, smtp_port=1))
    app = create_web_app(settings, dolibarr_transport=httpx.ASGITransport(app=create_app(fake_dolibarr)),
                         now=lambda: SAMPLE_NOW)  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar.test") as client:
        yield client


def token(
    sample: SampleData, *, login: str = "jdupont", key_of: str | None = None, target: str = "email",
    quote: str = "about_to_expire", now: int = NOW, secret: str = SECRET, **more: Any,
) -> dict[str, str]:  # fmt: skip
    """The module's token; ``key_of``: whose API key it carries ("" for none)."""
    return sign_token(secret.encode(), login=login, quote_id=sample.quotes[quote] if quote else 0, target=target,
                      api_key=sample.api_keys[key_of or login] if key_of != "" else "", now=now, **more)  # fmt: skip


async def test_a_signed_link_arrives_signed_in_on_the_quote(
    sidecar: httpx.AsyncClient, sample_data: SampleData, fake_dolibarr: FakeDolibarr
) -> None:
    quote_id = sample_data.quotes["about_to_expire"]
    answer = await sidecar.post("/login/dolibarr", data=token(sample_data))
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/quotes/{quote_id}/followup?channel=email"
    assert "HttpOnly" in answer.headers["set-cookie"]
    page = await sidecar.get(answer.headers["location"])
    assert page.status_code == 200
    assert "Julie Dupont" in page.text and sample_data.refs["about_to_expire"] in page.text
    assert 'value="email" id="channel-email" checked' in page.text  # « Relancer par e-mail »: e-mail chosen
    assert fake_dolibarr.count_requests("/login", "POST") + fake_dolibarr.count_requests("/login", "GET") == 0
    assert sample_data.api_keys["jdupont"] not in answer.headers["set-cookie"]


@pytest.mark.parametrize(
    ("target", "path"),
    [("letter", "/quotes/{q}/followup?channel=letter"), ("preview", "/quotes/{q}/followup"),
     ("followups", "/quotes/{q}/followups"), ("mass", "/mass"), ("todo", "/todo"), ("report", "/report")],
)  # fmt: skip
async def test_each_button_opens_its_page(
    sidecar: httpx.AsyncClient, sample_data: SampleData, target: str, path: str
) -> None:
    quote = "about_to_expire" if "{q}" in path else ""
    answer = await sidecar.post("/login/dolibarr", data=token(sample_data, target=target, quote=quote))
    assert answer.status_code == 303
    assert answer.headers["location"] == path.format(q=sample_data.quotes["about_to_expire"])


async def refused(client: httpx.AsyncClient, fields: dict[str, str]) -> None:
    answer = await client.post("/login/dolibarr", data=fields)
    assert answer.status_code == 401, answer.text
    assert "Identifiant ou mot de passe incorrect." in answer.text  # exactly a wrong password's message
    assert (await client.get("/mass")).status_code == 303  # not signed in


async def test_a_token_is_accepted_once(sidecar: httpx.AsyncClient, sample_data: SampleData) -> None:
    fields = token(sample_data)
    assert (await sidecar.post("/login/dolibarr", data=fields)).status_code == 303
    sidecar.cookies.clear()
    await refused(sidecar, fields)


async def test_an_expired_token_is_refused(sidecar: httpx.AsyncClient, sample_data: SampleData) -> None:
    await refused(sidecar, token(sample_data, now=NOW - 91))
    await refused(sidecar, token(sample_data, now=NOW - 90))  # expires the very second it is shown


async def test_a_token_living_longer_than_two_minutes_is_refused(
    sidecar: httpx.AsyncClient, sample_data: SampleData
) -> None:
    await refused(sidecar, token(sample_data, lifetime=MAX_LIFETIME + 1))
    assert (await sidecar.post("/login/dolibarr", data=token(sample_data, lifetime=MAX_LIFETIME))).status_code == 303


FORGERIES = {
    "signed with another secret": lambda sample: token(sample, secret="another-secret-as-long-as-ours-0123456789"),
    "another quote": lambda sample: {**token(sample), "quote": str(sample.quotes["expired"])},
    "another page": lambda sample: {**token(sample), "to": "mass"},
    "another login": lambda sample: {**token(sample), "login": "admin"},
    "a made-up signature": lambda sample: {**token(sample), "sig": "0" * 64},
    "no signature": lambda sample: {k: v for k, v in token(sample).items() if k != "sig"},
    "another key": lambda sample: {**token(sample), "key": token(sample, key_of="admin")["key"]},
}


@pytest.mark.parametrize("forgery", FORGERIES, ids=list(FORGERIES))
async def test_a_forged_token_is_refused(sidecar: httpx.AsyncClient, sample_data: SampleData, forgery: str) -> None:
    await refused(sidecar, FORGERIES[forgery](sample_data))


async def test_a_token_carrying_another_logins_key_is_refused(
    sidecar: httpx.AsyncClient, sample_data: SampleData
) -> None:
    await refused(sidecar, token(sample_data, login="jdupont", key_of="admin"))


async def test_refusals_count_as_failed_logins(sidecar: httpx.AsyncClient, sample_data: SampleData) -> None:
    for _ in range(5):
        await refused(sidecar, {**token(sample_data), "sig": "f" * 64})
    blocked = await sidecar.post("/login/dolibarr", data=token(sample_data))
    assert blocked.status_code == 429


async def test_no_api_key_yet_leads_to_the_login_page(sidecar: httpx.AsyncClient, sample_data: SampleData) -> None:
    answer = await sidecar.post("/login/dolibarr", data=token(sample_data, key_of=""))
    assert answer.status_code == 303
    quote_id = sample_data.quotes["about_to_expire"]
    assert answer.headers["location"] == f"/login?next=%2Fquotes%2F{quote_id}%2Ffollowup%3Fchannel%3Demail"


async def test_without_the_secret_the_link_opens_the_login_page(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    settings = with_sso(web_settings(tmp_path, dolibarr_url=FAKE_URL, smtp_port=1))
    with caplog.at_level(logging.WARNING):
        app = create_web_app(settings, dolibarr_transport=httpx.ASGITransport(app=create_app(fake_dolibarr)),
                             now=lambda: SAMPLE_NOW)  # fmt: skip
    assert f"{SECRET_ENV} is not set" in caplog.text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar.test") as client:
        answer = await client.post("/login/dolibarr", data=token(sample_data, target="todo", quote=""))
        assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2Ftodo"
        assert (await client.get("/todo")).status_code == 303


async def test_neither_the_key_nor_the_secret_is_logged(
    sidecar: httpx.AsyncClient, sample_data: SampleData, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await sidecar.post("/login/dolibarr", data=token(sample_data))
        sidecar.cookies.clear()
        await refused(sidecar, token(sample_data, login="jdupont", key_of="admin"))
    assert "login of jdupont from Dolibarr" in caplog.text
    assert "refused sign-in from Dolibarr for jdupont" in caplog.text
    for secret in (SECRET, sample_data.api_keys["jdupont"], sample_data.api_keys["admin"]):
        assert secret not in caplog.text


# --------------------------------------------------------------------------- the verifier alone


def test_the_vectors_shared_with_the_php_signer() -> None:
    secret = VECTORS["secret"].encode()
    assert VECTORS["tokens"]
    for case in VECTORS["tokens"]:
        given = case["inputs"]
        fields = sign_token(secret, login=given["login"], quote_id=given["quote_id"], target=given["target"],
                            api_key=given["api_key"], now=given["now"], nonce=given["nonce"],
                            iv=bytes.fromhex(given["iv_hex"]))  # fmt: skip
        assert fields == case["fields"]
        claim = SsoVerifier(secret).verify(case["fields"], now=given["now"])
        assert (claim.login, claim.quote_id, claim.target) == (given["login"], given["quote_id"], given["target"])
        assert claim.api_key == (given["api_key"] or None)
        assert given["api_key"] == "" or given["api_key"] not in repr(claim)


def test_the_nonce_store_is_bounded_and_forgets_expired_nonces() -> None:
    store = NonceStore(capacity=2)
    store.use("a", expires_at=100, now=0)
    store.use("b", expires_at=200, now=0)
    with pytest.raises(SsoRefused, match="replayed"):
        store.use("a", expires_at=100, now=50)
    with pytest.raises(SsoRefused, match="too many"):  # full of live nonces: refuse, never forget one
        store.use("c", expires_at=150, now=50)
    store.use("c", expires_at=250, now=150)  # "a" expired: its place is free again
    assert len(store) == 2


def test_a_verifier_shows_no_secret() -> None:
    verifier = SsoVerifier(SECRET.encode())
    assert SECRET not in repr(verifier) and "nonces=0" in repr(verifier)


def test_the_clock_skew_allowed() -> None:
    verifier = SsoVerifier(SECRET.encode())
    fields = sign_token(SECRET.encode(), login="x", quote_id=0, target="mass", api_key="k", now=NOW)
    later = (SAMPLE_NOW + timedelta(seconds=89)).timestamp()
    assert verifier.verify(fields, now=later).api_key == "k"


async def test_dolibarr_down_is_not_a_failed_login(
    sidecar: httpx.AsyncClient, sample_data: SampleData, fake_dolibarr: FakeDolibarr, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dolibarr not answering /users/info: the login page says so (502), no failed login is counted."""
    without_backoff(monkeypatch)
    for _ in range(5):
        fake_dolibarr.fail_next(10, 503, path_prefix="/users/info")
        answer = await sidecar.post("/login/dolibarr", data=token(sample_data))
        assert answer.status_code == 502
        assert "Identifiant ou mot de passe incorrect." not in answer.text
        fake_dolibarr.clear_faults()
    assert (await sidecar.post("/login/dolibarr", data=token(sample_data))).status_code == 303
