"""Real processes: `dolirelance remind` and `dolirelance mass` killed (SIGKILL) at each point of delivery.

Same world as ``test_auto_crash`` (``crash_helpers``: fake Dolibarr over HTTP, real SMTP sink, SQLite
ledger). After each kill, a second attempt on the same quote is refused while the dead one's row holds it,
and nothing is ever sent twice once the lease has run out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from crash_helpers import FollowUpWorld as World
from crash_helpers import fail_the_held_request, follow_up_world, kill, wait_until
from dolirelance.ledger import FollowUpState
from dolirelance.testing.sample_data import SALES_RIGHTS

pytestmark = pytest.mark.wall_clock_process  # every test here runs `dolirelance` as a real process


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from follow_up_world(tmp_path)


def manual_done_events(world: World) -> Counter[int]:
    return Counter(e.fk_element or 0 for e in world.fake.events.values() if e.code == "AC_RELANCE_EMAIL")


def flat(text: str) -> str:
    return " ".join(text.split())


def test_remind_killed_while_preparing_holds_the_quote_until_its_lease_ends(world: World) -> None:
    ref = world.sample.refs["about_to_expire"]
    world.fake.hang_next(1, 60, path_prefix="/documents/download", method="GET")
    proc = world.start("remind", ref, "--email")
    wait_until(lambda: world.fake.hanging == 1, proc, "the quote's PDF download")
    (entry,) = world.entries().values()
    assert entry.state is FollowUpState.CLAIMED  # claimed before anything slow
    kill(proc)
    world.fake.release_hangs()

    refused = world.cli("remind", ref, "--email")
    assert refused.returncode == 1 and world.sink.messages == []
    assert "in progress (remind run remind-" in flat(refused.stderr) and "claimed since" in flat(refused.stderr)

    world.expire_leases()  # ten minutes later: the dead claim no longer holds the quote
    done = world.cli("remind", ref, "--email")
    assert done.returncode == 0, done.stdout + done.stderr
    assert world.emails_per_ref() == Counter({ref: 1})
    assert manual_done_events(world) == Counter({world.sample.quotes["about_to_expire"]: 1})


def test_remind_killed_while_smtp_holds_the_data_reply_is_never_sent_again(world: World) -> None:
    ref = world.sample.refs["about_to_expire"]
    world.sink.hold_next_data()
    proc = world.start("remind", ref, "--email")
    wait_until(lambda: world.sink.holding == 1, proc, "the DATA reply being held")
    kill(proc)
    world.sink.release_data()  # the server kept it: the e-mail did leave
    (entry,) = world.entries().values()
    assert entry.state is FollowUpState.SENDING

    world.expire_leases()
    refused = world.cli("remind", ref, "--email")
    assert refused.returncode == 1 and "may have been sent" in flat(refused.stderr)
    assert world.entries()[entry.key].state is FollowUpState.UNCERTAIN
    assert world.emails_per_ref() == Counter({ref: 1})

    assert world.cli("ledger", "resolve", entry.key, "--sent").returncode == 0
    retry = world.cli("retry")
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert manual_done_events(world) == Counter({entry.quote_id: 1})
    assert world.emails_per_ref() == Counter({ref: 1})


def test_remind_killed_before_recording_is_recorded_by_retry_not_sent_again(world: World) -> None:
    ref = world.sample.refs["about_to_expire"]
    world.fake.hang_next(1, 60, path_prefix="/agendaevents", method="POST")
    proc = world.start("remind", ref, "--email")
    wait_until(lambda: world.fake.hanging == 1, proc, "the POST of the done event")
    kill(proc)
    fail_the_held_request(world.fake, path_prefix="/agendaevents", method="POST")
    (entry,) = world.entries().values()
    assert entry.state is FollowUpState.SENT

    refused = world.cli("remind", ref, "--email")
    assert refused.returncode == 1 and "run `dolirelance retry` first" in flat(refused.stderr)
    world.expire_leases()
    retry = world.cli("retry")
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert world.entries()[entry.key].state is FollowUpState.RECORDED
    assert world.emails_per_ref() == Counter({ref: 1})
    assert manual_done_events(world) == Counter({entry.quote_id: 1})


def test_mass_killed_midway_then_run_again_does_each_quote_once(world: World) -> None:
    refs = [world.sample.refs[role] for role in ("about_to_expire", "expired")]
    world.fake.hang_next(1, 60, path_prefix="/documents/download", method="GET", after=1)
    proc = world.start("mass", *refs, "--email")
    wait_until(lambda: world.fake.hanging == 1, proc, "the second quote's PDF download")
    states = sorted(e.state.value for e in world.entries().values())
    assert states == ["claimed", "recorded"]
    kill(proc)
    world.fake.release_hangs()
    first = next(e.quote_ref for e in world.entries().values() if e.state is FollowUpState.RECORDED)

    world.expire_leases()
    again = world.cli("mass", *refs, "--email")
    assert again.returncode == 1, again.stdout + again.stderr  # the first is refused: followed up just now
    assert "1 done, 0 failed, 1 refused of 2" in flat(again.stdout)
    assert world.emails_per_ref() == Counter(dict.fromkeys(refs, 1))
    assert sorted(manual_done_events(world).values()) == [1, 1]
    assert first in again.stdout


def test_remind_killed_between_the_done_event_and_recorded_is_retried_without_a_second_event(
    world: World,
) -> None:
    """Killed while the to-do's POST is held (the done event is in Dolibarr, the ledger says SENT), then
    retried by a sales person whose rights show only their own events: without a key that sees every
    event, retry refuses to write; with the service's key it finds the done event and adds only the to-do."""
    own_only = SALES_RIGHTS - {"agenda.allactions.read", "agenda.allactions.create"}
    world.fake.add_user("mleroy", api_key="mleroy-key", rights=own_only, firstname="Marc", lastname="Leroy")
    ref = world.sample.refs["about_to_expire"]
    world.fake.hang_next(1, 60, path_prefix="/agendaevents", method="POST", after=1)  # the to-do's POST
    proc = world.start("remind", ref, "--email")
    wait_until(lambda: world.fake.hanging == 1, proc, "the POST of the to-do")
    kill(proc)
    fail_the_held_request(world.fake, path_prefix="/agendaevents", method="POST")
    (entry,) = world.entries().values()
    assert entry.state is FollowUpState.SENT and entry.facts  # what to record was kept before the mail left
    assert manual_done_events(world) == Counter({entry.quote_id: 1})
    world.expire_leases()

    text = world.config.read_text(encoding="utf-8")
    marc = replace(world, config=world.config.with_name("marc.toml"))
    marc.config.write_text(text.replace(f'api_key = "{world.sample.api_keys["jdupont"]}"', 'api_key = "mleroy-key"'))
    blind = marc.cli("retry")
    assert blind.returncode == 1 and "sees only their own events" in flat(blind.stdout + blind.stderr)
    assert world.entries()[entry.key].state is FollowUpState.SENT

    marc.config.write_text(marc.config.read_text(encoding="utf-8").replace(
        "[dolibarr]\n", f'[dolibarr]\nservice_api_key = "{world.sample.api_keys["admin"]}"\n', 1))
    retry = marc.cli("retry")
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert world.entries()[entry.key].state is FollowUpState.RECORDED
    assert manual_done_events(world) == Counter({entry.quote_id: 1})  # found by its key: no second event
    todos = [e for e in world.fake.events.values() if e.code == "AC_RELANCE_TODO"]
    assert [t.userownerid for t in todos] == [world.sample.users["jdupont"]]
    assert world.emails_per_ref() == Counter({ref: 1})
