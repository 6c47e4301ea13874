"""Follow-ups started by a person: one quote (remind) or many (mass)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Literal

from dolirelance.domain import (
    Channel,
    Customer,
    QuoteFilter,
    QuoteStatus,
    User,
    choose_recipients,
)
from dolirelance.errors import (
    DolirelanceError,
    FollowUpError,
    LetterError,
)
from dolirelance.history import QuoteHistory
from dolirelance.letter import LetterBatch, batch_sort_key
from dolirelance.mail import SmtpSender
from dolirelance.service.delivery import (
    FollowUpOutcome,
    execute_followup,
    ledger_problems,
)
from dolirelance.service.prepare import prepare_followup
from dolirelance.service.reads import (
    load_history,
    read_quote,
    resolve_customer_ids,
)
from dolirelance.service.runtime import (
    Runtime,
    api_user,
    require_rights,
)
from dolirelance.service.views import (
    QuoteRow,
    quotes_overview,
)

log = logging.getLogger(__name__)


async def follow_up(
    rt: Runtime,
    quote_key: int | str,
    *,
    channel: Channel,
    model: str | None = None,
    note: str = "",
    next_date: date | None = None,
    acting_user: User | None = None,
    letter_out: Path | None = None,
) -> FollowUpOutcome:
    """One individual follow-up (``dolirelance remind``)."""
    user = acting_user or await api_user(rt)
    await require_rights(rt, user)
    quote = await read_quote(rt, quote_key)
    problem = ledger_problems(rt, [quote.id]).get(quote.id)
    if problem:
        raise FollowUpError(problem, remedy="nothing was sent, so that the customer is not followed up twice")
    prepared = await prepare_followup(
        rt, quote, channel=channel, acting_user=user, model=model, note=note, next_date=next_date
    )
    run_id = f"remind-{uuid.uuid4().hex[:8]}"
    smtp_cm: AbstractContextManager[SmtpSender | None] = (
        rt.open_smtp() if channel is Channel.EMAIL else nullcontext(None)
    )
    with smtp_cm as smtp:
        outcome = await execute_followup(rt, prepared, smtp=smtp, run_id=run_id)
    if letter_out is not None and prepared.letter_pdf is not None and outcome.ok:
        _write_atomically(letter_out, prepared.letter_pdf)
    return outcome


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(content)
    partial.replace(path)


ChannelChoice = Literal["email", "letter", "prefer-email"]


@dataclass(frozen=True)
class MassSelection:
    refs: tuple[str, ...] = ()
    customer: str | None = None
    sales_rep: str | None = None
    expired: bool = False
    due: bool = False
    all_open: bool = False

    @property
    def is_empty(self) -> bool:
        return not (self.refs or self.customer or self.sales_rep or self.expired or self.due or self.all_open)


@dataclass(frozen=True)
class MassItem:
    """One line of a mass follow-up plan (what ``--dry-run`` shows)."""

    row: QuoteRow
    model: str
    channel: Channel | None
    recipient: str
    problem: str | None = None


@dataclass
class MassReport:
    items: list[MassItem]
    outcomes: list[FollowUpOutcome] = field(default_factory=list)
    letters_pdf: Path | None = None
    letters_count: int = 0

    @property
    def failed(self) -> list[FollowUpOutcome]:
        return [o for o in self.outcomes if o.outcome == "failed"]


async def select_quotes(rt: Runtime, selection: MassSelection) -> list[QuoteRow]:
    if selection.is_empty:
        raise FollowUpError(
            "no quotes selected",
            remedy="give refs, or --customer, --sales-rep, --expired, --due or --all-open",
        )
    customer_ids = await resolve_customer_ids(rt, selection.customer) if selection.customer else ()
    today = rt.today()
    flt = QuoteFilter(
        statuses=tuple(QuoteStatus) if selection.refs else (QuoteStatus.OPEN,),
        customer_ids=customer_ids,
        refs=selection.refs,
        end_of_validity_before=today if selection.expired else None,
    )
    rows = await quotes_overview(rt, flt, sales_rep=selection.sales_rep, due_only=selection.due)
    if selection.refs:
        found = {row.quote.ref for row in rows}
        missing = [ref for ref in selection.refs if ref not in found]
        if missing:
            raise FollowUpError(f"quote(s) not found: {', '.join(missing)}", remedy="check the references")
    return rows


def _choose_channel(choice: ChannelChoice, row: QuoteRow) -> tuple[Channel | None, str, str | None]:
    """Channel, recipient shown in the plan, problem. Contacts are not known yet: the customer's e-mail is."""
    customer_email = row.customer.email if row.customer else None
    if choice == "letter":
        return Channel.LETTER, "courrier", None
    if choice == "email":
        return Channel.EMAIL, customer_email or "(contacts of the quote)", None
    return (Channel.EMAIL, customer_email, None) if customer_email else (Channel.LETTER, "courrier", None)


async def plan_mass(
    rt: Runtime,
    selection: MassSelection,
    *,
    channel: ChannelChoice,
    model: str | None = None,
    per_quote_models: dict[str, str] | None = None,
) -> list[MassItem]:
    rows = await select_quotes(rt, selection)
    names = rt.model_names()
    for chosen in [model, *(per_quote_models or {}).values()]:
        if chosen is not None and chosen not in names:
            raise FollowUpError(f"unknown model {chosen!r}", remedy=f"use one of: {', '.join(names)}")
    items = []
    in_progress = ledger_problems(rt, [row.quote.id for row in rows])
    for row in rows:
        the_model = (per_quote_models or {}).get(row.quote.ref) or model or row.next_model
        chosen_channel, recipient, problem = _choose_channel(channel, row)
        if not row.quote.is_open:
            problem = f"{row.quote.ref} is {row.quote.status.label}"
        elif row.quote.id in in_progress:
            problem = in_progress[row.quote.id]
        items.append(MassItem(row=row, model=the_model, channel=chosen_channel, recipient=recipient, problem=problem))
    order = rt.settings.letter.batch_order
    items.sort(
        key=lambda item: batch_sort_key(
            order, item.row.customer or Customer(id=item.row.quote.customer_id, name=""), item.row.quote
        )
    )
    return items


async def mass_follow_up(
    rt: Runtime,
    items: Sequence[MassItem],
    *,
    channel: ChannelChoice,
    note: str = "",
    next_date: date | None = None,
    out_dir: Path | None = None,
    acting_user: User | None = None,
    progress: Callable[[FollowUpOutcome], None] | None = None,
) -> MassReport:
    """Follow up every planned quote; one failure never stops the others."""
    user = acting_user or await api_user(rt)
    await require_rights(rt, user)
    run_id = f"mass-{uuid.uuid4().hex[:8]}"
    report = MassReport(items=list(items))
    today = rt.today()
    out = rt.settings.resolve_path(out_dir or rt.settings.letter.output_dir)
    pdf_path = out / f"relances-{today.isoformat()}-{run_id[5:]}.pdf"
    wants_email = any(item.channel is Channel.EMAIL for item in items)
    wants_letters = any(item.channel is Channel.LETTER for item in items)
    histories = await load_history(rt, [item.row.quote.id for item in items])
    smtp_cm: AbstractContextManager[SmtpSender | None] = rt.open_smtp() if wants_email else nullcontext(None)
    batch_cm: AbstractContextManager[LetterBatch | None] = (
        LetterBatch(pdf_path, duplex=rt.settings.letter.duplex) if wants_letters else nullcontext(None)
    )
    with smtp_cm as smtp, batch_cm as batch:
        for item in items:
            outcome = await _mass_one(
                rt, item, channel, user, note, next_date, smtp, batch, run_id, histories.get(item.row.quote.id)
            )
            report.outcomes.append(outcome)
            if outcome.channel is Channel.LETTER and outcome.ok:
                report.letters_count += 1
            if progress is not None:
                progress(outcome)
    if wants_letters and report.letters_count:
        report.letters_pdf = pdf_path
    elif pdf_path.exists():
        pdf_path.unlink()
    return report


async def _mass_one(
    rt: Runtime,
    item: MassItem,
    choice: ChannelChoice,
    user: User,
    note: str,
    next_date: date | None,
    smtp: SmtpSender | None,
    batch: LetterBatch | None,
    run_id: str,
    history: QuoteHistory | None,
) -> FollowUpOutcome:
    quote = item.row.quote
    name = item.row.customer.name if item.row.customer else ""
    channel = item.channel or Channel.LETTER

    def failed(message: str) -> FollowUpOutcome:
        return FollowUpOutcome(quote.ref, name, item.model, channel, "failed", error=message)

    if item.problem:
        return failed(item.problem)
    try:
        full_quote = await rt.dolibarr.get_quote(quote.id)
        if choice == "prefer-email" and item.row.customer is not None:
            channel = Channel.EMAIL if choose_recipients(full_quote, item.row.customer) else Channel.LETTER
        prepared = await prepare_followup(
            rt,
            full_quote,
            channel=channel,
            acting_user=user,
            model=item.model,
            note=note,
            next_date=next_date,
            history=history or QuoteHistory(),
            customer=item.row.customer,
        )
        outcome = await execute_followup(rt, prepared, smtp=smtp if channel is Channel.EMAIL else None, run_id=run_id)
        if channel is Channel.LETTER and outcome.ok and batch is not None and prepared.letter_pdf is not None:
            try:
                batch.add(prepared.letter_pdf, label=quote.ref)
            except LetterError as exc:  # done and filed in Dolibarr: say so, do not call it failed
                return replace(
                    outcome,
                    error=f"not in the print batch ({exc.message}): print {prepared.letter_file_name} "
                    "from the quote's files in Dolibarr",
                )
        return outcome
    except (DolirelanceError, OSError) as exc:
        log.warning("mass follow-up of %s failed: %s", quote.ref, exc)
        return failed(getattr(exc, "message", str(exc)))
