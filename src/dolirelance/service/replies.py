"""Replies and bounces: read the replies mailbox once, sort each new message, write it back into Dolibarr.

Each message goes through this protocol (ledger: :class:`dolirelance.ledger.MailboxLedger`)::

    new UID ─► claim (UIDVALIDITY, UID) ──held by a live run / finished──► skipped
        │ won: CLAIMED
        ▼
    read (BODY.PEEK) ──cannot be read──► UNREADABLE (left in place, reported)
        ▼ sorted: reply / permanent bounce / auto-answer or temporary bounce / other
        │   other ─► IGNORED (left alone: not flagged, not moved)
        ▼ reply: .eml uploaded to the quote's files (same name: overwritten), AC_RELANCE_REPLY event,
        │        open follow-up to-dos closed, to-do "Répondre à …" for the sales person
        │ bounce: AC_RELANCE_BOUNCE event, to-do "Corriger l'adresse …" for the sales person
        │ auto-answer, temporary bounce: nothing written (noted in the ledger and the report)
        ▼
    RECORDED (Dolibarr holds it) ─► flagged or moved in the mailbox ─► DONE

A run that dies anywhere leaves the message CLAIMED (its lease then expires) or RECORDED. The next
run takes a CLAIMED message over and first reads what Dolibarr already has for it: events and to-dos
carry the message's key in their facts line, so none is written twice. A RECORDED message is only
flagged or moved.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from dolirelance.config import ImapSettings
from dolirelance.domain import NewAgendaEvent, Quote, QuoteContact
from dolirelance.errors import DolibarrError, LedgerError, MailboxError
from dolirelance.history import (
    CODE_BOUNCE,
    CODE_REPLY,
    CODE_TODO,
    QuoteHistory,
    compose_bounce_text,
    compose_note,
    compose_reply_text,
)
from dolirelance.imap import RepliesMailbox, mailbox_name
from dolirelance.inbound import FailedRecipient, InboundMessage, UnreadableMessage, read_message
from dolirelance.ledger import FINISHED_MESSAGE_STATES, Entry, MailboxLedger, MessageState
from dolirelance.service.agenda import TYPE_DONE, TYPE_PLANNED, close_todos, create_event, todo_start
from dolirelance.service.prepare import sales_rep_of
from dolirelance.service.reads import load_history
from dolirelance.service.runtime import Runtime

log = logging.getLogger(__name__)

Kind = Literal["reply", "bounce", "temporary-bounce", "auto-answer", "other", "unreadable"]
# recorded: Dolibarr holds it; noted: nothing to write (auto-answer, temporary bounce); ignored: not ours,
# left alone; unreadable: left in place; failed: Dolibarr or the mailbox refused, the next run goes on.
Outcome = Literal["recorded", "noted", "ignored", "unreadable", "failed"]

NO_IMAP_SECTION = "no [imap] section in dolirelance.toml: the replies mailbox is not configured"
IMAP_REMEDY = "add an [imap] section (host, username, password_env, folder); see docs/replies.md"


@dataclass(frozen=True)
class MessageOutcome:
    uid: int
    kind: Kind
    outcome: Outcome
    sender: str = ""
    subject: str = ""
    quote_ref: str | None = None
    address: str | None = None  # the address that bounced
    event_id: int | None = None
    todo_event_id: int | None = None
    detail: str = ""  # the server's reason, why it is an auto-answer, why it was left alone
    error: str | None = None


@dataclass
class RepliesReport:
    mailbox: str
    started_at: datetime
    finished_at: datetime | None = None
    messages: list[MessageOutcome] = field(default_factory=list)
    flagged_later: int = 0  # recorded by an earlier run that died before flagging them
    error: str | None = None

    def of(self, *outcomes: Outcome) -> list[MessageOutcome]:
        return [m for m in self.messages if m.outcome in outcomes]

    @property
    def ok(self) -> bool:
        """False when the mailbox could not be read, or a message failed or could not be read."""
        return self.error is None and not self.of("failed", "unreadable")


def message_key(mailbox: str, uidvalidity: int, uid: int) -> str:
    """The key a message's events carry in their facts line (the mailbox named by a short digest)."""
    digest = hashlib.sha256(mailbox.encode("utf-8")).hexdigest()[:8]
    return f"mail:{digest}:{uidvalidity}:{uid}"


def eml_file_name(quote: Quote, uidvalidity: int, uid: int) -> str:
    return f"reponse-{quote.ref}-{uidvalidity}-{uid}.eml"


async def read_replies(rt: Runtime, *, should_stop: Callable[[], bool] = lambda: False) -> RepliesReport:
    """Read the replies mailbox once: every new message sorted and recorded (see the module docstring)."""
    settings = rt.settings.imap
    if settings is None:
        raise MailboxError(NO_IMAP_SECTION, remedy=IMAP_REMEDY)
    name = mailbox_name(settings)
    report = RepliesReport(mailbox=name, started_at=rt.now())
    messages = MailboxLedger(rt.ledger, name)
    mailbox = RepliesMailbox(settings)
    try:
        await asyncio.to_thread(mailbox.__enter__)
        folder = await asyncio.to_thread(mailbox.new_messages)
        known = await asyncio.to_thread(messages.known, folder.uidvalidity, folder.uids)
        for uid in folder.uids:
            if should_stop():
                break
            row = known.get(uid)
            if row is not None and row.state in FINISHED_MESSAGE_STATES:
                continue
            if row is not None and row.state is MessageState.RECORDED:  # an earlier run died before flagging
                await _mark_processed(mailbox, messages, folder.uidvalidity, uid)
                report.flagged_later += 1
                continue
            outcome = await _process(rt, mailbox, messages, folder.uidvalidity, uid)
            if outcome is not None:
                report.messages.append(outcome)
                _log_outcome(outcome)
    except (MailboxError, LedgerError) as exc:
        report.error = exc.message + (f" ({exc.remedy})" if exc.remedy else "")
        log.error("reading the replies mailbox %s stopped: %s", name, report.error)
    finally:
        await asyncio.to_thread(mailbox.__exit__, None, None, None)
    report.finished_at = rt.now()
    return report


async def _mark_processed(mailbox: RepliesMailbox, messages: MailboxLedger, uidvalidity: int, uid: int) -> None:
    await asyncio.to_thread(mailbox.mark_processed, uid)
    await asyncio.to_thread(messages.mark, uidvalidity, uid, MessageState.DONE)


async def _process(
    rt: Runtime, mailbox: RepliesMailbox, messages: MailboxLedger, uidvalidity: int, uid: int
) -> MessageOutcome | None:
    claimed = await asyncio.to_thread(messages.claim_message, uidvalidity, uid)
    if claimed is None:  # another run holds it right now
        return None
    raw = await asyncio.to_thread(mailbox.read, uid)
    if raw is None:  # deleted meanwhile
        await asyncio.to_thread(messages.mark, uidvalidity, uid, MessageState.IGNORED, error="gone from the mailbox")
        return None
    try:
        inbound = read_message(raw)
    except UnreadableMessage as exc:
        await asyncio.to_thread(messages.mark, uidvalidity, uid, MessageState.UNREADABLE, kind="unreadable",
                                error=exc.message)  # fmt: skip
        return MessageOutcome(uid, "unreadable", "unreadable", error=f"{exc.message}; left in place in the mailbox")
    await asyncio.to_thread(
        messages.note,
        uidvalidity,
        uid,
        message_id=(inbound.message_id or "")[:998] or None,
        sender=inbound.sender[:320],
        subject=inbound.subject,
        received_at=inbound.sent_at,
    )
    key = message_key(messages.mailbox, uidvalidity, uid)
    base = MessageOutcome(uid, "other", "ignored", sender=inbound.sender, subject=inbound.subject)
    try:
        outcome = await _sort_and_record(rt, inbound, raw, key, uidvalidity, uid, messages, base)
    except Exception as exc:  # one message's trouble never stops the others; a later run goes on
        if isinstance(exc, DolibarrError):
            reason = exc.message
            log.warning("message %s of the replies mailbox not recorded yet: %s", uid, reason)
        else:
            reason = f"unexpected {type(exc).__name__}: {exc}"
            log.exception("message %s of the replies mailbox: %s", uid, reason)
        # the claim is let go at once: the next reading takes it over and finds what Dolibarr already has
        await asyncio.to_thread(messages.note, uidvalidity, uid, error=reason[:2000], lease_until=None)
        return _with(base, outcome="failed", error=f"{reason}; a later run records it")
    if outcome.outcome == "ignored":
        await asyncio.to_thread(messages.mark, uidvalidity, uid, MessageState.IGNORED, kind=outcome.kind,
                                detail=outcome.detail or None)  # fmt: skip
        return outcome
    await asyncio.to_thread(
        messages.mark,
        uidvalidity,
        uid,
        MessageState.RECORDED,
        kind=outcome.kind,
        address=outcome.address,
        detail=outcome.detail or None,
        event_id=outcome.event_id,
        todo_event_id=outcome.todo_event_id,
        error=None,
    )
    try:
        await _mark_processed(mailbox, messages, uidvalidity, uid)
    except MailboxError as exc:  # Dolibarr has it: the next run only flags or moves it
        log.warning("message %s is recorded but not marked in the mailbox: %s", uid, exc.message)
    return outcome


async def _sort_and_record(
    rt: Runtime,
    inbound: InboundMessage,
    raw: bytes,
    key: str,
    uidvalidity: int,
    uid: int,
    messages: MailboxLedger,
    base: MessageOutcome,
) -> MessageOutcome:
    since = rt.now() - timedelta(days=_imap(rt).match_days)
    if inbound.is_bounce:
        return await _bounce(rt, inbound, key, since, base)
    followup = await asyncio.to_thread(_replied_followup, rt, inbound, since)
    if followup is None:
        return _with(base, detail="not an answer to a follow-up")
    if inbound.auto_answer is not None:
        return _with(base, kind="auto-answer", outcome="noted", quote_ref=followup.quote_ref,
                     detail=f"automatic answer ({inbound.auto_answer}): nothing stops")  # fmt: skip
    return await _record_reply(rt, inbound, raw, key, uidvalidity, uid, followup, messages, base)


def _replied_followup(rt: Runtime, inbound: InboundMessage, since: datetime) -> Entry | None:
    """The follow-up a message answers: by In-Reply-To/References, else by sender and quote ref in the subject."""
    if inbound.referenced_ids:
        by_id = rt.ledger.by_message_ids(inbound.referenced_ids)
        if by_id:
            order = {message_id: rank for rank, message_id in enumerate(inbound.referenced_ids)}
            return min(by_id, key=lambda entry: order.get(entry.message_id or "", len(order)))
    subject = inbound.subject.casefold()
    for entry in rt.ledger.sent_to(inbound.sender, since):
        if entry.quote_ref.casefold() in subject:
            return entry
    return None


def _bounced_followup(rt: Runtime, inbound: InboundMessage, failure: FailedRecipient, since: datetime) -> Entry | None:
    """The follow-up a bounce returns: by the returned Message-ID, else the latest one sent to the address."""
    ids = (*inbound.bounced_message_ids, *inbound.referenced_ids)
    for entry in rt.ledger.by_message_ids(ids):
        if failure.address in (part.strip().lower() for part in (entry.recipients or "").split(",")):
            return entry
    sent = rt.ledger.sent_to(failure.address, since)
    return sent[0] if sent else None


async def _bounce(
    rt: Runtime, inbound: InboundMessage, key: str, since: datetime, base: MessageOutcome
) -> MessageOutcome:
    matched: list[tuple[FailedRecipient, Entry]] = []
    for failure in inbound.failures:
        entry = await asyncio.to_thread(_bounced_followup, rt, inbound, failure, since)
        if entry is not None:
            matched.append((failure, entry))
    if not matched:
        return _with(base, kind="bounce", detail="a bounce, but of no follow-up of ours")
    permanent = [(failure, entry) for failure, entry in matched if failure.permanent]
    if not permanent:
        failure, entry = matched[0]
        return _with(
            base,
            kind="temporary-bounce",
            outcome="noted",
            quote_ref=entry.quote_ref,
            address=failure.address,
            detail=f"temporary failure, the server still tries: {failure.reason}",
        )
    # One bounce event per message: the first address of ours that failed for good (a follow-up has one).
    failure, entry = permanent[0]
    return await _record_bounce(rt, inbound, key, failure, entry, base)


# -- writing to Dolibarr -------------------------------------------------------------------------


@dataclass(frozen=True)
class _QuoteContext:
    quote: Quote
    history: QuoteHistory
    customer_name: str
    contact: QuoteContact | None
    owner_id: int
    sales_rep_id: int


async def _context(rt: Runtime, entry: Entry, address: str) -> _QuoteContext:
    quote = await rt.dolibarr.get_quote(entry.quote_id)
    history = (await load_history(rt, [quote.id])).get(quote.id, QuoteHistory())
    customer = await rt.dolibarr.get_customer(quote.customer_id)
    me = await rt.me()
    sales_rep = await sales_rep_of(rt, quote, me)
    contact = next(
        (c for c in quote.contacts if c.source == "external" and (c.email or "").strip().lower() == address),
        None,
    )
    return _QuoteContext(quote, history, customer.name, contact, me.id, sales_rep.id)


def _when(rt: Runtime, inbound: InboundMessage) -> datetime:
    """When the message was written: its Date, unless missing or in the future."""
    now = rt.now()
    return inbound.sent_at if inbound.sent_at is not None and inbound.sent_at <= now else now


async def _record_reply(
    rt: Runtime,
    inbound: InboundMessage,
    raw: bytes,
    key: str,
    uidvalidity: int,
    uid: int,
    followup: Entry,
    messages: MailboxLedger,
    base: MessageOutcome,
) -> MessageOutcome:
    ctx = await _context(rt, followup, inbound.sender)
    quote = ctx.quote
    at = _when(rt, inbound)
    file_name = eml_file_name(quote, uidvalidity, uid)
    # the same name each time: a run taking over after a crash overwrites its own upload
    stored = await rt.dolibarr.upload_document(quote, file_name, raw, overwrite=True)
    who = inbound.sender_name or inbound.sender
    local = at.astimezone(rt.tz).strftime("%d/%m/%Y %H:%M")
    note = compose_reply_text(sender=inbound.sender, sender_name=inbound.sender_name, local_time=local,
                              subject=inbound.subject, excerpt=inbound.excerpt, stored_file=stored)  # fmt: skip
    facts: dict[str, str | int | None] = {
        "key": key,
        "address": inbound.sender,
        "contact": ctx.contact.contact_id if ctx.contact else None,
        "file": stored,
        "followup": followup.key,
    }
    event_id = await _answer_event(
        rt, ctx, key, at, code=CODE_REPLY, label=f"Réponse du client : devis {quote.ref} ({who})",
        note=compose_note(note, facts), email_from=inbound.sender or None,
        email_subject=inbound.subject or None, email_msgid=inbound.message_id,
    )  # fmt: skip
    await asyncio.to_thread(messages.note, uidvalidity, uid, event_id=event_id, quote_id=quote.id,
                            quote_ref=quote.ref, followup_key=followup.key)  # fmt: skip
    # the customer answered: the planned follow-up is moot (a to-do no key here may close stays open)
    await close_todos(rt, ctx.history.open_todos, fallback_owner=ctx.owner_id)
    todo_id = await _todo(
        rt,
        ctx,
        key,
        purpose="reply",
        label=f"Répondre à {who} : devis {quote.ref} ({ctx.customer_name})",
        text=f"{who} a répondu le {local} à la relance du devis {quote.ref} : voir l'événement {event_id}.",
        day=at,
    )
    return _with(base, kind="reply", outcome="recorded", quote_ref=quote.ref, event_id=event_id, todo_event_id=todo_id,
                 detail=inbound.excerpt.splitlines()[0] if inbound.excerpt else "")  # fmt: skip


async def _record_bounce(
    rt: Runtime, inbound: InboundMessage, key: str, failure: FailedRecipient, followup: Entry, base: MessageOutcome
) -> MessageOutcome:
    ctx = await _context(rt, followup, failure.address)
    quote = ctx.quote
    at = _when(rt, inbound)
    sent = (followup.sent_at or followup.created_at).astimezone(rt.tz).strftime("%d/%m/%Y")
    note = compose_bounce_text(sent_day=sent, address=failure.address, reason=failure.reason)
    facts: dict[str, str | int | None] = {
        "key": key,
        "address": failure.address,
        "contact": ctx.contact.contact_id if ctx.contact else None,
        "followup": followup.key,
    }
    event_id = await _answer_event(
        rt, ctx, key, at, code=CODE_BOUNCE, label=f"E-mail non remis : {failure.address} (devis {quote.ref})",
        note=compose_note(note, facts), email_to=failure.address, email_msgid=inbound.message_id,
    )  # fmt: skip
    todo_id = await _todo(
        rt,
        ctx,
        key,
        purpose="bounce",
        label=f"Corriger l'adresse e-mail {failure.address} ({ctx.customer_name})",
        text=f"L'adresse {failure.address} ne fonctionne pas ({failure.reason}) : corrigez-la sur la fiche du "
        f"{'contact' if ctx.contact else 'client'} (devis {quote.ref}, événement {event_id}).",
        day=at,
    )
    return _with(base, kind="bounce", outcome="recorded", quote_ref=quote.ref, address=failure.address,
                 event_id=event_id, todo_event_id=todo_id, detail=failure.reason)  # fmt: skip


async def _answer_event(
    rt: Runtime,
    ctx: _QuoteContext,
    key: str,
    at: datetime,
    *,
    code: str,
    label: str,
    note: str,
    email_from: str | None = None,
    email_to: str | None = None,
    email_subject: str | None = None,
    email_msgid: str | None = None,
) -> int:
    """The done event of a reply or bounce on the quote and customer: the one Dolibarr already holds
    under ``key`` (a reading that took over after a crash), else a new one."""
    existing = next((a for a in ctx.history.answers if a.key == key), None)
    if existing is not None and existing.event_id is not None:
        return existing.event_id
    return await create_event(
        rt,
        NewAgendaEvent(
            type_code=TYPE_DONE,
            code=code,
            label=label,
            note=note,
            start=at,
            end=at,
            percentage=100,
            owner_id=ctx.owner_id,
            customer_id=ctx.quote.customer_id,
            contact_id=ctx.contact.contact_id if ctx.contact else None,
            element_type="propal",
            element_id=ctx.quote.id,
            email_from=email_from,
            email_to=email_to,
            email_subject=email_subject,
            email_msgid=email_msgid,
        ),
    )


async def _todo(
    rt: Runtime, ctx: _QuoteContext, key: str, *, purpose: str, label: str, text: str, day: datetime
) -> int:
    """The sales person's to-do for this message (once: found again by its key after a crash)."""
    existing = next((t for t in ctx.history.todos if t.key == key), None)
    if existing is not None:
        return existing.event_id
    due = max(day, rt.now()).astimezone(rt.tz)
    start = todo_start(rt, due.date())
    return await create_event(
        rt,
        NewAgendaEvent(
            type_code=TYPE_PLANNED,
            code=CODE_TODO,
            label=label,
            note=compose_note(text, {"key": key, "quote": ctx.quote.ref, "for": purpose}),
            start=start,
            end=start,
            percentage=0,
            owner_id=ctx.sales_rep_id,
            customer_id=ctx.quote.customer_id,
            contact_id=ctx.contact.contact_id if ctx.contact else None,
            element_type="propal",
            element_id=ctx.quote.id,
        ),
    )


def _imap(rt: Runtime) -> ImapSettings:
    assert rt.settings.imap is not None  # read_replies checked it
    return rt.settings.imap


def _with(base: MessageOutcome, **changes: Any) -> MessageOutcome:
    return replace(base, **changes)


def _log_outcome(outcome: MessageOutcome) -> None:
    level = logging.WARNING if outcome.outcome in ("failed", "unreadable") else logging.INFO
    log.log(
        level,
        "mailbox uid=%s kind=%s outcome=%s ref=%s sender=%r event=%s%s",
        outcome.uid,
        outcome.kind,
        outcome.outcome,
        outcome.quote_ref,
        outcome.sender,
        outcome.event_id,
        f" error={outcome.error!r}" if outcome.error else "",
        extra={"outcome": outcome.outcome, "quote_ref": outcome.quote_ref},
    )
