"""The automatic follow-ups: why a quote would be followed up (`explain`), and one run with its report (`run`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from dolirelance.cli import console
from dolirelance.cli.application import ConfigOption, load_settings, run_coroutine
from dolirelance.cli.arguments import CommandLineError, parse_day
from dolirelance.cli.cells import business_tz, local_time, short
from dolirelance.cli.followups import print_outcome
from dolirelance.domain import Channel
from dolirelance.terminal import text
from dolirelance.workdays import describe_day

if TYPE_CHECKING:
    from dolirelance.config import Settings
    from dolirelance.service import AutoReport, QuoteAnswer


def explain_cmd(
    ref: Annotated[str, typer.Argument(help="Quote ref or id.")],
    on: Annotated[str | None, typer.Option(help="Decide for this day (YYYY-MM-DD) instead of today.")] = None,
    show_preview: Annotated[bool, typer.Option("--preview", help="Also show the e-mail that would go out.")] = False,
    config: ConfigOption = None,
) -> None:
    """Would this quote be followed up automatically (today, or --on a day), and why."""
    from dolirelance import service
    from dolirelance.policy import DecisionKind

    day = parse_day(on, "--on")  # a usage error before the configuration is read
    settings = load_settings(config)

    async def work() -> tuple[service.Explanation, service.PreparedFollowUp | None, list[service.QuoteAnswer]]:
        async with service.open_runtime(settings) as rt:
            await service.require_access(rt, service.Access.READ)
            found = await service.explain(rt, ref, on=day)  # the history it read lists the answers too
            decision, recipients = found.decision, found.recipients
            answers = service.quote_answers(found.history, found.blocked)
            prepared = None
            usable = [r for r in recipients if r.email.strip().lower() not in found.blocked]
            if show_preview and decision.step is not None and usable:
                me = await rt.me()
                prepared = await service.prepare_followup(
                    rt,
                    found.quote,
                    channel=Channel.EMAIL,
                    acting_user=me,
                    model=decision.step.model,
                    automatic_step=decision.step.number,
                    customer=found.customer,
                    history=found.history,
                    blocked_addresses=found.blocked,
                )
            return found, prepared, answers

    explanation, prepared, answers = run_coroutine(work())
    decision, quote_, customer_, recipients = (
        explanation.decision,
        explanation.quote,
        explanation.customer,
        explanation.recipients,
    )
    tz = business_tz(settings)
    colour = {DecisionKind.DUE: "green", DecisionKind.NOT_DUE: "cyan", DecisionKind.SKIPPED: "yellow"}[decision.kind]
    console.out.print(f"[bold]{text(quote_.ref)}[/] {text(customer_.name)} — [{colour}]{text(decision.summary)}[/]")
    for line in decision.arithmetic:
        console.out.print(f"  {text(line)}")
    if decision.step is not None:
        console.out.print(f"  model: {text(decision.step.model)}")
    if recipients:
        console.out.print("  recipients: " + ", ".join(text(f"{r.name} <{r.email}> ({r.source})") for r in recipients))
    else:
        console.out.print("  recipients: none (no e-mail address on the quote's CUSTOMER contacts or the customer)")
    for found in answers:
        console.out.print(f"  {text(_explain_answer(found, tz))}")
    if not settings.auto.enabled:
        console.out.print("  [dim]note: \\[auto] enabled = false: the daemon sends nothing until it is enabled[/]")
    if prepared is not None and prepared.email is not None:
        console.out.print("\n[bold]E-mail that would go out:[/]")
        email = prepared.email
        console.out.print(text(f"From: {email['From']}\nTo: {email['To']}\nSubject: {email['Subject']}"))
        console.out.print(f"Attachments: {text(prepared.attachments_text)}\n")
        console.out.print(text(prepared.rendered.email_text))


def _proof(proof: str | None) -> str:
    """How a reply was known to answer our e-mail (docs/replies.md: what is trusted)."""
    if proof is None:  # recorded before the proof was kept
        return ""
    if proof == "message-id":
        return " (it answers our e-mail: In-Reply-To/References)"
    return f" (the receiving server vouches for the sender: {short(proof, 120)})"


def _explain_answer(found: QuoteAnswer, tz: ZoneInfo) -> str:
    """One reply or bounce of the quote, dated, as `explain` lists them."""
    answer = found.answer
    when = f"on {local_time(answer.at, tz)} (event {answer.event_id})"
    if answer.kind == "reply":
        said = f': "{short(answer.excerpt, 200)}"' if answer.excerpt else ""
        return f"the customer replied {when} from {answer.address or '?'}{said}{_proof(answer.proof)}"
    why = f" ({short(answer.reason, 200)})" if answer.reason else ""
    if found.address_blocked:
        after = "automatic runs do not use it until the customer or contact card holding it is changed in Dolibarr"
    else:
        after = "the card holding it was changed in Dolibarr since: automatic runs may use it again"
    return f"the address {answer.address or '?'} bounced {when}{why}; {after}"


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
    day = parse_day(on, "--on")  # a usage error before the configuration is read
    settings = load_settings(config)

    async def work() -> service.AutoReport:
        async with service.open_runtime(settings) as rt:
            await service.require_access(rt, service.Access.READ if dry_run else service.Access.SEND)
            return await service.run_auto(rt, dry_run=dry_run, on=day)

    report = run_coroutine(work())
    print_auto_report(report, settings)
    if not report.ok:
        raise typer.Exit(1)


def print_auto_report(report: AutoReport, settings: Settings) -> None:
    from dolirelance.policy import DecisionKind
    from dolirelance.service import how_to_settle

    title = "Dry run" if report.dry_run else "Automatic run"
    console.out.print(f"[bold]{title} for {report.today.isoformat()}[/] ({len(report.decisions)} candidate quote(s))")
    if not settings.auto.enabled:
        console.out.print(
            "[dim](\\[auto] enabled = false: `serve` does not run by itself; `run --once` runs on demand)[/]"
        )
    if report.day_off is not None and report.next_working_day is not None:  # set together
        then, why = describe_day(report.next_working_day), text(report.day_off)
        if report.dry_run:
            console.out.print(f"[yellow]{why}[/]: the run of this day sends nothing; shown: what {then} will decide")
        else:
            console.out.print(f"[yellow]{why}[/]: nothing decided or sent; the run of {then} catches up")
    for decision in sorted(report.decisions, key=lambda d: d.quote_ref):
        colour = {DecisionKind.DUE: "green", DecisionKind.NOT_DUE: "cyan", DecisionKind.SKIPPED: "yellow"}[
            decision.kind
        ]
        console.out.print(f"  {text(f'{decision.quote_ref:<14}')} [{colour}]{text(decision.summary)}[/]")
    for outcome in report.recorded_later:
        print_outcome(outcome)
    for outcome in report.outcomes:
        print_outcome(outcome)
    if report.cap_warning:
        console.out.print(f"[yellow]warning:[/] {text(report.cap_warning)}")
    skipped = ", ".join(f"{reason} {count}" for reason, count in sorted(report.skipped_by_reason().items()))
    console.out.print(
        f"due {len(report.due)}, sent {len(report.sent)}, failed {len(report.failed)}"
        + (f", skipped: {skipped}" if skipped else "")
    )
    if report.dolibarr is not None:
        console.out.print(f"[dim]{text(report.dolibarr.describe())}[/]")
    for entry in report.uncertain:
        console.out.print(
            f"[red]uncertain[/] {text(entry.key)} ({text(entry.quote_ref)}): the process stopped while handing it "
            f"over; {text(how_to_settle(entry))}"
        )
    for row in report.rejected:
        console.out.print(f"[red]left out[/] {text(row.describe())}\n    → {text(row.remedy)}")
    if report.error:
        console.out.print(f"[red]error:[/] {text(report.error)}")
