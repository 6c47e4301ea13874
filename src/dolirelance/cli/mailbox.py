"""The replies mailbox read once (`replies`), and its report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dolirelance.cli import console
from dolirelance.cli.application import ConfigOption, load_settings, run_coroutine
from dolirelance.cli.arguments import CommandLineError
from dolirelance.cli.cells import business_tz, local_time
from dolirelance.terminal import text

if TYPE_CHECKING:
    from dolirelance.config import Settings
    from dolirelance.service import RepliesReport


def replies_cmd(
    once: Annotated[
        bool, typer.Option("--once", help="Read the mailbox once now (`serve` reads it on a schedule).")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Read the replies mailbox: customers' replies and bounces recorded in Dolibarr; exit 1 when one failed."""
    from dolirelance import service

    if not once:
        raise CommandLineError(
            "`replies` needs --once",
            remedy="use `dolirelance replies --once`, or `dolirelance serve` to read it every [imap] every_minutes",
        )
    settings = load_settings(config)

    async def work() -> service.RepliesReport:
        async with service.open_runtime(settings) as rt:
            return await service.read_replies(rt)

    report = run_coroutine(work())
    print_replies_report(report, settings)
    if not report.ok:
        raise typer.Exit(1)


def print_replies_report(report: RepliesReport, settings: Settings) -> None:
    tz = business_tz(settings)
    console.out.print(f"[bold]Replies mailbox[/] {text(report.mailbox)} ({local_time(report.started_at, tz)})")
    colours = {"recorded": "green", "noted": "cyan", "ignored": "dim", "unreadable": "red", "failed": "red"}
    for message in report.messages:
        what = {
            "reply": f"reply from {message.sender} to {message.quote_ref}: event {message.event_id}, "
            f"to-do {message.todo_event_id}",
            "bounce": f"bounce of {message.address} ({message.quote_ref}): event {message.event_id}, "
            f"to-do {message.todo_event_id}; the address is blocked for automatic runs",
            "temporary-bounce": f"temporary bounce of {message.address} ({message.quote_ref}): noted",
            "auto-answer": f"automatic answer from {message.sender} ({message.quote_ref}): noted, nothing stops",
            "other": f"left alone: {message.sender} “{message.subject[:60]}”",
            "unreadable": "cannot be read: left in place",
            "too-big": "too big to read: left in place"
            + (f"; to-do {message.todo_event_id} on {message.quote_ref}" if message.todo_event_id else ""),
            "unverified-reply": f"unverified reply from {message.sender} ({message.quote_ref}): to-do "
            f"{message.todo_event_id} to check it, nothing stops",
            "unverified-bounce": f"unverified bounce of {message.address} ({message.quote_ref}): to-do "
            f"{message.todo_event_id} to check the address, nothing blocked",
        }[message.kind]
        if message.outcome == "failed":
            what = f"{message.kind} from {message.sender}: not recorded yet"
        colour = colours[message.outcome]
        line = f"  uid {message.uid:<6} [{colour}]{text(what)}[/]"
        if message.kind == "bounce" and message.detail:
            line += f"\n      {text(message.detail)}"
        if message.error:
            line += f"\n      [red]{text(message.error)}[/]"
        console.out.print(line)
    counts = {name: len(report.of(name)) for name in ("recorded", "noted", "ignored", "unreadable", "failed")}
    console.out.print(", ".join(f"{name} {count}" for name, count in counts.items()))
    if report.flagged_later:
        console.out.print(f"{report.flagged_later} message(s) recorded by an earlier run marked in the mailbox now")
    if report.error:
        console.out.print(f"[red]error:[/] {text(report.error)}")
