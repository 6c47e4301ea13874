"""The exactly-once core: the only code that claims a quote, sends or files a follow-up and records it.

Every follow-up goes through :func:`deliver`, whatever started it (``remind``, ``mass``, the web
forms, automatic runs); ``retry`` goes through :func:`retry_unrecorded`. Ledger states::

    claim(quote, key) ──refused──► "refused: <who> holds it since <when>" (nothing done)
        │ won: CLAIMED  (one row in flight per quote; automatic steps also keyed per step)
        ▼
    prepare (history, recent guard, render, PDFs) ──error──► FAILED, claim released ─► "failed: reason"
        ▼
    SENDING ──error before the content left (address, RCPT, missing secret, upload refused)──► FAILED ─► "failed"
        │   └─content handed over, no reply (or an unforeseen error midway)──► UNCERTAIN ─► "uncertain"
        │                                     (never retried; the batch reconnects; a person resolves)
        ▼ e-mail accepted / letter filed in Dolibarr
    SENT (sent_at) ──Dolibarr refuses──► stays SENT ─► "done, not recorded": `retry` records it dated sent_at
        ▼ done event + to-do written, dated sent_at
    RECORDED ─► "done" ─► local copy (letter file, print batch) ──error──► "done, not in the print batch"

A claim is taken before anything slow (PDF download, rendering), so two attempts on one quote never
both prepare. A local copy that cannot be written never undoes a follow-up: it is reported as done.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from email.message import EmailMessage
from typing import Literal
from zoneinfo import ZoneInfo

from dolirelance.domain import Channel, Quote, choose_recipients
from dolirelance.errors import (
    DolibarrError,
    DolibarrNotFound,
    DolibarrRequestError,
    DolibarrResponseError,
    DolibarrUnavailable,
    DolirelanceError,
    ErrorCode,
    LedgerError,
    MailError,
    MailUncertain,
)
from dolirelance.ledger import (
    HANDING_OVER_STATES,
    IN_FLIGHT_STATES,
    RECORDED_STATES,
    TO_RECORD_STATES,
    Entry,
    FollowUpState,
)
from dolirelance.mail import SmtpSender
from dolirelance.service.access import Access, require_access
from dolirelance.service.agenda import RecordFacts, record_facts, record_followup
from dolirelance.service.prepare import PreparedFollowUp, addressee, sales_rep_of
from dolirelance.service.runtime import Runtime

log = logging.getLogger(__name__)


# recorded: done and in Dolibarr; sent-not-recorded: done, `retry` records it; uncertain: may have
# left, a person decides; failed: nothing left, claim released; refused: another follow-up holds the
# quote (or this one is already done); skipped: an automatic step no longer due; closed: done, but its
# quote is gone from Dolibarr: never recorded, never done again.
Outcome = Literal["recorded", "sent-not-recorded", "uncertain", "failed", "refused", "skipped", "closed"]


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
    local_copy_error: str | None = None  # done, but its local copy (letter file, print batch) is missing
    done_at: datetime | None = None
    error_code: ErrorCode | None = None  # the kind of ``error`` (refused, failed), for front ends that word it
    # recorded, but earlier to-dos of the quote (event ids) that no key here may close: a person closes them
    todos_left_open: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        """The follow-up happened (whether or not it is in Dolibarr yet): never do it again."""
        return self.outcome in ("recorded", "sent-not-recorded", "closed")

    @property
    def summary(self) -> str:
        """The outcome in words, letters in their own (filed, printed), e-mails in theirs (sent)."""
        letter = self.channel is Channel.LETTER
        words = {
            "recorded": "filed in Dolibarr and recorded" if letter else "sent and recorded in Dolibarr",
            "sent-not-recorded": "filed in Dolibarr, not recorded yet" if letter else "sent, not recorded yet",
            "uncertain": "filing uncertain" if letter else "uncertain: it may have been sent",
            "failed": "failed, nothing was filed" if letter else "failed, nothing was sent",
            "refused": "refused",
            "skipped": "skipped",
            "closed": "closed unrecorded (its quote is gone from Dolibarr)",
        }
        text = words[self.outcome]
        if self.local_copy_error:
            text += ", not in the print batch" if letter else ", local copy missing"
        if self.todos_left_open:
            ids = ", ".join(f"#{event_id}" for event_id in self.todos_left_open)
            text += f"; an earlier to-do of another user is still open ({ids}): close it in Dolibarr"
        return text


def describe_holder(entry: Entry, tz: ZoneInfo, *, quote_ref: str | None = None) -> str:
    """Who holds a quote (or a key) and since when, in words for the person who was refused."""
    ref = quote_ref or entry.quote_ref
    since = entry.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
    origin = entry.run_id.split("-", 1)[0] if entry.run_id else "?"
    who = f"{origin} run {entry.run_id}" + (f" by user #{entry.user_id}" if entry.user_id else "")
    what = "letter" if entry.channel == Channel.LETTER.value else "e-mail"
    if entry.state is FollowUpState.UNCERTAIN:
        happened = "filed" if entry.channel == Channel.LETTER.value else "sent"
        return (
            f"{ref}: an earlier {what} follow-up ({entry.key}, {who}, {since}) may have been {happened}; "
            + how_to_settle(entry)
        )
    if entry.state in TO_RECORD_STATES:
        done = (entry.sent_at or entry.created_at).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
        return (
            f"{ref}: a {what} follow-up done {done} ({who}) is not recorded in Dolibarr yet; "
            "run `dolirelance retry` first"
        )
    if entry.state in RECORDED_STATES:
        return f"{ref}: this follow-up is already done ({who}, {since}, recorded in Dolibarr)"
    if entry.state is FollowUpState.ABANDONED:
        return f"{ref}: this follow-up was closed without being recorded ({who}, {since}: {entry.error or '-'})"
    return f"{ref}: another {what} follow-up of this quote is in progress ({who}, {entry.state.value} since {since})"


def how_to_settle(entry: Entry) -> str:
    """What a person does about an uncertain entry: where to look, then the command that says what was found."""
    if entry.channel == Channel.LETTER.value:
        return (
            f"check the quote's files in Dolibarr for {entry.file_name or 'the letter'} (`dolirelance retry` "
            f"looks for it too), then `dolirelance ledger resolve {entry.key} --sent|--not-sent`"
        )
    return (
        "check the sender's mailbox or the SMTP server's log, then "
        f"`dolirelance ledger resolve {entry.key} --sent|--not-sent`"
    )


@dataclass(frozen=True)
class Attempt:
    """What is claimed before anything slow is done: the quote, the key, who asks and why."""

    key: str
    quote_id: int
    quote_ref: str
    channel: Channel
    run_id: str
    customer_name: str = ""
    model: str | None = None  # None: the next level, known once the history is read
    user_id: int | None = None
    note: str = ""
    next_date: date | None = None
    step: int | None = None


Prepare = Callable[[], Awaitable[PreparedFollowUp]]
KeepCopy = Callable[[PreparedFollowUp], None]

STOPPED_BEFORE_SENDING = "the run was stopped before this e-mail was sent"


class StoppedBeforeSending(MailError):
    """Raised instead of sending once the run is asked to stop: nothing left, the claim is released."""


class SharedSmtp(SmtpSender):
    """One SMTP connection shared by concurrent follow-ups: one message at a time on it.

    Only :meth:`send` is used by :func:`deliver`; pacing and connection reuse stay the
    wrapped sender's. ``should_stop``: once true, nothing new leaves (a follow-up prepared
    while another was being sent is released instead).
    """

    def __init__(self, sender: SmtpSender, should_stop: Callable[[], bool] = lambda: False) -> None:  # it delegates
        self._sender = sender
        self._should_stop = should_stop
        self._lock = threading.Lock()

    def send(self, message: EmailMessage, *, on_turn: Callable[[], object] | None = None) -> None:
        with self._lock:
            if self._should_stop():
                raise StoppedBeforeSending(STOPPED_BEFORE_SENDING)
            self._sender.send(message, on_turn=on_turn)


def not_in_batch(reason: str, file_name: str | None) -> str:
    """What a letter done and recorded but missing from the print batch tells the person printing."""
    return f"not in the print batch ({reason}): print {file_name} from the quote's files in Dolibarr"


async def deliver(
    rt: Runtime,
    attempt: Attempt,
    prepare: Prepare,
    *,
    smtp: SmtpSender | None,
    keep_copy: KeepCopy | None = None,
) -> FollowUpOutcome:
    """Claim, prepare, send or file, record, keep the local copy: the protocol of the module docstring.

    ``prepare`` runs only once the claim is won; an error it raises releases the claim and is raised
    again (the caller says why it failed). While this runs the ledger's heartbeat keeps the claim alive.
    """
    ledger = rt.ledger
    claim = await asyncio.to_thread(
        ledger.claim,
        attempt.key,
        quote_id=attempt.quote_id,
        quote_ref=attempt.quote_ref,
        step=attempt.step,
        model=attempt.model or "",
        channel=attempt.channel.value,
        run_id=attempt.run_id,
        note=attempt.note,
        user_id=attempt.user_id,
        next_date=attempt.next_date,
    )
    if not claim.won:
        if claim.holder is not None and claim.holder.state in HANDING_OVER_STATES:
            await asyncio.to_thread(ledger.recover_abandoned)  # a dead sender's row says UNCERTAIN
            claim = replace(claim, holder=await asyncio.to_thread(ledger.holder, attempt.quote_id) or claim.holder)
        why = (
            describe_holder(claim.holder, rt.tz, quote_ref=attempt.quote_ref)
            if claim.holder is not None
            else f"{attempt.quote_ref}: another follow-up holds this quote"
        )
        return FollowUpOutcome(
            attempt.quote_ref,
            attempt.customer_name,
            attempt.model,
            attempt.channel,
            "refused",
            key=attempt.key,
            error=why,
            step=attempt.step,
            error_code=ErrorCode.ALREADY_DONE
            if claim.holder is not None and claim.holder.state in RECORDED_STATES
            else ErrorCode.IN_PROGRESS,
        )
    try:
        return await _deliver_claimed(rt, attempt, prepare, smtp=smtp, keep_copy=keep_copy)
    finally:  # done, released, uncertain or left for `retry`: this process no longer works on it
        ledger.let_go(attempt.key)


async def _deliver_claimed(
    rt: Runtime, attempt: Attempt, prepare: Prepare, *, smtp: SmtpSender | None, keep_copy: KeepCopy | None
) -> FollowUpOutcome:
    ledger = rt.ledger
    try:
        prepared = await prepare()
    except BaseException as exc:  # cancelled too: nothing left, let the quote go
        reason = exc.message if isinstance(exc, DolirelanceError) else f"{type(exc).__name__}: {exc}"
        await asyncio.to_thread(_release, rt, attempt.key, reason)
        raise
    assert prepared.key == attempt.key, "prepare must build the claimed follow-up"
    if prepared.channel is Channel.EMAIL:
        left = await _send(rt, prepared, smtp)
    else:
        left = await _file(rt, prepared)
    if isinstance(left, FollowUpOutcome):
        return left
    done_at = left
    try:
        recorded = await record_followup(rt, record_facts(rt, prepared), done_at=done_at, history=prepared.history)
    except Exception as exc:  # Dolibarr down, or anything else: the follow-up happened all the same
        reason = exc.message if isinstance(exc, DolirelanceError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, DolibarrError):
            log.exception("recording follow-up %s of %s failed unexpectedly", prepared.key, prepared.quote.ref)
        log.warning(
            "follow-up %s of %s done but not recorded in Dolibarr: %s", prepared.key, prepared.quote.ref, reason
        )
        await asyncio.to_thread(_after_handover, lambda: rt.ledger.mark_record_failed(prepared.key, reason), prepared)
        outcome = _outcome(
            prepared,
            "sent-not-recorded",
            done_at=done_at,
            error=f"done, but not recorded in Dolibarr yet ({reason}); `dolirelance retry` records it",
        )
    else:
        noted = await asyncio.to_thread(
            _after_handover,
            lambda: ledger.mark_recorded(
                prepared.key,
                event_id=recorded.event_id,
                todo_event_id=recorded.todo_event_id,
                file_name=prepared.letter_file_name,
            ),
            prepared,
        )
        if noted:  # "recorded" only once the ledger says so
            outcome = _outcome(
                prepared,
                "recorded",
                event_id=recorded.event_id,
                todo_event_id=recorded.todo_event_id,
                done_at=done_at,
                todos_left_open=tuple(todo.event_id for todo in recorded.todos_left_open),
            )
        else:
            outcome = _outcome(
                prepared,
                "sent-not-recorded",
                event_id=recorded.event_id,
                todo_event_id=recorded.todo_event_id,
                done_at=done_at,
                error=f"done and written in Dolibarr (event {recorded.event_id}), but the ledger could not note "
                "it; `dolirelance status` shows where it stands, `dolirelance retry` brings the ledger up to "
                "date without writing Dolibarr again",
            )
    if keep_copy is not None:
        try:
            await asyncio.to_thread(keep_copy, prepared)
        except (DolirelanceError, OSError) as exc:  # done and recorded: say so, never "failed"
            reason = exc.message if isinstance(exc, DolirelanceError) else str(exc)
            outcome = replace(
                outcome,
                local_copy_error=not_in_batch(reason, prepared.letter_file_name)
                if prepared.channel is Channel.LETTER
                else f"no local copy ({reason})",
            )
    return outcome


def _release(rt: Runtime, key: str, reason: str) -> None:
    """Nothing left: the claim goes back, the quote is free to try again."""
    try:
        rt.ledger.mark_failed(key, reason)
    except LedgerError as exc:  # the lease then expires and the next claim takes the quote over
        log.error("could not release the claim %s: %s", key, exc.message)


async def _send(rt: Runtime, prepared: PreparedFollowUp, smtp: SmtpSender | None) -> datetime | FollowUpOutcome:
    assert prepared.email is not None and smtp is not None
    ledger = rt.ledger
    email = prepared.email

    turn_error: list[LedgerError] = []
    facts = record_facts(rt, prepared).to_json()

    def mark_sending() -> None:
        try:
            ledger.mark_sending(
                prepared.key,
                message_id=prepared.message_id,
                recipients=prepared.recipients_text,
                model=prepared.model,
                next_date=prepared.next_date,
                facts=facts,
            )
        except LedgerError as exc:
            turn_error.append(exc)
            raise

    def hand_over() -> datetime | Exception:
        """The SMTP turn (after the shared connection's lock and the pacing wait): SENDING, the message
        to SMTP, then SENT: the protocol's order, in one trip to a worker thread. Until its turn comes
        the claim stays CLAIMED, its lease renewed by the heartbeat: a run killed while it waits leaves
        nothing uncertain.

        A ledger error before the message is handed over is raised (nothing left); the sender's error
        is returned, to be placed below.
        """
        try:
            smtp.send(email, on_turn=mark_sending)
        except Exception as exc:
            if turn_error and exc is turn_error[0]:
                raise
            return exc
        done_at = rt.now()
        _after_handover(
            lambda: ledger.mark_sent(
                prepared.key, message_id=prepared.message_id or "", recipients=prepared.recipients_text
            ),
            prepared,
        )
        return done_at

    left = await asyncio.to_thread(hand_over)
    if isinstance(left, datetime):
        return left
    if isinstance(left, MailUncertain):
        return await _uncertain(rt, prepared, f"{left.message}; {left.remedy}")
    if isinstance(left, MailError):
        await asyncio.to_thread(_release, rt, prepared.key, str(left))
        return _outcome(prepared, "failed", error=str(left), error_code=left.code)
    # SmtpSender classifies its own errors: this one cannot be placed
    log.error("sending follow-up %s of %s failed unexpectedly", prepared.key, prepared.quote.ref, exc_info=left)
    return await _uncertain(rt, prepared, f"sending stopped on an unexpected error ({type(left).__name__}: {left})")


async def _file(rt: Runtime, prepared: PreparedFollowUp) -> datetime | FollowUpOutcome:
    """FILING, the upload to the quote's files, then FILED. An upload whose answer is lost (Dolibarr timed
    out or failed after the request left, or answered that the file exists) is looked for by its name
    before anything else: found, it was filed; not found, it is uncertain. Never uploaded twice."""
    assert prepared.letter_pdf is not None and prepared.letter_file_name is not None
    ledger = rt.ledger
    name = prepared.letter_file_name
    await asyncio.to_thread(
        ledger.mark_sending,
        prepared.key,
        model=prepared.model,
        next_date=prepared.next_date,
        file_name=name,
        facts=record_facts(rt, prepared).to_json(),
    )
    try:
        await rt.dolibarr.upload_document(prepared.quote, name, prepared.letter_pdf)
    except (DolibarrUnavailable, DolibarrResponseError, DolibarrRequestError) as exc:
        # The request left: Dolibarr may have stored it (a 400 may be "this file exists" from an earlier try
        # with this key, a 5xx may come after the file was written). Looked for by its name before anything.
        found = await _letter_in_files(rt, prepared.quote, name)
        answered = exc.status_code is not None  # an answer ends the request: not there now, never there
        if found is None or (found is False and not answered):
            look = "could not look for it" if found is None else "it is not in the quote's files yet"
            return await _uncertain(
                rt,
                prepared,
                f"the upload of {name} got no clear answer ({exc}) and {look}; check the quote's files in "
                "Dolibarr (`dolirelance retry` looks again)",
            )
        if found is False:  # Dolibarr answered no, and the file is not there: nothing was filed
            reason = f"the letter could not be filed in Dolibarr: {exc}"
            await asyncio.to_thread(_release, rt, prepared.key, reason)
            return _outcome(prepared, "failed", error=reason, error_code=exc.code)
        log.warning(
            "letter %s of %s: no clear answer (%s), but it is in the quote's files", name, prepared.quote.ref, exc
        )
    except DolibarrError as exc:  # refused before anything was stored (rights, unknown quote): nothing filed
        reason = f"the letter could not be filed in Dolibarr: {exc}"
        await asyncio.to_thread(_release, rt, prepared.key, reason)
        return _outcome(prepared, "failed", error=reason, error_code=exc.code)
    except Exception as exc:
        log.exception("filing letter %s of %s failed unexpectedly", prepared.key, prepared.quote.ref)
        return await _uncertain(
            rt,
            prepared,
            f"filing the letter stopped on an unexpected error ({type(exc).__name__}: {exc}); check the "
            f"quote's files in Dolibarr for {name}",
        )
    done_at = rt.now()
    await asyncio.to_thread(_after_handover, lambda: ledger.mark_filed(prepared.key), prepared)
    return done_at


async def _letter_in_files(rt: Runtime, quote: Quote, name: str) -> bool | None:
    """Whether the quote's files hold ``name`` (None: Dolibarr could not say)."""
    try:
        documents = await rt.dolibarr.list_documents(quote)
    except DolibarrError as exc:
        log.warning("could not list the files of %s to look for %s: %s", quote.ref, name, exc)
        return None
    return any(document.name == name for document in documents)


async def _uncertain(rt: Runtime, prepared: PreparedFollowUp, reason: str) -> FollowUpOutcome:
    """It may have left: never retried; a person settles it (the SMTP sender has dropped its connection)."""
    log.error("follow-up %s of %s is UNCERTAIN: %s", prepared.key, prepared.quote.ref, reason)
    await asyncio.to_thread(_after_handover, lambda: rt.ledger.mark_uncertain(prepared.key, reason), prepared)
    return _outcome(prepared, "uncertain", error=f"uncertain: {reason}")


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


def ledger_problems(rt: Runtime, quote_ids: Sequence[int], *, recover: bool = True) -> dict[int, str]:
    """Quotes with a follow-up in flight (claimed, sending, uncertain, not recorded): shown in previews.

    ``recover`` (the sending paths): abandoned claims are first moved on in the ledger
    (:meth:`~dolirelance.ledger.Ledger.recover_abandoned`). Without it (a preview), the ledger is only
    read, an abandoned claim seen as its recovery would leave it: the same answer, nothing written.
    """
    if recover:
        rt.ledger.recover_abandoned()
    problems: dict[int, str] = {}
    for entry in rt.ledger.entries_for_quotes(quote_ids, as_recovered=not recover):
        if entry.state in IN_FLIGHT_STATES:
            problems[entry.quote_id] = describe_holder(entry, rt.tz)
    return problems


async def retry_unrecorded(rt: Runtime) -> list[FollowUpOutcome]:
    """Record in Dolibarr the follow-ups that were sent but not recorded. Never sends anything.

    Under ``[access] senders_group`` only a sender (the API key's user) may, before anything is taken.
    """
    outcomes: list[FollowUpOutcome] = []
    await asyncio.to_thread(rt.ledger.recover_abandoned)  # claims whose process died: released or uncertain
    letters = [e for e in await asyncio.to_thread(rt.ledger.uncertain) if e.channel == Channel.LETTER.value]
    entries = await asyncio.to_thread(rt.ledger.to_record)
    if not entries and not letters:
        return outcomes
    await require_access(rt, Access.SEND)
    for letter in letters:  # an upload without an answer: is the letter in the quote's files?
        looked = await _look_for_uncertain_letter(rt, letter)
        if looked is not None:
            outcomes.append(looked)
    if letters:
        entries = await asyncio.to_thread(rt.ledger.to_record)  # with the letters found
    for entry in entries:
        closed = await _close_if_quote_gone(rt, entry)
        try:
            outcomes.append(closed if closed is not None else await _record_entry(rt, entry))
        finally:  # recorded, left for later or failed unexpectedly: its lease is no longer renewed
            rt.ledger.let_go(entry.key)
    return outcomes


async def _look_for_uncertain_letter(rt: Runtime, entry: Entry) -> FollowUpOutcome | None:
    """An uncertain letter found in its quote's files was filed: resolved as such (then recorded).
    Not found (or not looked for): it stays uncertain for a person, said in the outcome."""
    base = FollowUpOutcome(
        entry.quote_ref, "", entry.model, Channel.LETTER, "uncertain", key=entry.key, file_name=entry.file_name,
        step=entry.step,
    )  # fmt: skip
    try:
        quote = await rt.dolibarr.get_quote(entry.quote_id)
    except DolibarrNotFound:
        return replace(base, error=f"uncertain: quote #{entry.quote_id} is gone from Dolibarr; " + how_to_settle(entry))
    except DolibarrError as exc:
        return replace(base, error=f"uncertain: could not look for the letter ({exc.message})")
    found = await _letter_in_files(rt, quote, entry.file_name) if entry.file_name else None
    if not found:
        if found is None and entry.file_name:
            return replace(base, error="uncertain: could not list the quote's files; " + how_to_settle(entry))
        return replace(
            base,
            error=f"uncertain: {entry.file_name or 'the letter'} is not in the quote's files; " + how_to_settle(entry),
        )
    await asyncio.to_thread(
        rt.ledger.resolve, entry.key, sent=True, by="dolirelance retry (found in the quote's files)"
    )
    log.info("letter %s of %s found in the quote's files: filed", entry.file_name, entry.quote_ref)
    return None


async def _close_if_quote_gone(rt: Runtime, entry: Entry) -> FollowUpOutcome | None:
    """A follow-up done whose quote was deleted in Dolibarr can never be recorded: closed with a note, so
    ``retry`` (and ``run --once``) stop failing on it every day. None: the quote is there (or cannot be read
    now, and recording will say why)."""
    try:
        await rt.dolibarr.get_quote(entry.quote_id)
    except DolibarrNotFound:
        pass
    except DolibarrError:
        return None
    else:
        return None
    happened = "filed" if entry.channel == Channel.LETTER.value else "sent"
    reason = f"quote {entry.quote_ref} (#{entry.quote_id}) is gone from Dolibarr: {happened}, but never recorded"
    try:
        closed = await asyncio.to_thread(rt.ledger.close_unrecordable, entry.key, reason)
    except LedgerError as exc:  # another process took it meanwhile: it says what became of it
        return FollowUpOutcome(
            entry.quote_ref, "", entry.model, Channel(entry.channel), "skipped", key=entry.key, error=exc.message,
            step=entry.step,
        )  # fmt: skip
    log.warning("follow-up %s closed: %s", entry.key, reason)
    return FollowUpOutcome(
        closed.quote_ref, "", closed.model, Channel(closed.channel), "closed", key=closed.key,
        recipients=closed.recipients or "", message_id=closed.message_id, file_name=closed.file_name,
        error=reason, step=closed.step,
    )  # fmt: skip


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
    if not await asyncio.to_thread(
        rt.ledger.take_for_recording, entry.key
    ):  # another process is recording it right now
        return replace(base, outcome="skipped", error="being recorded by another process")
    try:
        facts = RecordFacts.from_json(entry.facts) if entry.facts else await _facts_of_older_entry(rt, entry)
        recorded = await record_followup(
            rt, facts, done_at=entry.sent_at or entry.updated_at  # when it happened, not when it is recorded
        )
    except DolibarrError as exc:
        await asyncio.to_thread(rt.ledger.mark_record_failed, entry.key, exc.message)
        return replace(base, error=exc.message if not exc.remedy else f"{exc.message}; {exc.remedy}")
    await asyncio.to_thread(
        lambda: rt.ledger.mark_recorded(
            entry.key, event_id=recorded.event_id, todo_event_id=recorded.todo_event_id, file_name=facts.file_name
        )
    )
    return replace(
        base,
        customer_name=facts.customer_name,
        outcome="recorded",
        event_id=recorded.event_id,
        todo_event_id=recorded.todo_event_id,
        todos_left_open=tuple(todo.event_id for todo in recorded.todos_left_open),
    )


async def _facts_of_older_entry(rt: Runtime, entry: Entry) -> RecordFacts:
    """The facts of an entry written before the ledger kept them (schema 0003): read again from Dolibarr."""
    channel = Channel(entry.channel)
    quote = await rt.dolibarr.get_quote(entry.quote_id)
    customer = await rt.dolibarr.get_customer(quote.customer_id)
    owner = await rt.user(entry.user_id) if entry.user_id else await rt.me()
    sales_rep = await sales_rep_of(rt, quote, owner)
    recipients = choose_recipients(quote, customer) if channel is Channel.EMAIL else ()
    contact = addressee(quote, recipients)
    model = entry.model or rt.model_names()[0]
    file_name = entry.file_name
    if channel is Channel.LETTER and file_name is None:  # the ledger learns it only once recorded
        file_name = await _filed_letter_name(rt, quote, entry.key)
    return RecordFacts(
        key=entry.key,
        quote_id=quote.id,
        quote_ref=quote.ref,
        customer_id=quote.customer_id,
        customer_name=customer.name,
        channel=channel.value,
        model=model,
        level=rt.level_of(model) or 1,
        note=entry.note or "",
        next_date=(entry.next_date or rt.today()).isoformat(),
        owner_id=owner.id,
        sales_rep_id=sales_rep.id,
        contact_id=contact.contact_id if contact else None,
        step=entry.step,
        email_to=entry.recipients or None,
        message_id=entry.message_id or None,  # so the event keeps the mail's Message-ID
        file_name=file_name,
    )


async def _filed_letter_name(rt: Runtime, quote: Quote, key: str) -> str | None:
    """The letter a follow-up filed in the quote's documents (named by :func:`letter_file_name`)."""
    suffix = key.rsplit(":", 1)[-1][:8]
    for document in await rt.dolibarr.list_documents(quote):
        if document.name.startswith(f"relance-{quote.ref}-") and document.name.endswith(f"-{suffix}.pdf"):
            return document.name
    return None
