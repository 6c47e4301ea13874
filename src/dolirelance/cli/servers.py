"""The long-running commands: the daemon (`serve`), the web pages (`web`) and the `demo`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from dolirelance.cli import console
from dolirelance.cli.application import ConfigOption, LogFormatOption, load_settings, run_coroutine, state
from dolirelance.cli.arguments import CommandLineError
from dolirelance.cli.auto import explain_cmd, run_cmd
from dolirelance.cli.followups import mass
from dolirelance.cli.history import history, report
from dolirelance.cli.install import doctor
from dolirelance.cli.mailbox import replies_cmd
from dolirelance.cli.quotes import quotes
from dolirelance.logsetup import LogFormat, configure_logging


def serve(config: ConfigOption = None, log_format: LogFormatOption = LogFormat.TEXT) -> None:
    """The daemon: one automatic run a day at \\[auto] time, health endpoint, clean stop on SIGTERM."""
    from dolirelance.scheduler import serve_forever

    settings = load_settings(config)
    configure_logging(logging.DEBUG if state.debug else logging.INFO, log_format)
    run_coroutine(serve_forever(settings))


def web(config: ConfigOption = None, log_format: LogFormatOption = LogFormat.TEXT) -> None:
    """Serve the pages for sales people (log in with the Dolibarr login)."""
    from dolirelance.web import serve_web

    settings = load_settings(config)
    configure_logging(logging.DEBUG if state.debug else logging.INFO, log_format)
    serve_web(settings, access_log=state.debug)  # a line per request only with --debug


def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where the demo writes its files.")] = Path("dolirelance-demo"),
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Keep the fake Dolibarr and the web pages up until Ctrl-C.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="With --keep-running: log every web request.")] = False,
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="With --keep-running: the web pages' port.")
    ] = 8788,
) -> None:
    """The whole cycle on a bundled fake Dolibarr with French sample data, a local SMTP sink and SQLite."""
    from dolirelance.demo import DemoCommands, run_demo, web_port_taken

    if keep_running and web_port_taken(port):  # said before the demo runs, not after
        raise CommandLineError(
            f"port {port} is taken: another program (another `dolirelance demo --keep-running`?) listens on it",
            remedy=f"stop it, or choose another port: dolirelance demo --keep-running --port {port + 1}",
        )

    commands = DemoCommands(
        doctor=lambda config: doctor(config=config),
        quotes=lambda config: quotes(config=config),
        explain=lambda ref, config: explain_cmd(ref, config=config),
        run_once=lambda config: run_cmd(once=True, config=config),
        mass=lambda refs, note, config: mass(refs=refs, prefer_email=True, note=note, config=config),
        history_open=lambda config: history(open_=True, config=config),
        report=lambda config: report(config=config),
        replies=lambda config: replies_cmd(once=True, config=config),
    )
    run_demo(
        out_dir.resolve(), commands, console=console.out, keep_running=keep_running, verbose=verbose, web_port=port
    )
