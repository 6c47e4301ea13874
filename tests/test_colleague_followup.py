"""A colleague's follow-up, seen and recorded whatever the acting user may see in Dolibarr's agenda.

Marc Leroy is a sales person whose rights show only his own agenda events (no ``agenda.allactions.*``:
a common set-up). The quote's sales representative is Julie Dupont; the admin followed it up a minute
before. Through the real entry point (the fake served on loopback, a real SMTP sink, SQLite ledgers):

- the recent-follow-up rule (``[auto] min_gap``) refuses Marc, from Dolibarr's events read with the
  service's key (``[dolibarr] service_api_key``), or from the ledger alone when it is shared;
- with ``--force`` his follow-up is sent and recorded (done event + to-do), exit 0, although Dolibarr
  refuses him any write of Julie's to-do: the service's key moves it to his next date, or, without one,
  he gets a to-do of his own and Julie's is left open and named;
- ``retry`` after a stop between the done event and RECORDED never writes a second event, even when
  the retrying user cannot see it.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest

from conftest import ON_EACH_RECORDED_VERSION, MutableClock
from dolirelance.config import parse_config
from dolirelance.history import compose_note, decode_facts
from dolirelance.ledger import FollowUpState, Ledger
from dolirelance.testing import AgendaEventRecord, FakeDolibarr, SampleData, create_app
from dolirelance.testing.sample_data import SALES_RIGHTS
from dolirelance.testing.smtp_sink import SmtpSink
from dolirelance.web import create_web_app
from in_process_cli import CliResult, DemoCli
from test_web import FAKE_URL, WEB_CONFIG, csrf_of

pytestmark = ON_EACH_RECORDED_VERSION
OWN_EVENTS_ONLY = SALES_RIGHTS - {"agenda.allactions.read", "agenda.allactions.create", "agenda.allactions.delete"}


@dataclass
class Cli(DemoCli):
    """Each login its configuration; ``service_key``: the service's key added to it; ``shared_ledger``:
    every login writes one ledger (replicas of one instance) instead of one each."""

    clock: MutableClock | None = None
    service_key: str | None = None
    shared_ledger: bool = False

    def config(self, login: str = "jdupont") -> Path:
        path = super().config(login)
        text = path.read_text(encoding="utf-8")
        if self.service_key is not None:
            text = text.replace("[dolibarr]\n", f'[dolibarr]\nservice_api_key = "{self.service_key}"\n', 1)
        if self.shared_ledger:
            own = (path.parent / "ledger.sqlite3").as_posix()
            text = text.replace(own, self.ledger_path.as_posix())
        path.write_text(text, encoding="utf-8")
        return path

    @property
    def ledger_path(self) -> Path:
        return self.tmp_path / "shared-ledger.sqlite3"

    def entries(self, login: str) -> Counter[FollowUpState]:
        path = self.ledger_path if self.shared_ledger else self.tmp_path / f"cfg-{login}" / "ledger.sqlite3"
        with Ledger(f"sqlite:///{path.as_posix()}", instance="demo") as ledger:
            return Counter(entry.state for entry in ledger.recent())


@pytest.fixture
def make_cli(fake_dolibarr: FakeDolibarr, sample_data: SampleData, clock: MutableClock) -> Callable[..., Cli]:
    """conftest's ``cli`` with this module's Cli on the test's clock, and Marc, who sees his own events only."""
    marc = fake_dolibarr.add_user("mleroy", api_key="mleroy-key", password="mleroy", rights=OWN_EVENTS_ONLY,
                                  firstname="Marc", lastname="Leroy", email="mleroy@solaire-rhone-alpes.test")
    sample_data.users["mleroy"], sample_data.api_keys["mleroy"] = marc.id, marc.api_key
    return partial(Cli, clock=clock)


def relance_events(fake: FakeDolibarr, code: str) -> list[AgendaEventRecord]:
    return sorted((e for e in fake.events.values() if e.code == code), key=lambda e: e.id)


def flat(result: CliResult) -> str:
    return result.flat


def admin_follows_up(cli: Cli, ref: str) -> AgendaEventRecord:
    """The admin's follow-up, then a minute passes; its to-do (owned by the sales rep) is returned."""
    assert cli.clock is not None
    done = cli("remind", ref, "--email", login="admin")
    assert done.code == 0, done
    cli.clock.advance(seconds=60)
    [todo] = relance_events(cli.fake, "AC_RELANCE_TODO")
    assert todo.userownerid == cli.sample.users["jdupont"] and todo.percentage == 0
    return todo


def test_a_sales_person_seeing_only_own_events_is_refused_then_forces_and_is_recorded(cli: Cli) -> None:
    """With the service's key: refused a minute after the admin's follow-up; --force sends and records it."""
    ref = cli.sample.refs["about_to_expire"]
    admins_todo = admin_follows_up(cli, ref)
    cli.service_key = cli.sample.api_keys["admin"]

    refused = cli("remind", ref, "--email", login="mleroy")
    assert refused.code == 1 and refused.err.startswith("error: "), refused
    assert f"{ref} was followed up on" in flat(refused) and "by Alain Martel" in flat(refused)
    assert "less than 3 day(s) ago" in flat(refused) and "--force" in flat(refused)
    assert len(cli.sink.messages) == 1  # the admin's only

    forced = cli("remind", ref, "--email", "--force", login="mleroy")
    assert forced.code == 0, forced
    assert "sent and recorded in Dolibarr" in flat(forced)
    assert len(cli.sink.messages) == 2
    done_events = relance_events(cli.fake, "AC_RELANCE_EMAIL")
    assert [e.userownerid for e in done_events] == [cli.sample.users["admin"], cli.sample.users["mleroy"]]
    # Julie's to-do, planned by the admin's follow-up, moved to Marc's next date by the service's key
    [todo] = relance_events(cli.fake, "AC_RELANCE_TODO")
    assert (todo.id, todo.percentage, todo.userownerid) == (admins_todo.id, 0, cli.sample.users["jdupont"])
    assert decode_facts(todo.note)["key"] == decode_facts(done_events[1].note)["key"]
    assert todo.usermodid == cli.sample.users["admin"]  # written with the service key (Marc's may not)
    # the forced follow-up recorded, the refused one released with nothing sent
    assert cli.entries("mleroy") == Counter({FollowUpState.RECORDED: 1, FollowUpState.FAILED: 1})


def test_the_shared_ledger_alone_refuses_and_forced_the_follow_up_is_recorded_without_a_service_key(cli: Cli) -> None:
    """No service key, one ledger for everyone: the ledger says "recent"; forced, the follow-up is recorded
    (done event, and the to-do for Marc himself: nobody here may give Julie one); the admin's to-do, which
    Marc's key can neither see nor close, stays open for Julie."""
    cli.shared_ledger = True
    ref = cli.sample.refs["about_to_expire"]
    admins_todo = admin_follows_up(cli, ref)

    refused = cli("remind", ref, "--email", login="mleroy")
    assert refused.code == 1 and "less than 3 day(s) ago" in flat(refused), refused
    assert len(cli.sink.messages) == 1

    forced = cli("remind", ref, "--email", "--force", login="mleroy")
    assert forced.code == 0, forced
    assert "sent and recorded in Dolibarr" in flat(forced)
    assert len(cli.sink.messages) == 2
    [_, marcs] = relance_events(cli.fake, "AC_RELANCE_EMAIL")
    assert marcs.userownerid == cli.sample.users["mleroy"]
    todos = relance_events(cli.fake, "AC_RELANCE_TODO")
    assert [(t.id, t.userownerid, t.percentage) for t in todos] == [
        (admins_todo.id, cli.sample.users["jdupont"], 0),
        (todos[1].id, cli.sample.users["mleroy"], 0),
    ]
    assert cli.entries("mleroy") == Counter({FollowUpState.RECORDED: 2, FollowUpState.FAILED: 1})


def test_a_to_do_the_acting_key_sees_but_may_not_close_is_left_open_and_named(cli: Cli) -> None:
    """Marc reads every event (agenda.allactions.read) but writes only his own: Dolibarr's history refuses
    him; forced, his follow-up is recorded and the output names the admin's to-do left open."""
    cli.fake.users[cli.sample.users["mleroy"]].rights.add("agenda.allactions.read")
    ref = cli.sample.refs["about_to_expire"]
    admins_todo = admin_follows_up(cli, ref)

    refused = cli("remind", ref, "--email", login="mleroy")
    assert refused.code == 1 and "less than 3 day(s) ago" in flat(refused), refused

    forced = cli("remind", ref, "--email", "--force", login="mleroy")
    assert forced.code == 0, forced
    assert "sent and recorded in Dolibarr" in flat(forced)
    assert f"an earlier to-do of another user is still open (#{admins_todo.id}): close it in Dolibarr" in flat(forced)
    assert cli.fake.events[admins_todo.id].percentage == 0
    assert len(relance_events(cli.fake, "AC_RELANCE_EMAIL")) == 2 and len(cli.sink.messages) == 2

    # closed later by a key that may, else listed for a person: `retry` does it
    listed = cli("retry", login="mleroy")
    assert listed.code == 0, listed
    assert f"to-do #{admins_todo.id}" in flat(listed) and "may not be closed with this key" in flat(listed)
    assert cli.fake.events[admins_todo.id].percentage == 0
    cli.service_key = cli.sample.api_keys["admin"]
    closed = cli("retry", login="mleroy")
    assert closed.code == 0 and f"to-do #{admins_todo.id}" in flat(closed) and "closed" in flat(closed), closed
    assert cli.fake.events[admins_todo.id].percentage == 100
    [_, marcs_todo] = relance_events(cli.fake, "AC_RELANCE_TODO")
    assert marcs_todo.percentage == 0  # the next follow-up's to-do stays
    assert "to-do" not in flat(cli("retry", login="mleroy"))  # nothing left to close


def test_retry_after_a_stop_between_the_event_and_recorded_writes_no_second_event(cli: Cli) -> None:
    """The done event is in Dolibarr, the to-do is not, the ledger says SENT: Marc's retry without a key that
    sees every event refuses to write; with the service's key it finds the event and writes only the to-do."""
    cli.shared_ledger = True
    ref = cli.sample.refs["about_to_expire"]
    cli.fake.fail_next(1, 503, path_prefix="/agendaevents", method="POST", after=1)  # the to-do's POST
    stopped = cli("remind", ref, "--email", login="admin")
    assert stopped.code == 1 and "not recorded" in flat(stopped), stopped
    [done] = relance_events(cli.fake, "AC_RELANCE_EMAIL")
    assert relance_events(cli.fake, "AC_RELANCE_TODO") == []
    assert cli.entries("mleroy") == Counter({FollowUpState.SENT: 1})

    blind = cli("retry", login="mleroy")
    assert blind.code == 1, blind
    assert "sees only their own events" in flat(blind) and "service_api_key" in flat(blind)
    assert relance_events(cli.fake, "AC_RELANCE_EMAIL") == [done] and relance_events(cli.fake, "AC_RELANCE_TODO") == []
    assert cli.entries("mleroy") == Counter({FollowUpState.SENT: 1})

    cli.service_key = cli.sample.api_keys["admin"]
    recorded = cli("retry", login="mleroy")
    assert recorded.code == 0, recorded
    assert relance_events(cli.fake, "AC_RELANCE_EMAIL") == [done]  # found by its key, not written again
    [todo] = relance_events(cli.fake, "AC_RELANCE_TODO")
    assert todo.userownerid == cli.sample.users["jdupont"]
    assert decode_facts(todo.note)["key"] == decode_facts(done.note)["key"]
    assert cli.entries("mleroy") == Counter({FollowUpState.RECORDED: 1})
    assert len(cli.sink.messages) == 1
    assert cli("retry", login="mleroy").code == 0 and len(relance_events(cli.fake, "AC_RELANCE_TODO")) == 1


def test_the_policy_sees_a_colleagues_follow_up_through_the_service_key(cli: Cli) -> None:
    """`explain` for Marc (own events only) counts the admin's follow-up only when the service's key reads
    the history: without it, step 1 would look due again."""
    ref = cli.sample.refs["about_to_expire"]
    admin_follows_up(cli, ref)
    blind = cli("explain", ref, login="mleroy")
    assert blind.code == 0 and "step 1 (1ère relance) done" not in flat(blind), blind
    cli.service_key = cli.sample.api_keys["admin"]
    explained = cli("explain", ref, login="mleroy")
    assert explained.code == 0, explained
    assert "step 1 (1ère relance) done: follow-up on 2026-11-28 (manual, 1ère relance)" in flat(explained)


def test_doctor_says_what_the_service_key_may_do(cli: Cli) -> None:
    """doctor names the service key's user, and warns when it cannot read or write everyone's events."""
    cli.service_key = cli.sample.api_keys["admin"]
    good = cli("doctor", login="mleroy")
    assert "service key" in flat(good) and "admin: reads every user's follow-ups" in flat(good), good
    cli.service_key = cli.sample.api_keys["mleroy"] + "-typo"
    cli.fake.add_user("marc-service", api_key=cli.service_key, rights=OWN_EVENTS_ONLY)
    weak = cli("doctor", login="mleroy")
    assert "marc-service lacks agenda.allactions.read, agenda.allactions.create" in flat(weak), weak


# --------------------------------------------------------------------------- web pages


def colleagues_followup_only_dolibarr_knows(fake: FakeDolibarr, sample: SampleData, clock: MutableClock) -> None:
    """The admin's follow-up of a minute ago, made by another instance: in Dolibarr, not in this ledger."""
    quote = fake.proposals[sample.quotes["about_to_expire"]]
    note = compose_note("", {"key": "manual:other-instance", "model": "1ère relance", "level": 1,
                             "channel": "email"})  # fmt: skip
    fake.add_event(type_code="AC_OTH_AUTO", code="AC_RELANCE_EMAIL", label=f"Relance devis {quote.ref}",
                   userownerid=sample.users["admin"], datep=clock() - timedelta(minutes=1), note=note,
                   percentage=100, socid=quote.socid, elementtype="propal", fk_element=quote.id)  # fmt: skip


@pytest.mark.parametrize("service_key", [True, False])
async def test_the_web_warns_a_sales_person_of_a_colleagues_follow_up_read_with_the_service_key(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink,
    clock: MutableClock, service_key: bool,
) -> None:
    """Marc (own events only) logs in: the preview and the mass page warn of the admin's follow-up only
    when ``service_api_key`` reads the history (his session's key cannot see it)."""
    fake_dolibarr.add_user("mleroy", api_key="mleroy-key", password="mleroy", rights=OWN_EVENTS_ONLY,
                           firstname="Marc", lastname="Leroy")  # fmt: skip
    colleagues_followup_only_dolibarr_knows(fake_dolibarr, sample_data, clock)
    text = WEB_CONFIG.format(dolibarr_url=FAKE_URL, smtp_port=smtp_sink.port, ledger=tmp_path / "ledger.sqlite3")
    if service_key:
        text = text.replace("[dolibarr]\n", f'[dolibarr]\nservice_api_key = "{sample_data.api_keys["admin"]}"\n', 1)
    settings = parse_config(text, source="test", base_dir=tmp_path)
    app = create_web_app(settings, dolibarr_transport=httpx.ASGITransport(app=create_app(fake_dolibarr)), now=clock)
    quote_id = sample_data.quotes["about_to_expire"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sidecar.test") as client:
        login = await client.get("/login")
        await client.post("/login", data={"csrf": csrf_of(login.text), "login": "mleroy", "password": "mleroy"})
        form = await client.get(f"/quotes/{quote_id}/followup")
        preview = await client.post("/followup/preview", data={"csrf": csrf_of(form.text), "quote": str(quote_id),
                                                                "channel": "email"})  # fmt: skip
        assert preview.status_code == 200, preview.text
        page = await client.get("/mass")
        mass = await client.post("/mass", data={"csrf": csrf_of(page.text),
                                                "email": [sample_data.refs["about_to_expire"]]})  # fmt: skip
        assert mass.status_code == 200, mass.text
    line = re.search(rf'<tr data-ref="{sample_data.refs["about_to_expire"]}".*?</tr>', mass.text, re.S)
    assert line is not None, mass.text
    if service_key:
        assert 'id="recent-warning"' in preview.text and "par Alain Martel" in html.unescape(preview.text)
        assert "relancé le" in line.group(0)
    else:  # what the session's key sees: no colleague, no warning
        assert 'id="recent-warning"' not in preview.text
        assert "relancé le" not in line.group(0)
    assert not smtp_sink.messages
