"""The command line: a thin front end over :mod:`dolirelance.service`.

This is the one catch point: a :class:`DolirelanceError` becomes ``error: <message>`` (and its
remedy) with a non-zero exit; a traceback shows only with ``--debug``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Coroutine
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from dolirelance import __version__
from dolirelance.config import (
    REPLY_TO_REMEDY,
    Settings,
    find_config_path,
    load_config,
    parse_day_offset,
    secret_problems,
)
from dolirelance.domain import Channel, QuoteFilter
from dolirelance.errors import ConfigError, DolirelanceError, FollowUpError
from dolirelance.logsetup import LogFormat, configure_logging
from dolirelance.terminal import plain, text
from dolirelance.terminal_tables import Column, TableLayout, print_table
from dolirelance.workdays import describe_day

if TYPE_CHECKING:
    from dolirelance.effectiveness import Report
from dolirelance.formatting import format_amount

T = TypeVar("T")


class CommandLineError(FollowUpError):
    """The command line does not say what to do (an option missing, two that exclude each other, a bad date).

    Exit 2, as Click's own usage errors, with our ``error:`` and ``→`` remedy.
    """

app = typer.Typer(
    name="dolirelance",
    help="Follow up open Dolibarr quotes by e-mail or letter, and record every follow-up in Dolibarr.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Check the configuration file.", no_args_is_help=True)
ledger_app = typer.Typer(help="Inspect and settle the ledger of sent follow-ups.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(ledger_app, name="ledger")
letters_app = typer.Typer(
    help="Letters filed in Dolibarr: the print file of those not printed yet.", no_args_is_help=True
)
app.add_typer(letters_app, name="letters")

# Lines are not wrapped; the tables fit the terminal, or are plain lines when piped (terminal_tables).
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


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

    lines = [f"dolirelance {__version__}"]
    for package in ("httpx", "pydantic", "jinja2", "reportlab", "pypdf", "babel", "sqlalchemy", "apscheduler"):
        try:
            lines.append(f"  {package} {version(package)}")
        except PackageNotFoundError:
            lines.append(f"  {package} (not installed)")
    lines.append("  Dolibarr REST API: 18 to 23 supported (tested against 20.0.0 and 23.0.0-beta)")
    out.print("\n".join(lines))
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


def _settings(config: Path | None = None) -> Settings:
    return load_config(find_config_path(config or state.config_path))


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _parse_next(value: str | None, today: date) -> date | None:
    if value is None:
        return None
    text = value.strip()
    try:
        return _not_past(date.fromisoformat(text), today)
    except ValueError:
        pass
    try:
        day = today + timedelta(days=parse_day_offset(text))
    except ValueError:
        raise CommandLineError(
            f"--next {value!r} is neither a date nor a delay",
            remedy="write --next 2026-12-15 or --next '+15 days'",
        ) from None
    return _not_past(day, today)


def _not_past(day: date, today: date) -> date:
    """A next follow-up date from today on: refused before anything starts (nothing claimed in the ledger)."""
    if day < today:
        raise CommandLineError(
            f"the next follow-up date {day.isoformat()} is in the past",
            remedy="give a date from today on, or a delay like --next '+15 days'",
        )
    return day


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise CommandLineError(f"{option} {value!r} is not a date", remedy=f"write {option} 2026-12-03") from None


def _money(value: Decimal, currency: str) -> str:
    # the customers' language, as in the models; plain spaces in a terminal (copied into mails, sheets)
    return format_amount(value, currency, "fr").replace("\u202f", " ").replace("\u00a0", " ")


def _day(value: date | None) -> str:
    return value.isoformat() if value else ""


def _business_tz(settings: Settings) -> ZoneInfo:
    """The time zone every time is shown in (named in the column), the one the days are counted in."""
    return ZoneInfo(settings.auto.timezone)


def _when(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _amount_json(value: Decimal) -> str:
    """Amounts in JSON: a decimal string with two decimals ("910.00"), never a float."""
    return str(value.quantize(Decimal("0.01")))


# --------------------------------------------------------------------------- config


@config_app.command("check")
def config_check(config: ConfigOption = None) -> None:
    """Validate the file; render every model for each kind of addressee, before and after the end of validity."""
    from dolirelance.clock import system_clock
    from dolirelance.errors import MailError
    from dolirelance.mail import dkim_signer
    from dolirelance.render import ADDRESSEE_KINDS, Renderer, sample_contexts

    path = find_config_path(config or state.config_path)
    settings = load_config(path)
    secrets = secret_problems(settings, str(path))  # unset *_env variables are configuration errors too
    if secrets:
        raise ConfigError(secrets, remedy="export the variables named by *_env, or set the keys in the file")
    renderer = Renderer(settings)
    contexts = sample_contexts(system_clock().astimezone(ZoneInfo(settings.auto.timezone)).date())
    found: dict[str, tuple[Any, list[str]]] = {}
    for label, ctx in contexts:
        for problem in renderer.check(ctx):
            found.setdefault(problem.message, (problem, []))[1].append(label)
    key_file = settings.smtp.dkim_key_file
    signer = dkim_signer(settings.smtp, settings.resolve_path(key_file)) if key_file else None
    if signer is not None:
        try:
            signer.check()
        except MailError as exc:
            found[exc.message] = (exc, [label for label, _ in contexts])
    if found:
        err.print(f"[red]error:[/] {text(path)}: {len(found)} template problem(s):")
        for message, (problem, labels) in found.items():
            only = "" if len(labels) == len(contexts) else f" (writing to {'; '.join(labels)})"
            err.print(f"  {text(message)}{text(only)}")
            if problem.remedy:
                err.print(f"    → {text(problem.remedy)}")
        raise typer.Exit(2)
    from dolirelance.starter import example_values_left

    if settings.company is None:
        err.print("[yellow]warning:[/] no \\[company] table: letters and e-mails take the company from Dolibarr")
        err.print("  → fill \\[company] unless the API user is admin (only an admin may read it); `doctor` checks")
    for key, value in example_values_left(settings):  # a warning: the file itself is valid
        err.print(f"[yellow]warning:[/] {text(key)} is still the example {text(value)!r}")
        err.print(f"  → {text('set your own in ' + str(path) + ' (then `dolirelance doctor` checks it works)')}")
    variants = sum(len(model.variants) for model in settings.models)
    out.print(
        f"[green]ok[/] {text(path)}: {len(settings.models)} model(s), {variants} language variant(s), "
        f"{len(settings.auto.steps)} automatic step(s) (auto {'enabled' if settings.auto.enabled else 'disabled'}); "
        f"every text rendered for {len(ADDRESSEE_KINDS)} kinds of addressee, before and after the end of validity"
    )
    for warning in settings.reply_problems():  # a warning: sending works, replies are not read
        err.print(f"[yellow]warning:[/] {text(warning)}")
        err.print(f"  → {text(REPLY_TO_REMEDY)}")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to write into (created if missing).")] = Path("."),
    dolibarr_url: Annotated[
        str | None, typer.Option("--dolibarr-url", help="Dolibarr API URL (https://erp.example.fr/api/index.php).")
    ] = None,
    smtp_host: Annotated[str | None, typer.Option("--smtp-host", help="SMTP server name.")] = None,
    sender: Annotated[str | None, typer.Option(help="From address, e.g. 'Name <devis@example.fr>'.")] = None,
) -> None:
    """Write a commented dolirelance.toml and the default models into DIRECTORY; never overwrites."""
    from dolirelance.starter import CONFIG_NAME, StarterAnswers, refuse_to_overwrite, write_starter_files

    refuse_to_overwrite(directory)  # before asking anything
    answers = StarterAnswers(dolibarr_url=dolibarr_url, smtp_host=smtp_host, sender=sender)
    if sys.stdin.isatty() and sys.stdout.isatty():  # asks only a person at a terminal
        # no made-up defaults: the examples are in the prompts, the answers are the person's own
        answers = StarterAnswers(
            dolibarr_url=dolibarr_url or typer.prompt("Dolibarr API URL (like https://erp.your-company.fr/api/index.php)"),
            smtp_host=smtp_host or typer.prompt("SMTP server (like smtp.your-company.fr)"),
            sender=sender or typer.prompt("Sender, the From of the e-mails (like Company <quotes@company.fr>)"),
        )
    written = write_starter_files(directory, answers)
    for path in written:
        out.print(f"wrote {text(path)}")
    config = directory / CONFIG_NAME
    out.print(
        text("next: edit it ([company], models, [auto]), set DOLIRELANCE_API_KEY and DOLIRELANCE_SMTP_PASSWORD,")
        + f" then `dolirelance --config {text(config)} config check` and `doctor`"
    )


# --------------------------------------------------------------------------- doctor


@app.command()
def doctor(config: ConfigOption = None) -> None:
    """Check Dolibarr (version, API user, rights, opt-out extrafield) and SMTP, with a remedy for each failure."""
    from dolirelance.checks import run_doctor

    settings = _settings(config)
    checks = _run(run_doctor(settings))
    failed = 0
    for check in checks:
        mark = "[green]✔[/]" if check.ok else ("[yellow]![/]" if check.warning else "[red]✘[/]")
        out.print(f"{mark} {text(check.name)}: {text(check.detail)}")
        if not check.ok and check.remedy:
            out.print(f"    → {text(check.remedy)}")
        failed += 0 if check.ok or check.warning else 1
    if failed:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- quotes


@app.command()
def quotes(
    customer: Annotated[str | None, typer.Option(help="Customer id, name or code.")] = None,
    sales_rep: Annotated[str | None, typer.Option("--sales-rep", help="Login of the sales representative.")] = None,
    expired: Annotated[bool, typer.Option(help="Only quotes past their end of validity.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Open quotes with their last follow-up and next follow-up date (printed a page at a time)."""
    from dolirelance import service

    settings = _settings(config)

    left_out: list[Any] = []
    tz = _business_tz(settings)
    layout = TableLayout(_QUOTE_COLUMNS)  # the pages line up

    async def work() -> tuple[int, Decimal]:
        count, total = 0, Decimal(0)
        async with service.open_runtime(settings) as rt:
            await service.require_access(rt, service.Access.READ)
            with rt.dolibarr.collecting_rejected_rows() as rejected:
                customer_ids = await service.resolve_customer_ids(rt, customer) if customer else ()
                flt = QuoteFilter(customer_ids=customer_ids, end_of_validity_before=rt.today() if expired else None)
                if as_json:
                    out.file.write("[")
                async for rows in service.iter_quote_rows(rt, flt, sales_rep=sales_rep, shown_only=True):
                    if as_json:
                        items = (json.dumps(_quote_json(row, tz), ensure_ascii=False) for row in rows)
                        out.file.write(("," if count else "") + "\n" + ",\n".join(items))
                    else:
                        print_table(out, _QUOTE_COLUMNS, [_quote_cells(row, tz) for row in rows],
                                    header=count == 0, layout=layout, heading=2)  # fmt: skip
                    count += len(rows)
                    total += sum((row.quote.total_excl_tax for row in rows), Decimal(0))
                if as_json:
                    out.file.write("\n]\n")
            left_out.extend(rejected)
        return count, total

    count, total = _run(work())
    for row in left_out:  # on stderr: --json output stays valid JSON
        err.print(f"[yellow]left out[/] {text(row.describe())}\n    → {text(row.remedy)}")
    if not as_json:
        out.print(f"{count} open quote(s); total excl. tax: {_money(total, 'EUR')}")


def _quote_json(row: Any, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": row.quote.id,
        "ref": row.quote.ref,
        "customer": row.customer.name if row.customer else None,
        "customer_id": row.quote.customer_id,
        "total_excl_tax": _amount_json(row.quote.total_excl_tax),
        "total_incl_tax": _amount_json(row.quote.total_incl_tax),
        "currency": row.quote.currency,
        "end_of_validity": _day(row.quote.end_of_validity),
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


def _answers_json(row: Any, tz: ZoneInfo) -> dict[str, Any]:
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


def _answer_marks(row: Any, tz: ZoneInfo) -> str:
    """The short marker of a quote list: "replied 2026-11-30", "bounced jean@client.fr"."""
    marks = [f"replied {row.last_reply.on(tz).isoformat()}"] if row.last_reply is not None else []
    marks += [f"bounced {bounce.address or '?'}" for bounce in row.bounces]
    return "; ".join(marks)


_QUOTE_COLUMNS = (
    Column("Ref", whole=True),
    Column("Customer"),
    Column("Amount excl. tax", whole=True, right=True),
    Column("End of validity", whole=True),
    Column("Last follow-up", whole=True),
    Column("Model (channel), note"),
    Column("Next", whole=True),
    Column("Answer"),
)


def _quote_cells(row: Any, tz: ZoneInfo) -> list[str]:
    how = ""
    if row.last is not None:
        how = f"{row.last.model or ''} ({row.last.channel.value})"
        if row.last.note:
            how += f" — {_short(row.last.note, 40)}"
    return [
        _ref_cell(row.quote.ref, opt_out=row.quote.opt_out),
        text(row.customer.name) if row.customer else f"#{row.quote.customer_id}",
        _money(row.quote.total_excl_tax, row.quote.currency),
        _day(row.quote.end_of_validity),
        row.last.done_on(tz).isoformat() if row.last is not None else "",
        text(how),
        row.next_todo.due_on(tz).isoformat() if row.next_todo else "",
        text(_answer_marks(row, tz)),
    ]


def _ref_cell(ref: str, *, opt_out: bool) -> str:
    """A quote's ref, and under it whether it is opt-out (the ref column stays as wide as the ref)."""
    return text(ref) + ("\n[dim](opt-out)[/]" if opt_out else "")


# --------------------------------------------------------------------------- preview / remind


@app.command()
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
    settings = _settings(config)

    async def work() -> service.PreparedFollowUp:
        async with service.open_runtime(settings) as rt:
            await service.require_access(rt, service.Access.READ)
            me = await rt.me()
            return await service.prepare_followup(
                rt, ref, channel=Channel.LETTER if letter else Channel.EMAIL, acting_user=me, model=model
            )

    prepared = _run(work())
    if letter is not None and prepared.letter_pdf is not None:
        service.write_atomically(letter, prepared.letter_pdf)
        out.print(f"letter for {text(prepared.quote.ref)} ({text(prepared.model)}) written to {text(letter)}")
    if email is not None and prepared.email is not None:
        write_eml(prepared.email, email)
        out.print(
            f"e-mail for {text(prepared.quote.ref)} ({text(prepared.model)}) to {text(prepared.recipients_text)} "
            f"written to {text(email)}"
        )
        html = viewable_html(prepared.rendered)
        if html is not None:
            html_path = email.with_suffix(".html")
            service.write_atomically(html_path, html.encode("utf-8"))
            out.print(f"its HTML part, to open in a browser: {text(html_path)}")
    out.print(f"attachments: {text(prepared.attachments_text)}")
    if prepared.quote.opt_out:
        out.print(f"{text(prepared.quote.ref)} is opt-out: automatic runs skip it (a manual follow-up still goes out)")


@app.command()
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
    settings = _settings(config)

    async def work() -> service.FollowUpOutcome:
        async with service.open_runtime(settings) as rt:
            _warn_day_off(service.day_off(rt))
            return await service.follow_up(
                rt,
                ref,
                channel=Channel.EMAIL if by_email else Channel.LETTER,
                model=model,
                note=note,
                next_date=_parse_next(next_, rt.today()),
                letter_out=out_path,
                force=force,
            )

    outcome = _run(work())
    _print_outcome(outcome)
    if by_letter and out_path is None and outcome.outcome == "recorded":
        out.print(
            f"to print it: open {text(outcome.file_name or 'the letter')} in the quote's attached files in Dolibarr "
            "(with --out letter.pdf, a letter is also written here)"
        )
    code = exit_code_for([outcome])
    if code:
        raise typer.Exit(code)


EXIT_LOCAL_COPY_MISSING = 3


def exit_code_for(outcomes: list[Any]) -> int:
    """1 when something failed or needs a person; 3 when all was done but a local copy is missing."""
    if any(o.outcome != "recorded" for o in outcomes):
        return 1
    return EXIT_LOCAL_COPY_MISSING if any(o.local_copy_error for o in outcomes) else 0


def _warn_day_off(reason: str | None) -> None:
    """Manual follow-ups are not restricted to working days, but the person is told before sending."""
    if reason is not None:
        out.print(
            f"[yellow]warning:[/] {text(reason)}: this follow-up is made today all the same "
            "(automatic ones wait for the next working day)"
        )


def _print_outcome(outcome: Any) -> None:
    what = "e-mail" if outcome.channel is Channel.EMAIL else "letter"
    if outcome.outcome == "recorded":
        to = f" to {text(outcome.recipients)}" if outcome.recipients else ""
        file = f", file {text(outcome.file_name)}" if outcome.file_name else ""
        out.print(
            f"[green]✔[/] {text(outcome.quote_ref)} {text(outcome.customer_name)}: "
            f"{text(outcome.model)} by {what}{to}; "
            f"{text(outcome.summary)} (event {outcome.event_id}, next follow-up to-do {outcome.todo_event_id}{file})"
        )
    elif outcome.outcome == "sent-not-recorded":
        out.print(
            f"[yellow]![/] {text(outcome.quote_ref)}: {what} {text(outcome.summary)}; {text(outcome.error or '')}"
        )
    elif outcome.outcome == "closed":
        out.print(
            f"[yellow]-[/] {text(outcome.quote_ref)}: {what} {text(outcome.summary)}; {text(outcome.error or '')}"
        )
    elif outcome.outcome == "refused":
        out.print(
            f"[yellow]-[/] {text(outcome.quote_ref)} {text(outcome.customer_name)}: "
            f"refused: {text(outcome.error or '')}"
        )
    else:
        out.print(
            f"[red]✘[/] {text(outcome.quote_ref)} {text(outcome.customer_name)}: {text(outcome.summary)}: "
            f"{text(outcome.error or '')}"
        )
    if outcome.local_copy_error:
        out.print(f"    [yellow]![/] done, {text(outcome.local_copy_error)}")


# --------------------------------------------------------------------------- mass


@app.command()
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
    settings = _settings(config)

    async def work() -> tuple[list[service.MassItem], service.MassReport | None]:
        async with service.open_runtime(settings) as rt:
            await service.require_access(rt, service.Access.READ if dry_run else service.Access.SEND)
            next_date = _parse_next(next_, rt.today())  # a bad --next is an error in a dry run too
            items = await service.plan_mass(
                rt, selection, channel=choice, model=model, per_quote_models=per_quote, force=force
            )
            _print_mass_plan(items, dry_run=dry_run, tz=rt.tz)
            if items:
                _warn_day_off(service.day_off(rt))
            if dry_run or not items:
                return items, None
            out.print(f"following up {len(items)} quote(s)...")
            report = await service.mass_follow_up(
                rt,
                items,
                channel=choice,
                note=note,
                next_date=next_date,
                out_dir=out_dir,
                progress=_print_outcome,
                force=force,
            )
            return items, report

    items, report = _run(work())
    if report is None:
        return
    done = [o for o in report.outcomes if o.ok]
    out.print(
        f"\n[bold]{len(done)} done, {len(report.failed)} failed, {len(report.refused)} refused[/] of {len(items)}"
    )
    for failure in report.failed:
        out.print(f"  [red]✘[/] {text(failure.quote_ref)} {text(failure.customer_name)}: {text(failure.error or '')}")
    for missing in report.not_in_batch:
        out.print(f"  [yellow]![/] {text(missing.quote_ref)}: done, {text(missing.local_copy_error or '')}")
    if report.letters_pdf is not None:
        out.print(f"letters to print ({report.letters_count}): {text(report.letters_pdf)}")
    code = exit_code_for(report.outcomes)
    if code:
        raise typer.Exit(code)


_MASS_COLUMNS = (
    Column("Ref", whole=True),
    Column("Customer"),
    Column("Amount excl. tax", whole=True, right=True),
    Column("End of validity", whole=True),
    Column("Last follow-up", whole=True),
    Column("Last model"),
    Column("Model"),
    Column("Channel"),
    Column("Recipient"),
)


def _print_mass_plan(items: list[Any], *, dry_run: bool, tz: ZoneInfo) -> None:
    rows = []
    for item in items:
        row = item.row
        rows.append([
            _ref_cell(row.quote.ref, opt_out=row.quote.opt_out),
            text(row.customer.name) if row.customer else "",
            _money(row.quote.total_excl_tax, row.quote.currency),
            _day(row.quote.end_of_validity),
            row.last.done_on(tz).isoformat() if row.last else "",
            text(row.last.model or "") if row.last else "",
            text(item.model),
            text(item.problem or (item.channel.value if item.channel else "")),
            text(item.recipient),
        ])  # fmt: skip
    print_table(out, _MASS_COLUMNS, rows, title=("Dry run: " if dry_run else "") + f"{len(items)} quote(s)", heading=2)


# --------------------------------------------------------------------------- retry / history / upcoming


@app.command()
def retry(config: ConfigOption = None) -> None:
    """Record in Dolibarr the follow-ups that were sent but not recorded (never sends anything)."""
    from dolirelance import service

    settings = _settings(config)

    async def work() -> tuple[list[service.FollowUpOutcome], Any]:
        async with service.open_runtime(settings) as rt:
            outcomes = await service.retry_unrecorded(rt)
            # to-dos a later follow-up replaced but could not close (someone else's): closed now where a key may
            return outcomes, await service.close_superseded_todos(rt)

    outcomes, todos = _run(work())
    if not outcomes:
        out.print("nothing to record: every follow-up sent is in Dolibarr")
    for outcome in outcomes:
        _print_outcome(outcome)
    for todo in todos.closed:
        out.print(f"[green]✔[/] to-do #{todo.event_id} ({text(todo.label)}) closed: a later follow-up replaced it")
    for todo in todos.left_open:
        out.print(
            f"[yellow]![/] to-do #{todo.event_id} ({text(todo.label)}) of user #{todo.owner_id} was replaced by a "
            "later follow-up but may not be closed with this key: close it in Dolibarr, or set "
            "\\[dolibarr] service_api_key (docs/dolibarr-setup.md)"
        )
    if any(o.outcome not in ("recorded", "closed") for o in outcomes):
        raise typer.Exit(1)


@app.command()
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
    settings = _settings(config)

    async def work() -> list[service.HistoryLine | service.AnswerLine]:
        async with service.open_runtime(settings) as rt:
            await service.require_access(rt, service.Access.READ)
            return await service.history_view(rt, quote=quote, customer=customer, open_only=open_)

    lines = _run(work())
    tz = _business_tz(settings)
    if as_json:
        out.file.write(json.dumps([_history_json(line, tz) for line in lines], ensure_ascii=False, indent=1) + "\n")
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
                _when(answer.at, tz),
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
            _when(record.done_at, tz),
            quote_cell,
            text(line.customer_name),
            text(record.note),
            text(record.model or ""),
            record.channel.value,
            text(line.user_name),
            _day(record.next_date),
            text(record.file_name or ""),
            str(record.event_id),
        ])  # fmt: skip
    print_table(out, columns, rows, title=title, heading=2)


def _short(value: str, limit: int = 100) -> str:
    """One line, cut at ``limit`` characters (a table cell; --json keeps the whole text)."""
    one_line = " ".join(value.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1].rstrip() + "…"


def _answer_note(answer: Any) -> str:
    """What a reply or bounce says, in one cell: who, and the first words or the server's reason."""
    if answer.kind == "reply":
        said = f': "{_short(answer.excerpt)}"' if answer.excerpt else " (no text)"
        return f"reply from {answer.address or '?'}{said}"
    return f"{answer.address or '?'} bounced" + (f": {_short(answer.reason)}" if answer.reason else "")


def _history_json(line: Any, tz: ZoneInfo) -> dict[str, Any]:
    about = {
        "type": line.kind,  # followup, reply or bounce
        "event_id": line.event_id,
        "date": line.at.astimezone(tz).isoformat(),
        "quote_id": line.answer.quote_id if line.kind != "followup" else line.record.quote_id,
        "quote_ref": line.quote_ref,
        "quote_open": line.quote_open,
        "customer": line.customer_name or None,
    }
    if line.kind != "followup":
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
        "next_followup": _day(record.next_date) or None,
        "file": record.file_name,
    }


@app.command()
def upcoming(
    user: Annotated[str | None, typer.Option("--user", help="Login (default: the API key's user).")] = None,
    days: Annotated[int, typer.Option(min=0, help="How many days ahead (0: today and overdue only).")] = 30,
    config: ConfigOption = None,
) -> None:
    """The follow-ups to do next (overdue first)."""
    from dolirelance import service

    settings = _settings(config)

    async def work() -> list[service.UpcomingLine]:
        async with service.open_runtime(settings) as rt:
            await service.require_access(rt, service.Access.READ)
            return await service.upcoming(rt, login=user, days=days)

    lines = _run(work())
    tz = _business_tz(settings)
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
            _ref_cell(quote_.ref, opt_out=quote_.opt_out) if quote_ else "",
            text(line.customer_name),
            _money(quote_.total_excl_tax, quote_.currency) if quote_ else "",
            _day(quote_.end_of_validity) if quote_ else "",
            text(_answer_marks(line, tz)),
        ])  # fmt: skip
    print_table(out, columns, rows, title=f"{len(lines)} follow-up(s) to do", heading=2)


# --------------------------------------------------------------------------- automatic


@app.command("explain")
def explain_cmd(
    ref: Annotated[str, typer.Argument(help="Quote ref or id.")],
    on: Annotated[str | None, typer.Option(help="Decide for this day (YYYY-MM-DD) instead of today.")] = None,
    show_preview: Annotated[bool, typer.Option("--preview", help="Also show the e-mail that would go out.")] = False,
    config: ConfigOption = None,
) -> None:
    """Would this quote be followed up automatically (today, or --on a day), and why."""
    from dolirelance import service
    from dolirelance.policy import DecisionKind

    day = _parse_day(on, "--on")  # a usage error before the configuration is read
    settings = _settings(config)

    async def work() -> tuple[Any, Any, Any, Any, Any, list[service.QuoteAnswer]]:
        async with service.open_runtime(settings) as rt:
            await service.require_access(rt, service.Access.READ)
            found = await service.explain(rt, ref, on=day)  # the history it read lists the answers too
            decision, quote_, customer_, recipients = found.decision, found.quote, found.customer, found.recipients
            answers = service.quote_answers(found.history, found.blocked)
            prepared = None
            usable = [r for r in recipients if r.email.strip().lower() not in found.blocked]
            if show_preview and decision.step is not None and usable:
                me = await rt.me()
                prepared = await service.prepare_followup(
                    rt,
                    quote_,
                    channel=Channel.EMAIL,
                    acting_user=me,
                    model=decision.step.model,
                    automatic_step=decision.step.number,
                    customer=customer_,
                    history=found.history,
                    blocked_addresses=found.blocked,
                )
            return decision, quote_, customer_, recipients, prepared, answers

    decision, quote_, customer_, recipients, prepared, answers = _run(work())
    tz = _business_tz(settings)
    colour = {DecisionKind.DUE: "green", DecisionKind.NOT_DUE: "cyan", DecisionKind.SKIPPED: "yellow"}[decision.kind]
    out.print(f"[bold]{text(quote_.ref)}[/] {text(customer_.name)} — [{colour}]{text(decision.summary)}[/]")
    for line in decision.arithmetic:
        out.print(f"  {text(line)}")
    if decision.step is not None:
        out.print(f"  model: {text(decision.step.model)}")
    if recipients:
        out.print("  recipients: " + ", ".join(text(f"{r.name} <{r.email}> ({r.source})") for r in recipients))
    else:
        out.print("  recipients: none (no e-mail address on the quote's CUSTOMER contacts or the customer)")
    for found in answers:
        out.print(f"  {text(_explain_answer(found, tz))}")
    if not settings.auto.enabled:
        out.print("  [dim]note: \\[auto] enabled = false: the daemon sends nothing until it is enabled[/]")
    if prepared is not None and prepared.email is not None:
        out.print("\n[bold]E-mail that would go out:[/]")
        email = prepared.email
        out.print(text(f"From: {email['From']}\nTo: {email['To']}\nSubject: {email['Subject']}"))
        out.print(f"Attachments: {text(prepared.attachments_text)}\n")
        out.print(text(prepared.rendered.email_text))


def _proof(proof: str | None) -> str:
    """How a reply was known to answer our e-mail (docs/replies.md: what is trusted)."""
    if proof is None:  # recorded before the proof was kept
        return ""
    if proof == "message-id":
        return " (it answers our e-mail: In-Reply-To/References)"
    return f" (the receiving server vouches for the sender: {_short(proof, 120)})"


def _explain_answer(found: Any, tz: ZoneInfo) -> str:
    """One reply or bounce of the quote, dated, as `explain` lists them."""
    answer = found.answer
    when = f"on {_when(answer.at, tz)} (event {answer.event_id})"
    if answer.kind == "reply":
        said = f': "{_short(answer.excerpt, 200)}"' if answer.excerpt else ""
        return f"the customer replied {when} from {answer.address or '?'}{said}{_proof(answer.proof)}"
    why = f" ({_short(answer.reason, 200)})" if answer.reason else ""
    if found.address_blocked:
        after = "automatic runs do not use it until the customer or contact card holding it is changed in Dolibarr"
    else:
        after = "the card holding it was changed in Dolibarr since: automatic runs may use it again"
    return f"the address {answer.address or '?'} bounced {when}{why}; {after}"


@app.command("run")
def run_cmd(
    once: Annotated[bool, typer.Option("--once", help="One run now (required; the daemon is `serve`).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Decide only; send and record nothing.")] = False,
    on: Annotated[str | None, typer.Option(help="With --dry-run: decide as on this day (YYYY-MM-DD).")] = None,
    config: ConfigOption = None,
) -> None:
    """One automatic run with its report; exit code 1 when something failed."""
    from dolirelance import service

    if not once:
        raise CommandLineError(
            "`run` needs --once", remedy="use `dolirelance run --once`, or `dolirelance serve` for the daemon"
        )
    if on is not None and not dry_run:
        raise CommandLineError("--on only goes with --dry-run", remedy="add --dry-run, or drop --on")
    day = _parse_day(on, "--on")  # a usage error before the configuration is read
    settings = _settings(config)

    async def work() -> service.AutoReport:
        async with service.open_runtime(settings) as rt:
            await service.require_access(rt, service.Access.READ if dry_run else service.Access.SEND)
            return await service.run_auto(rt, dry_run=dry_run, on=day)

    report = _run(work())
    print_auto_report(report, settings)
    if not report.ok:
        raise typer.Exit(1)


def print_auto_report(report: Any, settings: Settings) -> None:
    from dolirelance.policy import DecisionKind
    from dolirelance.service import how_to_settle

    title = "Dry run" if report.dry_run else "Automatic run"
    out.print(f"[bold]{title} for {report.today.isoformat()}[/] ({len(report.decisions)} candidate quote(s))")
    if not settings.auto.enabled:
        out.print("[dim](\\[auto] enabled = false: `serve` does not run by itself; `run --once` runs on demand)[/]")
    if report.day_off is not None:
        then, why = describe_day(report.next_working_day), text(report.day_off)
        if report.dry_run:
            out.print(f"[yellow]{why}[/]: the run of this day sends nothing; shown: what {then} will decide")
        else:
            out.print(f"[yellow]{why}[/]: nothing decided or sent; the run of {then} catches up")
    for decision in sorted(report.decisions, key=lambda d: d.quote_ref):
        colour = {DecisionKind.DUE: "green", DecisionKind.NOT_DUE: "cyan", DecisionKind.SKIPPED: "yellow"}[
            decision.kind
        ]
        out.print(f"  {text(f'{decision.quote_ref:<14}')} [{colour}]{text(decision.summary)}[/]")
    for outcome in report.recorded_later:
        _print_outcome(outcome)
    for outcome in report.outcomes:
        _print_outcome(outcome)
    if report.cap_warning:
        out.print(f"[yellow]warning:[/] {text(report.cap_warning)}")
    skipped = ", ".join(f"{reason} {count}" for reason, count in sorted(report.skipped_by_reason().items()))
    out.print(
        f"due {len(report.due)}, sent {len(report.sent)}, failed {len(report.failed)}"
        + (f", skipped: {skipped}" if skipped else "")
    )
    for entry in report.uncertain:
        out.print(
            f"[red]uncertain[/] {text(entry.key)} ({text(entry.quote_ref)}): the process stopped while handing it "
            f"over; {text(how_to_settle(entry))}"
        )
    for row in report.rejected:
        out.print(f"[red]left out[/] {text(row.describe())}\n    → {text(row.remedy)}")
    if report.error:
        out.print(f"[red]error:[/] {text(report.error)}")


@app.command("replies")
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
    settings = _settings(config)

    async def work() -> service.RepliesReport:
        async with service.open_runtime(settings) as rt:
            return await service.read_replies(rt)

    report = _run(work())
    print_replies_report(report, settings)
    if not report.ok:
        raise typer.Exit(1)


def print_replies_report(report: Any, settings: Settings) -> None:
    tz = _business_tz(settings)
    out.print(f"[bold]Replies mailbox[/] {text(report.mailbox)} ({_when(report.started_at, tz)})")
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
        out.print(line)
    counts = {name: len(report.of(name)) for name in ("recorded", "noted", "ignored", "unreadable", "failed")}
    out.print(", ".join(f"{name} {count}" for name, count in counts.items()))
    if report.flagged_later:
        out.print(f"{report.flagged_later} message(s) recorded by an earlier run marked in the mailbox now")
    if report.error:
        out.print(f"[red]error:[/] {text(report.error)}")


@app.command()
def serve(config: ConfigOption = None, log_format: LogFormatOption = LogFormat.TEXT) -> None:
    """The daemon: one automatic run a day at \\[auto] time, health endpoint, clean stop on SIGTERM."""
    from dolirelance.scheduler import serve_forever

    settings = _settings(config)
    configure_logging(logging.DEBUG if state.debug else logging.INFO, log_format)
    _run(serve_forever(settings))


@app.command()
def setup(config: ConfigOption = None) -> None:
    """Create the opt-out extrafield on proposals if missing (needs an admin API key); check the \\[access] groups."""
    from dolirelance.checks import check_access_groups, ensure_opt_out_field

    settings = _settings(config)
    message = _run(ensure_opt_out_field(settings))
    out.print(text(message))
    for line in _run(check_access_groups(settings)):
        out.print(text(line))


@app.command()
def status(config: ConfigOption = None) -> None:
    """The ledger: counts by state, uncertain follow-ups, follow-ups not recorded, letters not printed."""
    from dolirelance.service import how_to_settle, open_ledger

    settings = _settings(config)
    tz = _business_tz(settings)
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
    out.print("ledger: " + (", ".join(held) or "empty"))
    for entry in uncertain:
        out.print(
            f"[red]uncertain[/] {text(entry.key)} {text(entry.quote_ref)} ({text(entry.model)}) "
            f"since {_when(entry.updated_at, tz)} "
            f"({tz.key}): {text(how_to_settle(entry))}"
        )
    for entry in to_record:
        done = "filed" if entry.channel == "letter" else "sent"
        out.print(
            f"[yellow]{done}, not recorded[/] {text(entry.key)} {text(entry.quote_ref)}: `dolirelance retry` records it"
        )
    if to_print:
        out.print(
            f"[yellow]{len(to_print)} letter(s) filed in Dolibarr but in no print file[/]: "
            "`dolirelance letters print` makes one"
        )
        for entry in to_print:
            out.print(f"  {text(entry.quote_ref)} {text(entry.file_name or '')} ({_when(entry.updated_at, tz)})")
    for entry in abandoned:
        out.print(
            f"[dim]closed unrecorded[/] {text(entry.key)} {text(entry.quote_ref)} ({_when(entry.updated_at, tz)}): "
            f"{text(entry.error or '')}" + (f" — by {text(entry.resolved_by)}" if entry.resolved_by else "")
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
            [_when(entry.updated_at, tz), text(entry.quote_ref), text(entry.model or ""), entry.channel,
             str(entry.state), text(entry.key)]
            for entry in recent
        ]  # fmt: skip
        print_table(out, columns, rows, title="last follow-ups", heading=2)
    if uncertain:
        raise typer.Exit(1)


@ledger_app.command("resolve")
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
    settings = _settings(config)
    ledger = open_ledger(settings)
    try:
        if abandon:
            entry = ledger.abandon(key, by=getpass.getuser(), reason="closed by a person (ledger resolve --abandon)")
        else:
            entry = ledger.resolve(key, sent=sent, by=getpass.getuser())
    finally:
        ledger.close()
    if abandon:
        out.print(
            f"{text(entry.key)} ({text(entry.quote_ref)}) closed: dolirelance will not send, file or record it; "
            "the quote is free for another follow-up"
        )
    elif sent:
        out.print(f"{text(entry.key)} marked as sent; `dolirelance retry` (or the next run) records it in Dolibarr")
    else:
        out.print(f"{text(entry.key)} marked as not sent; the next automatic run may send it if still due")


@letters_app.command("print")
def letters_print(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder of the print file (default: \\[letter] output_dir).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """One print file of the letters filed in Dolibarr but in no print file yet (a mass run killed midway...)."""
    from dolirelance import service

    settings = _settings(config)

    async def work() -> service.PrintReport:
        async with service.open_runtime(settings) as rt:
            return await service.print_letters(rt, out_dir)

    report = _run(work())
    if report.path is None and not report.missing:
        out.print("nothing to print: every letter filed is in a print file")
    if report.path is not None:
        refs = ", ".join(entry.quote_ref for entry in report.printed)
        out.print(f"[green]✔[/] {len(report.printed)} letter(s) in {text(str(report.path))}: {text(refs)}")
    for entry, why in report.missing:
        out.print(f"[red]✘[/] {text(entry.quote_ref)} {text(entry.file_name or '')}: {text(why)}; it stays listed")
    if report.missing:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- report


@app.command()
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
    first, last = _parse_day(start, "--from"), _parse_day(end, "--to")
    settings = _settings(config)

    async def work() -> Report:
        async with service.open_runtime(settings) as rt:
            await service.require_access(rt, service.Access.READ)
            return await effectiveness_report(rt, start=first, end=last, sales_rep=sales_rep, model=model)

    result = _run(work())
    if as_json:
        out.print_json(json.dumps(as_dict(result), ensure_ascii=False))
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(csv_rows(result))
    else:
        _print_report(result)


def _print_report(result: Report) -> None:
    from dolirelance.effectiveness import GROUPINGS, Rate, groups_of

    total = result.total
    median = total.median_days_to_signature
    out.print(
        f"[bold]Follow-ups from {result.period.start} to {result.period.end}[/]: {total.followups} follow-up(s) "
        f"on {total.quotes} quote(s);\nsigned after a follow-up: {total.conversion}"
        + (f", median {median:g} day(s) after it" if median is not None else "")
        + f", {_money(total.amount_signed, 'EUR')} excl. tax"
    )
    comparison = result.without_followup
    out.print(
        f"Quotes issued in the period without any follow-up: signed {comparison.rate},\n"
        f"{_money(comparison.amount_signed, 'EUR')} excl. tax"
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
                         str(tally.expired), str(tally.other), _money(tally.amount_signed, "EUR")])  # fmt: skip
        print_table(out, columns, rows, title=f"Per {titles[grouping].lower()}")
    columns = [
        Column(name, whole=True, right=True)
        for name in ("Follow-up", "Quotes reaching it", "Signed after it", "Amount signed")
    ]
    rows = [
        [str(stage.rank), str(stage.reached), str(Rate(stage.signed, stage.reached)),
         _money(stage.amount_signed, "EUR")]
        for stage in result.funnel
    ]  # fmt: skip
    print_table(out, columns, rows, title="Funnel: the quotes' n-th follow-up in the period")
    columns = [
        Column(name, whole=True, right=True)
        for name in ("Month", "Follow-ups", "Signed after a follow-up", "Amount signed")
    ]
    rows = [
        [month.month.strftime("%Y-%m"), str(month.followups), str(month.signed), _money(month.amount_signed, "EUR")]
        for month in result.months
    ]
    print_table(out, columns, rows, title="Month by month")


@app.command()
def web(config: ConfigOption = None, log_format: LogFormatOption = LogFormat.TEXT) -> None:
    """Serve the pages for sales people (log in with the Dolibarr login)."""
    from dolirelance.web import serve_web

    settings = _settings(config)
    configure_logging(logging.DEBUG if state.debug else logging.INFO, log_format)
    serve_web(settings, access_log=state.debug)  # a line per request only with --debug


@app.command("dolibarr-module")
def dolibarr_module(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the zip into.")] = Path("."),
) -> None:
    """Write the Dolibarr module (tabs « Relances », home box, menu, rights) as a zip to install in Dolibarr."""
    from dolirelance.dolibarr_module_zip import build_module_zip

    path = build_module_zip(out_dir, __version__)
    out.print(f"wrote {path}", markup=False, highlight=False)
    out.print(
        "install it in Dolibarr: Home > Setup > Modules > « Déployer un module externe » (Deploy/install external "
        "module), or unzip it into htdocs/custom/; then enable « Relances devis (dolirelance) »",
        markup=False,
        highlight=False,
    )


@app.command()
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
    run_demo(out_dir.resolve(), commands, console=out, keep_running=keep_running, verbose=verbose, web_port=port)


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
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # anything unexpected: a bug to report
        if state.debug:
            raise
        _say_error(
            f"unexpected {type(exc).__name__}: {exc}".rstrip(": "),
            "run again with --debug for the traceback, and report it",
        )
        sys.exit(1)


_GLOBAL_FLAGS = frozenset({"--debug"})


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move ``--debug`` written after the command in front of it, where Click expects it.

    A token that is the value of an option (``--note --debug``) or comes after ``--`` stays where it is.
    ``--config`` needs no moving: every command that reads the configuration accepts it too.
    """
    import typer.main

    command: Any = typer.main.get_command(app)
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
        sub = getattr(command, "commands", {}).get(token) if hasattr(command, "commands") else None
        if sub is not None:
            command = sub
            takes_value = {
                opt
                for param in sub.params
                if not getattr(param, "is_flag", False)
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
        err.print("[red]error:[/] " + text(message))
        if remedy:
            err.print("  → " + text(remedy))
    except Exception:
        lines = [f"error: {plain(message)}"] + ([f"  -> {plain(remedy)}"] if remedy else [])
        sys.stderr.write("\n".join(line.encode("ascii", "replace").decode() for line in lines) + "\n")
