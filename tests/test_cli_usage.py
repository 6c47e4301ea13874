"""The command line never looks broken: every --help renders, every typo is a usage error (exit 2)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer.main

from dolirelance.cli import app, hoist_global_options
from in_process_cli import CliResult, run_main


def run(argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> CliResult:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("DOLIRELANCE_CONFIG", raising=False)
    return run_main(argv, capsys, monkeypatch)


def every_command() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        paths.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_the_command_tree_is_the_documented_one() -> None:
    """The help test below covers the commands users read about (a new command is picked up by itself)."""
    names = {" ".join(path) for path in every_command()}
    assert {"doctor", "quotes", "remind", "mass", "explain", "serve", "web", "demo", "init", "config check"} <= names


@pytest.mark.parametrize("path", every_command(), ids=lambda p: " ".join(p) or "(top)")
def test_every_help_renders_cleanly(
    path: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--help exits 0 and shows no type placeholders, no `{ref}` usage and no swallowed markup."""
    result = run([*path, "--help"], capsys, monkeypatch)
    assert result.code == 0, result
    assert "Usage: dolirelance" in result.out
    assert "unexpected" not in result.text.lower()
    assert "<bool>" not in result.out and "<str>" not in result.out
    usage = next(line for line in result.out.splitlines() if "Usage:" in line)
    assert "{" not in usage, usage


def test_markup_in_help_is_shown_literally(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`[auto] time` in a docstring is printed, not eaten as rich markup."""
    result = run(["serve", "--help"], capsys, monkeypatch)
    assert "[auto] time" in " ".join(result.out.split())


def test_every_bracket_of_the_help_texts_is_shown(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`[auto]`, `[access]` in any command's or option's help are printed, not eaten as rich markup."""
    for path in every_command():
        command: Any = typer.main.get_command(app)
        for name in path:
            command = command.commands[name]
        texts = [command.help or "", *(getattr(param, "help", None) or "" for param in command.params)]
        brackets = {f"[{word}]" for help_text in texts for word in re.findall(r"\\?\[(\w+)\]", help_text)}
        if not brackets:
            continue
        shown = " ".join(run([*path, "--help"], capsys, monkeypatch).out.replace("│", " ").split())
        assert all(bracket in shown for bracket in brackets), (path, brackets, shown)


# Options that are there but do not say what to do: usage errors too (exit 2), with our remedy.
INCOMPLETE = [
    (["remind", "PR2611-0001"], "choose one channel"),
    (["remind", "PR2611-0001", "--email", "--letter"], "choose one channel"),
    (["mass", "PR2611-0001"], "choose one channel"),
    (["history"], "say which history"),
    (["run"], "`run` needs --once"),
    (["run", "--once", "--on", "2026-12-01"], "--on only goes with --dry-run"),
    (["replies"], "`replies` needs --once"),
    (["report", "--from", "01/01/2026"], "--from '01/01/2026' is not a date"),
    (["report", "--json", "--csv"], "--json and --csv cannot go together"),
    (["explain", "PR2611-0001", "--on", "tomorrow"], "--on 'tomorrow' is not a date"),
    (["run", "--once", "--dry-run", "--on", "tomorrow"], "--on 'tomorrow' is not a date"),
    (["preview", "PR2611-0001"], "say what to preview"),
    (["ledger", "resolve", "KEY"], "say what happened"),
]


@pytest.mark.parametrize(
    ("argv", "message"), INCOMPLETE, ids=lambda value: " ".join(value) if isinstance(value, list) else ""
)
def test_incomplete_command_lines_exit_2_with_a_remedy(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(argv, capsys, monkeypatch)
    assert result.code == 2, result
    assert result.err.startswith("error: ") and message in result.err, result.err
    assert "  → " in result.err and "Traceback" not in result.text


TYPOS = [
    ["explain"],  # missing argument
    ["remind"],
    ["foo"],  # unknown command
    ["quotes", "--bogus"],  # unknown option
    ["upcoming", "--days", "abc"],  # not an integer
    ["upcoming", "--days", "-3"],  # below the range
    ["config"],  # a group without its command
    ["config", "chek"],
    ["ledger", "resolve"],
]


@pytest.mark.parametrize("argv", TYPOS, ids=" ".join)
def test_typos_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo exits 2 with the usage line and what is wrong; never 'unexpected', never a traceback."""
    result = run(argv, capsys, monkeypatch)
    assert result.code == 2, result
    assert "Usage: dolirelance" in result.text
    assert "unexpected" not in result.text.lower()
    assert "Traceback" not in result.text


def test_an_option_without_its_value_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Click reports a missing option value without the usage line, but with exit 2 and the option's name."""
    for argv, option in ((["explain", "PR1", "--on"], "--on"), (["--config"], "--config")):
        result = run(argv, capsys, monkeypatch)
        assert result.code == 2, result
        assert f"'{option}' requires an argument" in result.err
    assert "unexpected" not in result.text.lower()


def test_a_value_out_of_range_says_which_option(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(["upcoming", "--days", "-3"], capsys, monkeypatch)
    assert "--days" in result.err and "-3" in result.err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["explain", "PR1", "--debug"], ["--debug", "explain", "PR1"]),
        (["--debug", "explain", "PR1"], ["--debug", "explain", "PR1"]),
        (["remind", "PR1", "--note", "--debug", "--email"], ["remind", "PR1", "--note", "--debug", "--email"]),
        (["mass", "--", "--debug"], ["mass", "--", "--debug"]),
        (["config", "check", "--debug", "-c", "x.toml"], ["--debug", "config", "check", "-c", "x.toml"]),
    ],
)
def test_debug_is_accepted_after_the_command(argv: list[str], expected: list[str]) -> None:
    """--debug moves in front of the command, unless it is the value of an option or after `--`."""
    assert hoist_global_options(argv) == expected


def test_debug_and_config_after_the_command_are_used(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """`explain X --debug --config missing.toml` reports the missing file (not 'No such option')."""
    missing = tmp_path / "missing.toml"
    result = run(["explain", "PR1", "--debug", "--config", str(missing)], capsys, monkeypatch)
    assert result.code == 2, result
    assert "No such option" not in result.text
    assert "missing.toml" in result.err and "file not found" in result.err
