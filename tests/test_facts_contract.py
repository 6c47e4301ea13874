"""The facts line: the Python writer and reader against the fixture lines the Dolibarr module's PHP reader
is tested on too (tests/php/DolirelanceFactsTest.php): one format, both sides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dolirelance.history import compose_note, decode_facts, encode_facts

FIXTURE: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "facts-lines.json").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("case", FIXTURE["written"], ids=lambda case: case["line"][:40])
def test_the_writer_writes_the_fixture_line(case: dict[str, Any]) -> None:
    assert encode_facts(case["facts"]) == case["line"]
    written = {key: str(value) for key, value in case["facts"].items() if value is not None}
    assert decode_facts(case["line"]) == written
    assert decode_facts(compose_note("Une note\nsur deux lignes", case["facts"])) == written


@pytest.mark.parametrize("case", FIXTURE["read"], ids=lambda case: case["why"][:40])
def test_the_reader_reads_notes_as_dolibarr_keeps_them(case: dict[str, Any]) -> None:
    assert decode_facts(case["note"]) == case["facts"]


def test_the_fixture_covers_every_fact_the_writers_use() -> None:
    keys = {key for case in FIXTURE["written"] for key in case["facts"]}
    # delivery._facts, the to-do's facts, replies' and bounces' facts
    assert {"key", "model", "level", "channel", "next", "contact", "file", "auto", "step", "quote", "address",
            "followup"} <= keys
