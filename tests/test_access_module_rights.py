"""``[access] module_rights``: with the Dolibarr module installed, its rights « Lire les relances de devis »
(dolirelance.read) and « Créer des relances de devis » (dolirelance.write) decide who reads and who sends,
read in ``GET /users/info?includepermissions=1`` as Dolibarr gives them; on 20.0.0 and 23.0.0-beta."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from conftest import ON_EACH_RECORDED_VERSION, SAMPLE_NOW, MutableClock
from dolirelance.config import load_config, parse_config
from dolirelance.demo import write_demo_config
from dolirelance.errors import ConfigError
from dolirelance.service.checks import run_doctor
from dolirelance.testing import FakeDolibarr, SampleData, create_app, serve_in_thread
from dolirelance.testing.sample_data import SALES_RIGHTS
from dolirelance.testing.smtp_sink import SmtpSink
from dolirelance.web.sso import sign_token
from in_process_cli import served_for_cli
from test_access import Cli, Web, access_web_app, shown
from test_web import FAKE_URL, WEB_CONFIG

pytestmark = ON_EACH_RECORDED_VERSION
READ, WRITE = "dolirelance.read", "dolirelance.write"
PEOPLE = {"lecteur": {READ}, "vendeur": {READ, WRITE}, "sansdroit": set()}
SECRET = "a-secret-shared-with-dolibarr-0123456789abcdef"


@pytest.fixture
async def web(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Web]:
    for login, module_rights in PEOPLE.items():
        user = fake_dolibarr.add_user(login, api_key=f"{login}-key", password=login,
                                      rights=set(SALES_RIGHTS) | module_rights, firstname=login.title())  # fmt: skip
        sample_data.users[login], sample_data.api_keys[login] = user.id, user.api_key
    monkeypatch.setenv("DOLIRELANCE_TEST_SSO_SECRET", SECRET)
    clock = MutableClock(SAMPLE_NOW)
    settings, client, app = access_web_app(tmp_path, fake_dolibarr, sink, clock, "module_rights = true\n")
    settings = settings.model_copy(
        update={"web": settings.web.model_copy(update={"dolibarr_sso_secret_env": "DOLIRELANCE_TEST_SSO_SECRET"})}
    )
    async with client:
        yield Web(client, fake_dolibarr, sample_data, sink, settings, clock)
        await app.state.web.jobs.wait_all()  # type: ignore[attr-defined]


async def test_users_info_gives_the_modules_rights_as_dolibarr_does(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    """User::loadRights sets ``$user->rights->dolirelance->read = 1`` for a right without sub-permission."""
    user = fake_dolibarr.add_user("vendeur2", api_key="v2", rights={READ, WRITE, "propal.lire", "user.self.creer"})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(fake_dolibarr)),
                                 base_url="http://dolibarr.test") as client:  # fmt: skip
        info = (await client.get("/api/index.php/users/info", params={"includepermissions": 1},
                                 headers={"DOLAPIKEY": user.api_key})).json()  # fmt: skip
    assert info["rights"]["dolirelance"] == {"read": 1, "write": 1}


async def test_the_write_right_sends(web: Web) -> None:
    await web.login("vendeur")
    await web.sends_one_follow_up()


async def test_the_read_right_alone_reads_but_cannot_send(web: Web) -> None:
    await web.login("lecteur")
    for page in ("/mass", "/followups", "/todo"):
        assert (await web.client.get(page)).status_code == 200, page
    mass = await web.client.get("/mass")
    assert 'id="run-mass" disabled>' in mass.text
    assert "de vous donner le droit « Créer des relances de devis »" in shown(mass)
    refused = await web.remind()
    assert refused.status_code == 403
    assert "lecteur may not send follow-ups" in shown(refused)
    assert "« Créer des relances de devis » (dolirelance.write)" in shown(refused)
    assert web.nothing_sent()


async def test_without_the_modules_rights_nothing_is_open(web: Web) -> None:
    await web.login("sansdroit")
    page = await web.client.get("/followups")
    assert page.status_code == 403
    assert "« Lire les relances de devis » (dolirelance.read)" in shown(page)


async def test_an_admin_needs_no_module_right(web: Web) -> None:
    await web.login("admin")
    assert (await web.remind()).status_code == 200
    assert len(web.sink.messages) == 1


async def test_arriving_from_dolibarr_the_same_rights_apply(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, sink: SmtpSink, web: Web
) -> None:
    """Signed in by the module's token, a reader still cannot send: the rights come from /users/info."""
    from dolirelance.web import create_web_app

    app = create_web_app(web.settings, dolibarr_transport=httpx.ASGITransport(app=create_app(fake_dolibarr)),
                         now=web.clock)  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar.test") as client:
        arrived = await client.post("/login/dolibarr", data=sign_token(
            SECRET.encode(), login="lecteur", quote_id=sample_data.quotes["about_to_expire"], target="email",
            api_key="lecteur-key", now=int(SAMPLE_NOW.timestamp())))  # fmt: skip
        assert arrived.status_code == 303
        form = await client.get(arrived.headers["location"])
        assert form.status_code == 200 and 'type="submit" disabled>' in form.text


def test_module_rights_and_groups_are_not_mixed(tmp_path: Path, dolibarr_version: str) -> None:
    text = WEB_CONFIG.format(dolibarr_url=FAKE_URL, smtp_port=25, ledger=tmp_path / "l.sqlite3")
    with pytest.raises(ConfigError, match="leave senders_group and readers_group unset"):
        parse_config(text + '\n[access]\nmodule_rights = true\nsenders_group = "Relances"\n', source="t",
                     base_dir=tmp_path)  # fmt: skip


async def test_doctor_says_when_the_module_is_there_but_its_rights_unused(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, dolibarr_version: str
) -> None:
    fake_dolibarr.users[sample_data.users["jdupont"]].rights |= {READ, WRITE}
    with serve_in_thread(create_app(fake_dolibarr)) as url:
        config = write_demo_config(tmp_path, dolibarr_url=url, api_key=sample_data.api_keys["jdupont"], smtp_port=1)
        unused = [c for c in await run_doctor(load_config(config)) if c.name == "access"]
        assert len(unused) == 1 and not unused[0].ok and unused[0].warning
        assert "module_rights = true" in (unused[0].remedy or "")
        config.write_text(config.read_text(encoding="utf-8") + "\n[access]\nmodule_rights = true\n", encoding="utf-8")
        checks = await run_doctor(load_config(config))
        assert not [c for c in checks if c.name == "access"]
        assert not [c for c in checks if c.name == "access API user"]  # jdupont may send


@pytest.fixture
def module_cli(fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock,
               tmp_path: Path, capsys: pytest.CaptureFixture[str],
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:  # fmt: skip
    for login, module_rights in PEOPLE.items():
        user = fake_dolibarr.add_user(login, api_key=f"{login}-key", password=login,
                                      rights=set(SALES_RIGHTS) | module_rights, firstname=login.title())  # fmt: skip
        sample_data.users[login], sample_data.api_keys[login] = user.id, user.api_key
    with served_for_cli(fake_dolibarr, clock, monkeypatch) as url:
        yield Cli(fake_dolibarr, sample_data, smtp_sink, url, tmp_path, capsys, monkeypatch,
                  access="module_rights = true\n")  # fmt: skip


def test_cli_the_api_keys_user_needs_the_write_right(module_cli: Cli) -> None:
    """remind, mass and the automatic run check the API key's user's module right, before anything is claimed."""
    ref = module_cli.sample.refs["about_to_expire"]
    refused = module_cli("remind", ref, "--email", login="lecteur")
    assert refused.code == 1 and "lecteur may not send follow-ups" in refused.flat
    assert "« Créer des relances de devis » (dolirelance.write)" in refused.flat
    assert module_cli("run", "--once", login="lecteur").code == 1
    assert module_cli.nothing_sent("lecteur")
    assert module_cli("explain", ref, login="lecteur").code == 0  # reading needs only dolirelance.read
    assert module_cli("explain", ref, login="sansdroit").code == 1
    assert module_cli("remind", ref, "--email", login="vendeur").code == 0
    assert len(module_cli.sink.messages) == 1
