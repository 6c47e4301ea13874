"""`--log-format json`: one JSON object per line, with the quote ref and the outcome of each follow-up."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from dolirelance.logsetup import JsonLineFormatter, LogFormat, configure_logging
from dolirelance.service import Runtime, run_auto
from dolirelance.testing import SampleData


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The root logger writing JSON lines into a buffer; the previous handlers come back afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging(logging.INFO, LogFormat.JSON, stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


async def test_an_automatic_run_logs_one_json_object_per_line(
    runtime: Runtime, sample_data: SampleData, json_lines: io.StringIO
) -> None:
    report = await run_auto(runtime)
    assert report.sent, "the sample has quotes due today"
    records = [json.loads(line) for line in json_lines.getvalue().splitlines()]  # every line parses alone
    assert records and all({"time", "level", "logger", "event"} <= set(r) for r in records)
    followups = [r for r in records if "outcome" in r]
    assert {r["quote_ref"] for r in followups} == {o.quote_ref for o in report.outcomes}
    assert all(r["outcome"] == "recorded" and r["level"] == "info" for r in followups)
    assert all(r["time"].endswith("+00:00") for r in records)


def test_an_exception_stays_inside_its_json_line() -> None:
    record = logging.LogRecord("dolirelance.web", logging.ERROR, __file__, 1, "boom on %s", ("/mass",), None)
    try:
        raise ValueError("line one\nline two")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = JsonLineFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["event"] == "boom on /mass" and parsed["level"] == "error"
    assert "ValueError: line one" in parsed["exception"]
