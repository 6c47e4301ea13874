"""`dolirelance ARGS` run in the test's process through :func:`dolirelance.cli.main`, its one catch point."""

from __future__ import annotations

import sys
from typing import NamedTuple

import pytest

from dolirelance.cli import main


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
