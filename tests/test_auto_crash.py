"""Real processes: `dolirelance run --once` killed (SIGKILL) at each point of the send pipeline, then run
again; two runs at once on one SQLite ledger (and on PostgreSQL when ``DOLIRELANCE_TEST_PG_URL`` is set).

The fake Dolibarr is served over HTTP on loopback (real clock, Paris time) and the SMTP sink is real.
Pipeline of one automatic follow-up and where each test stops it::

    claim (CLAIMED) ─► re-read quote ─► SENDING ─► SMTP DATA ─► SENT ─► POST done event ─► POST to-do ─► RECORDED
                        (a) hang here              (b) hold    (c) hang here        (d) hang here

A killed process leaves its ledger row with a lease (10 minutes); :func:`expire_leases` stands for
"ten minutes later" so that the next run sees the row as abandoned.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import pg_schema_url
from crash_helpers import FollowUpWorld as World
from crash_helpers import fail_the_held_request, follow_up_world, kill, paris_today, wait_until
from dolirelance.history import decode_facts
from dolirelance.ledger import FollowUpState

pytestmark = pytest.mark.wall_clock_process  # every test here runs `dolirelance` as a real process
DUE_ROLES = ("about_to_expire", "contact_without_email", "expired")  # due today, whatever the day


def assert_run_ok(result: subprocess.CompletedProcess[str]) -> None:
    """Exit 0; or exit 1 only because the run found a follow-up left UNCERTAIN by a killed process."""
    output = result.stdout + result.stderr
    if result.returncode == 1:
        assert "UNCERTAIN" in result.stderr and "failed 0" in result.stdout, output
    else:
        assert result.returncode == 0, output


def done_events_per_quote(world: World) -> Counter[int]:
    return Counter(
        e.fk_element or 0
        for e in world.fake.events.values()
        if e.code == "AC_RELANCE_EMAIL" and decode_facts(e.note).get("auto") == "1"
    )


def todos_per_quote(world: World) -> Counter[int]:
    return Counter(e.fk_element or 0 for e in world.fake.events.values() if e.code == "AC_RELANCE_TODO")


def assert_each_due_quote_emailed_once_and_recorded(world: World, roles: tuple[str, ...] = DUE_ROLES) -> None:
    refs = {world.sample.refs[role] for role in roles}
    assert world.emails_per_ref() == Counter(dict.fromkeys(refs, 1))
    ids = {world.sample.quotes[role] for role in roles}
    assert done_events_per_quote(world) == Counter(dict.fromkeys(ids, 1))
    assert all(todos_per_quote(world)[quote_id] >= 1 for quote_id in ids)
    states = {e.key: e.state for e in world.entries().values() if e.state is not FollowUpState.FAILED}
    assert set(states.values()) == {FollowUpState.RECORDED}, states


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from follow_up_world(tmp_path)


def _hung_quote_id(world: World, method: str, prefix: str) -> int:
    entry = next(e for e in reversed(world.fake.requests) if e.method == method and e.path.startswith(prefix))
    return int(entry.path.rsplit("/", 1)[-1])


# --------------------------------------------------------------------------- killed at each point


@pytest.mark.parametrize("after", [0, 1], ids=["first-quote", "after-one-recorded"])
def test_killed_after_the_claim_before_smtp(world: World, after: int) -> None:
    """(a) CLAIMED, nothing sent: not sent while the claim holds, sent by the run after it expired."""
    world.fake.hang_next(1, 60, path_prefix="/proposals/", method="GET", after=after)
    proc = world.start("run", "--once")
    wait_until(lambda: world.fake.hanging == 1, proc, "the re-read of the quote")
    quote_id = _hung_quote_id(world, "GET", "/proposals/")
    role = next(r for r in DUE_ROLES if world.sample.quotes[r] == quote_id)
    key = next(k for k in world.entries() if k.startswith(f"auto:demo:{quote_id}:"))
    assert world.entries()[key].state is FollowUpState.CLAIMED
    kill(proc)
    world.fake.release_hangs()
    assert world.sample.refs[role] not in world.emails_per_ref()
    assert sum(world.emails_per_ref().values()) == after  # the one done before the kill is whole

    again = world.cli("run", "--once")
    assert_run_ok(again)
    assert world.sample.refs[role] not in world.emails_per_ref()  # claimed by someone alive, maybe
    assert world.entries()[key].state is FollowUpState.CLAIMED

    world.expire_leases()
    final = world.cli("run", "--once")
    assert_run_ok(final)
    assert world.entries()[key].state is FollowUpState.RECORDED
    assert_each_due_quote_emailed_once_and_recorded(world)


def test_killed_while_smtp_holds_the_data_reply(world: World) -> None:
    """(b) SENDING: the e-mail may have left. Never re-sent; uncertain, resolved by a person, recorded."""
    world.sink.hold_next_data()
    proc = world.start("run", "--once")
    wait_until(lambda: world.sink.holding == 1, proc, "the DATA reply being held")
    sending = [e for e in world.entries().values() if e.state is FollowUpState.SENDING]
    assert len(sending) == 1
    key, ref = sending[0].key, sending[0].quote_ref
    kill(proc)
    world.sink.release_data()  # the server kept it: the e-mail did leave
    assert world.emails_per_ref() == Counter({ref: 1})

    again = world.cli("run", "--once")
    assert_run_ok(again)
    assert world.emails_per_ref()[ref] == 1
    assert world.entries()[key].state is FollowUpState.SENDING

    world.expire_leases()
    later = world.cli("run", "--once")
    assert_run_ok(later)
    assert f"uncertain {key}" in later.stdout
    assert "UNCERTAIN" in later.stderr  # and in the logs
    assert world.entries()[key].state is FollowUpState.UNCERTAIN
    assert world.emails_per_ref()[ref] == 1  # never re-sent by itself

    status = world.cli("status")
    assert status.returncode == 1
    assert key in status.stdout and f"ledger resolve {key} --sent|--not-sent" in status.stdout

    resolved = world.cli("ledger", "resolve", key, "--sent")
    assert resolved.returncode == 0, resolved.stderr
    retry = world.cli("retry")
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert world.entries()[key].state is FollowUpState.RECORDED
    assert world.cli("status").returncode == 0
    assert_each_due_quote_emailed_once_and_recorded(world)


def test_uncertain_resolved_as_not_sent_is_sent_by_the_next_run(world: World) -> None:
    world.sink.hold_next_data()
    proc = world.start("run", "--once")
    wait_until(lambda: world.sink.holding == 1, proc, "the DATA reply being held")
    key = next(e.key for e in world.entries().values() if e.state is FollowUpState.SENDING)
    kill(proc)
    world.sink.release_data()
    world.sink.messages.clear()  # say the server lost it after all
    world.expire_leases()
    assert_run_ok(world.cli("run", "--once"))
    assert world.entries()[key].state is FollowUpState.UNCERTAIN
    assert world.cli("ledger", "resolve", key, "--not-sent").returncode == 0
    assert_run_ok(world.cli("run", "--once"))
    assert_each_due_quote_emailed_once_and_recorded(world)


@pytest.mark.parametrize("point", ["before-the-done-event", "before-the-to-do"])
def test_killed_after_smtp_accepted_before_dolibarr_recorded(world: World, point: str) -> None:
    """(c) SENT, nothing in Dolibarr; (d) SENT, the done event in Dolibarr, no to-do yet."""
    after = 0 if point == "before-the-done-event" else 1
    world.fake.hang_next(1, 60, path_prefix="/agendaevents", method="POST", after=after)
    proc = world.start("run", "--once")
    wait_until(lambda: world.fake.hanging == 1, proc, "the POST of the event")
    (sent,) = [e for e in world.entries().values() if e.state is FollowUpState.SENT]
    kill(proc)
    fail_the_held_request(world.fake, path_prefix="/agendaevents", method="POST")
    assert world.emails_per_ref() == Counter({sent.quote_ref: 1})
    assert done_events_per_quote(world)[sent.quote_id] == after

    again = world.cli("run", "--once")  # the lease still holds: not recorded yet, and never re-sent
    assert_run_ok(again)
    assert world.emails_per_ref()[sent.quote_ref] == 1
    assert world.entries()[sent.key].state is FollowUpState.SENT
    status = world.cli("status")
    assert f"sent, not recorded {sent.key}" in status.stdout

    world.expire_leases()
    retry = world.cli("retry")
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert_each_due_quote_emailed_once_and_recorded(world)
    assert todos_per_quote(world)[sent.quote_id] == 1


def test_killed_after_recording_nothing_is_done_twice(world: World) -> None:
    """Killed once the first follow-up is RECORDED (while the next quote's PDF is downloaded)."""
    world.fake.hang_next(1, 60, path_prefix="/documents/download", method="GET", after=1)
    proc = world.start("run", "--once")
    wait_until(lambda: world.fake.hanging == 1, proc, "the second quote's PDF")
    recorded = [e for e in world.entries().values() if e.state is FollowUpState.RECORDED]
    assert len(recorded) == 1
    kill(proc)
    world.fake.release_hangs()
    world.expire_leases()
    assert_run_ok(world.cli("run", "--once"))
    assert_each_due_quote_emailed_once_and_recorded(world)


# --------------------------------------------------------------------------- Dolibarr down, CLI


def test_dolibarr_down_the_cli_fails_cleanly_and_the_next_run_does_the_work(world: World) -> None:
    world.fake.fail_next(10_000, 503)
    down = world.cli("run", "--once")
    assert down.returncode == 1
    assert "error" in down.stdout + down.stderr and "Traceback" not in down.stderr
    assert world.sink.messages == []
    world.fake.clear_faults()
    up = world.cli("run", "--once")
    assert up.returncode == 0, up.stdout + up.stderr
    assert_each_due_quote_emailed_once_and_recorded(world)


def test_explain_preview_on_the_cli(world: World) -> None:
    ref = world.sample.refs["expired"]
    shown = world.cli("explain", ref, "--preview")
    assert shown.returncode == 0, shown.stderr
    assert "due: step 2 (2nde relance)" in shown.stdout
    assert "→ due from" in shown.stdout and "model: 2nde relance" in shown.stdout
    assert "recipients: Jean Martin <jean.martin@boulangerie-martin.test>" in shown.stdout
    assert f"Subject: Relance : devis {ref}" in shown.stdout and f"{ref}.pdf" in shown.stdout
    assert world.sink.messages == []
    dry = world.cli("run", "--once", "--dry-run")
    assert dry.returncode == 0 and "due 3, sent 0, failed 0" in dry.stdout
    assert world.sink.messages == [] and world.entries() == {}


# --------------------------------------------------------------------------- two runs at once


def _seed_due_quotes(world: World, count: int) -> list[str]:
    fake, sample = world.fake, world.sample
    refs = []
    for _ in range(count):
        proposal = fake.add_proposal(
            sample.customers["hotel"], date=paris_today(), duree_validite=3, user_id=sample.users["jdupont"]
        )
        fake.add_proposal_line(proposal.id, description="Maintenance", qty=1, subprice="300")
        fake.link_contact(proposal.id, sample.contacts["paul_girard"], "CUSTOMER", "external")
        fake.validate_proposal(proposal.id, user_id=sample.users["jdupont"])
        fake.build_proposal_pdf(proposal.id, user_id=sample.users["jdupont"])
        refs.append(proposal.ref)
    return refs


def _two_runs_at_once(world: World) -> None:
    extra = _seed_due_quotes(world, 15)
    world.fake.latency = 0.005
    first, second = world.start("run", "--once"), world.start("run", "--once")
    results = [proc.communicate(timeout=120) for proc in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), results
    expected = {world.sample.refs[role] for role in DUE_ROLES} | set(extra)
    assert world.emails_per_ref() == Counter(dict.fromkeys(expected, 1))
    assert sum(done_events_per_quote(world).values()) == len(expected)
    both = results[0][0] + results[1][0]
    assert both.count("sent, not recorded") == 0


def test_two_runs_at_once_on_one_sqlite_ledger(world: World) -> None:
    _two_runs_at_once(world)


def test_two_runs_at_once_on_postgresql(tmp_path: Path) -> None:
    with pg_schema_url() as url:  # a schema of its own: what other tests left in the database is not seen
        for pg_world in follow_up_world(tmp_path, ledger_url=url):
            _two_runs_at_once(pg_world)
