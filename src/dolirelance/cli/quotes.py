"""The open quotes (`quotes`) and exactly what a follow-up of one would send (`preview`)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from dolirelance.cli import console
from dolirelance.cli.application import ConfigOption, load_settings, run_coroutine
from dolirelance.cli.arguments import CommandLineError
from dolirelance.cli.cells import (
    QUOTE_HEAD_COLUMNS,
    amount_json,
    answer_marks,
    business_tz,
    iso_day,
    money,
    quote_head_cells,
    short,
)
from dolirelance.domain import Channel, QuoteFilter
from dolirelance.terminal import text
from dolirelance.terminal_tables import Column, TableLayout, print_table

if TYPE_CHECKING:
    from dolirelance.dolibarr.wire import RejectedRow
    from dolirelance.service import QuoteRow


def quotes(
    customer: Annotated[str | None, typer.Option(help="Customer id, name or code.")] = None,
    sales_rep: Annotated[str | None, typer.Option("--sales-rep", help="Login of the sales representative.")] = None,
    expired: Annotated[bool, typer.Option(help="Only quotes past their end of validity.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Open quotes with their last follow-up and next follow-up date (printed a page at a time)."""
    from dolirelance import service

    settings = load_settings(config)

    left_out: list[RejectedRow] = []
    tz = business_tz(settings)
    layout = TableLayout(_QUOTE_COLUMNS)  # the pages line up

    async def work() -> tuple[int, Decimal]:
        count, total = 0, Decimal(0)
        async with service.open_runtime(settings) as rt:
            await service.require_access(rt, service.Access.READ)
            with rt.dolibarr.collecting_rejected_rows() as rejected:
                customer_ids = await service.resolve_customer_ids(rt, customer) if customer else ()
                flt = QuoteFilter(customer_ids=customer_ids, end_of_validity_before=rt.today() if expired else None)
                if as_json:
                    console.out.file.write("[")
                async for rows in service.iter_quote_rows(rt, flt, sales_rep=sales_rep, shown_only=True):
                    if as_json:
                        items = (_JSON.encode(_quote_json(row, tz)) for row in rows)
                        console.out.file.write(("," if count else "") + "\n" + ",\n".join(items))
                    else:
                        print_table(console.out, _QUOTE_COLUMNS, [_quote_cells(row, tz) for row in rows],
                                    header=count == 0, layout=layout, heading=2)  # fmt: skip
                    count += len(rows)
                    total += sum((row.quote.total_excl_tax for row in rows), Decimal(0))
                if as_json:
                    console.out.file.write("\n]\n")
            left_out.extend(rejected)
        return count, total

    count, total = run_coroutine(work())
    for row in left_out:  # on stderr: --json output stays valid JSON
        console.err.print(f"[yellow]left out[/] {text(row.describe())}\n    → {text(row.remedy)}")
    if not as_json:
        console.out.print(f"{count} open quote(s); total excl. tax: {money(total, 'EUR')}")


# json.dumps(..., ensure_ascii=False) makes an encoder per call; one for every row gives the same text
_JSON = json.JSONEncoder(ensure_ascii=False)


def _quote_json(row: QuoteRow, tz: ZoneInfo) -> dict[str, object]:
    return {
        "id": row.quote.id,
        "ref": row.quote.ref,
        "customer": row.customer.name if row.customer else None,
        "customer_id": row.quote.customer_id,
        "total_excl_tax": amount_json(row.quote.total_excl_tax),
        "total_incl_tax": amount_json(row.quote.total_incl_tax),
        "currency": row.quote.currency,
        "end_of_validity": iso_day(row.quote.end_of_validity),
        "opt_out": row.quote.opt_out,
        "last_followup": None
        if row.last is None
        else {
            "date": row.last.done_at.astimezone(tz).isoformat(),
            "model": row.last.model,
            "channel": row.last.channel.value,
            "note": row.last.note,
        },
        "next_followup": row.next_todo.due_on(tz).isoformat() if row.next_todo else None,
        "next_model": row.next_model,
        **_answers_json(row, tz),
    }


def _answers_json(row: QuoteRow, tz: ZoneInfo) -> dict[str, object]:
    """The customer's last reply and the addresses that bounced, as a quote list gives them."""
    reply = row.last_reply
    return {
        "last_reply": None
        if reply is None
        else {"date": reply.at.astimezone(tz).isoformat(), "address": reply.address, "event_id": reply.event_id},
        "bounces": [
            {"address": bounce.address, "date": bounce.at.astimezone(tz).isoformat(), "event_id": bounce.event_id}
            for bounce in row.bounces
        ],
    }


_QUOTE_COLUMNS = (
    *QUOTE_HEAD_COLUMNS,
    Column("Model (channel), note"),
    Column("Next", whole=True),
    Column("Answer"),
)


def _quote_cells(row: QuoteRow, tz: ZoneInfo) -> list[str]:
    how = ""
    if row.last is not None:
        how = f"{row.last.model or ''} ({row.last.channel.value})"
        if row.last.note:
            how += f" — {short(row.last.note, 40)}"
    return [
        *quote_head_cells(row, tz, unknown_customer=f"#{row.quote.customer_id}"),
        text(how),
        row.next_todo.due_on(tz).isoformat() if row.next_todo else "",
        text(answer_marks(row, tz)),
    ]


def preview(
    ref: Annotated[str, typer.Argument(help="Quote ref (PR2611-0001) or id.")],
    model: Annotated[str | None, typer.Option(help="Model name (default: the next level).")] = None,
    letter: Annotated[Path | None, typer.Option(help="Write the letter PDF here.")] = None,
    email: Annotated[
        Path | None, typer.Option(help="Write the e-mail (.eml) here, and its HTML part (.html) beside it.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Exactly what would be sent, through the same code path, without sending or recording anything."""
    from dolirelance import service
    from dolirelance.mail import viewable_html, write_eml

    if (letter is None) == (email is None):
        raise CommandLineError("say what to preview", remedy="give --letter out.pdf or --email out.eml")
    settings = load_settings(config)

    async def work() -> service.PreparedFollowUp:
        async with service.open_runtime(settings) as rt:
            await service.require_access(rt, service.Access.READ)
            me = await rt.me()
            return await service.prepare_followup(
                rt, ref, channel=Channel.LETTER if letter else Channel.EMAIL, acting_user=me, model=model
            )

    prepared = run_coroutine(work())
    if letter is not None and prepared.letter_pdf is not None:
        service.write_atomically(letter, prepared.letter_pdf)
        console.out.print(f"letter for {text(prepared.quote.ref)} ({text(prepared.model)}) written to {text(letter)}")
    if email is not None and prepared.email is not None:
        write_eml(prepared.email, email)
        console.out.print(
            f"e-mail for {text(prepared.quote.ref)} ({text(prepared.model)}) to {text(prepared.recipients_text)} "
            f"written to {text(email)}"
        )
        html = viewable_html(prepared.rendered)
        if html is not None:
            html_path = email.with_suffix(".html")
            service.write_atomically(html_path, html.encode("utf-8"))
            console.out.print(f"its HTML part, to open in a browser: {text(html_path)}")
    console.out.print(f"attachments: {text(prepared.attachments_text)}")
    if prepared.quote.opt_out:
        console.out.print(
            f"{text(prepared.quote.ref)} is opt-out: automatic runs skip it (a manual follow-up still goes out)"
        )
