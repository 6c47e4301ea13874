"""Follow-ups started by a person: one quote (remind, the web form) or many (mass).

Both go through :func:`dolirelance.service.delivery.deliver`; the mass preview (``--dry-run``)
chooses channels and recipients with the same functions the sending uses.
"""

from __future__ import annotations

import asyncio
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
    Quote,
    QuoteFilter,
    QuoteStatus,
    User,
    choose_recipients,
    email_known,
)
from dolirelance.errors import (
    DolirelanceError,
    ErrorCode,
    FollowUpAlreadyDone,
    FollowUpError,
    FollowUpInProgress,
    LedgerError,
    LetterError,
    RecentFollowUp,
    UnknownModel,
)
from dolirelance.files import write_atomically
from dolirelance.history import QuoteHistory
from dolirelance.ledger import manual_key
from dolirelance.letter import LetterBatch, batch_sort_key
from dolirelance.mail import SmtpSender
from dolirelance.service.access import Access, require_access
from dolirelance.service.agenda import LastFollowUp, is_recent, last_followups
from dolirelance.service.delivery import (
    Attempt,
    FollowUpOutcome,
    KeepCopy,
    Prepare,
    SharedSmtp,
    deliver,
    ledger_problems,
    not_in_batch,
)
from dolirelance.service.prepare import PreparedFollowUp, ensure_next_date_ahead, prepare_followup
from dolirelance.service.reads import read_quote, resolve_customer_ids
from dolirelance.service.runtime import Runtime, api_user, require_rights
from dolirelance.service.views import QuoteRow, quotes_overview

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
    force: bool = False,
    key: str | None = None,
    submission: str | None = None,
    origin: str = "remind",
) -> FollowUpOutcome:
    """One individual follow-up (``dolirelance remind``, the web form).

    Refused (:class:`FollowUpInProgress`) while another follow-up holds the quote, and
    (:class:`~dolirelance.errors.RecentFollowUp`) when it was followed up within ``[auto] min_gap``
    days unless ``force``. ``submission``: a form's one-time token; the same token twice (a form
    posted twice) does it once.
    """
    ensure_next_date_ahead(next_date, rt.today())  # before the ledger holds anything of it
    user = acting_user or await api_user(rt)
    await require_rights(rt, user)
    await require_access(rt, Access.SEND, user)
    quote = await read_quote(rt, quote_key)
    attempt = Attempt(
        key=key or (f"{origin}:{rt.ledger.instance}:{submission}" if submission else manual_key()),
        quote_id=quote.id,
        quote_ref=quote.ref,
        channel=channel,
        run_id=f"{origin}-{uuid.uuid4().hex[:8]}",
        model=model,
        user_id=user.id,
        note=note,
        next_date=next_date,
    )

    prepare = _preparer(rt, attempt, quote, user, force=force)

    def keep_copy(prepared: PreparedFollowUp) -> None:
        if letter_out is not None and prepared.letter_pdf is not None:
            write_atomically(letter_out, prepared.letter_pdf)

    smtp_cm: AbstractContextManager[SmtpSender | None] = (
        rt.open_smtp() if channel is Channel.EMAIL else nullcontext(None)
    )
    with smtp_cm as smtp:
        outcome = await deliver(rt, attempt, prepare, smtp=smtp, keep_copy=keep_copy)
    if letter_out is not None and outcome.channel is Channel.LETTER and outcome.ok and not outcome.local_copy_error:
        await _note_printed(rt, [outcome])  # its local copy is its print file
    if outcome.outcome == "refused":
        refusal = FollowUpAlreadyDone if outcome.error_code is ErrorCode.ALREADY_DONE else FollowUpInProgress
        raise refusal(
            outcome.error or f"{quote.ref}: another follow-up holds this quote",
            remedy="nothing was sent, so that the customer is not followed up twice",
        )
    return outcome


def _preparer(
    rt: Runtime,
    attempt: Attempt,
    quote: int | Quote,
    user: User,
    *,
    force: bool,
    customer: Customer | None = None,
) -> Prepare:
    """Prepares, once claimed, the follow-up the attempt claims (its channel, model, note and next date) as
    ``user``; refused when the quote was followed up within ``[auto] min_gap`` days unless ``force``."""

    async def prepare() -> PreparedFollowUp:
        return await prepare_followup(
            rt, quote, key=attempt.key, channel=attempt.channel, model=attempt.model, note=attempt.note,
            next_date=attempt.next_date, acting_user=user, customer=customer,
            recent_gap_days=None if force else rt.settings.auto.min_gap,
        )

    return prepare


# --------------------------------------------------------------------------- mass follow-up


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
    """One line of a mass follow-up plan (what ``--dry-run`` shows, and what is then done)."""

    row: QuoteRow
    model: str
    channel: Channel | None
    recipient: str  # the e-mail addresses, comma-separated; empty for a letter or without any
    problem: str | None = None
    refused: bool = False  # the problem is another follow-up in flight or a recent one (not a failure)
    problem_code: ErrorCode | None = None  # the problem's kind, for front ends that word it themselves
    last: LastFollowUp | None = None  # the quote's last follow-up by anyone (ledger and Dolibarr)


@dataclass
class MassReport:
    items: list[MassItem]
    outcomes: list[FollowUpOutcome] = field(default_factory=list)
    letters_pdf: Path | None = None
    letters_count: int = 0

    @property
    def failed(self) -> list[FollowUpOutcome]:
        return [o for o in self.outcomes if o.outcome in ("failed", "uncertain")]

    @property
    def refused(self) -> list[FollowUpOutcome]:
        return [o for o in self.outcomes if o.outcome == "refused"]

    @property
    def not_in_batch(self) -> list[FollowUpOutcome]:
        return [o for o in self.outcomes if o.ok and o.local_copy_error]


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


def choose_channel(choice: ChannelChoice, quote: Quote, customer: Customer | None) -> tuple[Channel, str]:
    """The channel and the e-mail addresses it goes to, from the quote with its contacts: what the sending
    will use. The addresses are empty for a letter, and for an e-mail without any (the front ends word both)."""
    recipients = choose_recipients(quote, customer) if customer is not None else ()
    if choice == "letter" or (choice == "prefer-email" and not recipients):
        return Channel.LETTER, ""
    return Channel.EMAIL, ", ".join(r.email for r in recipients)


async def email_reachable(rt: Runtime, rows: Sequence[QuoteRow]) -> dict[int, bool]:
    """Quote id → whether a follow-up e-mail has an address, as the sending chooses it (``choose_recipients``).

    From bulk reads: the customers' addresses (on the rows) and the quotes' linked contacts, read by
    ids in batches; a quote is read on its own (its contacts' roles) only where those cannot tell.
    """
    contact_ids = {c for row in rows for c in row.quote.contact_ids if not (row.customer and row.customer.email)}
    contacts = await rt.dolibarr.list_contacts(contact_ids) if contact_ids else {}
    known: dict[int, bool] = {}
    unsure: list[QuoteRow] = []
    for row in rows:
        if row.customer is None:
            known[row.quote.id] = False
            continue
        answer = email_known(row.quote, row.customer, contacts)
        if answer is None:
            unsure.append(row)
        else:
            known[row.quote.id] = answer
    full = await _with_contacts(rt, unsure)
    for row in unsure:
        quote = full.get(row.quote.id, row.quote)
        known[row.quote.id] = bool(choose_recipients(quote, row.customer)) if row.customer is not None else False
    return known


async def _with_contacts(rt: Runtime, rows: Sequence[QuoteRow]) -> dict[int, Quote]:
    """The open quotes read one by one (lists carry no contacts), a few at a time."""
    semaphore = asyncio.Semaphore(rt.settings.dolibarr.max_concurrency)

    async def read(quote_id: int) -> Quote:
        async with semaphore:
            return await rt.dolibarr.get_quote(quote_id)

    ids = [row.quote.id for row in rows if row.quote.is_open]
    return {quote.id: quote for quote in await asyncio.gather(*(read(quote_id) for quote_id in ids))}


async def plan_mass(
    rt: Runtime,
    selection: MassSelection,
    *,
    channel: ChannelChoice,
    model: str | None = None,
    per_quote_models: dict[str, str] | None = None,
    force: bool = False,
    recover: bool = True,
) -> list[MassItem]:
    """Each selected quote with the model, channel and recipient its follow-up would have, or why it is left out.

    ``recover=False`` for a preview: the ledger is only read (see :func:`ledger_problems`); the paths
    that go on to send keep the default, which moves abandoned claims on first.
    """
    rows = await select_quotes(rt, selection)
    names = rt.model_names()
    for chosen in [model, *(per_quote_models or {}).values()]:
        if chosen is not None and chosen not in names:
            raise UnknownModel(f"unknown model {chosen!r}", remedy=f"use one of: {', '.join(names)}")
    full = await _with_contacts(rt, rows)
    in_progress = await asyncio.to_thread(ledger_problems, rt, [row.quote.id for row in rows], recover=recover)
    today = rt.today()
    gap = rt.settings.auto.min_gap
    # the rows' last follow-up in Dolibarr (read with the service's key) with the ledger's, for everyone
    lasts = await last_followups(
        rt,
        [row.quote.id for row in rows],
        {row.quote.id: QuoteHistory(followups=(row.last,)) for row in rows if row.last is not None},
    )
    items = []
    for row in rows:
        last = lasts.get(row.quote.id)
        the_model = (per_quote_models or {}).get(row.quote.ref) or model or row.next_model
        quote = full.get(row.quote.id, row.quote)
        chosen_channel, recipient = choose_channel(channel, quote, row.customer)
        problem, refused, code = None, False, None
        if not row.quote.is_open:
            problem, code = f"{row.quote.ref} is {row.quote.status.label}", ErrorCode.QUOTE_NOT_OPEN
        elif row.quote.id in in_progress:
            problem, refused, code = in_progress[row.quote.id], True, ErrorCode.IN_PROGRESS
        elif not force and last is not None and is_recent(last, today, gap, rt.tz):
            when = last.done_on(rt.tz).isoformat()
            problem, refused = f"followed up on {when} ({last.model or '?'}), less than {gap} day(s) ago", True
            code = ErrorCode.RECENT
        elif chosen_channel is Channel.EMAIL and not recipient:
            problem, code = f"{row.quote.ref}: no e-mail address (use --letter or --prefer-email)", ErrorCode.NO_EMAIL
        items.append(
            MassItem(
                row=replace(row, quote=quote),
                model=the_model,
                channel=chosen_channel,
                recipient=recipient,
                problem=problem,
                refused=refused,
                problem_code=code,
                last=last,
            )
        )
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
    force: bool = False,
    origin: str = "mass",
) -> MassReport:
    """Follow up every planned quote on the channel its plan shows; one failure never stops the others."""
    ensure_next_date_ahead(next_date, rt.today())
    user = acting_user or await api_user(rt)
    await require_rights(rt, user)
    await require_access(rt, Access.SEND, user)
    run_id = f"{origin}-{uuid.uuid4().hex[:8]}"
    report = MassReport(items=list(items))
    today = rt.today()
    out = rt.settings.resolve_path(out_dir or rt.settings.letter.output_dir)
    pdf_path = out / f"relances-{today.isoformat()}-{run_id.rsplit('-', 1)[-1]}.pdf"
    wants_email = any(item.channel is Channel.EMAIL and not item.problem for item in items)
    wants_letters = any(item.channel is Channel.LETTER and not item.problem for item in items)
    smtp_cm: AbstractContextManager[SmtpSender | None] = rt.open_smtp() if wants_email else nullcontext(None)
    batch = LetterBatch(pdf_path, duplex=rt.settings.letter.duplex, pages=rt.letter_pages) if wants_letters else None
    if batch is not None:
        try:  # before anything is sent: a folder that cannot be written stops the batch at once
            batch.__enter__()
        except OSError as exc:
            raise LetterError(
                f"cannot write the letters PDF in {out}: {exc}",
                remedy="give a writable folder with --out (or letter.output_dir); nothing was sent",
            ) from None
    batch_error: str | None = None
    in_order = _InPlanOrder(batch, progress, window=4 * rt.settings.dolibarr.max_concurrency)
    try:
        with smtp_cm as smtp:
            shared = None if smtp is None else SharedSmtp(smtp)
            work = iter(enumerate(items))
            crashed: list[BaseException] = []

            async def worker() -> None:
                for index, item in work:  # one shared iterator: the items start in the plan's order
                    await in_order.wait_turn(index)
                    letter: list[PreparedFollowUp] = []
                    if crashed or in_order.progress_error:  # a bug: nothing more is started
                        outcome = _not_started(item, "not started: an unexpected error stopped the mass follow-up")
                    else:
                        try:
                            outcome = await _mass_one(
                                rt, item, user, note, next_date, shared, letter.append, run_id, force
                            )
                        except Exception as exc:  # a bug: the follow-ups in flight end, then it is raised
                            log.exception("unexpected error on quote %s", item.row.quote.ref)
                            crashed.append(exc)
                            outcome = _not_started(item, f"unexpected {type(exc).__name__}: {exc}")
                    await in_order.finished(index, outcome, letter[0] if letter else None)

            workers = max(1, min(rt.settings.dolibarr.max_concurrency, len(items)))
            await asyncio.gather(*(worker() for _ in range(workers)))
            failure = crashed[0] if crashed else in_order.progress_error
            if failure is not None:
                raise failure
        report.outcomes = in_order.outcomes
        report.letters_count = in_order.letters
    finally:
        if batch is not None:
            try:
                batch.__exit__(None, None, None)
            except OSError as exc:
                batch_error = str(exc)
    if batch_error is not None:  # the letters were filed and recorded: only the print file is missing
        report.outcomes = [
            replace(o, local_copy_error=not_in_batch(batch_error, o.file_name))
            if o.channel is Channel.LETTER and o.ok
            else o
            for o in report.outcomes
        ]
        report.letters_count = 0
    if report.letters_count:
        report.letters_pdf = pdf_path
        await _note_printed(rt, report.outcomes)
    elif pdf_path.exists():
        pdf_path.unlink()
    return report


def _not_started(item: MassItem, why: str) -> FollowUpOutcome:
    name = item.row.customer.name if item.row.customer else ""
    return FollowUpOutcome(item.row.quote.ref, name, item.model, item.channel or Channel.LETTER, "failed", error=why)


class _InPlanOrder:
    """Outcomes and print-batch letters put back in the plan's order as concurrent follow-ups end.

    Follow-ups run ``[dolibarr] max_concurrency`` at once; the report, the progress shown and the
    print batch (sorted for the post: ``[letter] batch_order``) keep the plan's order. At most
    ``window`` follow-ups run or wait ahead of the first unfinished one, so memory stays bounded.
    """

    def __init__(
        self, batch: LetterBatch | None, progress: Callable[[FollowUpOutcome], None] | None, *, window: int
    ) -> None:
        self._batch = batch
        self._progress = progress
        self._window = max(1, window)
        self._ended: dict[int, tuple[FollowUpOutcome, PreparedFollowUp | None]] = {}
        self._next = 0  # the first follow-up not yet handed on
        self._turns = asyncio.Condition()
        self.outcomes: list[FollowUpOutcome] = []
        self.letters = 0
        self.progress_error: Exception | None = None

    async def wait_turn(self, index: int) -> None:
        async with self._turns:
            await self._turns.wait_for(lambda: index - self._next < self._window)

    async def finished(self, index: int, outcome: FollowUpOutcome, letter: PreparedFollowUp | None) -> None:
        """Hand on every follow-up ended so far whose earlier ones have ended too, in order."""
        self._ended[index] = (outcome, letter)
        async with self._turns:  # one at a time: the batch is written in order
            try:
                while self._next in self._ended:
                    ended, letter = self._ended.pop(self._next)
                    ended = await self._add_to_batch(ended, letter)
                    if ended.channel is Channel.LETTER and ended.ok and not ended.local_copy_error:
                        self.letters += 1
                    self.outcomes.append(ended)
                    self._next += 1
                    if self._progress is not None and self.progress_error is None:
                        try:
                            self._progress(ended)
                        except Exception as exc:  # the caller's bug: raised once the follow-ups in flight end
                            self.progress_error = exc
            finally:
                self._turns.notify_all()

    async def _add_to_batch(self, outcome: FollowUpOutcome, letter: PreparedFollowUp | None) -> FollowUpOutcome:
        if letter is None or letter.letter_pdf is None or self._batch is None:
            return outcome
        try:
            await asyncio.to_thread(self._batch.add, letter.letter_pdf, label=outcome.quote_ref)
        except Exception as exc:  # done and recorded: say so, never "failed"
            if not isinstance(exc, (DolirelanceError, OSError)):
                log.exception("adding %s to the print batch failed unexpectedly", outcome.quote_ref)
            reason = exc.message if isinstance(exc, DolirelanceError) else str(exc)
            return replace(outcome, local_copy_error=not_in_batch(reason, letter.letter_file_name))
        return outcome


async def _note_printed(rt: Runtime, outcomes: Sequence[FollowUpOutcome]) -> None:
    """The ledger notes the letters that are in a print file now; those it cannot note stay listed as
    "to print" (`dolirelance status`): printed twice at worst, never lost."""
    keys = [
        o.key
        for o in outcomes
        if o.key and o.channel is Channel.LETTER and o.ok and o.outcome != "closed" and not o.local_copy_error
    ]
    try:
        await asyncio.to_thread(rt.ledger.mark_printed, keys)
    except LedgerError as exc:
        log.error("the ledger could not note %d letter(s) as printed: %s", len(keys), exc.message)


async def _mass_one(
    rt: Runtime,
    item: MassItem,
    user: User,
    note: str,
    next_date: date | None,
    smtp: SmtpSender | None,
    keep_letter: KeepCopy,
    run_id: str,
    force: bool,
) -> FollowUpOutcome:
    quote = item.row.quote
    name = item.row.customer.name if item.row.customer else ""
    channel = item.channel or Channel.LETTER
    if item.problem:
        return FollowUpOutcome(
            quote.ref, name, item.model, channel, "refused" if item.refused else "failed", error=item.problem,
            error_code=item.problem_code,
        )
    attempt = Attempt(
        key=manual_key(),
        quote_id=quote.id,
        quote_ref=quote.ref,
        channel=channel,
        run_id=run_id,
        customer_name=name,
        model=item.model,
        user_id=user.id,
        note=note,
        next_date=next_date,
    )

    # the quote read again once claimed: still open, its contacts and history as they are now
    prepare = _preparer(rt, attempt, quote.id, user, force=force, customer=item.row.customer)

    def add_to_batch(prepared: PreparedFollowUp) -> None:
        if prepared.letter_pdf is not None:
            keep_letter(prepared)

    try:
        outcome = await deliver(
            rt, attempt, prepare, smtp=smtp if channel is Channel.EMAIL else None, keep_copy=add_to_batch
        )
    except (RecentFollowUp, FollowUpInProgress) as exc:  # done meanwhile by someone else: not a failure
        return FollowUpOutcome(quote.ref, name, item.model, channel, "refused", key=attempt.key, error=exc.message,
                               error_code=exc.code)
    except (DolirelanceError, OSError) as exc:  # nothing left; the claim is released
        log.warning("mass follow-up of %s failed: %s", quote.ref, exc)
        message = exc.message if isinstance(exc, DolirelanceError) else str(exc)
        code = exc.code if isinstance(exc, DolirelanceError) else None
        return FollowUpOutcome(quote.ref, name, item.model, channel, "failed", key=attempt.key, error=message,
                               error_code=code)
    if outcome.outcome == "uncertain":
        outcome = replace(outcome, error=f"{outcome.error} (the next follow-ups use a new SMTP connection)")
    return outcome
