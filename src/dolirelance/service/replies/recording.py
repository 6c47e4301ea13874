"""Writing a sorted message into Dolibarr: the reply or bounce event, the sales person's to-do, the .eml file.

Every event and to-do carries the message's key in its facts line: a reading that takes over after a
crash finds what Dolibarr already holds and writes nothing twice. Everything taken from a message is
written escaped for HTML (a note) or flattened (a label).
"""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import dataclass, replace
from datetime import datetime

from dolirelance.domain import NewAgendaEvent, Quote, QuoteContact
from dolirelance.history import (
    CODE_BOUNCE,
    CODE_REPLY,
    CODE_TODO,
    QuoteHistory,
    compose_bounce_text,
    compose_note,
    compose_reply_text,
)
from dolirelance.inbound import FailedRecipient, InboundMessage
from dolirelance.ledger import Entry, MailboxLedger
from dolirelance.service.agenda import TYPE_DONE, TYPE_PLANNED, close_todos, create_event, todo_start
from dolirelance.service.prepare import sales_rep_of
from dolirelance.service.reads import load_history
from dolirelance.service.replies.outcomes import MessageOutcome, ReadMessage
from dolirelance.service.runtime import Runtime


@dataclass(frozen=True)
class _QuoteContext:
    """What writing about one message needs of its quote, read once."""

    quote: Quote
    history: QuoteHistory
    customer_name: str
    contact: QuoteContact | None
    owner_id: int
    sales_rep_id: int


async def _quote_context(rt: Runtime, entry: Entry, address: str) -> _QuoteContext:
    """The quote a follow-up is about, its history and customer, and the contact written to at ``address``."""
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


def _written_at(rt: Runtime, inbound: InboundMessage) -> datetime:
    """When the message was written: its Date, unless missing or in the future."""
    now = rt.now()
    return inbound.sent_at if inbound.sent_at is not None and inbound.sent_at <= now else now


def eml_file_name(quote: Quote, uidvalidity: int, uid: int) -> str:
    return f"reponse-{quote.ref}-{uidvalidity}-{uid}.eml"


async def record_reply(
    rt: Runtime, message: ReadMessage, followup: Entry, proof: str, messages: MailboxLedger, base: MessageOutcome
) -> MessageOutcome:
    inbound, key, uidvalidity, uid = message.inbound, message.key, message.uidvalidity, message.uid
    ctx = await _quote_context(rt, followup, inbound.sender)
    quote = ctx.quote
    at = _written_at(rt, inbound)
    file_name = eml_file_name(quote, uidvalidity, uid)
    # the same name each time: a run taking over after a crash overwrites its own upload
    stored = await rt.dolibarr.upload_document(quote, file_name, message.raw, overwrite=True)
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
    label = f"Réponse du client : devis {quote.ref} ({who})"
    event = _quote_event(ctx, done=True, code=CODE_REPLY, label=label, note=compose_note(note, facts), at=at)
    mailed = replace(
        event, email_from=inbound.sender or None, email_subject=inbound.subject or None, email_msgid=inbound.message_id
    )
    event_id = await _answer_event(rt, ctx, key, mailed)
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
    first_line = inbound.excerpt.splitlines()[0] if inbound.excerpt else ""
    return replace(base, kind="reply", outcome="recorded", quote_ref=quote.ref, event_id=event_id,
                   todo_event_id=todo_id, detail=first_line)  # fmt: skip


async def record_bounce(
    rt: Runtime, message: ReadMessage, failure: FailedRecipient, followup: Entry, base: MessageOutcome
) -> MessageOutcome:
    inbound, key = message.inbound, message.key
    ctx = await _quote_context(rt, followup, failure.address)
    quote = ctx.quote
    at = _written_at(rt, inbound)
    sent = (followup.sent_at or followup.created_at).astimezone(rt.tz).strftime("%d/%m/%Y")
    note = compose_bounce_text(sent_day=sent, address=_html(failure.address), reason=_html(failure.reason))
    facts: dict[str, str | int | None] = {
        "key": key,
        "address": failure.address,
        "contact": ctx.contact.contact_id if ctx.contact else None,
        "followup": followup.key,
    }
    label = f"E-mail non remis : {failure.address} (devis {quote.ref})"
    event = _quote_event(ctx, done=True, code=CODE_BOUNCE, label=label, note=compose_note(note, facts), at=at)
    mailed = replace(event, email_to=failure.address, email_msgid=inbound.message_id)
    event_id = await _answer_event(rt, ctx, key, mailed)
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
    return replace(base, kind="bounce", outcome="recorded", quote_ref=quote.ref, address=failure.address,
                   event_id=event_id, todo_event_id=todo_id, detail=failure.reason)  # fmt: skip


async def record_unverified_reply(
    rt: Runtime, message: ReadMessage, followup: Entry, base: MessageOutcome
) -> MessageOutcome:
    """A message from the customer's address naming the quote, that nothing proves she wrote: a person
    checks it. No reply event, nothing stops, and none of its words is written (it may be a forgery)."""
    inbound, key, uid = message.inbound, message.key, message.uid
    ctx = await _quote_context(rt, followup, inbound.sender)
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
        day=_written_at(rt, inbound),
    )
    detail = "matched by sender and subject only, nothing vouches for the sender: a person checks it"
    return replace(base, kind="unverified-reply", outcome="recorded", quote_ref=quote.ref, todo_event_id=todo_id,
                   detail=detail)  # fmt: skip


async def record_unverified_bounce(
    rt: Runtime, message: ReadMessage, failure: FailedRecipient, followup: Entry, base: MessageOutcome
) -> MessageOutcome:
    """A failure report naming an address we wrote to, without our Message-ID or ENVID: anyone can write
    one. A person checks the address; nothing is blocked and none of the report's words is written."""
    inbound, key, uid = message.inbound, message.key, message.uid
    ctx = await _quote_context(rt, followup, failure.address)
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
        day=_written_at(rt, inbound),
    )
    detail = "names an address we wrote to, but not our e-mail: a person checks it"
    return replace(base, kind="unverified-bounce", outcome="recorded", quote_ref=quote.ref, address=failure.address,
                   todo_event_id=todo_id, detail=detail)  # fmt: skip


async def record_too_big(
    rt: Runtime, followup: Entry, key: str, uid: int, *, sender: str, size: str, limit_kb: int
) -> tuple[str, int]:
    """A message over ``max_message_kb`` whose header names one of our e-mails: a to-do (once) tells the
    sales person to read it in the mailbox. The quote's ref and the to-do's id."""
    ctx = await _quote_context(rt, followup, sender)
    todo_id = await _todo(
        rt,
        ctx,
        key,
        purpose="too-big",
        label=f"Lire un message trop grand reçu pour le devis {ctx.quote.ref} ({ctx.customer_name})",
        text=f"Un message de {size} répondant à la relance du devis {ctx.quote.ref} est arrivé dans la boîte "
        f"des réponses (UID {uid}, de {_html(sender or '?')}). Il dépasse la taille que dolirelance lit "
        f"({limit_kb} Ko) : lisez-le dans la boîte aux lettres.",
        day=rt.now(),
    )
    return ctx.quote.ref, todo_id


def _html(value: str) -> str:
    """Text from an e-mail, to write in a Dolibarr note (HTML): ``<``, ``>`` and ``&`` escaped."""
    return html.escape(value, quote=False)


def _in_label(value: str) -> str:
    """Text from an e-mail, to write in an event's label: one line, no markup characters, bounded."""
    one_line = " ".join(re.sub(r"[<>&\"]", " ", value).split())
    return one_line[:80]


async def _answer_event(rt: Runtime, ctx: _QuoteContext, key: str, event: NewAgendaEvent) -> int:
    """The done event of a reply or bounce: the one Dolibarr already holds under ``key`` (a reading
    that took over after a crash), else ``event``, new."""
    existing = next((a for a in ctx.history.answers if a.key == key), None)
    if existing is not None and existing.event_id is not None:
        return existing.event_id
    return await create_event(rt, event)


async def _todo(
    rt: Runtime, ctx: _QuoteContext, key: str, *, purpose: str, label: str, text: str, day: datetime
) -> int:
    """The sales person's to-do for this message (once: found again by its key after a crash)."""
    existing = next((t for t in ctx.history.todos if t.key == key), None)
    if existing is not None:
        return existing.event_id
    due = max(day, rt.now()).astimezone(rt.tz)
    start = todo_start(rt, due.date())
    note = compose_note(text, {"key": key, "quote": ctx.quote.ref, "for": purpose})
    return await create_event(rt, _quote_event(ctx, done=False, code=CODE_TODO, label=label, note=note, at=start))


def _quote_event(ctx: _QuoteContext, *, done: bool, code: str, label: str, note: str, at: datetime) -> NewAgendaEvent:
    """An event on the quote, its customer and the contact the message is about: done (100 %, the acting
    user's) or a to-do (0 %, the sales person's)."""
    return NewAgendaEvent(
        type_code=TYPE_DONE if done else TYPE_PLANNED,
        code=code,
        label=label,
        note=note,
        start=at,
        end=at,
        percentage=100 if done else 0,
        owner_id=ctx.owner_id if done else ctx.sales_rep_id,
        customer_id=ctx.quote.customer_id,
        contact_id=ctx.contact.contact_id if ctx.contact else None,
        element_type="propal",
        element_id=ctx.quote.id,
    )
