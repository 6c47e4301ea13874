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

One concern a module:

- ``reading``: ``read_replies``, the loop over new messages and the ledger's part of the protocol above;
- ``sorting``: reply, bounce, auto-answer or other; the follow-up it answers or returns, and the proof;
- ``recording``: the events, to-dos and files written into Dolibarr;
- ``outcomes``: what each message came to, and the run's report.
"""

from dolirelance.service.replies.outcomes import Kind, MessageOutcome, RepliesReport
from dolirelance.service.replies.reading import read_replies

__all__ = ["Kind", "MessageOutcome", "RepliesReport", "read_replies"]
