"""Reading the replies mailbox once: each new message claimed, read within limits, sorted, recorded, marked.

The ledger (:class:`dolirelance.ledger.MailboxLedger`) holds each message's state, so that a run that
dies anywhere is taken over by the next one (see the package's docstring).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import replace

from dolirelance.config import ImapSettings
from dolirelance.errors import DolibarrError, LedgerError, MailboxError
from dolirelance.imap import RepliesMailbox, TooBig, mailbox_name
from dolirelance.inbound import MessageReader, ReadLimits, UnreadableMessage
from dolirelance.ledger import FINISHED_MESSAGE_STATES, MailboxLedger, MessageState
from dolirelance.service.replies.outcomes import MessageOutcome, ReadMessage, RepliesReport
from dolirelance.service.replies.recording import record_too_big
from dolirelance.service.replies.sorting import sort_and_record
from dolirelance.service.runtime import Runtime

# The replies reader's logger keeps the package's name, as when it was one module (the ``logger`` of JSON logs).
log = logging.getLogger(__package__)

NO_IMAP_SECTION = "no [imap] section in dolirelance.toml: the replies mailbox is not configured"
IMAP_REMEDY = "add an [imap] section (host, username, password_env, folder); see docs/replies.md"
# Readings that began parsing a message and died (memory, time, a killed process) before it is
# marked unreadable rather than parsed again.
MAX_UNFINISHED_READINGS = 2


def message_key(mailbox: str, uidvalidity: int, uid: int) -> str:
    """The key a message's events carry in their facts line (the mailbox named by a short digest)."""
    digest = hashlib.sha256(mailbox.encode("utf-8")).hexdigest()[:8]
    return f"mail:{digest}:{uidvalidity}:{uid}"


async def read_replies(rt: Runtime, *, should_stop: Callable[[], bool] = lambda: False) -> RepliesReport:
    """Read the replies mailbox once: every new message sorted and recorded (see the package's docstring)."""
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
            outcome = await _process(rt, settings, mailbox, reader, messages, folder.uidvalidity, uid)
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
    rt: Runtime,
    settings: ImapSettings,
    mailbox: RepliesMailbox,
    reader: MessageReader,
    messages: MailboxLedger,
    uidvalidity: int,
    uid: int,
) -> MessageOutcome | None:
    claimed = await asyncio.to_thread(messages.claim_message, uidvalidity, uid)
    if claimed is None:  # another run holds it right now
        return None
    fetched = await asyncio.to_thread(mailbox.read, uid)
    if fetched is None:  # deleted meanwhile
        await asyncio.to_thread(messages.mark, uidvalidity, uid, MessageState.IGNORED, error="gone from the mailbox")
        return None
    if isinstance(fetched, TooBig):
        return await _too_big(rt, settings, fetched, messages, uidvalidity, uid)
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
        message = ReadMessage(uidvalidity, uid, key, raw, inbound)
        outcome = await sort_and_record(rt, message, messages, base, match_days=settings.match_days)
    except Exception as exc:  # one message's trouble never stops the others; a later run goes on
        if isinstance(exc, DolibarrError):
            reason = exc.message
            log.warning("message %s of the replies mailbox not recorded yet: %s", uid, reason)
        else:
            reason = f"unexpected {type(exc).__name__}: {exc}"
            log.exception("message %s of the replies mailbox: %s", uid, reason)
        # the claim is let go at once: the next reading takes it over and finds what Dolibarr already has
        await asyncio.to_thread(messages.note, uidvalidity, uid, error=reason[:2000], lease_until=None)
        return replace(base, outcome="failed", error=f"{reason}; a later run records it")
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


async def _too_big(
    rt: Runtime, settings: ImapSettings, too_big: TooBig, messages: MailboxLedger, uidvalidity: int, uid: int
) -> MessageOutcome:
    """A message over ``max_message_kb``: reported, left in place; when its header names one of our
    e-mails, a to-do (once) tells the sales person to read it in the mailbox."""
    limit = settings.max_message_kb
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
        key = message_key(messages.mailbox, uidvalidity, uid)
        try:
            quote_ref, todo_id = await record_too_big(rt, entries[0], key, uid, sender=sender, size=size,
                                                      limit_kb=limit)  # fmt: skip
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
