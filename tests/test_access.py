"""``[access]``: who may send follow-ups and who may only read, by Dolibarr group, on 20.0.0 and 23.0.0-beta.

Through the web pages (in-process, the fake Dolibarr behind) and the CLI's real entry point (the fake
served on loopback), with a real SMTP sink: each refusal is checked to leave nothing behind (no
e-mail, no event in Dolibarr, no ledger claim).
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import ON_EACH_RECORDED_VERSION, SAMPLE_NOW, MutableClock
from dolirelance import service
from dolirelance.config import Settings, parse_config
from dolirelance.demo import write_demo_config
from dolirelance.ledger import Ledger
from dolirelance.testing import FakeDolibarr, SampleData, create_app
from dolirelance.testing.sample_data import SALES_RIGHTS
from dolirelance.testing.smtp_sink import SmtpSink
from dolirelance.web import create_web_app
from in_process_cli import DemoCli
from test_web import FAKE_URL, WEB_CONFIG, csrf_of
from test_web import Web as WebPages

pytestmark = ON_EACH_RECORDED_VERSION
SENDERS = "Relances devis"
READERS = "Relances devis - lecture"
TO_ASK = f"ask a Dolibarr administrator to add you to the group '{SENDERS}'"


def add_people(fake: FakeDolibarr, sample: SampleData) -> None:
    """jdupont in the senders' group; mleroy, a sales person outside it; lmartin in the readers' group."""
    for login, first, last in (("mleroy", "Marc", "Leroy"), ("lmartin", "Lise", "Martin")):
        user = fake.add_user(login, api_key=f"{login}-key", password=login, rights=SALES_RIGHTS,
                             firstname=first, lastname=last, email=f"{login}@solaire-rhone-alpes.test")
        sample.users[login], sample.api_keys[login] = user.id, user.api_key
    fake.add_group(SENDERS, members=[sample.users["jdupont"]])
    fake.add_group(READERS, members=[sample.users["lmartin"]])


def shown(answer: httpx.Response) -> str:
    """The page's text as the browser shows it (entities decoded)."""
    return html.unescape(answer.text)


def nothing_sent(fake: FakeDolibarr, sink: SmtpSink, ledger_url: str, instance: str = "default") -> bool:
    ledger = Ledger(ledger_url, instance=instance)
    try:
        claims = sum(ledger.counts().values())
    finally:
        ledger.close()
    events = [e for e in fake.events.values() if e.code.startswith("AC_RELANCE")]
    return not sink.messages and not events and claims == 0


# --------------------------------------------------------------------------- web pages


@dataclass
class Web(WebPages):
    clock: MutableClock

    async def login(self, login: str = "jdupont", password: str | None = None) -> httpx.Response:
        """Signs in; each added person's password is their login."""
        known = {"jdupont": "relance", "admin": "admin"}
        return await super().login(login, known.get(login, login) if password is None else password)

    async def remind(self, quote_key: str = "about_to_expire") -> httpx.Response:
        quote_id = self.sample.quotes[quote_key]
        form = await self.client.get(f"/quotes/{quote_id}/followup")
        return await self.client.post("/followup/new", data={
            "csrf": csrf_of(form.text), "quote": str(quote_id), "model": "1ère relance",
            "next_date": "2026-12-14", "send_email": "1",
        })

    async def mass(self) -> httpx.Response:
        page = await self.client.get("/mass")
        return await self.client.post("/mass", data={
            "csrf": csrf_of(page.text), "email": [self.sample.refs["about_to_expire"]], "next_date": "2026-12-15",
        })

    async def sends_one_follow_up(self) -> None:
        """The signed-in user is offered sending on the mass page, and the form's follow-up goes: one e-mail."""
        assert 'id="cannot-send"' not in (await self.client.get("/mass")).text
        answer = await self.remind()
        assert answer.status_code == 200, answer.text
        assert len(self.sink.messages) == 1

    def nothing_sent(self) -> bool:
        assert self.settings.ledger.url is not None
        return nothing_sent(self.fake, self.sink, self.settings.ledger.url)


def access_web_app(tmp_path: Path, fake: FakeDolibarr, sink: SmtpSink, clock: MutableClock,
                   access: str) -> tuple[Settings, httpx.AsyncClient, object]:
    text = WEB_CONFIG.format(dolibarr_url=FAKE_URL, smtp_port=sink.port, ledger=tmp_path / "ledger.sqlite3")
    settings = parse_config(text + "\n[access]\n" + access, source="test", base_dir=tmp_path)
    app = create_web_app(settings, dolibarr_transport=httpx.ASGITransport(app=create_app(fake)), now=clock)
    return settings, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar.test"), app


@pytest.fixture
def access_config() -> str:
    return f'senders_group = "{SENDERS}"\n'


@pytest.fixture
async def web(tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, sink: SmtpSink,
              access_config: str) -> AsyncIterator[Web]:
    add_people(fake_dolibarr, sample_data)
    clock = MutableClock(SAMPLE_NOW)
    settings, client, app = access_web_app(tmp_path, fake_dolibarr, sink, clock, access_config)
    async with client:
        yield Web(client, fake_dolibarr, sample_data, sink, settings, clock)
        await app.state.web.jobs.wait_all()  # type: ignore[attr-defined]


async def test_a_member_of_the_senders_group_sends_from_the_form(web: Web) -> None:
    """jdupont, in the group, sees an enabled button and the follow-up is sent and recorded."""
    await web.login("jdupont")
    page = (await web.client.get("/mass")).text
    assert 'id="run-mass">' in page and 'id="cannot-send"' not in page
    answer = await web.remind()
    assert answer.status_code == 200, answer.text
    assert "Relance enregistrée dans Dolibarr." in shown(answer)
    assert len(web.sink.messages) == 1
    assert [e.code for e in web.fake.events.values() if e.code.startswith("AC_RELANCE")] == [
        "AC_RELANCE_EMAIL", "AC_RELANCE_TODO"
    ]


async def test_a_sales_person_outside_the_group_reads_but_cannot_send(web: Web) -> None:
    """mleroy logs in and reads every page; the send buttons are disabled, and the server refuses sends anyway."""
    assert (await web.login("mleroy")).status_code == 303
    mass = await web.client.get("/mass")
    assert mass.status_code == 200
    assert 'id="run-mass" disabled>' in mass.text
    assert f"de vous ajouter au groupe « {SENDERS} »" in shown(mass)
    new_form = await web.client.get(f"/quotes/{web.sample.quotes['about_to_expire']}/followup")
    assert 'type="submit" disabled>' in new_form.text
    for page in ("/followups", "/todo", f"/quotes/{web.sample.quotes['expired']}/followups"):
        assert (await web.client.get(page)).status_code == 200, page
    refused = await web.remind()  # a hand-made post: the server checks, whatever the page showed
    assert refused.status_code == 403
    assert "mleroy may not send follow-ups" in shown(refused) and TO_ASK in shown(refused)
    refused_mass = await web.mass()
    assert refused_mass.status_code == 403 and TO_ASK in shown(refused_mass)
    assert web.nothing_sent()


async def test_an_admin_sends_without_being_in_the_group(web: Web) -> None:
    """Dolibarr administrators are always allowed, as in Dolibarr."""
    await web.login("admin")
    await web.sends_one_follow_up()


async def test_a_user_removed_from_the_group_while_logged_in_is_refused_at_the_next_send(web: Web) -> None:
    """Membership is read again for every send: removed after the page was shown, the post is refused."""
    await web.login("jdupont")
    quote_id = web.sample.quotes["about_to_expire"]
    form = await web.client.get(f"/quotes/{quote_id}/followup")
    assert 'id="cannot-send"' not in form.text
    group = web.fake.group_by_name(SENDERS)
    assert group is not None
    web.fake.remove_from_group(web.sample.users["jdupont"], group.id)
    refused = await web.client.post("/followup/new", data={
        "csrf": csrf_of(form.text), "quote": str(quote_id), "model": "1ère relance", "send_email": "1",
    })
    assert refused.status_code == 403 and TO_ASK in shown(refused)
    assert web.nothing_sent()
    # the pages stop offering to send at once, without waiting for the cache
    assert 'id="run-mass" disabled>' in (await web.client.get("/mass")).text


async def test_pages_reuse_the_membership_for_cache_seconds_then_read_it_again(web: Web) -> None:
    """Pages show what Dolibarr said at most cache_seconds ago: a member added meanwhile gets the button after it."""
    await web.login("mleroy")
    assert 'id="run-mass" disabled>' in (await web.client.get("/mass")).text
    group = web.fake.group_by_name(SENDERS)
    assert group is not None
    web.fake.add_to_group(web.sample.users["mleroy"], group.id)
    web.clock.advance(seconds=web.settings.access.cache_seconds - 1)
    assert 'id="run-mass" disabled>' in (await web.client.get("/mass")).text  # still the cached answer
    web.clock.advance(seconds=1)
    page = (await web.client.get("/mass")).text
    assert 'id="run-mass">' in page and 'id="cannot-send"' not in page


@pytest.mark.parametrize("access_config", [f'senders_group = "{SENDERS}"\nreaders_group = "{READERS}"\n'])
async def test_with_a_readers_group_a_reader_reads_and_others_are_kept_out(web: Web) -> None:
    """lmartin (readers) sees the pages without sending; mleroy (no group) is refused every page, saying why."""
    await web.login("lmartin")
    mass = await web.client.get("/mass")
    assert mass.status_code == 200 and 'id="run-mass" disabled>' in mass.text
    assert (await web.remind()).status_code == 403
    assert web.nothing_sent()
    await web.client.post("/logout", data={"csrf": csrf_of(mass.text)})
    assert (await web.login("mleroy")).status_code == 303
    for page in ("/mass", "/followups", "/todo", "/followup/new"):
        answer = await web.client.get(page)
        assert answer.status_code == 403, page
        assert "mleroy may not use dolirelance" in shown(answer)
        assert f"add you to the group '{READERS}'" in shown(answer)
    await web.client.post("/logout", data={"csrf": csrf_of(answer.text)})  # the refusal page can log out
    await web.login("jdupont")
    assert (await web.remind()).status_code == 200


@pytest.mark.parametrize("access_config", ['senders_group = "Groupe inexistant"\n'])
async def test_a_group_missing_in_dolibarr_refuses_everyone_but_admins(web: Web) -> None:
    """A configured group that does not exist in Dolibarr: nobody is a member, admins still send."""
    await web.login("jdupont")
    refused = await web.remind()
    assert refused.status_code == 403
    assert "ask a Dolibarr administrator to add you to the group 'Groupe inexistant'" in shown(refused)
    assert web.nothing_sent()
    await web.client.post("/logout", data={"csrf": csrf_of((await web.client.get("/mass")).text)})
    await web.login("admin")
    assert (await web.remind()).status_code == 200


# --------------------------------------------------------------------------- CLI


@dataclass
class Cli(DemoCli):
    access: str = f'senders_group = "{SENDERS}"\n'

    def config(self, login: str = "jdupont") -> Path:
        path = super().config(login)
        path.write_text(path.read_text(encoding="utf-8") + f"\n[access]\n{self.access}", encoding="utf-8")
        return path

    def nothing_sent(self, login: str) -> bool:
        ledger_url = f"sqlite:///{(self.tmp_path / f'cfg-{login}' / 'ledger.sqlite3').as_posix()}"
        return nothing_sent(self.fake, self.sink, ledger_url, instance="demo")


@pytest.fixture
def make_cli(fake_dolibarr: FakeDolibarr, sample_data: SampleData) -> type[Cli]:
    """conftest's ``cli`` with this module's Cli, the group's members and outsiders in Dolibarr."""
    add_people(fake_dolibarr, sample_data)
    return Cli


def test_cli_remind_and_mass_refuse_a_key_outside_the_group(cli: Cli) -> None:
    """The API key's user outside the group: remind and mass stop before anything is claimed; a dry run reads."""
    ref = cli.sample.refs["about_to_expire"]
    result = cli("remind", ref, "--email", login="mleroy")
    assert result.code == 1 and result.err.startswith("error: "), result
    assert "mleroy may not send follow-ups" in result.flat and TO_ASK in result.flat
    assert "Traceback" not in result.err
    assert cli("mass", ref, "--email", login="mleroy").code == 1
    assert cli("run", "--once", login="mleroy").code == 1
    assert cli.nothing_sent("mleroy")
    dry = cli("mass", ref, "--email", "--dry-run", login="mleroy")
    assert dry.code == 0 and ref in dry.out
    assert cli("explain", ref, login="mleroy").code == 0


def test_cli_a_member_and_an_admin_send(cli: Cli) -> None:
    """jdupont (member) and admin (no group) send with remind."""
    assert cli("remind", cli.sample.refs["about_to_expire"], "--email", login="jdupont").code == 0
    assert cli("remind", cli.sample.refs["expired"], "--letter", login="admin").code == 0
    assert len(cli.sink.messages) == 1
    assert {e.code for e in cli.fake.events.values()} >= {"AC_RELANCE_EMAIL", "AC_RELANCE_LETTER"}


def test_the_check_costs_no_request_beyond_the_users_own_info(cli: Cli) -> None:
    """Membership comes with the one /users/info a follow-up reads anyway: no group route is asked."""
    cli.fake.reset_requests()
    assert cli("remind", cli.sample.refs["about_to_expire"], "--email", login="jdupont").code == 0
    assert cli.fake.count_requests("/users/info") == 1
    assert cli.fake.count_requests("/users/groups", prefix=True) == 0
    assert not [r for r in cli.fake.requests if r.path.endswith("/groups")]


def test_cli_retry_is_refused_once_removed_from_the_group(cli: Cli) -> None:
    """A mail sent but not recorded waits; `retry` records it only with a key that may send."""
    ref = cli.sample.refs["about_to_expire"]
    cli.fake.fail_next(10, 503, path_prefix="/agendaevents", method="POST")
    sent = cli("remind", ref, "--email", login="jdupont")
    assert sent.code == 1 and len(cli.sink.messages) == 1
    cli.fake.clear_faults()
    group = cli.fake.group_by_name(SENDERS)
    assert group is not None
    cli.fake.remove_from_group(cli.sample.users["jdupont"], group.id)
    refused = cli("retry", login="jdupont")
    assert refused.code == 1 and TO_ASK in refused.flat
    assert not [e for e in cli.fake.events.values() if e.code == "AC_RELANCE_EMAIL"]
    cli.fake.add_to_group(cli.sample.users["jdupont"], group.id)
    recorded = cli("retry", login="jdupont")
    assert recorded.code == 0, recorded
    assert len([e for e in cli.fake.events.values() if e.code == "AC_RELANCE_EMAIL"]) == 1
    assert len(cli.sink.messages) == 1


def test_cli_readers_group_keeps_others_out_of_read_commands(cli: Cli) -> None:
    """With readers_group set, a key in neither group cannot list, explain or look at history."""
    cli.access = f'senders_group = "{SENDERS}"\nreaders_group = "{READERS}"\n'
    ref = cli.sample.refs["about_to_expire"]
    for args in (("quotes",), ("explain", ref), ("history", "--open"), ("upcoming",),
                 ("preview", ref, "--email", str(cli.tmp_path / "out.eml"))):
        result = cli(*args, login="mleroy")
        assert result.code == 1, (args, result)
        assert "mleroy may not use dolirelance" in result.flat and f"'{READERS}'" in result.flat
    assert cli("quotes", login="lmartin").code == 0
    assert cli("remind", ref, "--email", login="lmartin").code == 1
    assert cli.nothing_sent("lmartin")


def test_doctor_lists_members_and_says_empty_or_unknown(cli: Cli) -> None:
    """doctor: the senders' members by login, an empty readers' group, an unknown group with how to create it."""
    cli.access = f'senders_group = "{SENDERS}"\nreaders_group = "Personne"\n'
    cli.fake.add_group("Personne")
    result = cli("doctor", login="admin")
    assert f"'{SENDERS}': 1 member(s): jdupont" in result.flat
    assert "the group 'Personne' is empty: nobody but administrators may read" in result.flat
    cli.access = 'senders_group = "Inconnu"\n'
    result = cli("doctor", login="admin")
    assert "the group 'Inconnu' does not exist in Dolibarr" in result.flat
    assert "Groupes > Nouveau groupe (Users & Groups > Groups > New group), name 'Inconnu'" in result.flat
    result = cli("doctor", login="jdupont")  # no user.user.lire: says it cannot tell, and that this key may not send
    assert "cannot read the group 'Inconnu'" in result.flat
    assert "jdupont is not in the group 'Inconnu'" in result.flat


def test_setup_says_how_to_create_a_missing_group(cli: Cli) -> None:
    """Dolibarr's API cannot create groups: setup stops with the menu path, and passes once it exists."""
    cli.access = 'senders_group = "Commerciaux relances"\n'
    missing = cli("setup", login="admin")
    assert missing.code == 1, missing
    assert "the [access] group(s) 'Commerciaux relances' do not exist in Dolibarr" in missing.flat
    assert "Utilisateurs & Groupes > Groupes" in missing.flat
    cli.fake.add_group("Commerciaux relances", members=[cli.sample.users["jdupont"]])
    done = cli("setup", login="admin")
    assert done.code == 0, done
    assert "the [access] senders_group 'Commerciaux relances' exists (1 member(s))" in done.flat


def test_no_access_section_changes_nothing(cli: Cli) -> None:
    """[access] unset: anyone Dolibarr lets in sends, and no membership is read."""
    cli.access = ""
    cli.fake.reset_requests()
    assert cli("remind", cli.sample.refs["about_to_expire"], "--email", login="mleroy").code == 0
    assert cli.fake.count_requests("/users/groups", prefix=True) == 0
    assert len(cli.sink.messages) == 1


# --------------------------------------------------------------------------- service: the membership fallback


async def test_without_user_group_list_groups_are_read_by_id_with_user_user_lire(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink, clock: MutableClock
) -> None:
    """A user known without its groups: read through /users/{id}/groups (admin key), or refused saying why."""
    from dolirelance.domain import User
    from dolirelance.errors import AccessDenied

    add_people(fake_dolibarr, sample_data)
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    jdupont = User(id=sample_data.users["jdupont"], login="jdupont")  # groups=None: not from /users/info
    for login, expected in (("admin", service.Access.SEND), ("jdupont", None)):
        path = write_demo_config(tmp_path / login, dolibarr_url=FAKE_URL, api_key=sample_data.api_keys[login],
                                 smtp_port=smtp_sink.port)
        text = path.read_text(encoding="utf-8") + f'\n[access]\nsenders_group = "{SENDERS}"\n'
        settings = parse_config(text, source="test", base_dir=path.parent)
        async with service.open_runtime(settings, transport=transport, now=clock) as rt:
            if expected is not None:
                assert await service.access_of(rt, jdupont) is expected
            else:  # a sales key may not read groups by id, not even its own
                with pytest.raises(AccessDenied, match="cannot tell whether jdupont belongs") as caught:
                    await service.access_of(rt, jdupont)
                assert caught.value.remedy is not None and "user.self.creer" in caught.value.remedy

