"""The ledger of follow-ups: `status`, `ledger resolve`, `letters print`, and `retry` of the unrecorded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dolirelance.cli import console
from dolirelance.cli.application import ConfigOption, load_settings, run_coroutine
from dolirelance.cli.arguments import CommandLineError
from dolirelance.cli.cells import business_tz, local_time
from dolirelance.cli.followups import print_outcome
from dolirelance.terminal import text
from dolirelance.terminal_tables import Column, print_table


def status(config: ConfigOption = None) -> None:
    """The ledger: counts by state, uncertain follow-ups, follow-ups not recorded, letters not printed."""
    from dolirelance.service import how_to_settle, open_ledger

    settings = load_settings(config)
    tz = business_tz(settings)
    ledger = open_ledger(settings)
    try:
        counts = ledger.counts()
        uncertain = ledger.uncertain()
        to_record = ledger.to_record()
        to_print = ledger.letters_to_print()
        abandoned = ledger.abandoned(10)
        recent = ledger.recent(10)
    finally:
        ledger.close()
    # the states that hold follow-ups (on one line that fits a terminal)
    held = [f"{state_} {count}" for state_, count in sorted(counts.items()) if count]
    console.out.print("ledger: " + (", ".join(held) or "empty"))
    for entry in uncertain:
        console.out.print(
            f"[red]uncertain[/] {text(entry.key)} {text(entry.quote_ref)} ({text(entry.model)}) "
            f"since {local_time(entry.updated_at, tz)} "
            f"({tz.key}): {text(how_to_settle(entry))}"
        )
    for entry in to_record:
        done = "filed" if entry.channel == "letter" else "sent"
        console.out.print(
            f"[yellow]{done}, not recorded[/] {text(entry.key)} {text(entry.quote_ref)}: `dolirelance retry` records it"
        )
    if to_print:
        console.out.print(
            f"[yellow]{len(to_print)} letter(s) filed in Dolibarr but in no print file[/]: "
            "`dolirelance letters print` makes one"
        )
        for entry in to_print:
            console.out.print(
                f"  {text(entry.quote_ref)} {text(entry.file_name or '')} ({local_time(entry.updated_at, tz)})"
            )
    for entry in abandoned:
        console.out.print(
            f"[dim]closed unrecorded[/] {text(entry.key)} {text(entry.quote_ref)} "
            f"({local_time(entry.updated_at, tz)}): {text(entry.error or '')}"
            + (f" — by {text(entry.resolved_by)}" if entry.resolved_by else "")
        )
    if recent:
        columns = (
            Column(f"When ({tz.key})", whole=True),
            Column("Quote", whole=True),
            Column("Model"),
            Column("Channel", whole=True),
            Column("State", whole=True),
            Column("Key", whole=True),  # to copy into `ledger resolve`
        )
        rows = [
            [local_time(entry.updated_at, tz), text(entry.quote_ref), text(entry.model or ""), entry.channel,
             str(entry.state), text(entry.key)]
            for entry in recent
        ]  # fmt: skip
        print_table(console.out, columns, rows, title="last follow-ups", heading=2)
    if uncertain:
        raise typer.Exit(1)


def ledger_resolve(
    key: Annotated[str, typer.Argument(help="The entry's key (see `dolirelance status`).")],
    sent: Annotated[
        bool, typer.Option("--sent", help="The e-mail left (the letter is in the quote's files): record it.")
    ] = False,
    not_sent: Annotated[bool, typer.Option("--not-sent", help="It did not leave: a later run may send it.")] = False,
    abandon: Annotated[
        bool,
        typer.Option(
            "--abandon",
            help="Close a stuck entry (any state still in flight) without recording it: never done again by itself.",
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Settle an uncertain follow-up after checking the mailbox (a letter: the quote's files), or close a stuck one."""
    import getpass

    from dolirelance.service import open_ledger

    if sum((sent, not_sent, abandon)) != 1:
        raise CommandLineError("say what happened", remedy="add one of --sent, --not-sent or --abandon")
    settings = load_settings(config)
    ledger = open_ledger(settings)
    try:
        if abandon:
            entry = ledger.abandon(key, by=getpass.getuser(), reason="closed by a person (ledger resolve --abandon)")
        else:
            entry = ledger.resolve(key, sent=sent, by=getpass.getuser())
    finally:
        ledger.close()
    if abandon:
        console.out.print(
            f"{text(entry.key)} ({text(entry.quote_ref)}) closed: dolirelance will not send, file or record it; "
            "the quote is free for another follow-up"
        )
    elif sent:
        console.out.print(
            f"{text(entry.key)} marked as sent; `dolirelance retry` (or the next run) records it in Dolibarr"
        )
    else:
        console.out.print(f"{text(entry.key)} marked as not sent; the next automatic run may send it if still due")


def letters_print(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder of the print file (default: \\[letter] output_dir).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """One print file of the letters filed in Dolibarr but in no print file yet (a mass run killed midway...)."""
    from dolirelance import service

    settings = load_settings(config)

    async def work() -> service.PrintReport:
        async with service.open_runtime(settings) as rt:
            return await service.print_letters(rt, out_dir)

    report = run_coroutine(work())
    if report.path is None and not report.missing:
        console.out.print("nothing to print: every letter filed is in a print file")
    if report.path is not None:
        refs = ", ".join(entry.quote_ref for entry in report.printed)
        console.out.print(f"[green]✔[/] {len(report.printed)} letter(s) in {text(str(report.path))}: {text(refs)}")
    for entry, why in report.missing:
        console.out.print(
            f"[red]✘[/] {text(entry.quote_ref)} {text(entry.file_name or '')}: {text(why)}; it stays listed"
        )
    if report.missing:
        raise typer.Exit(1)


def retry(config: ConfigOption = None) -> None:
    """Record in Dolibarr the follow-ups that were sent but not recorded (never sends anything)."""
    from dolirelance import service

    settings = load_settings(config)

    async def work() -> tuple[list[service.FollowUpOutcome], service.TodoSweep]:
        async with service.open_runtime(settings) as rt:
            outcomes = await service.retry_unrecorded(rt)
            # to-dos a later follow-up replaced but could not close (someone else's): closed now where a key may
            return outcomes, await service.close_superseded_todos(rt)

    outcomes, todos = run_coroutine(work())
    if not outcomes:
        console.out.print("nothing to record: every follow-up sent is in Dolibarr")
    for outcome in outcomes:
        print_outcome(outcome)
    for todo in todos.closed:
        console.out.print(
            f"[green]✔[/] to-do #{todo.event_id} ({text(todo.label)}) closed: a later follow-up replaced it"
        )
    for todo in todos.left_open:
        console.out.print(
            f"[yellow]![/] to-do #{todo.event_id} ({text(todo.label)}) of user #{todo.owner_id} was replaced by a "
            "later follow-up but may not be closed with this key: close it in Dolibarr, or set "
            "\\[dolibarr] service_api_key (docs/dolibarr-setup.md)"
        )
    if any(o.outcome not in ("recorded", "closed") for o in outcomes):
        raise typer.Exit(1)
