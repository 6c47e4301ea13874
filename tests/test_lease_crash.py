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
from crash_helpers import fail_the_held_request, follow_up_world, kill, wait_until
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


def test_mass_letters_killed_midway_leave_a_list_to_print_and_nothing_filed_twice(world: World) -> None:
    roles = ("expired", "no_email", "no_pdf")
    refs = [world.sample.refs[role] for role in roles]
    world.fake.hang_next(1, 60, path_prefix="/documents/upload", method="POST", after=2)  # the third upload
    out = world.config.parent / "letters"
    proc = world.start("mass", *refs, "--letter", "--force", "--out", str(out))

    def two_done_one_filing() -> bool:
        states = Counter(e.state for e in world.entries().values())
        return world.fake.hanging == 1 and states == {FollowUpState.RECORDED: 2, FollowUpState.FILING: 1}

    wait_until(two_done_one_filing, proc, "two letters recorded and the third one's upload held")
    kill(proc)
    fail_the_held_request(world.fake, path_prefix="/documents/upload", method="POST")  # it never lands
    assert list(out.glob("relances-*.pdf")) == []  # the print file was never completed

    status = world.cli("status")
    flat = " ".join(status.stdout.split())
    assert "2 letter(s) filed in Dolibarr but in no print file" in flat, status.stdout + status.stderr

    world.expire_leases()
    retry = world.cli("retry")  # the third: looked for in its quote's files, not there: left to a person
    assert retry.returncode == 1 and "is not in the quote's files" in " ".join(retry.stdout.split())
    (filing,) = [e for e in world.entries().values() if e.state is FollowUpState.UNCERTAIN]
    assert world.cli("ledger", "resolve", filing.key, "--not-sent").returncode == 0

    printed = world.cli("letters", "print", "--out", str(out))
    assert printed.returncode == 0, printed.stdout + printed.stderr
    assert len(list(out.glob("relances-*.pdf"))) == 1
    again = world.cli("mass", *refs, "--letter", "--out", str(out))  # the third is done now, the others are recent
    assert "1 done" in " ".join(again.stdout.split()), again.stdout + again.stderr
    uploads = [r for r in world.fake.requests if r.method == "POST" and r.path == "/documents/upload"]
    letters = [e for e in world.fake.events.values() if e.code == "AC_RELANCE_LETTER"]
    assert len(letters) == 3 and len({e.fk_element for e in letters}) == 3  # one letter per quote, recorded once
    assert len(uploads) == 4  # three filed, plus the one that never landed
    for role in roles:
        files = world.fake.files.get(world.sample.refs[role], {})
        assert len([name for name in files if name.startswith("relance-")]) == 1
