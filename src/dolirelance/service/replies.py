"""Replies and bounces: read the replies mailbox once, sort each new message, write it back into Dolibarr.

Each message goes through this protocol (ledger: :class:`dolirelance.ledger.MailboxLedger`)::

    new UID ─► claim (UIDVALIDITY, UID) ──held by a live run / finished──► skipped
        │ won: CLAIMED
        ▼
    size (RFC822.SIZE) ──over max_message_kb──► header only: to-do if it names our e-mail ─► UNREADABLE
        ▼
    read (BODY.PEEK, bounded) ─► pre-scan, parse in a limited worker ──cannot──► UNREADABLE (left, reported)
        │   (a message whose earlier readings died while parsing it is not parsed again: UNREADABLE)
        ▼ sorted: reply / permanent bounce / auto-answer or temporary bounce / other
        │   other ─► IGNORED (left alone: not flagged, not moved)
        ▼ reply: .eml uploaded to the quote's files (same name: overwritten), AC_RELANCE_REPLY event,
        │        open follow-up to-dos closed, to-do "Répondre à …" for the sales person
        │ bounce: AC_RELANCE_BOUNCE event, to-do "Corriger l'adresse …" for the sales person
        │ unverified reply or bounce (no proof it answers or returns our e-mail): only a to-do
        │        "Vérifier …" for the sales person; nothing stops, nothing is blocked
        │ auto-answer, temporary bounce: nothing written (noted in the ledger and the report)
        ▼
    RECORDED (Dolibarr holds it) ─► flagged or moved in the mailbox ─► DONE

What counts as proof (docs/replies.md): a reply names our Message-ID (In-Reply-To, References) or,
matched by sender and subject only, the trusted receiving server's Authentication-Results shows DMARC
(or the sender domain's DKIM) pass; a bounce carries our Message-ID (returned headers, In-Reply-To)
or our ENVID (Original-Envelope-Id). Our Message-IDs are random: a stranger cannot name them.
Everything taken from a message is written into Dolibarr escaped for HTML.

A run that dies anywhere leaves the message CLAIMED (its lease then expires) or RECORDED. The next
run takes a CLAIMED message over and first reads what Dolibarr already has for it: events and to-dos
carry the message's key in their facts line, so none is written twice. A RECORDED message is only
flagged or moved.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import re
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
from dolirelance.imap import RepliesMailbox, TooBig, mailbox_name
from dolirelance.inbound import (
    FailedRecipient,
    InboundMessage,
    MessageReader,
    ReadLimits,
    UnreadableMessage,
)
from dolirelance.ledger import FINISHED_MESSAGE_STATES, Entry, MailboxLedger, MessageState
from dolirelance.service.agenda import TYPE_DONE, TYPE_PLANNED, close_todos, create_event, todo_start
from dolirelance.service.prepare import sales_rep_of
from dolirelance.service.reads import load_history
from dolirelance.service.runtime import Runtime

log = logging.getLogger(__name__)

Kind = Literal[
    "reply",
    "bounce",
    "unverified-reply",  # matched by sender and subject only, nothing vouches for the sender: a to-do to check
    "unverified-bounce",  # names an address we wrote to, but not our e-mail: a to-do to check the address
    "temporary-bounce",
    "auto-answer",
    "other",
    "unreadable",
    "too-big",  # over [imap] max_message_kb: never fetched whole
]
# recorded: Dolibarr holds it; noted: nothing to write (auto-answer, temporary bounce); ignored: not ours,
# left alone; unreadable: left in place; failed: Dolibarr or the mailbox refused, the next run goes on.
Outcome = Literal["recorded", "noted", "ignored", "unreadable", "failed"]

NO_IMAP_SECTION = "no [imap] section in dolirelance.toml: the replies mailbox is not configured"
IMAP_REMEDY = "add an [imap] section (host, username, password_env, folder); see docs/replies.md"
# Readings that began parsing a message and died (memory, time, a killed process) before it is
# marked unreadable rather than parsed again.
MAX_UNFINISHED_READINGS = 2
# Proofs that a reply answers our e-mail (the reply event's facts keep which one).
PROOF_MESSAGE_ID = "message-id"


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
    mailbox = RepliesMailbox(settings, tokens=rt.tokens)
    limits = ReadLimits(memory_mb=settings.read_memory_mb, seconds=settings.read_seconds)
    reader = MessageReader(limits, trusted_authserv_id=settings.trusted_authserv_id)
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
            outcome = await _process(rt, mailbox, reader, messages, folder.uidvalidity, uid)
            if outcome is not None:
                report.messages.append(outcome)
                _log_outcome(outcome)
    except (MailboxError, LedgerError) as exc:
        report.error = exc.message + (f" ({exc.remedy})" if exc.remedy else "")
        log.error("reading the replies mailbox %s stopped: %s", name, report.error)
    finally:
        await asyncio.to_thread(reader.close)
        await asyncio.to_thread(mailbox.__exit__, None, None, None)
    report.finished_at = rt.now()
    return report


async def _mark_processed(mailbox: RepliesMailbox, messages: MailboxLedger, uidvalidity: int, uid: int) -> None:
    await asyncio.to_thread(mailbox.mark_processed, uid)
    await asyncio.to_thread(messages.mark, uidvalidity, uid, MessageState.DONE)


async def _process(
    rt: Runtime, mailbox: RepliesMailbox, reader: MessageReader, messages: MailboxLedger, uidvalidity: int, uid: int
) -> MessageOutcome | None:
    claimed = await asyncio.to_thread(messages.claim_message, uidvalidity, uid)
    if claimed is None:  # another run holds it right now
        return None
    fetched = await asyncio.to_thread(mailbox.read, uid)
    if fetched is None:  # deleted meanwhile
        await asyncio.to_thread(messages.mark, uidvalidity, uid, MessageState.IGNORED, error="gone from the mailbox")
        return None
    if isinstance(fetched, TooBig):
        return await _too_big(rt, fetched, messages, uidvalidity, uid)
    raw = fetched
    unfinished = await asyncio.to_thread(messages.start_reading, uidvalidity, uid)
    try:
        if unfinished >= MAX_UNFINISHED_READINGS:
            raise UnreadableMessage(
                f"{unfinished} readings died while parsing it (memory or time): it is not parsed again"
            )
        inbound = await asyncio.to_thread(reader.read, raw)
    except UnreadableMessage as exc:
        await asyncio.to_thread(messages.mark, uidvalidity, uid, MessageState.UNREADABLE, kind="unreadable",
                                error=exc.message[:2000], read_attempts=0)  # fmt: skip
        return MessageOutcome(uid, "unreadable", "unreadable", error=f"{exc.message}; left in place in the mailbox")
    await asyncio.to_thread(messages.finish_reading, uidvalidity, uid)
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
        return await _bounce(rt, inbound, uid, key, since, base)
    found = await asyncio.to_thread(_replied_followup, rt, inbound, since)
    if found is None:
        return _with(base, detail="not an answer to a follow-up")
    followup, proof = found
    if inbound.auto_answer is not None:
        return _with(base, kind="auto-answer", outcome="noted", quote_ref=followup.quote_ref,
                     detail=f"automatic answer ({inbound.auto_answer}): nothing stops")  # fmt: skip
    if proof is None:
        return await _record_unverified_reply(rt, inbound, uid, key, followup, base)
    return await _record_reply(rt, inbound, raw, key, uidvalidity, uid, followup, proof, messages, base)


def _replied_followup(rt: Runtime, inbound: InboundMessage, since: datetime) -> tuple[Entry, str | None] | None:
    """The follow-up a message answers, and the proof that it does (None: matched, but unproven).

    By In-Reply-To/References: our Message-ID is the proof. Else by sender and quote ref in the subject
    (anyone can write those): proven only when the trusted receiving server vouches for the sender.
    """
    if inbound.referenced_ids:
        by_id = rt.ledger.by_message_ids(inbound.referenced_ids)
        if by_id:
            order = {message_id: rank for rank, message_id in enumerate(inbound.referenced_ids)}
            return min(by_id, key=lambda entry: order.get(entry.message_id or "", len(order))), PROOF_MESSAGE_ID
    subject = inbound.subject.casefold()
    for entry in rt.ledger.sent_to(inbound.sender, since):
        if entry.quote_ref.casefold() in subject:
            return entry, inbound.sender_authenticated
    return None


def _bounced_followup(
    rt: Runtime, inbound: InboundMessage, failure: FailedRecipient, since: datetime
) -> tuple[Entry, bool] | None:
    """The follow-up a bounce returns, and whether the bounce proves it: by our Message-ID (returned
    headers, In-Reply-To/References) or our ENVID (Original-Envelope-Id); else, unproven, the latest one
    sent to the address."""
    ids = (*inbound.bounced_message_ids, *inbound.envelope_ids, *inbound.referenced_ids)
    for entry in rt.ledger.by_message_ids(ids):
        if failure.address in (part.strip().lower() for part in (entry.recipients or "").split(",")):
            return entry, True
    sent = rt.ledger.sent_to(failure.address, since)
    return (sent[0], False) if sent else None


async def _bounce(
    rt: Runtime, inbound: InboundMessage, uid: int, key: str, since: datetime, base: MessageOutcome
) -> MessageOutcome:
    matched: list[tuple[FailedRecipient, Entry, bool]] = []
    for failure in inbound.failures:
        found = await asyncio.to_thread(_bounced_followup, rt, inbound, failure, since)
        if found is not None:
            matched.append((failure, *found))
    if not matched:
        return _with(base, kind="bounce", detail="a bounce, but of no follow-up of ours")
    permanent = [(failure, entry, proven) for failure, entry, proven in matched if failure.permanent]
    if not permanent:
        failure, entry, _ = matched[0]
        return _with(
            base,
            kind="temporary-bounce",
            outcome="noted",
            quote_ref=entry.quote_ref,
            address=failure.address,
            detail=f"temporary failure, the server still tries: {failure.reason}",
        )
    # One bounce event per message: the first address of ours that failed for good (a follow-up has one).
    proven_ones = [(failure, entry) for failure, entry, proven in permanent if proven]
    if not proven_ones:
        failure, entry, _ = permanent[0]
        return await _record_unverified_bounce(rt, inbound, uid, key, failure, entry, base)
    failure, entry = proven_ones[0]
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
    proof: str,
    messages: MailboxLedger,
    base: MessageOutcome,
) -> MessageOutcome:
    ctx = await _context(rt, followup, inbound.sender)
    quote = ctx.quote
    at = _when(rt, inbound)
    file_name = eml_file_name(quote, uidvalidity, uid)
    # the same name each time: a run taking over after a crash overwrites its own upload
    stored = await rt.dolibarr.upload_document(quote, file_name, raw, overwrite=True)
    who = _in_label(inbound.sender_name or inbound.sender)
    local = at.astimezone(rt.tz).strftime("%d/%m/%Y %H:%M")
    # Dolibarr shows notes as HTML: the sender's words go in as text
    note = compose_reply_text(sender=_html(inbound.sender), sender_name=_html(inbound.sender_name), local_time=local,
                              subject=_html(inbound.subject), excerpt=_html(inbound.excerpt),
                              stored_file=stored)  # fmt: skip
    facts: dict[str, str | int | None] = {
        "key": key,
        "address": inbound.sender,
        "contact": ctx.contact.contact_id if ctx.contact else None,
        "file": stored,
        "followup": followup.key,
        "proof": proof,
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
        text=f"{_html(who)} a répondu le {local} à la relance du devis {quote.ref} : voir l'événement {event_id}.",
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
    note = compose_bounce_text(sent_day=sent, address=_html(failure.address), reason=_html(failure.reason))
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
        text=f"L'adresse {_html(failure.address)} ne fonctionne pas ({_html(failure.reason)}) : corrigez-la sur la "
        f"fiche du {'contact' if ctx.contact else 'client'} (devis {quote.ref}, événement {event_id}).",
        day=at,
    )
    return _with(base, kind="bounce", outcome="recorded", quote_ref=quote.ref, address=failure.address,
                 event_id=event_id, todo_event_id=todo_id, detail=failure.reason)  # fmt: skip


async def _record_unverified_reply(
    rt: Runtime, inbound: InboundMessage, uid: int, key: str, followup: Entry, base: MessageOutcome
) -> MessageOutcome:
    """A message from the customer's address naming the quote, that nothing proves she wrote: a person
    checks it. No reply event, nothing stops, and none of its words is written (it may be a forgery)."""
    ctx = await _context(rt, followup, inbound.sender)
    quote = ctx.quote
    why = (
        "il ne répond pas à notre e-mail (pas d'In-Reply-To ni de References) et le serveur de réception ne "
        "garantit pas l'expéditeur (pas de DMARC ni de DKIM valide pour son domaine)"
    )
    todo_id = await _todo(
        rt,
        ctx,
        key,
        purpose="verify-reply",
        label=f"Vérifier la réponse de {_in_label(inbound.sender)} : devis {quote.ref} ({ctx.customer_name})",
        text=f"Un message signé {_html(inbound.sender)} mentionne le devis {quote.ref}, mais {why}. Il est resté "
        f"dans la boîte des réponses (UID {uid}) : vérifiez auprès du client qu'il vient bien de lui. Les relances "
        "automatiques continuent : pour les arrêter, cochez « Ne pas relancer automatiquement » sur le devis.",
        day=_when(rt, inbound),
    )
    detail = "matched by sender and subject only, nothing vouches for the sender: a person checks it"
    return _with(base, kind="unverified-reply", outcome="recorded", quote_ref=quote.ref, todo_event_id=todo_id,
                 detail=detail)  # fmt: skip


async def _record_unverified_bounce(
    rt: Runtime,
    inbound: InboundMessage,
    uid: int,
    key: str,
    failure: FailedRecipient,
    followup: Entry,
    base: MessageOutcome,
) -> MessageOutcome:
    """A failure report naming an address we wrote to, without our Message-ID or ENVID: anyone can write
    one. A person checks the address; nothing is blocked and none of the report's words is written."""
    ctx = await _context(rt, followup, failure.address)
    quote = ctx.quote
    todo_id = await _todo(
        rt,
        ctx,
        key,
        purpose="verify-bounce",
        label=f"Vérifier l'adresse e-mail {_in_label(failure.address)} ({ctx.customer_name})",
        text=f"Un avis de non-remise venu de {_html(inbound.sender or '?')} dit que l'adresse "
        f"{_html(failure.address)} ne fonctionne pas, mais il ne contient pas notre e-mail : rien ne prouve qu'il "
        f"est authentique. Il est resté dans la boîte des réponses (UID {uid}). Vérifiez l'adresse (devis "
        f"{quote.ref}) ; les relances automatiques continuent de l'utiliser.",
        day=_when(rt, inbound),
    )
    detail = "names an address we wrote to, but not our e-mail: a person checks it"
    return _with(base, kind="unverified-bounce", outcome="recorded", quote_ref=quote.ref, address=failure.address,
                 todo_event_id=todo_id, detail=detail)  # fmt: skip


async def _too_big(rt: Runtime, too_big: TooBig, messages: MailboxLedger, uidvalidity: int, uid: int) -> MessageOutcome:
    """A message over ``max_message_kb``: reported, left in place; when its header names one of our
    e-mails, a to-do (once) tells the sales person to read it in the mailbox."""
    limit = _imap(rt).max_message_kb
    size = f"{too_big.size / 1024 / 1024:.1f} MB"
    error = f"the message is {size}, over [imap] max_message_kb = {limit}: not read; left in place in the mailbox"
    header = too_big.header.decode("latin-1")
    sender_match = _FROM_ADDRESS.search(header)
    sender = sender_match.group(1).lower() if sender_match else ""
    ids = tuple(dict.fromkeys(_ANY_MESSAGE_ID.findall(header)))[:_MAX_HEADER_IDS]
    own = _OWN_MESSAGE_ID.search(header)
    ids = tuple(found for found in ids if own is None or found != own.group(1))
    entries = await asyncio.to_thread(rt.ledger.by_message_ids, ids)
    todo_id: int | None = None
    quote_ref: str | None = None
    if entries:
        entry = entries[0]
        key = message_key(messages.mailbox, uidvalidity, uid)
        try:
            ctx = await _context(rt, entry, sender)
            quote_ref = ctx.quote.ref
            todo_id = await _todo(
                rt,
                ctx,
                key,
                purpose="too-big",
                label=f"Lire un message trop grand reçu pour le devis {ctx.quote.ref} ({ctx.customer_name})",
                text=f"Un message de {size} répondant à la relance du devis {ctx.quote.ref} est arrivé dans la boîte "
                f"des réponses (UID {uid}, de {_html(sender or '?')}). Il dépasse la taille que dolirelance lit "
                f"({limit} Ko) : lisez-le dans la boîte aux lettres.",
                day=rt.now(),
            )
        except DolibarrError as exc:  # the claim is let go: the next reading writes the to-do
            await asyncio.to_thread(messages.note, uidvalidity, uid, error=exc.message[:2000], lease_until=None)
            return MessageOutcome(uid, "too-big", "failed", sender=sender, error=f"{exc.message}; a later run goes on")
    await asyncio.to_thread(messages.mark, uidvalidity, uid, MessageState.UNREADABLE, kind="too-big",
                            sender=sender[:320], quote_ref=quote_ref, todo_event_id=todo_id, error=error)  # fmt: skip
    return MessageOutcome(uid, "too-big", "unreadable", sender=sender, quote_ref=quote_ref, todo_event_id=todo_id,
                          error=error)  # fmt: skip


_FROM_ADDRESS = re.compile(r"(?im)^from:[^\r\n]*?<?([^\s<>@,;]+@[^\s<>@,;]+)>?")
_ANY_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")
_OWN_MESSAGE_ID = re.compile(r"(?im)^message-id:\s*(<[^<>\s]{1,250}>)")
_MAX_HEADER_IDS = 500


def _html(value: str) -> str:
    """Text from an e-mail, to write in a Dolibarr note (HTML): ``<``, ``>`` and ``&`` escaped."""
    return html.escape(value, quote=False)


def _in_label(value: str) -> str:
    """Text from an e-mail, to write in an event's label: one line, no markup characters, bounded."""
    one_line = " ".join(re.sub(r"[<>&\"]", " ", value).split())
    return one_line[:80]


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
