"""`dolirelance ARGS` run in the test's process through :func:`dolirelance.cli.main`, its one catch point."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import pytest

from conftest import without_backoff
from dolirelance import service
from dolirelance.cli import main
from dolirelance.demo import write_demo_config
from dolirelance.testing import FakeDolibarr, SampleData, create_app, serve_in_thread
from dolirelance.testing.smtp_sink import SmtpSink


class CliResult(NamedTuple):
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    @property
    def flat(self) -> str:
        """Both streams with the white space folded (the console wraps long lines)."""
        return " ".join(self.text.split())


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> CliResult:
    """The exit code and what `dolirelance ARGV` printed (only that: what was printed before is dropped)."""
    monkeypatch.setattr(sys, "argv", ["dolirelance", *argv])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


@contextmanager
def served_for_cli(fake: FakeDolibarr, now: Callable[[], datetime], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The fake's URL, served over HTTP; the product in this process reads ``now`` and retries without waiting."""
    monkeypatch.setattr(service.runtime, "_utc_now", now)
    without_backoff(monkeypatch)
    with serve_in_thread(create_app(fake)) as url:
        yield url


@dataclass
class DemoCli:
    """`dolirelance ARGS --config …` as a user: each login has the demo's configuration with its own API key."""

    fake: FakeDolibarr
    sample: SampleData
    sink: SmtpSink
    url: str
    tmp_path: Path
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch

    def config(self, login: str = "jdupont") -> Path:
        directory = self.tmp_path / f"cfg-{login}"
        return write_demo_config(
            directory, dolibarr_url=self.url, api_key=self.sample.api_keys[login], smtp_port=self.sink.port
        )

    def __call__(self, *args: str, login: str = "jdupont") -> CliResult:
        return run_main([*args, "--config", str(self.config(login))], self.capsys, self.monkeypatch)
