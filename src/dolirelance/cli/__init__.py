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

Beside them: :mod:`.application` (the Typer app, its groups, the shared options), :mod:`.console`
(where it prints), :mod:`.arguments` (usage errors, dates read), :mod:`.cells` (values written),
:mod:`.entry` (the catch point). The commands are registered here, in the order ``--help`` lists them.
"""

from __future__ import annotations

from dolirelance.cli import auto, followups, history, install, ledger, mailbox, quotes, servers
from dolirelance.cli.application import app, config_app, ledger_app, letters_app
from dolirelance.cli.auto import print_auto_report
from dolirelance.cli.entry import hoist_global_options, main
from dolirelance.cli.followups import EXIT_LOCAL_COPY_MISSING, exit_code_for
from dolirelance.cli.mailbox import print_replies_report

_COMMANDS = (
    ("init", install.init),
    ("doctor", install.doctor),
    ("quotes", quotes.quotes),
    ("preview", quotes.preview),
    ("remind", followups.remind),
    ("mass", followups.mass),
    ("retry", ledger.retry),
    ("history", history.history),
    ("upcoming", history.upcoming),
    ("explain", auto.explain_cmd),
    ("run", auto.run_cmd),
    ("replies", mailbox.replies_cmd),
    ("serve", servers.serve),
    ("setup", install.setup),
    ("status", ledger.status),
    ("report", history.report),
    ("web", servers.web),
    ("dolibarr-module", install.dolibarr_module),
    ("demo", servers.demo),
)
for _name, _command in _COMMANDS:
    app.command(_name)(_command)
config_app.command("check")(install.config_check)
ledger_app.command("resolve")(ledger.ledger_resolve)
letters_app.command("print")(ledger.letters_print)

__all__ = [
    "EXIT_LOCAL_COPY_MISSING",
    "app",
    "exit_code_for",
    "hoist_global_options",
    "main",
    "print_auto_report",
    "print_replies_report",
]
