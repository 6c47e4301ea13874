"""Follow-ups as Dolibarr keeps them: agenda events whose code starts with ``AC_RELANCE``.

Every event we write ends its note with one machine-readable line, so the whole history can
be rebuilt from Dolibarr alone (a new replica, a lost ledger, the web pages):

    dolirelance: key=manual%3A3f2a; model=1%C3%A8re%20relance; level=1; channel=email; next=2026-12-13

Values are percent-encoded so that no separator, quote or HTML character can break the line
(Dolibarr keeps notes as restricted HTML).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import quote as percent_encode
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from dolirelance.domain import AgendaEvent, Channel

CODE_PREFIX = "AC_RELANCE"
CODE_EMAIL = "AC_RELANCE_EMAIL"
CODE_LETTER = "AC_RELANCE_LETTER"
CODE_TODO = "AC_RELANCE_TODO"
CODE_REPLY = "AC_RELANCE_REPLY"  # the customer answered a follow-up
CODE_BOUNCE = "AC_RELANCE_BOUNCE"  # a follow-up e-mail could not be delivered (permanent failure)
ANSWER_CODES = (CODE_REPLY, CODE_BOUNCE)
CODE_BY_CHANNEL = {Channel.EMAIL: CODE_EMAIL, Channel.LETTER: CODE_LETTER}
FACTS_MARKER = "dolirelance:"

_FACTS_RE = re.compile(r"dolirelance:\s*([^<\n\r]*)")
_TAG_RE = re.compile(r"<[^>]+>")
_BR_RE = re.compile(r"<br\s*/?>\r?\n?|</p>\r?\n?|</div>\r?\n?", re.IGNORECASE)  # a line end, "\n" or not after it
_HTML_TAG_RE = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")


def encode_facts(facts: dict[str, str | int | None]) -> str:
    parts = [f"{key}={percent_encode(str(value), safe='')}" for key, value in facts.items() if value is not None]
    return f"{FACTS_MARKER} " + "; ".join(parts)


def decode_facts(note: str) -> dict[str, str]:
    """The facts of the last ``dolirelance:`` line of a note ({} when there is none)."""
    matches = _FACTS_RE.findall(html.unescape(note or ""))
    if not matches:
        return {}
    facts: dict[str, str] = {}
    for part in matches[-1].split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key:
            facts[key.strip()] = unquote(value.strip())
    return facts


def compose_note(user_note: str, facts: dict[str, str | int | None]) -> str:
    user_note = user_note.strip()
    return f"{user_note}\n{encode_facts(facts)}" if user_note else encode_facts(facts)


def user_note_of(note: str) -> str:
    """The note a person wrote, without our facts line and without HTML."""
    text = html.unescape(_TAG_RE.sub("\n", note or ""))
    lines = [line for line in text.splitlines() if not line.strip().startswith(FACTS_MARKER)]
    return "\n".join(lines).strip()


@dataclass(frozen=True, slots=True)
class FollowUpRecord:
    """One follow-up done, rebuilt from its Dolibarr event."""

    event_id: int
    quote_id: int | None
    customer_id: int | None
    contact_id: int | None
    owner_id: int | None
    done_at: datetime
    channel: Channel
    model: str | None
    level: int | None
    note: str
    next_date: date | None
    file_name: str | None
    key: str | None
    automatic: bool
    step: int | None
    recipients: str | None

    def done_on(self, tz: ZoneInfo) -> date:
        return self.done_at.astimezone(tz).date()


@dataclass(frozen=True, slots=True)
class TodoRecord:
    """A planned next follow-up (a to-do event for the sales person)."""

    event_id: int
    quote_id: int | None
    customer_id: int | None
    owner_id: int | None
    due_at: datetime
    done: bool
    label: str
    key: str | None = None  # the follow-up that planned it (its facts line)
    # None: the next follow-up; "reply" / "bounce": answer a customer, fix an address (not a follow-up)
    purpose: str | None = None
    percentage: int = 0  # 0: not started; a person may have started it (1–99) or done it (100)
    note: str = ""  # as Dolibarr keeps it: whether a person changed what we wrote is read from it

    def due_on(self, tz: ZoneInfo) -> date:
        return self.due_at.astimezone(tz).date()


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _date_or_none(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def quote_id_of(event: AgendaEvent) -> int | None:
    return event.element_id if event.element_type in ("propal", "proposal") else None


def record_of(event: AgendaEvent) -> FollowUpRecord | None:
    """The follow-up an event records, or None for other events (to-dos included)."""
    if event.code not in (CODE_EMAIL, CODE_LETTER):
        return None
    facts = decode_facts(event.note)
    channel = Channel.EMAIL if event.code == CODE_EMAIL else Channel.LETTER
    contact_id = _int_or_none(facts.get("contact")) or (event.contact_ids[0] if event.contact_ids else None)
    return FollowUpRecord(
        event_id=event.id,
        quote_id=quote_id_of(event),
        customer_id=event.customer_id,
        contact_id=contact_id,
        owner_id=event.owner_id,
        done_at=event.start,
        channel=channel,
        model=facts.get("model"),
        level=_int_or_none(facts.get("level")),
        note=user_note_of(event.note),
        next_date=_date_or_none(facts.get("next")),
        file_name=facts.get("file"),
        key=facts.get("key"),
        automatic=facts.get("auto") == "1",
        step=_int_or_none(facts.get("step")),
        recipients=event.email_to or facts.get("to"),
    )


def todo_of(event: AgendaEvent) -> TodoRecord | None:
    if event.code != CODE_TODO:
        return None
    return TodoRecord(
        event_id=event.id,
        quote_id=quote_id_of(event),
        customer_id=event.customer_id,
        owner_id=event.owner_id,
        due_at=event.start,
        done=event.percentage >= 100,
        label=event.label,
        key=decode_facts(event.note).get("key"),
        purpose=decode_facts(event.note).get("for"),
        percentage=event.percentage,
        note=event.note,
    )


# The text of reply and bounce events (French: the sales person reads it in Dolibarr). Written and read
# back here only, so the history views find the excerpt and the reason in events recorded by any version.
_REPLY_HEADERS = ("De :", "Date :", "Objet :")
_REPLY_FULL_MESSAGE = "Message complet :"
_REPLY_NO_TEXT = "(message sans texte)"
_BOUNCE_REASON = "Raison donnée par le serveur :"


def compose_reply_text(
    *, sender: str, sender_name: str, local_time: str, subject: str, excerpt: str, stored_file: str
) -> str:
    """The note of an ``AC_RELANCE_REPLY`` event, before its facts line."""
    return "\n".join(
        [
            f"De : {sender_name} <{sender}>" if sender_name else f"De : {sender}",
            f"Date : {local_time}",
            f"Objet : {subject}",
            "",
            excerpt or _REPLY_NO_TEXT,
            "",
            f"{_REPLY_FULL_MESSAGE} {stored_file} (fichiers joints du devis)",
        ]
    )


def compose_bounce_text(*, sent_day: str, address: str, reason: str) -> str:
    """The note of an ``AC_RELANCE_BOUNCE`` event, before its facts line."""
    return "\n".join(
        [
            f"La relance du {sent_day} à {address} n'a pas pu être remise (échec définitif).",
            f"{_BOUNCE_REASON} {reason}",
            "",
            "Les relances automatiques n'utilisent plus cette adresse tant que le client ou le contact "
            "n'est pas modifié dans Dolibarr.",
        ]
    )


def _text_lines(note: str) -> list[str]:
    """A note's lines as text, without our facts line: HTML line ends and tags taken out, but not an
    address in angle brackets (``<jean@client.fr>``, as servers quote them in their reasons)."""
    text = html.unescape(_HTML_TAG_RE.sub("", _BR_RE.sub("\n", note or "")))
    return [line.rstrip() for line in text.splitlines() if not line.strip().startswith(FACTS_MARKER)]


def reply_excerpt_of(note: str) -> str | None:
    """The first lines of the customer's message kept in a reply event (None when it had no text).

    Tolerant of what Dolibarr does to notes (restricted HTML, ``<br>`` for line ends): the header
    lines and the closing "Message complet" line are dropped, blank-line runs made one.
    """
    lines = _text_lines(note)
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith(_REPLY_HEADERS)):
        lines.pop(0)
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith(_REPLY_FULL_MESSAGE)):
        lines.pop()
    kept: list[str] = []
    for line in lines:
        if line.strip() or (kept and kept[-1].strip()):
            kept.append(line)
    excerpt = "\n".join(kept).strip()
    return excerpt if excerpt and excerpt != _REPLY_NO_TEXT else None


def bounce_reason_of(note: str) -> str | None:
    """The receiving server's reason kept in a bounce event."""
    for line in _text_lines(note):
        if line.strip().startswith(_BOUNCE_REASON):
            return line.strip().removeprefix(_BOUNCE_REASON).strip() or None
    return None


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """A customer's reply or a permanent bounce, rebuilt from its Dolibarr event."""

    event_id: int
    kind: str  # "reply" or "bounce"
    quote_id: int | None
    customer_id: int | None
    contact_id: int | None
    at: datetime  # when the message arrived (its Date)
    key: str | None  # the mailbox message it came from ("mail:<mailbox>:<uidvalidity>:<uid>")
    address: str | None  # the sender (reply) or the address that bounced
    subject: str | None = None  # a reply's subject
    excerpt: str | None = None  # a reply's first lines, quoted text left out
    reason: str | None = None  # a bounce's reason, as the receiving server gave it
    file_name: str | None = None  # a reply's message as an .eml in the quote's attached files
    # how a reply was known to answer our e-mail: "message-id" (In-Reply-To/References), or what the
    # trusted receiving server said ("dmarc=pass header.from=…"); None for a bounce or an older event
    proof: str | None = None

    def on(self, tz: ZoneInfo) -> date:
        return self.at.astimezone(tz).date()


def answer_of(event: AgendaEvent) -> AnswerRecord | None:
    if event.code not in ANSWER_CODES:
        return None
    facts = decode_facts(event.note)
    reply = event.code == CODE_REPLY
    return AnswerRecord(
        event_id=event.id,
        kind="reply" if reply else "bounce",
        quote_id=quote_id_of(event),
        customer_id=event.customer_id,
        contact_id=_int_or_none(facts.get("contact")) or (event.contact_ids[0] if event.contact_ids else None),
        at=event.start,
        key=facts.get("key"),
        address=(facts.get("address") or "").lower() or None,
        subject=(event.email_subject or None) if reply else None,
        excerpt=reply_excerpt_of(event.note) if reply else None,
        reason=None if reply else bounce_reason_of(event.note),
        file_name=facts.get("file") if reply else None,
        proof=facts.get("proof") if reply else None,
    )


def latest_reply(answers: Sequence[AnswerRecord]) -> AnswerRecord | None:
    """The customer's last reply among a quote's answers (what the quote lists mark "replied <date>")."""
    replies = [answer for answer in answers if answer.kind == "reply"]
    return max(replies, key=lambda a: (a.at, a.event_id)) if replies else None


def latest_bounces(answers: Sequence[AnswerRecord]) -> tuple[AnswerRecord, ...]:
    """The last permanent bounce of each address among a quote's answers, newest first (the quote lists
    mark "bounced <address>": whether the card was fixed since is for `explain`, which reads the contacts)."""
    last: dict[str, AnswerRecord] = {}
    for answer in sorted(answers, key=lambda a: (a.at, a.event_id)):
        if answer.kind == "bounce":
            last[answer.address or ""] = answer
    return tuple(sorted(last.values(), key=lambda a: (a.at, a.event_id), reverse=True))


@dataclass(frozen=True, slots=True)
class QuoteHistory:
    """All follow-ups and to-dos of one quote, oldest first."""

    followups: tuple[FollowUpRecord, ...] = ()
    todos: tuple[TodoRecord, ...] = ()
    answers: tuple[AnswerRecord, ...] = ()  # replies and permanent bounces

    @property
    def last(self) -> FollowUpRecord | None:
        return self.followups[-1] if self.followups else None

    @property
    def open_todos(self) -> tuple[TodoRecord, ...]:
        """Open to-dos of the next follow-up (a to-do to answer a customer is not one)."""
        return tuple(todo for todo in self.todos if not todo.done and todo.purpose is None)

    @property
    def next_todo(self) -> TodoRecord | None:
        pending = self.open_todos
        return min(pending, key=lambda todo: todo.due_at) if pending else None


def group_by_quote(events: list[AgendaEvent]) -> dict[int, QuoteHistory]:
    """Index events by quote id; events of no quote are dropped."""
    followups: dict[int, list[FollowUpRecord]] = {}
    todos: dict[int, list[TodoRecord]] = {}
    answers: dict[int, list[AnswerRecord]] = {}
    for event in events:
        record = record_of(event)
        if record is not None and record.quote_id is not None:
            followups.setdefault(record.quote_id, []).append(record)
            continue
        answer = answer_of(event)
        if answer is not None and answer.quote_id is not None:
            answers.setdefault(answer.quote_id, []).append(answer)
            continue
        todo = todo_of(event)
        if todo is not None and todo.quote_id is not None:
            todos.setdefault(todo.quote_id, []).append(todo)
    quote_ids = set(followups) | set(todos) | set(answers)
    return {
        quote_id: QuoteHistory(
            followups=tuple(sorted(followups.get(quote_id, []), key=lambda r: (r.done_at, r.event_id))),
            todos=tuple(sorted(todos.get(quote_id, []), key=lambda t: (t.due_at, t.event_id))),
            answers=tuple(sorted(answers.get(quote_id, []), key=lambda a: (a.at, a.event_id))),
        )
        for quote_id in quote_ids
    }
