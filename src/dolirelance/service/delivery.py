"""Doing a prepared follow-up: claim, send or file, record in Dolibarr; and recording later (retry)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time
from email.message import EmailMessage
from typing import Literal

from dolirelance.domain import (
    Channel,
    NewAgendaEvent,
    Quote,
    Recipient,
    choose_recipients,
)
from dolirelance.errors import (
    DolibarrError,
    LedgerError,
    MailError,
    MailUncertain,
)
from dolirelance.history import (
    CODE_BY_CHANNEL,
    CODE_TODO,
    QuoteHistory,
    compose_note,
)
from dolirelance.ledger import Entry, FollowUpState
from dolirelance.mail import SmtpSender
from dolirelance.render import RenderedFollowUp
from dolirelance.service.prepare import (
    PreparedFollowUp,
    addressee,
    sales_rep_of,
)
from dolirelance.service.reads import load_history
from dolirelance.service.runtime import Runtime

log = logging.getLogger(__name__)


CHANNEL_LABELS_FR = {Channel.EMAIL: "e-mail", Channel.LETTER: "courrier"}


SENT_STATES = {
    FollowUpState.CLAIMED,
    FollowUpState.SENDING,
    FollowUpState.SENT,
    FollowUpState.RECORDED,
    FollowUpState.UNCERTAIN,
    FollowUpState.RESOLVED_SENT,
}


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
            contact=addressee(quote, recipients),
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
