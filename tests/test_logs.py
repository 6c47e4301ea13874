"""`--log-format json`: one JSON object per line, with the quote ref and the outcome of each follow-up."""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dolirelance.demo import write_demo_config
from dolirelance.logsetup import JsonLineFormatter, LogFormat, configure_logging
from dolirelance.service import Runtime, run_auto
from dolirelance.testing import FakeDolibarr, SampleData, create_app, load_sample_data, serve_in_thread


@contextmanager
def logging_put_back(*names: str) -> Iterator[None]:
    """The root logger's handlers and level, and the levels of the loggers ``names``, as they were before
    the block (configure_logging changes them for the whole process)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in names}
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, named_level in levels.items():
            logging.getLogger(name).setLevel(named_level)


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The root logger writing JSON lines into a buffer; the previous handlers come back afterwards."""
    with logging_put_back():
        stream = io.StringIO()
        configure_logging(logging.INFO, LogFormat.JSON, stream=stream)
        yield stream


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


@pytest.mark.wall_clock_process
def test_serve_with_json_logs_writes_only_json_lines(tmp_path: Path) -> None:
    """`serve --log-format json`: from the start to the clean stop, every stderr line is one JSON object."""
    fake = FakeDolibarr(timezone="Europe/Paris")
    sample = load_sample_data(fake, datetime.now(UTC).date())
    with serve_in_thread(create_app(fake)) as url:
        config = write_demo_config(tmp_path, dolibarr_url=url, api_key=sample.api_keys["jdupont"], smtp_port=1)
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace("[auto]\nenabled = true", "[auto]\nenabled = false"), encoding="utf-8")
        command = [str(Path(sys.executable).parent / "dolirelance"), "serve", "--log-format", "json", "-c", str(config)]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        try:
            lines = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                line = proc.stderr.readline()
                lines.append(line)
                if not line or "health endpoint on" in line:
                    break
            proc.send_signal(signal.SIGTERM)
            _, rest = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
    records = [json.loads(line) for line in ("".join(lines) + rest).splitlines()]
    assert proc.returncode == 0
    events = [r["event"] for r in records]
    assert any(e.startswith("health endpoint on http://127.0.0.1:") for e in events), events
    assert events[-1] == "stopped" and records[-1]["level"] == "info"
    assert all(r["logger"].startswith("dolirelance") for r in records)


def test_a_line_per_http_request_only_with_debug(fake_dolibarr: FakeDolibarr) -> None:
    """`serve` and `web` log at INFO: the requests to Dolibarr are not listed there; `--debug` lists them."""
    import httpx

    with logging_put_back("httpx"), serve_in_thread(create_app(fake_dolibarr)) as url:
        for level, listed in ((logging.INFO, False), (logging.DEBUG, True)):
            stream = io.StringIO()
            configure_logging(level, LogFormat.TEXT, stream=stream)
            assert httpx.get(f"{url}/status").status_code in (200, 401)
            assert ("HTTP Request: GET" in stream.getvalue()) is listed, (level, stream.getvalue())
