"""The CLI's tables in a terminal of 80, 100 and 120 columns, and piped.

Long customer names and a seven-digit amount: refs, dates, amounts and keys must read whole on
one line in the terminal (free text wraps around them), no line may be wider than the terminal,
and piped output is one record per line whatever ``COLUMNS`` says.
"""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from dolirelance.cli import console as cli_console
from dolirelance.testing import FakeDolibarr, SampleData
from in_process_cli import DemoCli as Cli

WIDTHS = (80, 100, 120)
LONG_NAME = " et Fils — Boulangerie-Pâtisserie artisanale du Vieux Lyon"
BIG_AMOUNT = "1 234 567,89 €"
# A field read as a whole: a ref, a day, a time, an amount, a ledger key; a suffix may follow it.
WHOLE = re.compile(
    r"(?P<value>PR\d{4}-\d{4}|\d{4}-\d{2}-\d{2}( \d{2}:\d{2})?|\d{1,3}( \d{3})*,\d{2} €|[0-9a-f]{16,})"
    r"( \((opt-out|closed|overdue)\))?"
)


@pytest.fixture
def make_cli(fake_dolibarr: FakeDolibarr, sample_data: SampleData) -> type[Cli]:
    """conftest's ``cli``, on customers with long names and a quote with a large amount."""
    for customer in fake_dolibarr.thirdparties.values():
        customer.name += LONG_NAME
    # 1 028 806,58 € + the quote's 900 € of lines excl. tax... the exact figure is read from --json below
    fake_dolibarr.add_proposal_line(sample_data.quotes["about_to_expire"], qty=1, subprice="1234567.89")
    return Cli


def in_terminal(cli: Cli, width: int, *args: str) -> str:
    """What ``dolirelance ARGS`` shows in a terminal ``width`` columns wide."""
    screen = io.StringIO()
    console = Console(file=screen, width=width, force_terminal=True, color_system=None, highlight=False,
                      soft_wrap=True)  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli_console, "out", console)
        result = cli(*args)
    assert result.code == 0, result
    return screen.getvalue()


def whole_values(piped: str) -> set[str]:
    """The fields of the piped output that must read whole: each a tab-separated field of its own."""
    found = set()
    for line in piped.splitlines():
        for field in line.split("\t"):
            match = WHOLE.fullmatch(field.strip())
            if match:
                found.add(match["value"])
    return found


def assert_fits(screen: str, width: int, values: set[str]) -> None:
    lines = screen.splitlines()
    too_wide = [line for line in lines if len(line.rstrip()) > width]
    assert not too_wide, too_wide
    cut = [value for value in values if not any(value in line for line in lines)]
    assert not cut, (cut, screen)


COMMANDS = {
    "quotes": ("quotes",),
    "mass dry run": ("mass", "--all-open", "--prefer-email", "--dry-run"),
    "history --open": ("history", "--open"),
    "history --customer": ("history", "--customer", "Garage"),
    "upcoming": ("upcoming", "--days", "60"),
    "report": ("report",),
    "status": ("status",),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_each_table_reads_whole_at_80_100_and_120_columns(cli: Cli, command: str) -> None:
    ref = cli.sample.refs["about_to_expire"]
    assert cli("remind", ref, "--email", "--note", "Rappel " * 12).code == 0  # a follow-up in the ledger too
    piped = cli(*COMMANDS[command]).out
    values = whole_values(piped)
    assert values, piped
    if command in ("quotes", "mass dry run", "upcoming"):
        assert ref in values and any("1 23" in value for value in values), (values, repr(piped))
    for width in WIDTHS:
        screen = in_terminal(cli, width, *COMMANDS[command])
        assert_fits(screen, width, values)
        if command not in ("report", "status"):
            assert "Garage" in screen and "Vieux" in screen  # the long names are there, wrapped


def test_quotes_and_history_are_tables_at_120_columns(cli: Cli) -> None:
    """At 120 columns a record is one row of a table: its ref, customer and amount begin on one line."""
    ref = cli.sample.refs["about_to_expire"]
    assert cli("remind", ref, "--email", "--note", "Rappel " * 12).code == 0
    screen = in_terminal(cli, 120, "quotes")
    row = next(line for line in screen.splitlines() if line.startswith(ref))
    assert "Garage" in row and "1 23" in row, screen
    screen = in_terminal(cli, 120, "history", "--open")
    assert any(ref in line and "Garage" in line for line in screen.splitlines()), screen


def test_piped_output_is_one_record_per_line_whatever_the_width(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    result = cli("quotes")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0].split("\t")[:3] == ["Ref", "Customer", "Amount excl. tax"]
    records = [line.split("\t") for line in lines[1:-1]]
    assert len(records) == len(cli.sample.open_quotes), lines
    by_ref = {fields[0]: fields for fields in records}
    row = by_ref[cli.sample.refs["about_to_expire"]]
    assert row[1].endswith(LONG_NAME) and row[1].startswith("Garage")
    assert row[2].startswith("1 2") and row[2].endswith(" €")
    assert by_ref[cli.sample.refs["opt_out"] + " (opt-out)"]
    assert lines[-1].startswith(f"{len(records)} open quote(s)")


def test_a_narrow_terminal_prints_one_record_per_block(cli: Cli) -> None:
    screen = in_terminal(cli, 60, "quotes")
    ref = cli.sample.refs["about_to_expire"]
    lines = screen.splitlines()
    start = next(number for number, line in enumerate(lines) if line.startswith(f"{ref}  Garage Dupont SAS"))
    block = "\n".join(lines[start + 1 : start + 6])
    assert "  Amount excl. tax: 1 2" in block and "  End of validity: 2026-12-01" in block, screen
    assert all(len(line) <= 60 for line in lines)
