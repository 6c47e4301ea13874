"""The use cases. The only module that wires Dolibarr, rendering, letters, mail and the ledger.

Front ends (CLI, scheduler, web) call these functions and never talk to the parts directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from dolirelance.config import Settings
from dolirelance.dolibarr import DolibarrClient
from dolirelance.domain import (
    Channel,
    Company,
    Customer,
    EventFilter,
    NewAgendaEvent,
    Quote,
    QuoteContact,
    QuoteFilter,
    QuoteStatus,
    Recipient,
    User,
    choose_recipients,
    no_email_message,
)
from dolirelance.errors import (
    DolibarrAuthError,
    DolibarrError,
    DolibarrNotFound,
    DolirelanceError,
    FollowUpError,
    LedgerError,
    LetterError,
    MailError,
    MailUncertain,
    NoEmailAddress,
    QuoteNotOpen,
)
from dolirelance.history import (
    CODE_BY_CHANNEL,
    CODE_PREFIX,
    CODE_TODO,
    FollowUpRecord,
    QuoteHistory,
    TodoRecord,
    compose_note,
    group_by_quote,
)
from dolirelance.ledger import Entry, FollowUpState, Ledger, manual_key
from dolirelance.letter import LetterBatch, LetterComposer, batch_sort_key
from dolirelance.mail import SmtpSender, build_email
from dolirelance.policy import AutoRules, Decision, DecisionKind, PastFollowUp, SkipReason, decide, local_day, plan
from dolirelance.render import FollowUpContext, RenderedFollowUp, Renderer

log = logging.getLogger(__name__)

# Rights the acting user needs for any follow-up (Dolibarr still checks its own on every call).
REQUIRED_RIGHTS = {
    "propal.lire": "read quotes",
    "agenda.myactions.create": "create agenda events",
}
CHANNEL_LABELS_FR = {Channel.EMAIL: "e-mail", Channel.LETTER: "courrier"}
SENT_STATES = {
    FollowUpState.CLAIMED,
    FollowUpState.SENDING,
    FollowUpState.SENT,
    FollowUpState.RECORDED,
    FollowUpState.UNCERTAIN,
    FollowUpState.RESOLVED_SENT,
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """Everything a use case needs, built once at the edge (CLI, daemon, web)."""

    settings: Settings
    dolibarr: DolibarrClient
    ledger: Ledger
    renderer: Renderer
    now: Callable[[], datetime] = _utc_now
    smtp_factory: Callable[[], AbstractContextManager[SmtpSender]] | None = None
    _company: Company | None = None
    _users: dict[int, User] = field(default_factory=dict)
    _me: User | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.auto.timezone)

    def today(self) -> date:
        return self.now().astimezone(self.tz).date()

    def open_smtp(self) -> AbstractContextManager[SmtpSender]:
        if self.smtp_factory is not None:
            return self.smtp_factory()
        return SmtpSender(self.settings.smtp)

    async def company(self) -> Company:
        if self._company is None:
            configured = self.settings.company
            if configured is not None:
                self._company = Company(**configured.model_dump())
            else:
                self._company = await self.dolibarr.company()
        return self._company

    async def me(self) -> User:
        if self._me is None:
            self._me = await self.dolibarr.current_user()
            self._users[self._me.id] = self._me
        return self._me

    async def user(self, user_id: int) -> User:
        if user_id not in self._users:
            self._users[user_id] = await self.dolibarr.get_user(user_id)
        return self._users[user_id]

    def model_names(self) -> list[str]:
        return [model.name for model in self.settings.models]

    def level_of(self, model_name: str | None) -> int | None:
        names = self.model_names()
        return names.index(model_name) + 1 if model_name in names else None


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    api_key: str | None = None,
    transport: object | None = None,
    now: Callable[[], datetime] | None = None,
    smtp_factory: Callable[[], AbstractContextManager[SmtpSender]] | None = None,
    ledger: Ledger | None = None,
) -> AsyncIterator[Runtime]:
    """A runtime with a Dolibarr client; ``api_key`` overrides the configured one (web sessions)."""
    key = api_key if api_key is not None else settings.dolibarr.resolved_api_key().get_secret_value()
    client = DolibarrClient(
        settings.dolibarr.url,
        key,
        timeout=settings.dolibarr.timeout,
        verify_tls=settings.dolibarr.verify_tls,
        page_size=settings.dolibarr.page_size,
        max_concurrency=settings.dolibarr.max_concurrency,
        server_timezone=settings.dolibarr.timezone,
        opt_out_field=settings.followup.opt_out_field,
        transport=transport,  # type: ignore[arg-type]
    )
    own_ledger = ledger is None
    the_ledger = ledger or Ledger(settings.ledger.url, instance=settings.ledger.instance, clock=now or _utc_now)
    try:
        async with client:
            yield Runtime(
                settings=settings,
                dolibarr=client,
                ledger=the_ledger,
                renderer=Renderer(settings),
                now=now or _utc_now,
                smtp_factory=smtp_factory,
            )
    finally:
        if own_ledger:
            the_ledger.close()


# --------------------------------------------------------------------------- rights


async def require_rights(rt: Runtime, user: User, *, extra: dict[str, str] | None = None) -> None:
    """Stop at once, naming the missing right, before anything is read or written."""
    needed = dict(REQUIRED_RIGHTS)
    needed.update(extra or {})
    missing = [f"{right} ({why})" for right, why in needed.items() if not user.has_right(right)]
    if missing:
        raise DolibarrAuthError(
            f"the Dolibarr user {user.login} lacks the right(s): {', '.join(missing)}",
            remedy="give these permissions to the user in Dolibarr (Users & Groups > user > Permissions)",
        )


async def api_user(rt: Runtime) -> User:
    """The API key's user; when Dolibarr will not even say who it is, name the rights a follow-up needs."""
    try:
        return await rt.me()
    except DolibarrAuthError as exc:
        if exc.status_code != 403:
            raise
        needed = ", ".join(f"{right} ({why})" for right, why in REQUIRED_RIGHTS.items())
        raise DolibarrAuthError(
            f"{exc.message}; a follow-up also needs the right(s): {needed}",
            remedy=exc.remedy,
            status_code=exc.status_code,
        ) from None


# --------------------------------------------------------------------------- history


async def load_history(
    rt: Runtime,
    quote_ids: Sequence[int] | None = None,
    *,
    followups_only: bool = False,
    since: date | None = None,
) -> dict[int, QuoteHistory]:
    """Follow-ups and to-dos by quote, read with paged bulk queries on the AC_RELANCE events.

    ``followups_only`` leaves the to-dos out; ``since`` leaves out events before that day (a
    quote's follow-ups cannot be older than the quote itself).
    """
    codes = (CODE_BY_CHANNEL[Channel.EMAIL], CODE_BY_CHANNEL[Channel.LETTER]) if followups_only else ()
    start = datetime.combine(since, time(0, 0), tzinfo=rt.tz) if since is not None else None
    element_ids: tuple[int, ...] = ()
    if quote_ids is not None:
        ids = sorted(set(quote_ids))
        if not ids:
            return {}
        if len(ids) <= rt.settings.dolibarr.page_size:
            element_ids = tuple(ids)
    flt = EventFilter(
        code_prefix=None if codes else CODE_PREFIX,
        codes=codes,
        element_type="propal",
        element_ids=element_ids,
        start_from=start,
    )
    events = await rt.dolibarr.list_events(flt)
    grouped = group_by_quote(events)
    if quote_ids is not None:
        wanted = set(quote_ids)
        grouped = {qid: history for qid, history in grouped.items() if qid in wanted}
    return grouped


def next_model_name(rt: Runtime, last: FollowUpRecord | None) -> str:
    """The level after the last one the quote received (the first model if none; the last stays last)."""
    names = rt.model_names()
    if last is None:
        return names[0]
    level = rt.level_of(last.model) or last.level or 0
    return names[min(level, len(names) - 1)]


# --------------------------------------------------------------------------- quotes overview


@dataclass(frozen=True)
class QuoteRow:
    quote: Quote
    customer: Customer | None
    last: FollowUpRecord | None
    next_todo: TodoRecord | None
    next_model: str

    def last_level(self, rt: Runtime) -> int | None:
        if self.last is None:
            return None
        return rt.level_of(self.last.model) or self.last.level


async def customer_ids_of_sales_rep(rt: Runtime, login: str, customer_ids: Sequence[int]) -> set[int]:
    """Customers (among those given) whose sales representatives include the user ``login``."""
    me = await rt.me()  # one's own login needs no user.user.lire
    user = me if login == me.login else await rt.dolibarr.find_user_by_login(login)
    semaphore = asyncio.Semaphore(rt.settings.dolibarr.max_concurrency)

    async def represented(customer_id: int) -> int | None:
        async with semaphore:
            reps = await rt.dolibarr.sales_representatives(customer_id)
        return customer_id if any(rep.id == user.id for rep in reps) else None

    found = await asyncio.gather(*(represented(cid) for cid in sorted(set(customer_ids))))
    return {cid for cid in found if cid is not None}


async def quotes_overview(
    rt: Runtime,
    flt: QuoteFilter,
    *,
    sales_rep: str | None = None,
    due_only: bool = False,
) -> list[QuoteRow]:
    """Quotes with their customer, last follow-up and next follow-up date, in a bounded number of requests."""
    quotes = await rt.dolibarr.list_quotes(flt)
    if sales_rep:
        allowed = await customer_ids_of_sales_rep(rt, sales_rep, [q.customer_id for q in quotes])
        quotes = [q for q in quotes if q.customer_id in allowed]
    customers = await rt.dolibarr.list_customers({q.customer_id for q in quotes}) if quotes else {}
    histories = await load_history(rt, [q.id for q in quotes]) if quotes else {}
    today = rt.today()
    rows = []
    for quote in quotes:
        history = histories.get(quote.id, QuoteHistory())
        todo = history.next_todo
        if due_only and (todo is None or todo.due_on(rt.tz) > today):
            continue
        rows.append(
            QuoteRow(
                quote=quote,
                customer=customers.get(quote.customer_id),
                last=history.last,
                next_todo=todo,
                next_model=next_model_name(rt, history.last),
            )
        )
    return rows


# --------------------------------------------------------------------------- preparing a follow-up


@dataclass(frozen=True)
class PreparedFollowUp:
    """A follow-up ready to go: exactly what will be sent or printed, nothing done yet."""

    key: str
    quote: Quote
    customer: Customer
    contact: QuoteContact | None
    sender: User
    owner: User  # who the done event belongs to
    sales_rep: User  # who gets the next to-do
    model: str
    level: int
    channel: Channel
    note: str
    today: date
    next_date: date
    history: QuoteHistory
    rendered: RenderedFollowUp
    recipients: tuple[Recipient, ...]
    attachment_names: tuple[str, ...]
    email: EmailMessage | None
    letter_pdf: bytes | None
    letter_file_name: str | None
    automatic_step: int | None = None

    @property
    def message_id(self) -> str | None:
        return None if self.email is None else str(self.email["Message-ID"])

    @property
    def recipients_text(self) -> str:
        return ", ".join(r.email for r in self.recipients)


async def read_quote(rt: Runtime, quote_key: int | str) -> Quote:
    """A quote by id ("12") or by ref ("PR2611-0001"), with its contacts."""
    text = str(quote_key).strip()
    if text.isdigit():
        return await rt.dolibarr.get_quote(int(text))
    return await rt.dolibarr.get_quote_by_ref(text)


def ensure_open(quote: Quote, customer: Customer | None = None) -> None:
    if not quote.is_open:
        who = f" ({customer.name})" if customer else ""
        raise QuoteNotOpen(
            f"{quote.ref}{who} is {quote.status.label}: only open (validated, not signed or refused) "
            "quotes can be followed up"
        )


async def sales_rep_of(rt: Runtime, quote: Quote, fallback: User) -> User:
    """The customer's first sales representative, else the quote's author, else the configured default."""
    try:
        reps = await rt.dolibarr.sales_representatives(quote.customer_id)
    except DolibarrError as exc:
        log.debug("no sales representatives for customer %s: %s", quote.customer_id, exc)
        reps = []
    listed = {rep.id: rep for rep in reps}
    candidates = [rep.id for rep in reps]
    if quote.author_id:
        candidates.append(quote.author_id)
    for user_id in candidates:
        try:
            return await rt.user(user_id)
        except DolibarrError as exc:
            if user_id in listed:  # without user.user.lire: the representatives list already names them
                log.debug("cannot read user %s, using the representatives list: %s", user_id, exc)
                return listed[user_id]
            log.warning("cannot read user %s (the right user.user.lire may be missing): %s", user_id, exc)
    default_login = rt.settings.followup.default_sales_rep or rt.settings.auto.user
    if default_login:
        try:
            return await rt.dolibarr.find_user_by_login(default_login)
        except DolibarrError as exc:
            log.debug("cannot read the default sales rep %s: %s", default_login, exc)
    return fallback


async def quote_pdfs(rt: Runtime, quote: Quote) -> list[tuple[str, bytes]]:
    """The quote's main PDF (built with builddoc when missing) and, when configured, its other PDFs."""
    files: list[tuple[str, bytes]] = []
    main_name = f"{quote.ref}.pdf"
    main: bytes | None = None
    if quote.main_document:
        try:
            main = await rt.dolibarr.download_document(quote.main_document)
            main_name = quote.main_document.rsplit("/", 1)[-1]
        except DolibarrNotFound:
            main = None
    if main is None:
        main = await rt.dolibarr.build_document(quote)
    files.append((main_name, main))
    if rt.settings.followup.attach_other_pdfs:
        for document in await rt.dolibarr.list_documents(quote):
            if not document.is_pdf or document.name == main_name or document.name.startswith("relance-"):
                continue
            files.append((document.name, await rt.dolibarr.download_document(document.relative_path)))
    return files


def letter_file_name(quote: Quote, today: date, key: str) -> str:
    suffix = key.rsplit(":", 1)[-1][:8]
    return f"relance-{quote.ref}-{today.isoformat()}-{suffix}.pdf"


def _addressee(quote: Quote, recipients: Sequence[Recipient]) -> QuoteContact | None:
    for recipient in recipients:
        if recipient.contact_id is not None:
            for contact in quote.customer_contacts():
                if contact.contact_id == recipient.contact_id:
                    return contact
    active = [c for c in quote.customer_contacts() if c.active]
    return active[0] if active else None


async def prepare_followup(
    rt: Runtime,
    quote_key: int | str | Quote,
    *,
    channel: Channel,
    acting_user: User,
    model: str | None = None,
    note: str = "",
    next_date: date | None = None,
    key: str | None = None,
    automatic_step: int | None = None,
    history: QuoteHistory | None = None,
    customer: Customer | None = None,
) -> PreparedFollowUp:
    """Read what is needed and render the follow-up exactly as it will be sent. Sends nothing."""
    quote = quote_key if isinstance(quote_key, Quote) else await read_quote(rt, quote_key)
    if customer is None:
        customer = await rt.dolibarr.get_customer(quote.customer_id)
    ensure_open(quote, customer)
    today = rt.today()
    if next_date is None:
        next_date = today + timedelta(days=rt.settings.followup.next_delay)
    if next_date < today:
        raise FollowUpError(
            f"the next follow-up date {next_date.isoformat()} is in the past",
            remedy="give a date from today on, or a delay like --next '+15 days'",
        )
    if history is None:
        history = (await load_history(rt, [quote.id])).get(quote.id, QuoteHistory())
    model_name = model or next_model_name(rt, history.last)
    level = rt.level_of(model_name)
    if level is None:
        raise FollowUpError(
            f"unknown model {model_name!r}",
            remedy=f"use one of: {', '.join(rt.model_names())}",
        )
    recipients: tuple[Recipient, ...] = ()
    if channel is Channel.EMAIL:
        recipients = choose_recipients(quote, customer)
        if not recipients:
            raise NoEmailAddress(no_email_message(quote, customer))
    contact = _addressee(quote, recipients)
    sales_rep = await sales_rep_of(rt, quote, acting_user)
    sender = sales_rep if automatic_step is not None else acting_user
    company = await rt.company()
    last = history.last
    ctx = FollowUpContext(
        quote=quote,
        customer=customer,
        contact=contact,
        user=sender,
        company=company,
        model_name=model_name,
        level=level,
        previous_date=last.done_on(rt.tz) if last else None,
        next_date=next_date,
        today=today,
    )
    rendered = rt.renderer.render(model_name, ctx)
    attachments = await quote_pdfs(rt, quote)
    the_key = key or manual_key()
    email: EmailMessage | None = None
    letter_pdf: bytes | None = None
    file_name: str | None = None
    if channel is Channel.EMAIL:
        email = build_email(
            smtp=rt.settings.smtp,
            sender_user=sender,
            recipients=recipients,
            rendered=rendered,
            attachments=attachments,
        )
    else:
        letter_pdf = LetterComposer(rt.settings, company).compose(ctx, rendered, attachments=attachments)
        file_name = letter_file_name(quote, today, the_key)
    return PreparedFollowUp(
        key=the_key,
        quote=quote,
        customer=customer,
        contact=contact,
        sender=sender,
        owner=acting_user,
        sales_rep=sales_rep,
        model=model_name,
        level=level,
        channel=channel,
        note=note,
        today=today,
        next_date=next_date,
        history=history,
        rendered=rendered,
        recipients=recipients,
        attachment_names=tuple(name for name, _ in attachments),
        email=email,
        letter_pdf=letter_pdf,
        letter_file_name=file_name,
        automatic_step=automatic_step,
    )


# --------------------------------------------------------------------------- doing it


Outcome = Literal["recorded", "sent-not-recorded", "failed", "skipped"]


@dataclass(frozen=True)
class FollowUpOutcome:
    quote_ref: str
    customer_name: str
    model: str | None
    channel: Channel
    outcome: Outcome
    key: str | None = None
    recipients: str = ""
    message_id: str | None = None
    event_id: int | None = None
    todo_event_id: int | None = None
    file_name: str | None = None
    error: str | None = None
    step: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in ("recorded", "sent-not-recorded")


def _facts(prepared: PreparedFollowUp) -> dict[str, str | int | None]:
    return {
        "key": prepared.key,
        "model": prepared.model,
        "level": prepared.level,
        "channel": prepared.channel.value,
        "next": prepared.next_date.isoformat(),
        "contact": prepared.contact.contact_id if prepared.contact else None,
        "file": prepared.letter_file_name,
        "auto": 1 if prepared.automatic_step is not None else None,
        "step": prepared.automatic_step,
    }


async def _record_in_dolibarr(
    rt: Runtime, prepared: PreparedFollowUp, *, done_event_id: int | None = None
) -> tuple[int, int | None]:
    """The done event, the previous to-do closed, the next to-do. Returns (event id, to-do id).

    ``done_event_id``: the done event is already in Dolibarr (an earlier attempt died after it).
    """
    quote = prepared.quote
    now = rt.now()
    channel_label = CHANNEL_LABELS_FR[prepared.channel]
    label = f"Relance devis {quote.ref} ({prepared.model}, {channel_label})"
    event_id = done_event_id or await rt.dolibarr.create_event(
        NewAgendaEvent(
            type_code="AC_OTH_AUTO",
            code=CODE_BY_CHANNEL[prepared.channel],
            label=label,
            note=compose_note(prepared.note, _facts(prepared)),
            start=now,
            end=now,
            percentage=100,
            owner_id=prepared.owner.id,
            customer_id=quote.customer_id,
            contact_id=prepared.contact.contact_id if prepared.contact else None,
            element_type="propal",
            element_id=quote.id,
            email_from=rt.settings.smtp.sender if prepared.email is not None else None,
            email_to=prepared.recipients_text or None,
            email_subject=prepared.rendered.email_subject if prepared.email is not None else None,
            email_msgid=prepared.message_id,
        )
    )
    for todo in prepared.history.open_todos:
        await rt.dolibarr.update_event(todo.event_id, owner_id=todo.owner_id or prepared.owner.id, percentage=100)
    due = datetime.combine(prepared.next_date, time(9, 0), tzinfo=rt.tz)
    todo_id = await rt.dolibarr.create_event(
        NewAgendaEvent(
            type_code="AC_OTH",
            code=CODE_TODO,
            label=f"À relancer : devis {quote.ref} ({prepared.customer.name})",
            note=compose_note(
                f"Prochaine relance du devis {quote.ref} (dernière : {prepared.model}, {channel_label}).",
                {"key": prepared.key, "quote": quote.ref},
            ),
            start=due,
            end=due,
            percentage=0,
            owner_id=prepared.sales_rep.id,
            customer_id=quote.customer_id,
            contact_id=prepared.contact.contact_id if prepared.contact else None,
            element_type="propal",
            element_id=quote.id,
        )
    )
    return event_id, todo_id


def _outcome(prepared: PreparedFollowUp, outcome: Outcome, **extra: object) -> FollowUpOutcome:
    return FollowUpOutcome(
        quote_ref=prepared.quote.ref,
        customer_name=prepared.customer.name,
        model=prepared.model,
        channel=prepared.channel,
        outcome=outcome,
        key=prepared.key,
        recipients=prepared.recipients_text,
        message_id=prepared.message_id,
        file_name=prepared.letter_file_name,
        step=prepared.automatic_step,
        **extra,  # type: ignore[arg-type]
    )


async def execute_followup(
    rt: Runtime,
    prepared: PreparedFollowUp,
    *,
    smtp: SmtpSender | None,
    run_id: str,
    claimed: bool = False,
) -> FollowUpOutcome:
    """Send (e-mail) or file (letter) a prepared follow-up and record it in Dolibarr.

    Order: claim in the ledger → SMTP → ledger "sent" → Dolibarr. An e-mail that left is never
    sent again: if Dolibarr cannot be written it stays "sent, not recorded" and is recorded later.
    A letter is only kept when Dolibarr has its file and event.
    """
    ledger = rt.ledger
    if not claimed and not ledger.claim(
        prepared.key,
        quote_id=prepared.quote.id,
        quote_ref=prepared.quote.ref,
        step=prepared.automatic_step,
        model=prepared.model,
        channel=prepared.channel.value,
        run_id=run_id,
        note=prepared.note,
        user_id=prepared.owner.id,
        next_date=prepared.next_date,
    ):
        return _outcome(prepared, "skipped", error="already claimed by another run")
    if prepared.channel is Channel.EMAIL:
        assert prepared.email is not None and smtp is not None
        ledger.mark_sending(prepared.key, message_id=prepared.message_id, recipients=prepared.recipients_text)
        try:
            await asyncio.to_thread(smtp.send, prepared.email)
        except MailUncertain as exc:
            ledger.mark_uncertain(prepared.key, str(exc))
            log.error("follow-up %s of %s is UNCERTAIN: %s", prepared.key, prepared.quote.ref, exc.message)
            return _outcome(prepared, "failed", error=f"uncertain: {exc.message}; {exc.remedy}")
        except MailError as exc:
            ledger.mark_failed(prepared.key, str(exc))
            return _outcome(prepared, "failed", error=str(exc))
        ledger_ok = _after_handover(
            lambda: ledger.mark_sent(
                prepared.key, message_id=prepared.message_id or "", recipients=prepared.recipients_text
            ),
            prepared,
        )
    else:
        assert prepared.letter_pdf is not None and prepared.letter_file_name is not None
        ledger.mark_sending(prepared.key)
        try:
            await rt.dolibarr.upload_document(prepared.quote, prepared.letter_file_name, prepared.letter_pdf)
        except DolibarrError as exc:
            ledger.mark_failed(prepared.key, str(exc))
            return _outcome(prepared, "failed", error=f"the letter could not be filed in Dolibarr: {exc}")
        ledger_ok = _after_handover(lambda: ledger.mark_sent(prepared.key, message_id="", recipients=""), prepared)
    try:
        event_id, todo_id = await _record_in_dolibarr(rt, prepared)
    except DolibarrError as exc:
        log.warning("follow-up %s of %s done but not recorded in Dolibarr: %s", prepared.key, prepared.quote.ref, exc)
        if ledger_ok:
            reason = exc.message
            _after_handover(lambda: ledger.mark_record_failed(prepared.key, reason), prepared)
        return _outcome(
            prepared,
            "sent-not-recorded",
            error=f"done, but not recorded in Dolibarr yet ({exc.message}); `dolirelance retry` records it",
        )
    if ledger_ok:
        _after_handover(
            lambda: ledger.mark_recorded(
                prepared.key, event_id=event_id, todo_event_id=todo_id, file_name=prepared.letter_file_name
            ),
            prepared,
        )
    return _outcome(prepared, "recorded", event_id=event_id, todo_event_id=todo_id)


def _after_handover(write: Callable[[], object], prepared: PreparedFollowUp) -> bool:
    """A ledger write after the e-mail left (or the letter was filed).

    Its failure must not turn a follow-up that happened into "failed" (someone would do it again):
    the entry stays in its earlier state, which `dolirelance status` shows and a later run turns
    into UNCERTAIN for a person to settle.
    """
    try:
        write()
    except LedgerError as exc:
        log.error(
            "follow-up %s of %s was done but the ledger could not note it: %s",
            prepared.key,
            prepared.quote.ref,
            exc.message,
        )
        return False
    return True


IN_PROGRESS_STATES = {
    FollowUpState.CLAIMED,
    FollowUpState.SENDING,
    FollowUpState.SENT,
    FollowUpState.UNCERTAIN,
    FollowUpState.RESOLVED_SENT,
}


def ledger_problems(rt: Runtime, quote_ids: Sequence[int]) -> dict[int, str]:
    """Quotes with a follow-up being sent, uncertain or not recorded yet: another now could send twice."""
    rt.ledger.recover_abandoned()
    problems: dict[int, str] = {}
    for entry in rt.ledger.entries_for_quotes(quote_ids):
        if entry.state is FollowUpState.UNCERTAIN:
            problems[entry.quote_id] = (
                f"{entry.quote_ref}: an earlier follow-up ({entry.key}) may have been sent; check the mailbox, "
                f"then `dolirelance ledger resolve {entry.key} --sent|--not-sent`"
            )
        elif entry.state in (FollowUpState.SENT, FollowUpState.RESOLVED_SENT):
            problems[entry.quote_id] = (
                f"{entry.quote_ref}: a follow-up was sent but is not recorded in Dolibarr yet; "
                "run `dolirelance retry` first"
            )
        elif entry.state in IN_PROGRESS_STATES:
            problems[entry.quote_id] = f"{entry.quote_ref}: another follow-up of this quote is being sent right now"
    return problems


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


async def resolve_customer_ids(rt: Runtime, customer: str) -> tuple[int, ...]:
    if customer.strip().isdigit():
        return (int(customer),)
    found = await rt.dolibarr.find_customers(customer)
    if not found:
        raise FollowUpError(f"no customer matches {customer!r}", remedy="give the customer's id, name or code")
    return tuple(c.id for c in found)


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


# --------------------------------------------------------------------------- retry


async def retry_unrecorded(rt: Runtime) -> list[FollowUpOutcome]:
    """Record in Dolibarr the follow-ups that were sent but not recorded. Never sends anything."""
    outcomes = []
    for entry in rt.ledger.to_record():
        outcomes.append(await _record_entry(rt, entry))
    return outcomes


async def _record_entry(rt: Runtime, entry: Entry) -> FollowUpOutcome:
    channel = Channel(entry.channel)
    base = FollowUpOutcome(
        entry.quote_ref,
        "",
        entry.model,
        channel,
        "sent-not-recorded",
        key=entry.key,
        recipients=entry.recipients or "",
        message_id=entry.message_id,
        step=entry.step,
    )
    if not rt.ledger.take_for_recording(entry.key):  # another process is recording it right now
        return replace(base, outcome="skipped", error="being recorded by another process")
    try:
        quote = await rt.dolibarr.get_quote(entry.quote_id)
        history = (await load_history(rt, [quote.id])).get(quote.id, QuoteHistory())
        existing = next((r for r in history.followups if r.key == entry.key), None)
        todo_done = next((t for t in history.todos if t.key == entry.key), None)
        if existing is not None and todo_done is not None:  # an earlier attempt died before the ledger knew
            rt.ledger.mark_recorded(
                entry.key, event_id=existing.event_id, todo_event_id=todo_done.event_id, file_name=entry.file_name
            )
            return FollowUpOutcome(
                entry.quote_ref,
                "",
                entry.model,
                channel,
                "recorded",
                key=entry.key,
                event_id=existing.event_id,
                step=entry.step,
            )
        customer = await rt.dolibarr.get_customer(quote.customer_id)
        owner = await rt.user(entry.user_id) if entry.user_id else await rt.me()
        sales_rep = await sales_rep_of(rt, quote, owner)
        recipients = choose_recipients(quote, customer) if channel is Channel.EMAIL else ()
        model = entry.model or rt.model_names()[0]
        today = rt.today()
        file_name = entry.file_name
        if channel is Channel.LETTER and file_name is None:  # the ledger learns it only once recorded
            file_name = await _filed_letter_name(rt, quote, entry.key)
        sent_email: EmailMessage | None = None
        if channel is Channel.EMAIL and entry.message_id:  # so the event keeps the mail's Message-ID
            sent_email = EmailMessage()
            sent_email["Message-ID"] = entry.message_id
        prepared = PreparedFollowUp(
            key=entry.key,
            quote=quote,
            customer=customer,
            contact=_addressee(quote, recipients),
            sender=owner,
            owner=owner,
            sales_rep=sales_rep,
            model=model,
            level=rt.level_of(model) or 1,
            channel=channel,
            note=entry.note or "",
            today=today,
            next_date=entry.next_date or today,
            history=history,
            rendered=RenderedFollowUp(
                model_name=model,
                lang="",
                email_subject="",
                email_text="",
                email_html=None,
                letter_subject="",
                letter_text="",
            ),
            recipients=tuple(
                Recipient(e.strip(), "", "ledger") for e in (entry.recipients or "").split(",") if e.strip()
            ),
            attachment_names=(),
            email=sent_email,
            letter_pdf=None,
            letter_file_name=file_name,
            automatic_step=entry.step,
        )
        event_id, todo_id = await _record_in_dolibarr(
            rt, prepared, done_event_id=existing.event_id if existing is not None else None
        )
    except DolibarrError as exc:
        rt.ledger.mark_record_failed(entry.key, exc.message)
        return FollowUpOutcome(
            entry.quote_ref,
            "",
            entry.model,
            channel,
            "sent-not-recorded",
            key=entry.key,
            error=exc.message,
            step=entry.step,
        )
    rt.ledger.mark_recorded(entry.key, event_id=event_id, todo_event_id=todo_id, file_name=file_name)
    return FollowUpOutcome(
        base.quote_ref,
        customer.name,
        entry.model,
        channel,
        "recorded",
        key=entry.key,
        recipients=base.recipients,
        message_id=entry.message_id,
        event_id=event_id,
        todo_event_id=todo_id,
        step=entry.step,
    )


async def _filed_letter_name(rt: Runtime, quote: Quote, key: str) -> str | None:
    """The letter a follow-up filed in the quote's documents (named by :func:`letter_file_name`)."""
    suffix = key.rsplit(":", 1)[-1][:8]
    for document in await rt.dolibarr.list_documents(quote):
        if document.name.startswith(f"relance-{quote.ref}-") and document.name.endswith(f"-{suffix}.pdf"):
            return document.name
    return None


# --------------------------------------------------------------------------- history views


@dataclass(frozen=True)
class HistoryLine:
    record: FollowUpRecord
    quote_ref: str
    customer_name: str
    user_name: str
    quote_open: bool


async def history_view(
    rt: Runtime,
    *,
    quote: str | None = None,
    customer: str | None = None,
    open_only: bool = False,
) -> list[HistoryLine]:
    """Follow-ups of one quote, of one customer (all its quotes, closed ones too), or of all open quotes."""
    flt = EventFilter(code_prefix=CODE_PREFIX, element_type="propal")
    quotes: dict[int, Quote] = {}
    if quote is not None:
        the_quote = await read_quote(rt, quote)
        quotes[the_quote.id] = the_quote
        flt = EventFilter(code_prefix=CODE_PREFIX, element_type="propal", element_ids=(the_quote.id,))
    elif customer is not None:
        ids = await resolve_customer_ids(rt, customer)
        for q in await rt.dolibarr.list_quotes(QuoteFilter(statuses=tuple(QuoteStatus), customer_ids=ids)):
            quotes[q.id] = q
        if not quotes:
            return []
        # every customer the text matches (not only the first): their quotes' events, in chunked bulk reads
        flt = EventFilter(code_prefix=CODE_PREFIX, element_type="propal", element_ids=tuple(sorted(quotes)))
    elif open_only:
        for q in await rt.dolibarr.list_quotes(QuoteFilter()):
            quotes[q.id] = q
    else:
        raise FollowUpError("say which history", remedy="use --quote REF, --customer ID-or-name or --open")
    events = await rt.dolibarr.list_events(flt)
    records = [r for h in group_by_quote(events).values() for r in h.followups]
    if open_only or customer is not None:
        records = [r for r in records if r.quote_id in quotes]
    missing_quotes = {r.quote_id for r in records if r.quote_id is not None and r.quote_id not in quotes}
    if missing_quotes:
        for q in await rt.dolibarr.list_quotes(QuoteFilter(statuses=tuple(QuoteStatus))):
            if q.id in missing_quotes:
                quotes[q.id] = q
    customers = await rt.dolibarr.list_customers({q.customer_id for q in quotes.values()}) if quotes else {}
    lines = []
    for record in sorted(records, key=lambda r: (r.done_at, r.event_id), reverse=True):
        quote_of_record = quotes.get(record.quote_id or -1)
        cust = customers.get(quote_of_record.customer_id) if quote_of_record else None
        user_name = ""
        if record.owner_id:
            try:
                user_name = (await rt.user(record.owner_id)).full_name
            except DolibarrError:
                user_name = f"#{record.owner_id}"
        lines.append(
            HistoryLine(
                record=record,
                quote_ref=quote_of_record.ref if quote_of_record else f"#{record.quote_id}",
                customer_name=cust.name if cust else "",
                user_name=user_name,
                quote_open=bool(quote_of_record and quote_of_record.is_open),
            )
        )
    return lines


@dataclass(frozen=True)
class UpcomingLine:
    todo: TodoRecord
    quote: Quote | None
    customer_name: str
    due_on: date
    overdue: bool


async def upcoming(rt: Runtime, *, login: str | None = None, days: int = 30) -> list[UpcomingLine]:
    """The next follow-ups to do (open AC_RELANCE_TODO events), the user's own by default."""
    me = await rt.me()  # one's own login needs no user.user.lire
    user = await rt.dolibarr.find_user_by_login(login) if login and login != me.login else me
    today = rt.today()
    horizon = today + timedelta(days=days)
    events = await rt.dolibarr.list_events(
        EventFilter(codes=(CODE_TODO,), element_type="propal", owner_ids=(user.id,), percentage=0)
    )
    todos = [t for h in group_by_quote(events).values() for t in h.open_todos]
    todos = [t for t in todos if t.due_on(rt.tz) <= horizon]
    quotes = {q.id: q for q in await rt.dolibarr.list_quotes(QuoteFilter())} if todos else {}
    customers = await rt.dolibarr.list_customers({q.customer_id for q in quotes.values()}) if quotes else {}
    lines = []
    for todo in sorted(todos, key=lambda t: t.due_at):
        the_quote = quotes.get(todo.quote_id or -1)
        if the_quote is None:  # the quote is no longer open: nothing to do
            continue
        cust = customers.get(the_quote.customer_id)
        due = todo.due_on(rt.tz)
        lines.append(UpcomingLine(todo, the_quote, cust.name if cust else "", due, due < today))
    return lines


# --------------------------------------------------------------------------- automatic follow-ups


@dataclass
class AutoReport:
    today: date
    dry_run: bool
    decisions: list[Decision]
    outcomes: list[FollowUpOutcome] = field(default_factory=list)
    recorded_later: list[FollowUpOutcome] = field(default_factory=list)
    uncertain: list[Entry] = field(default_factory=list)
    newly_uncertain: list[Entry] = field(default_factory=list)
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def due(self) -> list[Decision]:
        return [d for d in self.decisions if d.kind is DecisionKind.DUE]

    @property
    def sent(self) -> list[FollowUpOutcome]:
        return [o for o in self.outcomes if o.ok]

    @property
    def failed(self) -> list[FollowUpOutcome]:
        return [o for o in self.outcomes if o.outcome == "failed"]

    @property
    def ok(self) -> bool:
        """False when something failed or needs a person (uncertain, still not recorded)."""
        unrecorded = [o for o in [*self.recorded_later, *self.outcomes] if o.outcome == "sent-not-recorded"]
        return self.error is None and not self.failed and not self.newly_uncertain and not unrecorded

    def skipped_by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for decision in self.decisions:
            if decision.kind is DecisionKind.SKIPPED and decision.reason is not None:
                counts[decision.reason.value] = counts.get(decision.reason.value, 0) + 1
        return counts


def auto_rules(rt: Runtime) -> AutoRules:
    return AutoRules.from_settings(rt.settings.auto, rt.model_names())


def _past_followups(
    rt: Runtime, quote_ids: Sequence[int], histories: dict[int, QuoteHistory]
) -> dict[int, list[PastFollowUp]]:
    past: dict[int, list[PastFollowUp]] = {}
    keys_seen: set[str] = set()
    for quote_id, history in histories.items():
        for record in history.followups:
            if record.key:
                keys_seen.add(record.key)
            past.setdefault(quote_id, []).append(
                PastFollowUp(
                    quote_id=quote_id,
                    done_on=record.done_on(rt.tz),
                    model=record.model,
                    channel=record.channel.value,
                    automatic=record.automatic,
                    step=record.step,
                    source="dolibarr",
                )
            )
    for entry in rt.ledger.entries_for_quotes(quote_ids):
        if entry.state not in SENT_STATES or entry.key in keys_seen:
            continue
        past.setdefault(entry.quote_id, []).append(
            PastFollowUp(
                quote_id=entry.quote_id,
                done_on=local_day(entry.sent_at or entry.created_at, rt.tz),
                model=entry.model,
                channel=entry.channel,
                automatic=entry.step is not None,
                step=entry.step,
                source="ledger",
            )
        )
    return past


def candidate_filter(rt: Runtime, rules: AutoRules, today: date) -> QuoteFilter:
    """Only quotes whose end of validity puts some step inside its window today (server-side filter)."""
    if not rules.steps:
        return QuoteFilter()
    first = min(step.offset_days for step in rules.steps)
    last = max(step.offset_days for step in rules.steps)
    return QuoteFilter(
        end_of_validity_from=today - timedelta(days=last + rules.last_step_window_days),
        end_of_validity_before=today - timedelta(days=first) + timedelta(days=1),
    )


async def _recipients_of(rt: Runtime, quote_id: int) -> tuple[Quote, Customer, tuple[Recipient, ...]]:
    quote = await rt.dolibarr.get_quote(quote_id)
    customer = await rt.dolibarr.get_customer(quote.customer_id)
    return quote, customer, choose_recipients(quote, customer)


async def explain(
    rt: Runtime, quote_key: int | str, *, on: date | None = None
) -> tuple[Decision, Quote, Customer, tuple[Recipient, ...]]:
    """The automatic decision for one quote on a day, exactly as the run makes it."""
    quote, customer, recipients = await _recipients_of(
        rt, int(quote_key) if str(quote_key).isdigit() else (await read_quote(rt, quote_key)).id
    )
    histories = await load_history(rt, [quote.id])
    past = _past_followups(rt, [quote.id], histories).get(quote.id, [])
    decision = decide(quote, past, auto_rules(rt), on or rt.today(), has_email=bool(recipients))
    return decision, quote, customer, recipients


async def run_auto(
    rt: Runtime,
    *,
    dry_run: bool = False,
    on: date | None = None,
    progress: Callable[[FollowUpOutcome], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> AutoReport:
    """One automatic run: plan every open quote, e-mail the due ones, record them, report."""
    today = on or rt.today()
    report = AutoReport(today=today, dry_run=dry_run, decisions=[], started_at=rt.now())
    try:
        if not dry_run:
            report.newly_uncertain = rt.ledger.recover_abandoned()
            for entry in report.newly_uncertain:
                log.error(
                    "follow-up %s of %s is UNCERTAIN (the process died while sending); "
                    "check the mailbox, then `dolirelance ledger resolve %s --sent|--not-sent`",
                    entry.key,
                    entry.quote_ref,
                    entry.key,
                )
            report.recorded_later = await retry_unrecorded(rt)
        rules = auto_rules(rt)
        quotes = await rt.dolibarr.list_quotes(candidate_filter(rt, rules, today))
        ids = [q.id for q in quotes]
        issued = [q.issue_date for q in quotes if q.issue_date is not None]
        since = min(issued) if issued and len(issued) == len(quotes) else None
        histories = await load_history(rt, ids, followups_only=True, since=since) if ids else {}
        past = _past_followups(rt, ids, histories)
        report.decisions = plan(quotes, past, rules, today)
        due = sorted((d for d in report.decisions if d.kind is DecisionKind.DUE), key=lambda d: d.quote_ref)
        me = await rt.me() if due else None
        if me is not None:
            await require_rights(rt, me)
    except DolirelanceError as exc:
        # Nothing was claimed yet: the run stops here, says why, and the next run does the work.
        report.error = exc.message + (f" ({exc.remedy})" if exc.remedy else "")
        log.error("automatic run for %s failed before sending anything: %s", today.isoformat(), report.error)
        with contextlib.suppress(DolirelanceError):
            report.uncertain = rt.ledger.uncertain()
        report.finished_at = rt.now()
        return report
    if not due or me is None:
        report.uncertain = rt.ledger.uncertain()
        report.finished_at = rt.now()
        return report
    run_id = f"auto-{uuid.uuid4().hex[:8]}"
    by_id = {q.id: q for q in quotes}
    smtp_cm: AbstractContextManager[SmtpSender | None] = nullcontext(None) if dry_run else rt.open_smtp()
    with smtp_cm as smtp:
        for decision in due:
            if should_stop():
                break
            final = await _auto_one(
                rt, decision, by_id[decision.quote_id], rules, today, me, smtp, run_id, dry_run, report
            )
            report.decisions = [final if d.quote_id == final.quote_id else d for d in report.decisions]
    report.uncertain = rt.ledger.uncertain()
    report.finished_at = rt.now()
    for outcome in report.outcomes:
        if progress is not None:
            progress(outcome)
    return report


async def _auto_one(
    rt: Runtime,
    decision: Decision,
    listed: Quote,
    rules: AutoRules,
    today: date,
    me: User,
    smtp: SmtpSender | None,
    run_id: str,
    dry_run: bool,
    report: AutoReport,
) -> Decision:
    assert decision.step is not None
    key = rt.ledger.auto_key(listed.id, decision.step.number)
    step_model = decision.step.model
    if not dry_run and not rt.ledger.claim(
        key,
        quote_id=listed.id,
        quote_ref=listed.ref,
        step=decision.step.number,
        model=step_model,
        channel=Channel.EMAIL.value,
        run_id=run_id,
        user_id=me.id,
        next_date=today + timedelta(days=rt.settings.followup.next_delay),
    ):
        skipped = FollowUpOutcome(
            listed.ref,
            "",
            step_model,
            Channel.EMAIL,
            "skipped",
            key=key,
            error="claimed by another run",
            step=decision.step.number,
        )
        report.outcomes.append(skipped)
        _log_auto_outcome(skipped)
        return decision
    try:
        # Read again just before sending: still open, opt-out unset, no follow-up since the plan.
        quote, customer, recipients = await _recipients_of(rt, listed.id)
        history = (await load_history(rt, [quote.id])).get(quote.id, QuoteHistory())
        past = _past_followups(rt, [quote.id], {quote.id: history}).get(quote.id, [])
        if not dry_run:  # our own fresh claim must not count as "already done"
            past = [p for p in past if not (p.source == "ledger" and p.step == decision.step.number)]
        final = decide(quote, past, rules, today, has_email=bool(recipients))
        if final.kind is not DecisionKind.DUE or final.step is None or final.step.number != decision.step.number:
            if not dry_run:
                rt.ledger.mark_failed(key, f"no longer due when re-read: {final.summary}")
            return final
        if dry_run:
            return final
        prepared = await prepare_followup(
            rt,
            quote,
            channel=Channel.EMAIL,
            acting_user=me,
            model=step_model,
            key=key,
            automatic_step=decision.step.number,
            history=history,
            customer=customer,
        )
        outcome = await execute_followup(rt, prepared, smtp=smtp, run_id=run_id, claimed=True)
    except (DolirelanceError, OSError) as exc:
        message = getattr(exc, "message", str(exc))
        if not dry_run:
            entry = rt.ledger.get(key)
            if entry is not None and entry.state is FollowUpState.CLAIMED:
                rt.ledger.mark_failed(key, message)
        outcome = FollowUpOutcome(
            listed.ref, "", step_model, Channel.EMAIL, "failed", key=key, error=message, step=decision.step.number
        )
    report.outcomes.append(outcome)
    _log_auto_outcome(outcome)
    return decision


def _log_auto_outcome(outcome: FollowUpOutcome) -> None:
    """The one structured log line of an automatic follow-up."""
    level = logging.WARNING if outcome.outcome in ("failed", "sent-not-recorded") else logging.INFO
    log.log(
        level,
        "followup key=%s ref=%s step=%s model=%r outcome=%s recipients=%r event=%s%s",
        outcome.key,
        outcome.quote_ref,
        outcome.step,
        outcome.model,
        outcome.outcome,
        outcome.recipients,
        outcome.event_id,
        f" error={outcome.error!r}" if outcome.error else "",
    )


__all__ = [
    "AutoReport",
    "FollowUpOutcome",
    "HistoryLine",
    "MassItem",
    "MassReport",
    "MassSelection",
    "PreparedFollowUp",
    "QuoteRow",
    "Runtime",
    "SkipReason",
    "UpcomingLine",
    "explain",
    "follow_up",
    "history_view",
    "mass_follow_up",
    "open_runtime",
    "plan_mass",
    "prepare_followup",
    "quotes_overview",
    "retry_unrecorded",
    "run_auto",
    "upcoming",
]
