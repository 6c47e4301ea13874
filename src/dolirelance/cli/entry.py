"""The entry point, ``dolirelance``: the one place errors become messages and exit codes; ``--debug`` hoisted."""

from __future__ import annotations

import gc
import sys

from dolirelance.cli import console
from dolirelance.cli.application import app, state
from dolirelance.cli.arguments import CommandLineError
from dolirelance.errors import ConfigError, DolirelanceError
from dolirelance.terminal import plain, text


def main() -> None:
    """Console entry point: the one place errors are turned into messages and exit codes.

    Click handles its own usage errors (exit 2, the usage line, what is wrong) and ``--help``;
    our errors come out of it and are printed here.
    """
    try:
        app(args=hoist_global_options(sys.argv[1:]), prog_name="dolirelance")
    except (ConfigError, CommandLineError) as exc:
        _print_error(exc)
        sys.exit(2)
    except DolirelanceError as exc:
        _print_error(exc)
        sys.exit(1)
    except KeyboardInterrupt:
        console.err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # anything unexpected: a bug to report
        if state.debug:
            raise
        _say_error(
            f"unexpected {type(exc).__name__}: {exc}".rstrip(": "),
            "run again with --debug for the traceback, and report it",
        )
        sys.exit(1)


def run() -> None:
    """The console script and ``python -m dolirelance``: :func:`main`, then a quicker exit.

    What the process holds is frozen out of the garbage collector before it exits: the interpreter's
    last collections then skip the ~60,000 objects of the libraries loaded (~50 ms of every command;
    nothing is left unflushed: files are closed by the code that writes them, the streams by the
    interpreter). Tests call :func:`main`, whose process goes on.
    """
    try:
        main()
    finally:
        gc.freeze()


_GLOBAL_FLAGS = frozenset({"--debug"})


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move ``--debug`` written after the command in front of it, where Click expects it.

    A token that is the value of an option (``--note --debug``) or comes after ``--`` stays where it is.
    ``--config`` needs no moving: every command that reads the configuration accepts it too.
    """
    from typer.core import TyperGroup, TyperOption
    from typer.main import get_command

    command = get_command(app)
    hoisted: list[str] = []
    rest: list[str] = []
    takes_value: set[str] = set()
    expecting_value = False
    for index, token in enumerate(argv):
        if token == "--":
            rest.extend(argv[index:])
            break
        if expecting_value:
            rest.append(token)
            expecting_value = False
            continue
        if token in _GLOBAL_FLAGS:
            hoisted.append(token)
            continue
        rest.append(token)
        if token.startswith("-"):
            expecting_value = token.split("=", 1)[0] in takes_value and "=" not in token
            continue
        sub = command.commands.get(token) if isinstance(command, TyperGroup) else None
        if sub is not None:
            command = sub
            takes_value = {
                opt
                for param in sub.params
                if not (isinstance(param, TyperOption) and param.is_flag)
                for opt in param.opts
                if opt.startswith("-")
            }
    return hoisted + rest


def _print_error(exc: DolirelanceError) -> None:
    if state.debug:
        import traceback

        traceback.print_exc()
    _say_error(exc.message, exc.remedy)


def _say_error(message: str, remedy: str | None) -> None:
    """Print ``error: message`` and the remedy; never raises, whatever the message holds."""
    try:
        console.err.print("[red]error:[/] " + text(message))
        if remedy:
            console.err.print("  → " + text(remedy))
    except Exception:
        lines = [f"error: {plain(message)}"] + ([f"  -> {plain(remedy)}"] if remedy else [])
        sys.stderr.write("\n".join(line.encode("ascii", "replace").decode() for line in lines) + "\n")
