"""Errors as a person reads them on a page: in the page's language, by kind, with what to do.

The service's messages are written for the CLI and the logs (English, technical). A page shows the
headline and remedy of the error's kind in its own language; the original message is kept as a
collapsed technical detail for the administrator, except where the page says it all already.
"""

from __future__ import annotations

from dataclasses import dataclass

from dolirelance.errors import (
    AccessDenied,
    DolibarrAuthError,
    DolibarrError,
    DolibarrNotFound,
    DolibarrRequestError,
    DolibarrResponseError,
    DolibarrUnavailable,
    DolirelanceError,
    FollowUpError,
    FollowUpInProgress,
    LedgerError,
    LetterError,
    MailError,
    MailTemporaryError,
    MailUncertain,
    NoEmailAddress,
    QuoteNotOpen,
    TemplateError,
)
from dolirelance.service import FollowUpOutcome
from dolirelance.web.labels import LABELS

__all__ = ["PageError", "outcome_note", "page_error"]


@dataclass(frozen=True)
class PageError:
    """What the page's error box shows: a message, what to do, and the technical detail (may be empty)."""

    message: str
    remedy: str | None = None
    detail: str | None = None


# most specific kinds first: the first match names the error
_KINDS: tuple[tuple[type[DolirelanceError], str, str | None, bool], ...] = (
    # (kind, message label, remedy label, keep the technical detail)
    (AccessDenied, "access_denied", "access_denied_remedy", True),
    (DolibarrNotFound, "quote_not_found", "quote_not_found_remedy", False),
    (DolibarrUnavailable, "err_dolibarr_down", "err_dolibarr_down_remedy", True),
    (DolibarrAuthError, "err_dolibarr_right", "err_dolibarr_right_remedy", True),
    (DolibarrRequestError, "err_dolibarr_refused", "err_admin_remedy", True),
    (DolibarrResponseError, "err_dolibarr_odd", "err_admin_remedy", True),
    (DolibarrError, "err_dolibarr_refused", "err_admin_remedy", True),
    (MailUncertain, "err_mail_uncertain", "err_mail_uncertain_remedy", True),
    (MailTemporaryError, "err_mail_temporary", "err_dolibarr_down_remedy", True),
    (MailError, "err_mail", "err_admin_remedy", True),
    (LetterError, "err_letter", "err_admin_remedy", True),
    (TemplateError, "err_template", "err_admin_remedy", True),
    (LedgerError, "err_ledger", "err_admin_remedy", True),
    (FollowUpInProgress, "err_in_progress", None, False),
    (QuoteNotOpen, "quote_not_open", None, False),
    (NoEmailAddress, "no_email_reason", None, False),
    (FollowUpError, "err_followup", None, True),
)


def page_error(exc: DolirelanceError, lang: str) -> PageError:
    """``exc`` in the words of a page in ``lang`` ("fr" or "en")."""
    labels = LABELS[lang]
    for kind, message, remedy, keep_detail in _KINDS:
        if isinstance(exc, kind):
            if kind is FollowUpInProgress and "already done" in exc.message:  # the same form posted twice
                message = "already_done"
            if kind is FollowUpError and exc.message.startswith("unknown model"):
                message = "err_unknown_model"
            if kind is FollowUpError and exc.message.startswith("no customer matches"):
                return PageError(labels["err_no_customer"].format(text=_quoted_part(exc.message)),
                                 labels["err_no_customer_remedy"])
            detail = _detail(exc) if keep_detail else None
            return PageError(labels[message], labels[remedy] if remedy else None, detail)
    return PageError(labels["err_generic"], labels["err_admin_remedy"], _detail(exc))


def _detail(exc: DolirelanceError) -> str:
    return f"{exc.message} — {exc.remedy}" if exc.remedy else exc.message


def _quoted_part(message: str) -> str:
    """``no customer matches 'Durand'`` → ``Durand``."""
    start, end = message.find("'"), message.rfind("'")
    return message[start + 1 : end] if 0 <= start < end else message


def outcome_note(outcome: FollowUpOutcome, lang: str) -> PageError | None:
    """Why one follow-up of a mass run did not end well, in ``lang``; None when it did.

    A run's outcome carries the service's text only (its error kind is gone by then): the kind is
    read from that text, and anything not recognised is shown as a generic message with the text as
    the technical detail.
    """
    if outcome.ok and not outcome.local_copy_error:
        return None
    labels = LABELS[lang]
    text = outcome.error or outcome.local_copy_error or ""
    if outcome.ok:
        return PageError(labels["not_in_batch"], None, text)
    if outcome.outcome == "refused":
        if "already done" in text:
            return PageError(labels["already_done"])
        if "less than" in text:
            return PageError(labels["recent_held"])
        return PageError(labels["err_in_progress"])
    if outcome.outcome == "uncertain":
        return PageError(labels["err_mail_uncertain"], labels["err_mail_uncertain_remedy"], text)
    if outcome.outcome == "sent-not-recorded":
        return PageError(labels["not_recorded_yet"], labels["not_recorded_yet_remedy"], text)
    if "no e-mail address" in text:
        return PageError(labels["no_email_short"])
    if any(f" is {status}" in text for status in ("signed", "refused", "draft", "billed", "cancelled")):
        return PageError(labels["quote_not_open"])
    return PageError(labels["err_generic"], labels["err_admin_remedy"], text)
