"""A failure injected at every step of the delivery protocol: ledger state, outcome, exit code and retry agree.

Steps (see :mod:`dolirelance.service.delivery`): before the claim, during rendering, before DATA,
during DATA, after DATA, while recording in Dolibarr, while writing the local copy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import SAMPLE_NOW, MutableClock
from dolirelance.cli import EXIT_LOCAL_COPY_MISSING, exit_code_for
from dolirelance.config import SmtpSettings
from dolirelance.domain import Channel
from dolirelance.errors import DolibarrError, FollowUpInProgress, RecentFollowUp, TemplateError
from dolirelance.ledger import FollowUpState
from dolirelance.mail import SmtpSender
from dolirelance.service import FollowUpOutcome, Runtime, follow_up, retry_unrecorded
from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.smtp_sink import SmtpSink

ROLE = "about_to_expire"
RECIPIENT = "sophie.dupont@garage-dupont.test"


@dataclass(frozen=True)
class Expected:
    outcome: str | None  # None: an error is raised before anything is claimed
    state: FollowUpState | None  # the ledger row afterwards (None: no row)
    exit_code: int
    messages: int  # e-mails that reached the server
    retry_records: bool  # `retry` records it (and only then)
    free_again: bool  # another follow-up of the quote may go at once


@dataclass
class World:
    runtime: Runtime
    fake: FakeDolibarr
    sample: SampleData
    sink: SmtpSink
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch


Inject = Callable[[World], Awaitable[FollowUpOutcome]]


async def remind(world: World, **options: object) -> FollowUpOutcome:
    return await follow_up(world.runtime, world.sample.refs[ROLE], channel=Channel.EMAIL, **options)  # type: ignore[arg-type]


async def before_claim(world: World) -> FollowUpOutcome:
    world.fake.fail_next(10, 503, path_prefix="/proposals", method="GET")
    return await remind(world)


async def during_render(world: World) -> FollowUpOutcome:
    def broken(*args: object, **kwargs: object) -> None:
        raise TemplateError("model '1ère relance', line 2: 'quote.nope' is undefined")

    world.monkeypatch.setattr(world.runtime.renderer, "render", broken)
    return await remind(world)


async def before_data(world: World) -> FollowUpOutcome:
    world.sink.refuse_recipient(RECIPIENT)
    return await remind(world)


async def during_data(world: World) -> FollowUpOutcome:
    smtp = SmtpSettings(
        host=world.sink.host, port=world.sink.port, security="none", sender="Devis <devis@example.fr>",
        timeout=1.0, rate_limit_per_minute=0, max_retries=3,
    )  # fmt: skip
    world.runtime.smtp_factory = lambda: SmtpSender(smtp)
    world.sink.hold_next_data()
    try:
        return await remind(world)
    finally:
        world.sink.release_data()


async def after_data(world: World) -> FollowUpOutcome:
    world.sink.fail_next(1, code=554)  # the server refuses the message once it has read it
    return await remind(world)


async def during_recording(world: World) -> FollowUpOutcome:
    world.fake.fail_next(1, 503, path_prefix="/agendaevents", method="POST")
    return await remind(world)


async def during_local_write(world: World) -> FollowUpOutcome:
    blocker = world.tmp_path / "not-a-folder"
    blocker.write_text("a file where the letter's folder should be")
    return await follow_up(
        world.runtime, world.sample.refs[ROLE], channel=Channel.LETTER, letter_out=blocker / "letter.pdf"
    )


CASES: dict[str, tuple[Inject, Expected]] = {
    "before-claim": (before_claim, Expected(None, None, 1, 0, retry_records=False, free_again=True)),
    "during-render": (during_render, Expected(None, FollowUpState.FAILED, 1, 0, retry_records=False, free_again=True)),
    "before-data": (before_data, Expected("failed", FollowUpState.FAILED, 1, 0, retry_records=False, free_again=True)),
    "during-data": (
        during_data,
        Expected("uncertain", FollowUpState.UNCERTAIN, 1, 1, retry_records=False, free_again=False),
    ),
    "after-data": (after_data, Expected("failed", FollowUpState.FAILED, 1, 0, retry_records=False, free_again=True)),
    "during-recording": (
        during_recording,
        Expected("sent-not-recorded", FollowUpState.SENT, 1, 1, retry_records=True, free_again=False),
    ),
    "during-local-write": (
        during_local_write,
        Expected("recorded", FollowUpState.RECORDED, EXIT_LOCAL_COPY_MISSING, 0, retry_records=False, free_again=True),
    ),
}


@pytest.mark.parametrize("step", list(CASES))
async def test_a_failure_at_each_step(
    step: str,
    runtime: Runtime,
    fake_dolibarr: FakeDolibarr,
    sample_data: SampleData,
    smtp_sink: SmtpSink,
    clock: MutableClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inject, expected = CASES[step]
    world = World(runtime, fake_dolibarr, sample_data, smtp_sink, tmp_path, monkeypatch)
    quote_id = sample_data.quotes[ROLE]
    outcome: FollowUpOutcome | None = None
    if expected.outcome is None:
        with pytest.raises((DolibarrError, TemplateError)):
            await inject(world)
    else:
        outcome = await inject(world)
        assert outcome.outcome == expected.outcome, outcome
        assert exit_code_for([outcome]) == expected.exit_code
        if step == "during-local-write":
            assert outcome.ok and outcome.local_copy_error and "not in the print batch" in outcome.local_copy_error
            assert outcome.summary == "filed in Dolibarr and recorded, not in the print batch"
        if outcome.outcome == "uncertain":
            assert "may have been sent" in (outcome.error or "")
    monkeypatch.undo()  # the injected faults are gone; the real renderer and SMTP are back
    fake_dolibarr.clear_faults()
    entries = runtime.ledger.entries_for_quotes([quote_id])
    assert [e.state for e in entries] == ([expected.state] if expected.state else [])
    assert len(smtp_sink.messages) == expected.messages

    clock.advance(days=1)
    recorded = await retry_unrecorded(runtime)
    assert [o.outcome for o in recorded] == (["recorded"] if expected.retry_records else [])
    done = [e for e in fake_dolibarr.events.values() if e.code.startswith("AC_RELANCE_") and e.percentage == 100]
    if expected.retry_records:
        (event,) = done
        assert event.datep == int(SAMPLE_NOW.timestamp())  # dated when it was sent, not when recorded
    smtp_sink.clear()
    runtime.smtp_factory = None
    if expected.free_again and expected.state is not FollowUpState.RECORDED:
        again = await remind(world)
        assert again.outcome == "recorded" and len(smtp_sink.messages) == 1
    elif not expected.free_again:  # in flight still, or recorded by retry just now: refused either way
        with pytest.raises(RecentFollowUp if expected.retry_records else FollowUpInProgress):
            await remind(world)
        assert smtp_sink.messages == []


async def test_an_uncertain_send_in_a_mass_run_goes_on_over_a_new_connection(
    runtime: Runtime, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    from dolirelance.service import MassSelection, mass_follow_up, plan_mass

    smtp = SmtpSettings(
        host=smtp_sink.host, port=smtp_sink.port, security="none", sender="Devis <devis@example.fr>",
        timeout=1.0, rate_limit_per_minute=0, max_retries=0,
    )  # fmt: skip
    runtime.smtp_factory = lambda: SmtpSender(smtp)
    refs = (sample_data.refs["about_to_expire"], sample_data.refs["expired"])
    items = await plan_mass(runtime, MassSelection(refs=refs), channel="email")
    smtp_sink.hold_next_data()
    try:
        report = await mass_follow_up(runtime, items, channel="email")
    finally:
        smtp_sink.release_data()
    # the follow-ups run side by side: the one whose message reached the server first is held
    uncertain = [o for o in report.outcomes if o.outcome == "uncertain"]
    assert len(uncertain) == 1 and "new SMTP connection" in (uncertain[0].error or "")
    assert [o.outcome for o in report.outcomes if o is not uncertain[0]] == ["recorded"]
    assert exit_code_for(report.outcomes) == 1
    assert len(smtp_sink.messages) == 2
