"""Follow-ups made by a person: one quote (`remind`) or many at once (`mass`), and how their outcomes print."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from dolirelance.cli import console
from dolirelance.cli.application import ConfigOption, load_settings, run_coroutine
from dolirelance.cli.arguments import CommandLineError, parse_next
from dolirelance.cli.cells import QUOTE_HEAD_COLUMNS, quote_head_cells
from dolirelance.domain import Channel
from dolirelance.terminal import text
from dolirelance.terminal_tables import Column, print_table

if TYPE_CHECKING:
    from dolirelance.service import FollowUpOutcome, MassItem


def remind(
    ref: Annotated[str, typer.Argument(help="Quote ref (PR2611-0001) or id.")],
    model: Annotated[str | None, typer.Option(help="Model name (default: the next level).")] = None,
    by_email: Annotated[bool, typer.Option("--email", help="Send by e-mail.")] = False,
    by_letter: Annotated[bool, typer.Option("--letter", help="Make a letter (PDF) and file it in Dolibarr.")] = False,
    note: Annotated[str, typer.Option(help="Your note, kept in the Dolibarr event.")] = "",
    next_: Annotated[str | None, typer.Option("--next", help="Next follow-up: a date or '+N days'.")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="Also write the letter PDF here.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Follow up even if the quote was followed up within \\[auto] min_gap days.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Follow up one quote now, by e-mail or letter, and record it in Dolibarr.

    Exit code: 0 done and recorded; 1 failed, uncertain, refused or not recorded yet; 3 done and
    recorded but the local copy (--out) could not be written.
    """
    from dolirelance import service

    if by_email == by_letter:
        raise CommandLineError("choose one channel", remedy="add --email or --letter")
    settings = load_settings(config)

    async def work() -> service.FollowUpOutcome:
        async with service.open_runtime(settings) as rt:
            _warn_day_off(service.day_off(rt))
            return await service.follow_up(
                rt,
                ref,
                channel=Channel.EMAIL if by_email else Channel.LETTER,
                model=model,
                note=note,
                next_date=parse_next(next_, rt.today()),
                letter_out=out_path,
                force=force,
            )

    outcome = run_coroutine(work())
    print_outcome(outcome)
    if by_letter and out_path is None and outcome.outcome == "recorded":
        console.out.print(
            f"to print it: open {text(outcome.file_name or 'the letter')} in the quote's attached files in Dolibarr "
            "(with --out letter.pdf, a letter is also written here)"
        )
    code = exit_code_for([outcome])
    if code:
        raise typer.Exit(code)


EXIT_LOCAL_COPY_MISSING = 3


def exit_code_for(outcomes: Sequence[FollowUpOutcome]) -> int:
    """1 when something failed or needs a person; 3 when all was done but a local copy is missing."""
    if any(o.outcome != "recorded" for o in outcomes):
        return 1
    return EXIT_LOCAL_COPY_MISSING if any(o.local_copy_error for o in outcomes) else 0


def _warn_day_off(reason: str | None) -> None:
    """Manual follow-ups are not restricted to working days, but the person is told before sending."""
    if reason is not None:
        console.out.print(
            f"[yellow]warning:[/] {text(reason)}: this follow-up is made today all the same "
            "(automatic ones wait for the next working day)"
        )


def print_outcome(outcome: FollowUpOutcome) -> None:
    what = "e-mail" if outcome.channel is Channel.EMAIL else "letter"
    if outcome.outcome == "recorded":
        to = f" to {text(outcome.recipients)}" if outcome.recipients else ""
        file = f", file {text(outcome.file_name)}" if outcome.file_name else ""
        console.out.print(
            f"[green]✔[/] {text(outcome.quote_ref)} {text(outcome.customer_name)}: "
            f"{text(outcome.model)} by {what}{to}; "
            f"{text(outcome.summary)} (event {outcome.event_id}, next follow-up to-do {outcome.todo_event_id}{file})"
        )
    elif outcome.outcome == "sent-not-recorded":
        console.out.print(
            f"[yellow]![/] {text(outcome.quote_ref)}: {what} {text(outcome.summary)}; {text(outcome.error or '')}"
        )
    elif outcome.outcome == "closed":
        console.out.print(
            f"[yellow]-[/] {text(outcome.quote_ref)}: {what} {text(outcome.summary)}; {text(outcome.error or '')}"
        )
    elif outcome.outcome == "refused":
        console.out.print(
            f"[yellow]-[/] {text(outcome.quote_ref)} {text(outcome.customer_name)}: "
            f"refused: {text(outcome.error or '')}"
        )
    else:
        console.out.print(
            f"[red]✘[/] {text(outcome.quote_ref)} {text(outcome.customer_name)}: {text(outcome.summary)}: "
            f"{text(outcome.error or '')}"
        )
    if outcome.local_copy_error:
        console.out.print(f"    [yellow]![/] done, {text(outcome.local_copy_error)}")


# --------------------------------------------------------------------------- mass


def mass(
    refs: Annotated[list[str] | None, typer.Argument(help="Quote refs; or use the filters.")] = None,
    customer: Annotated[str | None, typer.Option(help="Customer id, name or code.")] = None,
    sales_rep: Annotated[str | None, typer.Option("--sales-rep", help="Sales representative's login.")] = None,
    expired: Annotated[bool, typer.Option(help="Quotes past their end of validity.")] = False,
    due: Annotated[bool, typer.Option(help="Quotes whose next follow-up date is reached.")] = False,
    all_open: Annotated[bool, typer.Option("--all-open", help="Every open quote.")] = False,
    by_email: Annotated[bool, typer.Option("--email", help="Everything by e-mail.")] = False,
    by_letter: Annotated[bool, typer.Option("--letter", help="Everything by letter.")] = False,
    prefer_email: Annotated[
        bool, typer.Option("--prefer-email", help="E-mail where the quote has an address, letter otherwise.")
    ] = False,
    model: Annotated[str | None, typer.Option(help="One model for all (default: each quote's next level).")] = None,
    model_for: Annotated[
        list[str] | None, typer.Option("--model-for", help="REF=MODEL for one quote (repeatable).")
    ] = None,
    note: Annotated[str, typer.Option(help="Note kept in every Dolibarr event.")] = "",
    next_: Annotated[str | None, typer.Option("--next", help="Next follow-up: a date or '+N days'.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Directory for the letters PDF.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would happen; do nothing.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Include quotes followed up within \\[auto] min_gap days.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Follow up many quotes at once; letters form one PDF for printing.

    Exit code: 0 all done and recorded; 1 something failed, was uncertain, refused or not recorded;
    3 all done but some letters are not in the print batch.
    """
    from dolirelance import service

    if sum((by_email, by_letter, prefer_email)) != 1:
        raise CommandLineError("choose one channel", remedy="add --email, --letter or --prefer-email")
    choice: service.ChannelChoice = "email" if by_email else "letter" if by_letter else "prefer-email"
    per_quote: dict[str, str] = {}
    for item in model_for or []:
        quote_ref, sep, model_name = item.partition("=")
        if not sep:
            raise CommandLineError(
                f"--model-for {item!r} is not REF=MODEL", remedy="write --model-for 'PR2611-0001=2nde relance'"
            )
        per_quote[quote_ref.strip()] = model_name.strip()
    selection = service.MassSelection(
        refs=tuple(refs or ()), customer=customer, sales_rep=sales_rep, expired=expired, due=due, all_open=all_open
    )
    settings = load_settings(config)

    async def work() -> tuple[list[service.MassItem], service.MassReport | None]:
        async with service.open_runtime(settings) as rt:
            await service.require_access(rt, service.Access.READ if dry_run else service.Access.SEND)
            next_date = parse_next(next_, rt.today())  # a bad --next is an error in a dry run too
            items = await service.plan_mass(
                rt, selection, channel=choice, model=model, per_quote_models=per_quote, force=force,
                recover=not dry_run,  # a dry run only reads the ledger
            )
            _print_mass_plan(items, dry_run=dry_run, tz=rt.tz)
            if items:
                _warn_day_off(service.day_off(rt))
            if dry_run or not items:
                return items, None
            console.out.print(f"following up {len(items)} quote(s)...")
            report = await service.mass_follow_up(
                rt,
                items,
                channel=choice,
                note=note,
                next_date=next_date,
                out_dir=out_dir,
                progress=print_outcome,
                force=force,
            )
            return items, report

    items, report = run_coroutine(work())
    if report is None:
        return
    done = [o for o in report.outcomes if o.ok]
    console.out.print(
        f"\n[bold]{len(done)} done, {len(report.failed)} failed, {len(report.refused)} refused[/] of {len(items)}"
    )
    for failure in report.failed:
        console.out.print(
            f"  [red]✘[/] {text(failure.quote_ref)} {text(failure.customer_name)}: {text(failure.error or '')}"
        )
    for missing in report.not_in_batch:
        console.out.print(f"  [yellow]![/] {text(missing.quote_ref)}: done, {text(missing.local_copy_error or '')}")
    if report.letters_pdf is not None:
        console.out.print(f"letters to print ({report.letters_count}): {text(report.letters_pdf)}")
    code = exit_code_for(report.outcomes)
    if code:
        raise typer.Exit(code)


_MASS_COLUMNS = (
    *QUOTE_HEAD_COLUMNS,
    Column("Last model"),
    Column("Model"),
    Column("Channel"),
    Column("Recipient"),
)


def _print_mass_plan(items: Sequence[MassItem], *, dry_run: bool, tz: ZoneInfo) -> None:
    rows = []
    for item in items:
        row = item.row
        rows.append([
            *quote_head_cells(row, tz, unknown_customer=""),
            text(row.last.model or "") if row.last else "",
            text(item.model),
            text(item.problem or (item.channel.value if item.channel else "")),
            text(item.recipient),
        ])  # fmt: skip
    print_table(
        console.out, _MASS_COLUMNS, rows, title=("Dry run: " if dry_run else "") + f"{len(items)} quote(s)", heading=2
    )
