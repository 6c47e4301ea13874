"""The command line: a thin front end over :mod:`dolirelance.service`.

This is the one catch point (:func:`main`, in :mod:`.entry`): a :class:`DolirelanceError` becomes
``error: <message>`` (and its remedy) with a non-zero exit; a traceback shows only with ``--debug``.

One module per command group, each importing its heavy parts inside the commands (``import
dolirelance.cli`` stays light, tests/test_light_start.py):

- :mod:`.install`: ``init``, ``config check``, ``doctor``, ``setup``, ``dolibarr-module``;
- :mod:`.quotes`: ``quotes``, ``preview``;
- :mod:`.followups`: ``remind``, ``mass``, and how a follow-up's outcome prints;
- :mod:`.history`: ``history``, ``upcoming``, ``report``;
- :mod:`.auto`: ``explain``, ``run``;
- :mod:`.mailbox`: ``replies``;
- :mod:`.ledger`: ``status``, ``ledger resolve``, ``letters print``, ``retry``;
- :mod:`.servers`: ``serve``, ``web``, ``demo``.

Beside them: :mod:`.application` (the Typer app, its groups, the table of commands in the order
``--help`` lists them, the shared options), :mod:`.console` (where it prints), :mod:`.arguments` (usage
errors, dates read), :mod:`.cells` (values written), :mod:`.entry` (the catch point). A command group's
module is imported only when one of its commands runs: ``dolirelance quotes`` never imports the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dolirelance.cli.application import app
from dolirelance.cli.entry import hoist_global_options, main, run

if TYPE_CHECKING:
    from dolirelance.cli.auto import print_auto_report
    from dolirelance.cli.followups import EXIT_LOCAL_COPY_MISSING, exit_code_for
    from dolirelance.cli.mailbox import print_replies_report
else:  # hidden from mypy: the block above gives the types; these load their module when first used
    from importlib import import_module

    _MODULE_OF = {
        "print_auto_report": "dolirelance.cli.auto",
        "EXIT_LOCAL_COPY_MISSING": "dolirelance.cli.followups",
        "exit_code_for": "dolirelance.cli.followups",
        "print_replies_report": "dolirelance.cli.mailbox",
    }

    def __getattr__(name: str) -> object:
        module = _MODULE_OF.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return getattr(import_module(module), name)


__all__ = [
    "EXIT_LOCAL_COPY_MISSING",
    "app",
    "exit_code_for",
    "hoist_global_options",
    "main",
    "print_auto_report",
    "print_replies_report",
    "run",
]
