"""The Typer application, its command groups and the options every command shares.

The commands themselves are in one module per group, named in :data:`COMMANDS` and imported when used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator, Mapping, MutableMapping
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from typer._click import Command as ClickCommand  # Typer 0.26 bundles its own Click
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command_from_info
from typer.models import CommandInfo

from dolirelance.cli import console
from dolirelance.logsetup import LogFormat, configure_logging

if TYPE_CHECKING:
    from dolirelance.config import Settings

T = TypeVar("T")



class _LazyCommands(MutableMapping[str, ClickCommand]):
    """A group's commands, each imported and built the first time it is looked up.

    The names are known at once, in the order ``--help`` lists them; ``dolirelance quotes`` imports
    and builds ``quotes`` only, ``--help`` (which reads every command's help) all of them.
    """

    def __init__(self, lazy: Mapping[str, str], loaded: MutableMapping[str, ClickCommand]) -> None:
        self._lazy = {name: spec for name, spec in lazy.items() if name not in loaded}
        self._loaded = dict(loaded)
        self._order = [*self._lazy, *(name for name in loaded if name not in self._lazy)]

    def __getitem__(self, name: str) -> ClickCommand:
        if name not in self._loaded:
            module, _, function = self._lazy[name].partition(":")  # KeyError: no such command
            callback = getattr(import_module(f"dolirelance.cli.{module}"), function)
            # what ``Typer.command(name)`` registers, built as ``typer.main.get_command`` builds it
            info = CommandInfo(name=name, cls=TyperCommand, callback=callback, options_metavar="[OPTIONS]")
            self._loaded[name] = get_command_from_info(
                info, pretty_exceptions_short=_PRETTY_EXCEPTIONS_SHORT, rich_markup_mode=_RICH_MARKUP_MODE
            )
            del self._lazy[name]
        return self._loaded[name]

    def __setitem__(self, name: str, command: ClickCommand) -> None:
        self._lazy.pop(name, None)
        if name not in self._order:
            self._order.append(name)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if self._lazy.pop(name, None) is None:
            del self._loaded[name]
        self._order.remove(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._order


def _lazy_group(commands: Mapping[str, str]) -> type[TyperGroup]:
    """A Typer group class whose ``commands`` ("name": "module:function" of ``dolirelance.cli``) load when used."""

    class LazyGroup(TyperGroup):
        @property
        def commands(self) -> MutableMapping[str, ClickCommand]:
            return self._commands

        @commands.setter
        def commands(self, loaded: MutableMapping[str, ClickCommand]) -> None:
            self._commands = _LazyCommands(commands, loaded)

    return LazyGroup


# The commands, in the order ``--help`` lists them, each "module:function" in ``dolirelance.cli``:
# one module per command group, imported only when one of its commands runs (or --help lists them).
COMMANDS = {
    "init": "install:init",
    "doctor": "install:doctor",
    "quotes": "quotes:quotes",
    "preview": "quotes:preview",
    "remind": "followups:remind",
    "mass": "followups:mass",
    "retry": "ledger:retry",
    "history": "history:history",
    "upcoming": "history:upcoming",
    "explain": "auto:explain_cmd",
    "run": "auto:run_cmd",
    "replies": "mailbox:replies_cmd",
    "serve": "servers:serve",
    "setup": "install:setup",
    "status": "ledger:status",
    "report": "history:report",
    "web": "servers:web",
    "dolibarr-module": "install:dolibarr_module",
    "demo": "servers:demo",
}

app = typer.Typer(
    name="dolirelance",
    help="Follow up open Dolibarr quotes by e-mail or letter, and record every follow-up in Dolibarr.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_lazy_group(COMMANDS),
)
# Typer's defaults, which the commands are built with
_PRETTY_EXCEPTIONS_SHORT = app.pretty_exceptions_short
_RICH_MARKUP_MODE = app.rich_markup_mode
config_app = typer.Typer(
    help="Check the configuration file.", no_args_is_help=True, cls=_lazy_group({"check": "install:config_check"})
)
ledger_app = typer.Typer(
    help="Inspect and settle the ledger of sent follow-ups.",
    no_args_is_help=True,
    cls=_lazy_group({"resolve": "ledger:ledger_resolve"}),
)
app.add_typer(config_app, name="config")
app.add_typer(ledger_app, name="ledger")
letters_app = typer.Typer(
    help="Letters filed in Dolibarr: the print file of those not printed yet.",
    no_args_is_help=True,
    cls=_lazy_group({"print": "ledger:letters_print"}),
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

    from dolirelance import __version__

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
    from dolirelance.config import find_config_path, load_config  # pydantic and the models: not for --help

    return load_config(find_config_path(config or state.config_path))


def run_coroutine(coro: Coroutine[object, object, T]) -> T:
    return asyncio.run(coro)
