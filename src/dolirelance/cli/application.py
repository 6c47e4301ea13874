"""The Typer application, its command groups and the options every command shares.

The commands themselves are in one module per group and are registered in :mod:`dolirelance.cli`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from dolirelance import __version__
from dolirelance.cli import console
from dolirelance.config import Settings, find_config_path, load_config
from dolirelance.logsetup import LogFormat, configure_logging

T = TypeVar("T")

app = typer.Typer(
    name="dolirelance",
    help="Follow up open Dolibarr quotes by e-mail or letter, and record every follow-up in Dolibarr.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Check the configuration file.", no_args_is_help=True)
ledger_app = typer.Typer(help="Inspect and settle the ledger of sent follow-ups.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(ledger_app, name="ledger")
letters_app = typer.Typer(
    help="Letters filed in Dolibarr: the print file of those not printed yet.", no_args_is_help=True
)
app.add_typer(letters_app, name="letters")


class _State:
    config_path: Path | None = None
    debug: bool = False


state = _State()

LogFormatOption = Annotated[
    LogFormat,
    typer.Option("--log-format", help="text, or json: one JSON object per line (time, level, event, quote_ref...)."),
]

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Configuration file (default: $DOLIRELANCE_CONFIG or ./dolirelance.toml)."),
]


def _version_callback(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    lines = [f"dolirelance {__version__}"]
    for package in ("httpx", "pydantic", "jinja2", "reportlab", "pypdf", "babel", "sqlalchemy", "apscheduler"):
        try:
            lines.append(f"  {package} {version(package)}")
        except PackageNotFoundError:
            lines.append(f"  {package} (not installed)")
    lines.append("  Dolibarr REST API: 18 to 23 supported (tested against 20.0.0 and 23.0.0-beta)")
    console.out.print("\n".join(lines))
    raise typer.Exit()


@app.callback()
def _main_options(
    config: ConfigOption = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and debug logs (also accepted after the command).")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show versions and exit.")
    ] = False,
) -> None:
    state.config_path = config
    state.debug = debug
    configure_logging(logging.DEBUG if debug else logging.WARNING, if_unconfigured=True)


def load_settings(config: Path | None = None) -> Settings:
    """The configuration the command names (its own --config, else the one before the command, else the default)."""
    return load_config(find_config_path(config or state.config_path))


def run_coroutine(coro: Coroutine[object, object, T]) -> T:
    return asyncio.run(coro)
