"""Preparing a follow-up: quote → recipients, rendered texts, attachments, e-mail or letter. Sends nothing."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from dolirelance.dolibarr.wire import safe_file_name
from dolirelance.domain import (
    Channel,
    Customer,
    Document,
    Quote,
    QuoteContact,
    Recipient,
    User,
    bare_address,
    choose_recipients,
    no_email_message,
)
from dolirelance.errors import (
    BadEmailAddress,
    DolibarrError,
    DolibarrNotFound,
    DolibarrResponseError,
    FollowUpError,
    NoEmailAddress,
    QuoteNotOpen,
    RecentFollowUp,
    UnknownModel,
)
from dolirelance.history import QuoteHistory
from dolirelance.ledger import manual_key
from dolirelance.letter import LetterComposer
from dolirelance.mail import build_email
from dolirelance.render import FollowUpContext, RenderedFollowUp
from dolirelance.service.agenda import describe_owner, is_recent, last_followup
from dolirelance.service.reads import (
    load_history,
    next_model_name,
    read_quote,
)
from dolirelance.service.runtime import Runtime

log = logging.getLogger(__name__)


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
    # What the quote's own PDF is, for previews: « PDF du devis du 28/11/2026 » ("" when none is attached).
    quote_pdf_description: str = ""

    @property
    def message_id(self) -> str | None:
        return None if self.email is None else str(self.email["Message-ID"])

    @property
    def recipients_text(self) -> str:
        return ", ".join(r.email for r in self.recipients)

    @property
    def attachments_text(self) -> str:
        """``PR2611-0001.pdf (PDF du devis du 28/11/2026), plan.pdf``: the quote's own PDF first, named."""
        names = list(self.attachment_names)
        if names and self.quote_pdf_description:
            names[0] = f"{names[0]} ({self.quote_pdf_description})"
        return ", ".join(names)


def ensure_open(quote: Quote, customer: Customer | None = None) -> None:
    if not quote.is_open:
        who = f" ({customer.name})" if customer else ""
        raise QuoteNotOpen(
            f"{quote.ref}{who} is {quote.status.label}: only open (validated, not signed or refused) "
            "quotes can be followed up"
        )


async def sales_rep_of(rt: Runtime, quote: Quote, fallback: User) -> User:
    """The customer's first sales representative, else the quote's follower (SALESREPFOLL), else its author,
    else the configured default. (Dolibarr 22 and 23 cannot list representatives: the follower comes first there.)

    A representative or follower whose user card may not be read (no ``user.user.lire``) is still known
    by what the list named. An author that may not be read gives way to the configured default; failing
    that it is known by its id only, enough to own the next to-do (mails are then signed by the acting user).
    """
    try:
        reps = await rt.sales_representatives(quote.customer_id)
    except DolibarrError as exc:
        log.debug("no sales representatives for customer %s: %s", quote.customer_id, exc)
        reps = []
    listed = {rep.id: rep for rep in reps}
    for row in quote.contacts:
        if row.source == "internal" and row.contact_id in quote.followers():
            listed.setdefault(
                row.contact_id,
                User(id=row.contact_id, login="", firstname=row.firstname, lastname=row.lastname, email=row.email),
            )
    candidates = [rep.id for rep in reps] + list(quote.followers())
    if quote.author_id:
        candidates.append(quote.author_id)
    unreadable_author: int | None = None
    for user_id in candidates:
        try:
            return await rt.user(user_id)
        except DolibarrError as exc:
            if user_id in listed:  # without user.user.lire: the list already names them
                log.debug("cannot read user %s, using what Dolibarr listed: %s", user_id, exc)
                return listed[user_id]
            log.warning("cannot read user %s (the right user.user.lire may be missing): %s", user_id, exc)
            if user_id == quote.author_id:
                unreadable_author = user_id
    default_login = rt.settings.followup.default_sales_rep or rt.settings.auto.user
    if default_login:
        try:
            return await rt.dolibarr.find_user_by_login(default_login)
        except DolibarrError as exc:
            log.debug("cannot read the default sales rep %s: %s", default_login, exc)
    if unreadable_author is not None:
        return User(id=unreadable_author, login="")
    return fallback


# A main PDF written this long before the quote's last change was made by that change: Dolibarr writes
# the file, then records its path on the quote, which stamps the quote's modification date.
SAME_CHANGE = timedelta(seconds=2)


@dataclass(frozen=True, slots=True)
class QuotePdf:
    """The quote's main PDF as attached: the file Dolibarr had, or one rebuilt for this follow-up."""

    name: str
    content: bytes
    made_on: date  # the file's day in Dolibarr (today when rebuilt)
    rebuilt: bool

    def description(self, lang: str) -> str:
        """« PDF du devis du 28/11/2026 »: what previews and the e-mail's attachment call it."""
        if lang.lower().startswith("en"):
            return f"Quote PDF of {self.made_on.isoformat()}"
        return f"PDF du devis du {self.made_on.strftime('%d/%m/%Y')}"


@dataclass(frozen=True, slots=True)
class QuoteAttachments:
    main: QuotePdf
    others: tuple[tuple[str, bytes], ...] = ()

    @property
    def files(self) -> list[tuple[str, bytes]]:
        return [(self.main.name, self.main.content), *self.others]


def main_document(quote: Quote, documents: Sequence[Document]) -> Document | None:
    """The quote's main document among its files: ``last_main_doc``, else ``REF/REF.pdf``."""
    wanted = quote.main_document or f"{quote.ref}/{quote.ref}.pdf"
    for document in documents:
        if document.relative_path == wanted:
            return document
    fallback = f"{quote.ref}.pdf"
    return next((d for d in documents if d.name == fallback and not quote.main_document), None)


def stale_reason(quote: Quote, document: Document | None) -> str | None:
    """Why the quote's main document cannot be attached as it is; None when it can."""
    if document is None:
        return "it has no PDF in Dolibarr"
    if document.modified is None:
        return "Dolibarr does not say when its PDF was made"
    if quote.changed_at is not None and document.modified < quote.changed_at - SAME_CHANGE:
        return (
            f"its PDF ({document.modified.isoformat(timespec='seconds')}) is older than its last change "
            f"({quote.changed_at.isoformat(timespec='seconds')})"
        )
    return None


def content_mismatch(document: Document, content: bytes) -> str | None:
    """What differs between the downloaded bytes and what Dolibarr's file list said of them."""
    if len(content) != document.size:
        return f"{len(content)} bytes downloaded where the file list says {document.size}"
    if document.md5 is not None and hashlib.md5(content, usedforsecurity=False).hexdigest() != document.md5:
        return "the downloaded bytes do not match the MD5 of Dolibarr's file index"
    return None


def unchanged_since_validation(quote: Quote) -> bool:
    """The quote names a main PDF and was not changed after its validation (within :data:`SAME_CHANGE`).

    Validating from the quote's card writes the main PDF, then records its path (``last_main_doc``),
    which stamps ``date_modification`` a moment after ``date_validation``: that file is the current one.
    (The API's validate writes no PDF; a first validation through it leaves ``last_main_doc`` empty.)
    """
    if quote.main_document is None or quote.validated_at is None or quote.changed_at is None:
        return False
    return abs(quote.changed_at - quote.validated_at) <= SAME_CHANGE


async def pdf_made_at_validation(rt: Runtime, quote: Quote) -> QuotePdf | None:
    """The PDF made when an unchanged quote was validated, downloaded in one request; None if it cannot be.

    No file list: the quote's own dates say the file is current (:func:`unchanged_since_validation`);
    the download's bytes are checked against the size Dolibarr gives with them, and the PDF must not
    state it was drawn before the validation (a quote validated again through the API keeps the PDF
    of its earlier validation). A missing file, bytes not matching or an older PDF: None, and the
    caller lists the quote's files as for any other quote.
    """
    if not unchanged_since_validation(quote):
        return None
    assert quote.main_document is not None and quote.validated_at is not None
    try:
        content = await rt.dolibarr.download_document(quote.main_document)
    except DolibarrNotFound:
        log.info("%s: its PDF of validation %s is not in Dolibarr", quote.ref, quote.main_document)
        return None
    except DolibarrResponseError as exc:  # the bytes are not those Dolibarr says it sent
        log.warning("%s: its PDF of validation cannot be used: %s", quote.ref, exc)
        return None
    drawn = stated_creation(content)
    if drawn is not None and drawn < quote.validated_at - SAME_CHANGE:
        # validated again (back to draft, then through the API) without a new PDF: its files will say
        log.info("%s: its PDF (%s) is older than its validation", quote.ref, drawn.isoformat(timespec="seconds"))
        return None
    name = quote.main_document.rsplit("/", 1)[-1]
    return QuotePdf(name, content, quote.validated_at.astimezone(rt.tz).date(), rebuilt=False)


def stated_creation(content: bytes) -> datetime | None:
    """The creation date a PDF states (Dolibarr's TCPDF: when it drew it); None when it states none."""
    try:
        metadata = PdfReader(io.BytesIO(content)).metadata
        made = metadata.creation_date if metadata is not None else None
    except (PyPdfError, ValueError, KeyError, TypeError):  # not a PDF, or a date pypdf cannot read
        return None
    if made is None:
        return None
    return made if made.tzinfo is not None else made.replace(tzinfo=UTC)


async def main_quote_pdf(rt: Runtime, quote: Quote, documents: Sequence[Document] | None) -> QuotePdf:
    """The PDF Dolibarr would attach (``rebuild_pdf = "when_stale"``), else one built now.

    ``documents``: the quote's files when already listed (None: listed here when needed). A quote not
    changed since its validation gets the PDF made then without its files being listed.
    """
    name = quote.main_document.rsplit("/", 1)[-1] if quote.main_document else f"{quote.ref}.pdf"
    if rt.settings.followup.rebuild_pdf == "when_stale":
        if documents is None:
            made_at_validation = await pdf_made_at_validation(rt, quote)
            if made_at_validation is not None:
                return made_at_validation
            documents = await rt.dolibarr.list_documents(quote)
        found = main_document(quote, documents)
        reason = stale_reason(quote, found)
        if found is not None and found.modified is not None and reason is None:
            try:
                content = await rt.dolibarr.download_document(found.relative_path)
            except DolibarrNotFound:
                reason = "its PDF was removed while being read"
            else:
                reason = content_mismatch(found, content)
                if reason is None:
                    return QuotePdf(found.name, content, found.modified.astimezone(rt.tz).date(), rebuilt=False)
                log.warning("%s: rebuilding its PDF: %s", quote.ref, reason)
        log.info("%s: building its PDF: %s", quote.ref, reason)
    content = await rt.dolibarr.build_document(quote)
    return QuotePdf(name, content, rt.today(), rebuilt=True)


async def quote_pdfs(rt: Runtime, quote: Quote) -> QuoteAttachments:
    """The quote's main PDF (see :func:`main_quote_pdf`) and, when configured, its other PDFs."""
    documents: list[Document] | None = None
    if rt.settings.followup.attach_other_pdfs:
        documents = await rt.dolibarr.list_documents(quote)
    main = await main_quote_pdf(rt, quote, documents)
    others: list[tuple[str, bytes]] = []
    for document in documents or ():
        if not document.is_pdf or document.name == main.name or document.name.startswith("relance-"):
            continue
        others.append((document.name, await rt.dolibarr.download_document(document.relative_path)))
    return QuoteAttachments(main, tuple(others))


def letter_file_name(quote: Quote, today: date, key: str) -> str:
    """``relance-PR2611-0001-2026-11-28-ab12cd34.pdf``; a ref with unsafe characters is cleaned."""
    suffix = key.rsplit(":", 1)[-1][:8]
    return safe_file_name(f"relance-{quote.ref}-{today.isoformat()}-{suffix}.pdf")


def _check_address(quote: Quote, address: str, whose: str) -> None:
    """An address read from Dolibarr must be one plain address, else nothing is sent (BadEmailAddress)."""
    try:
        bare_address(address)
    except ValueError as exc:
        raise BadEmailAddress(
            f"{quote.ref}: the e-mail address of {whose} {exc}",
            remedy="correct it in Dolibarr: one plain address like name@example.com (nothing was sent)",
        ) from None


def addressee(quote: Quote, recipients: Sequence[Recipient]) -> QuoteContact | None:
    """The contact the text is written to; None when writing to the company itself.

    An e-mail to the customer's own address is written to the company ("Madame, Monsieur,"), even when
    the quote has a contact without an e-mail address; a letter goes to the quote's first active contact.
    """
    for recipient in recipients:
        if recipient.contact_id is not None:
            for contact in quote.customer_contacts():
                if contact.contact_id == recipient.contact_id:
                    return contact
    if recipients:
        return None
    active = [c for c in quote.customer_contacts() if c.active]
    return active[0] if active else None


async def refuse_if_recent(
    rt: Runtime, quote: Quote, history: QuoteHistory, gap_days: int, today: date, *, key: str | None = None
) -> None:
    """A person following up a quote already followed up within ``gap_days`` days must say so.

    The last follow-up is everyone's (:func:`~dolirelance.service.agenda.last_followup`): the ledger's and
    Dolibarr's, whatever the acting user may see; ``key``: the follow-up being made, not counted.
    """
    last = await last_followup(rt, quote.id, history, exclude_key=key)
    if not is_recent(last, today, gap_days, rt.tz):
        return
    assert last is not None
    who = await describe_owner(rt, last.owner_id)
    when = last.done_at.astimezone(rt.tz).strftime("%Y-%m-%d %H:%M")
    channel = "letter" if last.channel is Channel.LETTER else "e-mail"
    raise RecentFollowUp(
        f"{quote.ref} was followed up on {when} ({last.model or '?'}, {channel}{who}), less than {gap_days} day(s) ago",
        remedy="nothing was sent; to follow it up all the same, add --force (on the web: « relancer quand même »)",
    )


def ensure_next_date_ahead(next_date: date | None, today: date) -> None:
    """Refuse a next follow-up date in the past (checked before a follow-up is claimed, and again here)."""
    if next_date is not None and next_date < today:
        raise FollowUpError(
            f"the next follow-up date {next_date.isoformat()} is in the past",
            remedy="give a date from today on, or a delay like --next '+15 days'",
        )


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
    recent_gap_days: int | None = None,
    blocked_addresses: frozenset[str] = frozenset(),
) -> PreparedFollowUp:
    """Read what is needed and render the follow-up exactly as it will be sent. Sends nothing.

    ``recent_gap_days``: refuse (:class:`RecentFollowUp`) a quote followed up fewer days ago than that.
    ``blocked_addresses``: lower-case addresses not to write to (automatic runs: they bounced for good).
    """
    quote = quote_key if isinstance(quote_key, Quote) else await read_quote(rt, quote_key)
    if customer is None:
        customer = await rt.dolibarr.get_customer(quote.customer_id)
    ensure_open(quote, customer)
    today = rt.today()
    if next_date is None:
        next_date = today + timedelta(days=rt.settings.followup.next_delay)
    ensure_next_date_ahead(next_date, today)
    if history is None:
        history = (await load_history(rt, [quote.id])).get(quote.id, QuoteHistory())
    if recent_gap_days is not None:
        await refuse_if_recent(rt, quote, history, recent_gap_days, today, key=key)
    model_name = model or next_model_name(rt, history.last)
    level = rt.level_of(model_name)
    if level is None:
        raise UnknownModel(
            f"unknown model {model_name!r}",
            remedy=f"use one of: {', '.join(rt.model_names())}",
        )
    recipients: tuple[Recipient, ...] = ()
    if channel is Channel.EMAIL:
        recipients = tuple(r for r in choose_recipients(quote, customer) if r.email.lower() not in blocked_addresses)
        if not recipients:
            raise NoEmailAddress(no_email_message(quote, customer))
        for recipient in recipients:
            _check_address(quote, recipient.email, f"{recipient.name} ({recipient.source})")
    contact = addressee(quote, recipients)
    sales_rep = await sales_rep_of(rt, quote, acting_user)
    # automatic mails are signed by the sales rep, unless Dolibarr would not say who that is beyond an id
    sender = sales_rep if automatic_step is not None and sales_rep.full_name else acting_user
    if channel is Channel.EMAIL and sender.email:  # the Reply-To of the e-mail
        _check_address(quote, sender.email, f"{sender.full_name or sender.login} (user)")
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
    pdf_description = attachments.main.description(rendered.lang)
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
            attachments=attachments.files,
            now=rt.now(),
            automatic=automatic_step is not None,
            reply_to=rt.settings.reply_to_mode,
            replies_mailbox=rt.settings.replies_address,
            descriptions={attachments.main.name: pdf_description},
        )
    else:
        composer = LetterComposer(rt.settings, company, pages=rt.letter_pages)
        # PDF work off the event loop (daemon, web)
        letter_pdf = await asyncio.to_thread(composer.compose, ctx, rendered, attachments=attachments.files)
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
        attachment_names=tuple(name for name, _ in attachments.files),
        email=email,
        letter_pdf=letter_pdf,
        letter_file_name=file_name,
        automatic_step=automatic_step,
        quote_pdf_description=pdf_description,
    )
