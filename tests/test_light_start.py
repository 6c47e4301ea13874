"""Ten thousand open quotes: read-only commands start light, and a streamed list keeps the server busy."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from dolirelance.config import Settings
from dolirelance.dolibarr import DolibarrClient
from dolirelance.dolibarr.client import STREAM_PAGE_SIZE
from dolirelance.domain import QuoteFilter
from dolirelance.service import Runtime, iter_quote_rows
from dolirelance.testing import FakeDolibarr, SampleData, create_app

HEAVY = ("sqlalchemy", "alembic", "jinja2", "reportlab", "pypdf", "matplotlib")
# What `dolirelance --help` and `--version` need none of: the configuration's models and what they read.
CONFIGURATION = ("pydantic", "babel", "holidays", "importlib.metadata", "httpx", "dolirelance.config")
COMMAND_GROUPS = tuple(
    f"dolirelance.cli.{name}"
    for name in ("auto", "followups", "history", "install", "ledger", "mailbox", "quotes", "servers")
)


def imported_after(code: str, watched: tuple[str, ...]) -> list[str]:
    """The ``watched`` modules a fresh interpreter has imported once it ran ``code``."""
    script = f"import sys\n{code}\nprint(','.join(m for m in {watched!r} if m in sys.modules))\n"
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return [name for name in loaded.strip().split(",") if name]


def test_starting_the_command_line_imports_no_command_group_nor_the_configuration() -> None:
    """`import dolirelance.cli` (all `--version` needs) leaves every command group and the configuration out."""
    assert imported_after("import dolirelance.cli", HEAVY + CONFIGURATION + COMMAND_GROUPS) == []


def test_a_command_imports_its_own_group_only() -> None:
    """Looking `quotes` up (as `dolirelance quotes` does) imports the `quotes` group, not the seven others."""
    code = "import typer.main\nfrom dolirelance.cli import app\ntyper.main.get_command(app).commands['quotes']"
    assert imported_after(code, COMMAND_GROUPS) == ["dolirelance.cli.quotes"]


def test_help_lists_every_command_with_its_help() -> None:
    """The commands load lazily, yet `--help` names each one, in order, with the first line of its docstring."""
    from dolirelance.cli.application import COMMANDS

    shown = subprocess.run(
        [sys.executable, "-m", "dolirelance", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "400"},
    ).stdout
    lines = {line.strip("│ ").split(" ", 1)[0]: " ".join(line.strip("│ ").split()[1:]) for line in shown.splitlines()}
    for name, spec in COMMANDS.items():
        module, _, function = spec.partition(":")
        doc = getattr(importlib.import_module(f"dolirelance.cli.{module}"), function).__doc__
        first_line = " ".join(doc.strip().splitlines()[0].split()).replace("\\[", "[")  # markup escapes shown plain
        assert lines.get(name) == first_line, name
    names = [line.strip("│ ").split(" ", 1)[0] for line in shown.splitlines()]
    assert [n for n in names if n in COMMANDS or n in ("config", "ledger", "letters")] == [
        *COMMANDS,
        "config",
        "ledger",
        "letters",
    ]


def test_listing_quotes_imports_no_ledger_letters_or_templates() -> None:
    """What `dolirelance quotes` imports (the CLI and the read-only use cases) leaves the heavy parts out."""
    code = (
        "import sys, dolirelance.cli\n"
        "from dolirelance.service import open_runtime, iter_quote_rows, resolve_customer_ids\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


async def test_ledger_opened_only_when_used(runtime: Runtime, settings: Settings) -> None:
    """Listing quotes never opens the ledger; the first follow-up-related use does (schema and file)."""
    assert settings.ledger.url is not None
    ledger_file = Path(str(make_url(settings.ledger.url).database))
    rows = [row async for page in iter_quote_rows(runtime, QuoteFilter()) for row in page]
    assert rows and not ledger_file.exists()
    assert sum(runtime.ledger.counts().values()) == 0
    assert ledger_file.exists()


async def test_streamed_pages_keep_being_read_while_the_caller_works(
    fake_dolibarr: FakeDolibarr, sample_data: SampleData
) -> None:
    """A page read starts the next one at once: the caller holding the first page does not stall the reads."""
    owner, hotel = sample_data.users["jdupont"], sample_data.customers["hotel"]
    for _ in range(3 * STREAM_PAGE_SIZE + 7):
        proposal = fake_dolibarr.add_proposal(hotel, date=date(2026, 11, 20), duree_validite=30, user_id=owner)
        fake_dolibarr.validate_proposal(proposal.id, user_id=owner)
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    key = sample_data.api_keys["jdupont"]
    async with DolibarrClient("http://dolibarr.test/api/index.php", key, transport=transport) as client:
        await client.status()
        fake_dolibarr.reset_requests()
        pages = client.iter_quotes(QuoteFilter())
        first = await anext(pages)
        # max_concurrency 4: three pages in flight; the fourth (the last, short one) is asked for as soon
        # as one of them is read, though the caller has not asked for a second page yet
        for _ in range(1000):
            if fake_dolibarr.count_requests("/proposals", "GET") >= 4:
                break
            await asyncio.sleep(0.01)
        assert fake_dolibarr.count_requests("/proposals", "GET") >= 4
        rest = [page async for page in pages]
    sizes = [len(first)] + [len(page) for page in rest]
    assert sizes == [STREAM_PAGE_SIZE] * 3 + [sum(sizes) - 3 * STREAM_PAGE_SIZE]
    assert fake_dolibarr.count_requests("/proposals", "GET") <= len(sizes) + 2
