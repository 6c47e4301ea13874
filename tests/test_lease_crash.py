"""Real processes: a mass run killed (SIGKILL) while one e-mail is being handed over and the others wait
for their SMTP turn. Only the one being handed over may have left: it alone becomes uncertain.

Same world as ``test_manual_crash`` (``crash_helpers``), four follow-ups at once, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import pg_schema_url
from crash_helpers import FollowUpWorld as World
from crash_helpers import follow_up_world, kill, wait_until
from dolirelance.ledger import FollowUpState

pytestmark = pytest.mark.wall_clock_process  # runs `dolirelance` as a real process

ROLES = ("expired", "about_to_expire", "not_yet_due", "two_contacts")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    def four_at_once(world: World) -> World:
        text = world.config.read_text(encoding="utf-8").replace("max_concurrency = 1", "max_concurrency = 4", 1)
        world.config.write_text(text, encoding="utf-8")
        return world

    if request.param == "sqlite":
        for world in follow_up_world(tmp_path):
            yield four_at_once(world)
    else:
        with pg_schema_url() as url:
            for world in follow_up_world(tmp_path, ledger_url=url):
                yield four_at_once(world)


def test_mass_killed_during_a_hand_over_leaves_only_that_message_uncertain(world: World) -> None:
    refs = [world.sample.refs[role] for role in ROLES]
    world.sink.hold_next_data()
    proc = world.start("mass", *refs, "--email", "--force")

    def all_waiting() -> bool:
        states = Counter(e.state for e in world.entries().values())
        return world.sink.holding == 1 and states == {FollowUpState.SENDING: 1, FollowUpState.CLAIMED: 3}

    # one e-mail handed over (its DATA reply held), the three others prepared and waiting for the SMTP lock
    wait_until(all_waiting, proc, "one e-mail being handed over and three waiting for their turn")
    kill(proc)
    world.sink.release_data()  # the server kept it: that e-mail did leave
    handed_over = next(e for e in world.entries().values() if e.state is FollowUpState.SENDING)

    world.expire_leases()  # the dead run's heartbeat stopped: its leases run out
    again = world.cli("mass", *refs, "--email", "--force")
    assert again.returncode == 1, again.stdout + again.stderr  # the uncertain one is refused, for a person
    assert "3 done, 0 failed, 1 refused of 4" in " ".join(again.stdout.split())
    assert "may have been sent" in " ".join(again.stdout.split())
    entries = world.entries()
    assert entries[handed_over.key].state is FollowUpState.UNCERTAIN
    # the three that waited for their turn were released (nothing had left), then done once each
    assert Counter(e.state for e in entries.values() if e.key != handed_over.key) == {
        FollowUpState.FAILED: 3,
        FollowUpState.RECORDED: 3,
    }
    assert world.emails_per_ref() == Counter(dict.fromkeys(refs, 1))  # each quote e-mailed once
    done = Counter(e.fk_element for e in world.fake.events.values() if e.code == "AC_RELANCE_EMAIL")
    assert sorted(done.values()) == [1, 1, 1] and handed_over.quote_id not in done

    assert world.cli("ledger", "resolve", handed_over.key, "--sent").returncode == 0
    retry = world.cli("retry")
    assert retry.returncode == 0, retry.stdout + retry.stderr
    done = Counter(e.fk_element for e in world.fake.events.values() if e.code == "AC_RELANCE_EMAIL")
    assert sorted(done.values()) == [1, 1, 1, 1]
    assert world.emails_per_ref() == Counter(dict.fromkeys(refs, 1))
