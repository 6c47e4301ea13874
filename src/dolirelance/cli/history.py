"""What was done and what pays: `history`, `upcoming` and the effectiveness `report`."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from dolirelance.cli import console
from dolirelance.cli.application import ConfigOption, load_settings, run_coroutine
from dolirelance.cli.arguments import CommandLineError, parse_day
from dolirelance.cli.cells import answer_marks, business_tz, iso_day, local_time, money, ref_cell, short
from dolirelance.terminal import text
from dolirelance.terminal_tables import Column, print_table

if TYPE_CHECKING:
    from dolirelance.effectiveness import Report
    from dolirelance.history import AnswerRecord
    from dolirelance.service import AnswerLine, HistoryLine


def history(
    quote: Annotated[str | None, typer.Option(help="One quote (ref or id), closed ones too.")] = None,
    customer: Annotated[str | None, typer.Option(help="One customer (id or name), all its quotes.")] = None,
    open_: Annotated[bool, typer.Option("--open", help="All open quotes (the dashboard).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Follow-ups done, with the customers' replies and bounces: per quote, per customer, or for all open quotes."""
    from dolirelance import service

    if sum((quote is not None, customer is not None, open_)) != 1:
        raise CommandLineError("say which history", remedy="use one of --quote REF, --customer ID-or-name, --open")
    settings = load_settings(config)

    async def work() -> list[service.HistoryLine | service.AnswerLine]:
        async with service.open_runtime(settings) as rt:
            await service.require_access(rt, service.Access.READ)
            return await service.history_view(rt, quote=quote, customer=customer, open_only=open_)

    lines = run_coroutine(work())
    tz = business_tz(settings)
    if as_json:
        console.out.file.write(
            json.dumps([_history_json(line, tz) for line in lines], ensure_ascii=False, indent=1) + "\n"
        )
        return
    count = {kind: sum(1 for line in lines if line.kind == kind) for kind in ("followup", "reply", "bounce")}
    title = f"{count['followup']} follow-up(s)"
    if count["reply"]:
        title += f", {count['reply']} {'reply' if count['reply'] == 1 else 'replies'}"
    if count["bounce"]:
        title += f", {count['bounce']} {'bounce' if count['bounce'] == 1 else 'bounces'}"
    columns = (
        Column(f"Date ({tz.key})", whole=True),
        Column("Quote", whole=True),
        Column("Customer"),
        Column("Note"),
        Column("Model"),
        Column("Channel", whole=True),
        Column("User"),
        Column("Next", whole=True),
        Column("File"),  # an address, a file to open: wrapped, never cut short
        Column("Id", whole=True),
    )
    rows = []
    for line in lines:
        quote_cell = text(line.quote_ref) + ("" if line.quote_open else "\n(closed)")
        if not isinstance(line, service.HistoryLine):
            answer = line.answer
            rows.append([
                local_time(answer.at, tz),
                quote_cell,
                text(line.customer_name),
                text(_answer_note(answer)),
                "",
                "[magenta]reply[/]" if answer.kind == "reply" else "[red]bounce[/]",
                "",
                "",
                text(answer.file_name or ""),
                str(answer.event_id),
            ])  # fmt: skip
            continue
        record = line.record
        rows.append([
            local_time(record.done_at, tz),
            quote_cell,
            text(line.customer_name),
            text(record.note),
            text(record.model or ""),
            record.channel.value,
            text(line.user_name),
            iso_day(record.next_date),
            text(record.file_name or ""),
            str(record.event_id),
        ])  # fmt: skip
    print_table(console.out, columns, rows, title=title, heading=2)


def _answer_note(answer: AnswerRecord) -> str:
    """What a reply or bounce says, in one cell: who, and the first words or the server's reason."""
    if answer.kind == "reply":
        said = f': "{short(answer.excerpt)}"' if answer.excerpt else " (no text)"
        return f"reply from {answer.address or '?'}{said}"
    return f"{answer.address or '?'} bounced" + (f": {short(answer.reason)}" if answer.reason else "")


def _history_json(line: HistoryLine | AnswerLine, tz: ZoneInfo) -> dict[str, object]:
    from dolirelance import service

    about: dict[str, object] = {
        "type": line.kind,  # followup, reply or bounce
        "event_id": line.event_id,
        "date": line.at.astimezone(tz).isoformat(),
        "quote_id": line.record.quote_id if isinstance(line, service.HistoryLine) else line.answer.quote_id,
        "quote_ref": line.quote_ref,
        "quote_open": line.quote_open,
        "customer": line.customer_name or None,
    }
    if not isinstance(line, service.HistoryLine):  # a reply or a bounce
        answer = line.answer
        return about | {
            "address": answer.address,
            "subject": answer.subject,
            "excerpt": answer.excerpt,
            "reason": answer.reason,
            "file": answer.file_name,
        }
    record = line.record
    return about | {
        "channel": record.channel.value,
        "model": record.model,
        "automatic": record.automatic,
        "step": record.step,
        "note": record.note,
        "user": line.user_name or None,
        "recipients": record.recipients,
        "next_followup": iso_day(record.next_date) or None,
        "file": record.file_name,
    }


def upcoming(
    user: Annotated[str | None, typer.Option("--user", help="Login (default: the API key's user).")] = None,
    days: Annotated[int, typer.Option(min=0, help="How many days ahead (0: today and overdue only).")] = 30,
    config: ConfigOption = None,
) -> None:
    """The follow-ups to do next (overdue first)."""
    from dolirelance import service

    settings = load_settings(config)

    async def work() -> list[service.UpcomingLine]:
        async with service.open_runtime(settings) as rt:
            await service.require_access(rt, service.Access.READ)
            return await service.upcoming(rt, login=user, days=days)

    lines = run_coroutine(work())
    tz = business_tz(settings)
    columns = (
        Column("Due", whole=True),
        Column("Quote", whole=True),
        Column("Customer"),
        Column("Amount excl. tax", whole=True, right=True),
        Column("End of validity", whole=True),
        Column("Answer"),
    )
    rows = []
    for line in lines:
        quote_ = line.quote
        rows.append([
            ("[red]" + line.due_on.isoformat() + "\n(overdue)[/]") if line.overdue else line.due_on.isoformat(),
            ref_cell(quote_.ref, opt_out=quote_.opt_out) if quote_ else "",
            text(line.customer_name),
            money(quote_.total_excl_tax, quote_.currency) if quote_ else "",
            iso_day(quote_.end_of_validity) if quote_ else "",
            text(answer_marks(line, tz)),
        ])  # fmt: skip
    print_table(console.out, columns, rows, title=f"{len(lines)} follow-up(s) to do", heading=2)


def report(
    start: Annotated[str | None, typer.Option("--from", help="First day (default: 12 months back).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, included (default: today).")] = None,
    sales_rep: Annotated[str | None, typer.Option("--sales-rep", help="Only this sales person's follow-ups.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Only this model's follow-ups.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print one CSV table.")] = False,
    config: ConfigOption = None,
) -> None:
    """Which follow-ups pay: signatures after follow-ups per model, step, channel, sales person, month."""
    import csv

    from dolirelance import service
    from dolirelance.effectiveness import CSV_COLUMNS, as_dict, csv_rows
    from dolirelance.service.report import effectiveness_report

    if as_json and as_csv:
        raise CommandLineError("--json and --csv cannot go together", remedy="choose one")
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    settings = load_settings(config)

    async def work() -> Report:
        async with service.open_runtime(settings) as rt:
            await service.require_access(rt, service.Access.READ)
            return await effectiveness_report(rt, start=first, end=last, sales_rep=sales_rep, model=model)

    result = run_coroutine(work())
    if as_json:
        console.out.print_json(json.dumps(as_dict(result), ensure_ascii=False))
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(csv_rows(result))
    else:
        print_effectiveness_report(result)


def print_effectiveness_report(result: Report) -> None:
    from dolirelance.effectiveness import GROUPINGS, Rate, groups_of

    total = result.total
    median = total.median_days_to_signature
    console.out.print(
        f"[bold]Follow-ups from {result.period.start} to {result.period.end}[/]: {total.followups} follow-up(s) "
        f"on {total.quotes} quote(s);\nsigned after a follow-up: {total.conversion}"
        + (f", median {median:g} day(s) after it" if median is not None else "")
        + f", {money(total.amount_signed, 'EUR')} excl. tax"
    )
    comparison = result.without_followup
    console.out.print(
        f"Quotes issued in the period without any follow-up: signed {comparison.rate},\n"
        f"{money(comparison.amount_signed, 'EUR')} excl. tax"
    )
    titles = {"model": "Model", "step": "Step", "channel": "Channel", "sales_person": "Sales person"}
    for grouping in GROUPINGS:
        columns = [Column(titles[grouping])] + [
            Column(name, whole=True, right=True)
            for name in ("Follow-ups", "Quotes", "Signed after", "Median days", "Refused", "Open", "Expired",
                         "Other", "Amount signed")
        ]  # fmt: skip
        rows = []
        for row in groups_of(result, grouping):
            tally = row.tally
            days = tally.median_days_to_signature
            rows.append([text(row.key), str(tally.followups), str(tally.quotes), str(tally.conversion),
                         "" if days is None else f"{days:g}", str(tally.refused), str(tally.open),
                         str(tally.expired), str(tally.other), money(tally.amount_signed, "EUR")])  # fmt: skip
        print_table(console.out, columns, rows, title=f"Per {titles[grouping].lower()}")
    columns = [
        Column(name, whole=True, right=True)
        for name in ("Follow-up", "Quotes reaching it", "Signed after it", "Amount signed")
    ]
    rows = [
        [str(stage.rank), str(stage.reached), str(Rate(stage.signed, stage.reached)),
         money(stage.amount_signed, "EUR")]
        for stage in result.funnel
    ]  # fmt: skip
    print_table(console.out, columns, rows, title="Funnel: the quotes' n-th follow-up in the period")
    columns = [
        Column(name, whole=True, right=True)
        for name in ("Month", "Follow-ups", "Signed after a follow-up", "Amount signed")
    ]
    rows = [
        [month.month.strftime("%Y-%m"), str(month.followups), str(month.signed), money(month.amount_signed, "EUR")]
        for month in result.months
    ]
    print_table(console.out, columns, rows, title="Month by month")
