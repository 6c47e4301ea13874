"""The follow-up e-mail built: addresses, headers, Reply-To, the text, the HTML and its pictures, the PDFs.

A follow-up is ``multipart/mixed``: the text (``multipart/alternative``: ``text/plain`` first, then the
HTML in a ``multipart/related`` with its ``cid:`` images) and exactly the PDFs given. Every value that
comes from Dolibarr is flattened to one line before it reaches a header.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path
from typing import Literal

from dolirelance.config import SmtpSettings
from dolirelance.domain import Recipient, User, bare_address, split_address
from dolirelance.errors import MailPermanentError
from dolirelance.htmlmail import standalone_html
from dolirelance.mail.mime import CONTENT_MANAGER, MESSAGE_POLICY, message_bytes
from dolirelance.render import RenderedFollowUp

ReplyToMode = Literal["both", "sales_person", "mailbox"]


def _one_line(value: str) -> str:
    """Collapse CR, LF and other line breaks to single spaces: no header injection."""
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())


def parse_address(value: str, *, display_name: str | None = None, role: str = "address") -> Address:
    """One e-mail address (optionally "Name <addr>") → :class:`Address`; MailPermanentError if not.

    With ``display_name`` (an address field of Dolibarr, the name beside it), ``value`` must be
    the address alone: a name or brackets in it would send the e-mail to another address.
    """
    try:
        name, local, domain = split_address(bare_address(value) if display_name is not None else value)
    except ValueError as exc:
        raise MailPermanentError(
            f"{role} {exc}", remedy="correct the address in Dolibarr (or in dolirelance.toml)"
        ) from None
    flat = _one_line(value)
    shown = _one_line(display_name if display_name is not None else name)
    try:
        return Address(display_name=shown, username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        raise MailPermanentError(f"{role} {flat!r} is not a valid e-mail address: {exc}") from None


def build_email(
    *,
    smtp: SmtpSettings,
    sender_user: User,
    recipients: Sequence[Recipient],
    rendered: RenderedFollowUp,
    attachments: Sequence[tuple[str, bytes]],
    now: datetime,
    automatic: bool = False,
    message_id: str | None = None,
    reply_to: ReplyToMode = "sales_person",
    replies_mailbox: str | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> EmailMessage:
    """The follow-up e-mail: text (and HTML) body and exactly the PDFs given.

    ``descriptions``: by file name, what an attachment is (its ``Content-Description``, RFC 2045),
    « PDF du devis du 28/11/2026 ».

    ``now`` (from the injected clock) dates it; ``automatic`` marks it ``Auto-Submitted: auto-generated``
    (RFC 3834), so that vacation responders do not answer it; people's follow-ups are not marked.
    ``reply_to`` says who a customer's "Reply" reaches: the sales person, the replies mailbox
    (``replies_mailbox``, the ``[imap]`` address), or both (RFC 5322 allows several Reply-To addresses).
    """
    if not recipients:
        raise MailPermanentError("the e-mail has no recipient", remedy="add an e-mail address in Dolibarr")
    sender = parse_address(smtp.sender, role="smtp.sender")
    if smtp.sender_display_name == "user":
        sender = Address(_one_line(sender_user.full_name), sender.username, sender.domain)
    message = EmailMessage(policy=MESSAGE_POLICY)
    message["From"] = sender
    answer_to = _reply_to_addresses(sender_user, reply_to, replies_mailbox)
    if answer_to:
        message["Reply-To"] = answer_to
    message["To"] = [parse_address(r.email, display_name=r.name, role="recipient") for r in recipients]
    if smtp.bcc:
        message["Bcc"] = [parse_address(address, role="smtp.bcc") for address in smtp.bcc]
    message["Subject"] = _one_line(rendered.email_subject)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = _one_line(message_id) if message_id else make_msgid(domain=sender.domain)
    if automatic:
        message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.email_text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if rendered.email_html:
        message.add_alternative(rendered.email_html, subtype="html", charset="utf-8", cte="quoted-printable")
        if rendered.inline_images:
            html_part = list(message.iter_parts())[1]  # text/plain first, text/html second
            for image in rendered.inline_images:
                html_part.add_related(
                    image.data,
                    maintype="image",
                    subtype=image.subtype,
                    cid=f"<{image.cid}>",
                    filename=image.filename,
                    disposition="inline",
                    content_manager=CONTENT_MANAGER,
                )
    for filename, data in attachments:
        message.add_attachment(
            data,
            maintype="application",
            subtype="pdf",
            filename=_one_line(filename) or "document.pdf",
            content_manager=CONTENT_MANAGER,
        )
        description = (descriptions or {}).get(filename)
        if description:
            list(message.iter_attachments())[-1]["Content-Description"] = _one_line(description)
    # last: building the body moves or drops the Content-* headers set before it
    message["Content-Language"] = rendered.lang
    for part in message.walk():
        if part.is_multipart():
            # "=_" never appears in base64 or quoted-printable text: no need to search the body for it
            part.set_boundary(f"=_{secrets.token_hex(12)}")
    return message


def _reply_to_addresses(sales_person: User, mode: ReplyToMode, replies_mailbox: str | None) -> list[Address]:
    """The Reply-To addresses: the sales person's, the replies mailbox's, or both (each address once)."""
    chosen: list[Address] = []
    # no mailbox known: as without [imap]
    if (mode in ("sales_person", "both") or replies_mailbox is None) and sales_person.email:
        chosen.append(
            parse_address(sales_person.email, display_name=sales_person.full_name, role="the user's e-mail")
        )
    if mode in ("mailbox", "both") and replies_mailbox is not None:
        mailbox = parse_address(replies_mailbox, role="[imap] address")
        if all(mailbox.addr_spec.lower() != known.addr_spec.lower() for known in chosen):
            chosen.append(mailbox)
    return chosen


def envelope_recipients(message: EmailMessage) -> list[str]:
    """Every address the message goes to (To, Cc, Bcc)."""
    fields = [str(value) for key in ("To", "Cc", "Bcc") for value in message.get_all(key, [])]
    return [addr for _, addr in getaddresses(fields) if addr]


def write_eml(message: EmailMessage, path: Path) -> None:
    """Save a message as an .eml file (previews, the demo)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(message_bytes(message))


def viewable_html(rendered: RenderedFollowUp) -> str | None:
    """The HTML part as a file a browser opens: its ``cid:`` images written in (previews)."""
    if rendered.email_html is None:
        return None
    return standalone_html(rendered.email_html, rendered.inline_images)
