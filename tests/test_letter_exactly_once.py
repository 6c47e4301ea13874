"""Letters end to end: an upload whose answer is lost is looked for by its name, never uploaded twice;
filed, recorded and printed are states of their own; letters in no print file are listed and printed.

The fake Dolibarr is served over HTTP on loopback so that the client's timeout is real (a request held by
``hang_after_applying`` is stored, its answer never comes). SQLite and PostgreSQL ledgers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pypdf import PdfReader

from conftest import SAMPLE_NOW, SAMPLE_TODAY, MutableClock, without_backoff
from dolirelance.config import Settings, load_config
from dolirelance.demo import write_demo_config
from dolirelance.domain import Channel
from dolirelance.errors import FollowUpInProgress
from dolirelance.ledger import Entry, FollowUpState, Ledger
from dolirelance.service import (
    MassSelection,
    Runtime,
    follow_up,
    letters_to_print,
    mass_follow_up,
    open_runtime,
    plan_mass,
    print_letters,
    retry_unrecorded,
)
from dolirelance.testing import FakeDolibarr, SampleData, create_app, load_sample_data, serve_in_thread

ROLE = "no_email"  # a letter is its channel


@dataclass
class World:
    fake: FakeDolibarr
    sample: SampleData
    settings: Settings
    ledger_url: str
    clock: MutableClock
    tmp_path: Path

    def files_of(self, role: str) -> list[str]:
        quote = self.fake.proposals[self.sample.quotes[role]]
        return sorted(self.fake.files.get(quote.ref, {}))

    def letter_events(self) -> list[int]:
        return [e.fk_element or 0 for e in self.fake.events.values() if e.code == "AC_RELANCE_LETTER"]


@pytest.fixture
def world(tmp_path: Path, ledger_url: str) -> Iterator[World]:
    clock = MutableClock(SAMPLE_NOW)
    fake = FakeDolibarr(timezone="Europe/Paris", now=clock)
    sample = load_sample_data(fake, SAMPLE_TODAY)
    with serve_in_thread(create_app(fake)) as url:
        base = load_config(
            write_demo_config(tmp_path, dolibarr_url=url, api_key=sample.api_keys["jdupont"], smtp_port=25)
        )
        settings = base.model_copy(
            update={
                "dolibarr": base.dolibarr.model_copy(update={"timeout": 1.0}),  # a lost answer is a timeout
                "ledger": base.ledger.model_copy(update={"url": ledger_url}),
                "letter": base.letter.model_copy(update={"output_dir": tmp_path / "out"}),
            }
        )
        try:
            yield World(fake, sample, settings, ledger_url, clock, tmp_path)
        finally:
            fake.clear_faults()


def _entries(world: World) -> list[FollowUpState]:
    with Ledger(world.ledger_url, instance=world.settings.ledger.instance) as ledger:
        return [e.state for e in ledger.recent(100)]


async def test_an_upload_whose_answer_is_lost_is_found_by_its_name_and_filed_once(world: World) -> None:
    world.fake.hang_after_applying(1, 30, path_prefix="/documents/upload", method="POST")
    async with open_runtime(world.settings, now=world.clock) as rt:
        outcome = await follow_up(rt, world.sample.refs[ROLE], channel=Channel.LETTER)
    world.fake.release_hangs()
    assert outcome.outcome == "recorded", outcome.error
    assert len(world.files_of(ROLE)) == 1 + 1  # the quote's own PDF and one letter
    assert outcome.file_name in world.files_of(ROLE)
    assert world.letter_events() == [world.sample.quotes[ROLE]]  # recorded once
    assert _entries(world) == [FollowUpState.RECORDED]  # filed, recorded, in no print file yet


async def test_an_upload_lost_and_not_looked_for_is_uncertain_then_retry_finds_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload is stored but its answer is lost, and Dolibarr cannot even list the quote's files then:
    uncertain, never uploaded again; `retry` looks again, finds it, and records it once."""
    without_backoff(monkeypatch)
    ref = world.sample.refs[ROLE]
    world.fake.hang_after_applying(1, 30, path_prefix="/documents/upload", method="POST")
    async with open_runtime(world.settings, now=world.clock) as rt:
        filing = asyncio.create_task(follow_up(rt, ref, channel=Channel.LETTER))
        while not world.fake.hanging:  # stored; its answer held: from now on the files cannot be listed
            await asyncio.sleep(0.01)
        world.fake.fail_next(10, 503, path_prefix="/documents", method="GET")
        outcome = await filing
        world.fake.clear_faults()
        assert outcome.outcome == "uncertain" and outcome.error is not None
        assert "check the quote's files" in outcome.error and "mailbox" not in outcome.error
        assert _entries(world) == [FollowUpState.UNCERTAIN]

        with pytest.raises(FollowUpInProgress, match="may have been filed"):  # someone tries again at once
            await follow_up(rt, ref, channel=Channel.LETTER, force=True)
        retried = await retry_unrecorded(rt)
    assert [o.outcome for o in retried] == ["recorded"]
    assert [name for name in world.files_of(ROLE) if name.startswith("relance-")] == [outcome.file_name]
    assert world.letter_events() == [world.sample.quotes[ROLE]]
    assert _entries(world) == [FollowUpState.RECORDED]


async def test_an_uncertain_letter_not_in_the_files_stays_uncertain_until_a_person_says(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_backoff(monkeypatch)
    ref = world.sample.refs[ROLE]
    world.fake.hang_next(1, 30, path_prefix="/documents/upload", method="POST")  # held before it is stored
    world.fake.fail_next(1, 503, path_prefix="/documents/upload", method="POST")  # and then refused
    async with open_runtime(world.settings, now=world.clock) as rt:
        first = await follow_up(rt, ref, channel=Channel.LETTER)
        world.fake.release_hangs()
        assert first.outcome == "uncertain" and "not in the quote's files yet" in (first.error or "")
        (looked,) = await retry_unrecorded(rt)
        assert looked.outcome == "uncertain" and "is not in the quote's files" in (looked.error or "")
        with Ledger(world.ledger_url, instance=world.settings.ledger.instance) as ledger:
            ledger.resolve(first.key or "", sent=False, by="test")
        second = await follow_up(rt, ref, channel=Channel.LETTER, force=True)
    assert second.outcome == "recorded", second.error
    assert [n for n in world.files_of(ROLE) if n.startswith("relance-")] == [second.file_name]
    assert world.letter_events() == [world.sample.quotes[ROLE]]


async def test_a_refused_upload_of_a_file_that_is_there_is_filed_not_failed(world: World) -> None:
    """The same key gives the same file name: when an earlier try stored it, Dolibarr answers "exists"."""
    ref = world.sample.refs[ROLE]
    async with open_runtime(world.settings, now=world.clock) as rt:
        quote = await rt.dolibarr.get_quote(world.sample.quotes[ROLE])
        from dolirelance.service import letter_file_name

        key = "manual:0123456789abcdef"
        name = letter_file_name(quote, rt.today(), key)
        await rt.dolibarr.upload_document(quote, name, b"%PDF-1.4 stored by an attempt that lost its answer")
        outcome = await follow_up(rt, ref, channel=Channel.LETTER, key=key)
    assert outcome.outcome == "recorded", outcome.error
    assert [n for n in world.files_of(ROLE) if n.startswith("relance-")] == [name]
    assert world.letter_events() == [world.sample.quotes[ROLE]]


async def test_a_mass_letter_run_cut_before_its_print_file_leaves_a_list_and_a_way_to_print(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    roles = ["no_pdf", "expired", ROLE]
    from dolirelance.letter import LetterBatch

    def killed(self: LetterBatch, *exc_info: object) -> bool:  # the run dies before the file is complete
        raise OSError("the process was killed")

    async with open_runtime(world.settings, now=world.clock) as rt:
        items = await plan_mass(rt, MassSelection(refs=tuple(world.sample.refs[r] for r in roles)), channel="letter")
        with monkeypatch.context() as patched:
            patched.setattr(LetterBatch, "__exit__", killed)
            report = await mass_follow_up(rt, items, channel="letter")
        assert report.letters_pdf is None and all(o.local_copy_error for o in report.outcomes)
        pending = await letters_to_print_async(rt)
        assert sorted(e.quote_ref for e in pending) == sorted(world.sample.refs[r] for r in roles)

        printed = await print_letters(rt)
        assert printed.path is not None and printed.missing == []
        reader = PdfReader(printed.path)
        text = "\n".join(page.extract_text() for page in reader.pages)
        for role in roles:
            assert f"Relance de notre proposition {world.sample.refs[role]}" in text
        assert await letters_to_print_async(rt) == []
        assert (await print_letters(rt)).path is None  # nothing twice
    assert sorted(_entries(world)) == [FollowUpState.PRINTED] * 3
    assert sorted(world.letter_events()) == sorted(world.sample.quotes[r] for r in roles)


async def test_a_complete_mass_print_file_marks_its_letters_printed(world: World) -> None:
    async with open_runtime(world.settings, now=world.clock) as rt:
        items = await plan_mass(rt, MassSelection(refs=(world.sample.refs[ROLE],)), channel="letter")
        report = await mass_follow_up(rt, items, channel="letter")
        assert report.letters_pdf is not None
        assert await letters_to_print_async(rt) == []
    assert _entries(world) == [FollowUpState.PRINTED]


async def letters_to_print_async(rt: Runtime) -> list[Entry]:
    return list(await asyncio.to_thread(letters_to_print, rt))
