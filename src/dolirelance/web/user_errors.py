"""Errors as a person reads them on a page: in the page's language, by kind, with what to do.

The service's messages are written for the CLI and the logs (English, technical). A page shows the
headline and remedy of the error's kind in its own language; the original message is kept as a
collapsed technical detail for the administrator, except where the page says it all already.

The kind is the error's typed :class:`~dolirelance.errors.ErrorCode` (on the exception, on a mass
run's outcome, on a planned line), never its English wording: rewording a message cannot change
what a page says. Every code has its words here (``WORDS``), which a test checks for each language.
"""

from __future__ import annotations

from dataclasses import dataclass

from dolirelance.domain import Channel
from dolirelance.errors import DolirelanceError, ErrorCode, NoCustomerMatch
from dolirelance.service import FollowUpOutcome
from dolirelance.web.labels import LABELS

__all__ = ["WORDS", "PageError", "Words", "outcome_note", "page_error", "plan_note"]


@dataclass(frozen=True)
class PageError:
    """What the page's error box shows: a message, what to do, and the technical detail (may be empty)."""

    message: str
    remedy: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Words:
    """The labels a page uses for one kind of error, and whether the technical detail is worth showing."""

    message: str
    remedy: str | None = None
    keep_detail: bool = True


_ADMIN = "err_admin_remedy"
WORDS: dict[ErrorCode, Words] = {
    ErrorCode.ERROR: Words("err_generic", _ADMIN),
    ErrorCode.CONFIG: Words("err_config", _ADMIN),
    ErrorCode.DOLIBARR: Words("err_dolibarr_refused", _ADMIN),
    ErrorCode.DOLIBARR_UNAVAILABLE: Words("err_dolibarr_down", "err_dolibarr_down_remedy"),
    ErrorCode.DOLIBARR_AUTH: Words("err_dolibarr_right", "err_dolibarr_right_remedy"),
    ErrorCode.DOLIBARR_NOT_FOUND: Words("quote_not_found", "quote_not_found_remedy", keep_detail=False),
    ErrorCode.DOLIBARR_REQUEST: Words("err_dolibarr_refused", _ADMIN),
    ErrorCode.DOLIBARR_RESPONSE: Words("err_dolibarr_odd", _ADMIN),
    ErrorCode.TEMPLATE: Words("err_template", _ADMIN),
    ErrorCode.LETTER: Words("err_letter", _ADMIN),
    ErrorCode.MAIL: Words("err_mail", _ADMIN),
    ErrorCode.MAIL_TEMPORARY: Words("err_mail_temporary", "err_dolibarr_down_remedy"),
    ErrorCode.MAIL_PERMANENT: Words("err_mail", _ADMIN),
    ErrorCode.MAIL_UNCERTAIN: Words("err_mail_uncertain", "err_mail_uncertain_remedy"),
    ErrorCode.FOLLOW_UP: Words("err_followup"),
    ErrorCode.NO_EMAIL: Words("no_email_reason", keep_detail=False),
    ErrorCode.BAD_ADDRESS: Words("bad_address", "bad_address_remedy"),
    ErrorCode.QUOTE_NOT_OPEN: Words("quote_not_open", keep_detail=False),
    ErrorCode.IN_PROGRESS: Words("err_in_progress", keep_detail=False),
    ErrorCode.ALREADY_DONE: Words("already_done", keep_detail=False),
    ErrorCode.RECENT: Words("err_recent", "recent_confirm"),
    ErrorCode.UNKNOWN_MODEL: Words("err_unknown_model"),
    ErrorCode.NO_CUSTOMER: Words("err_no_customer", "err_no_customer_remedy", keep_detail=False),
    ErrorCode.ACCESS_DENIED: Words("access_denied", "access_denied_remedy"),
    ErrorCode.SETUP_INCOMPLETE: Words("err_setup", _ADMIN),
    ErrorCode.INIT: Words("err_init", _ADMIN),
    ErrorCode.LEDGER: Words("err_ledger", _ADMIN),
    ErrorCode.MAILBOX: Words("err_mailbox", _ADMIN),
    ErrorCode.OAUTH: Words("err_oauth", _ADMIN),
}


def page_error(exc: DolirelanceError, lang: str) -> PageError:
    """``exc`` in the words of a page in ``lang`` ("fr" or "en")."""
    labels = LABELS[lang]
    words = WORDS[exc.code]
    message = labels[words.message]
    if isinstance(exc, NoCustomerMatch):
        message = message.format(text=exc.searched)
    return PageError(
        message, labels[words.remedy] if words.remedy else None, _detail(exc) if words.keep_detail else None
    )


def _detail(exc: DolirelanceError) -> str:
    return f"{exc.message} — {exc.remedy}" if exc.remedy else exc.message


# Shorter words where a line of a list says why one quote was left out.
_SHORT = {
    ErrorCode.NO_EMAIL: "no_email_short",
    ErrorCode.BAD_ADDRESS: "bad_address_short",
    ErrorCode.RECENT: "recent_held",
    ErrorCode.IN_PROGRESS: "in_progress_elsewhere",
}


def plan_note(code: ErrorCode | None, lang: str) -> str:
    """Why a planned line of a mass follow-up is left out, in ``lang`` (from the line's ``problem_code``)."""
    labels = LABELS[lang]
    if code is None or code is ErrorCode.NO_CUSTOMER:  # not planned by a kind, or words that need the search
        return labels["err_followup"]
    return labels[_SHORT.get(code) or WORDS[code].message]


def outcome_note(outcome: FollowUpOutcome, lang: str) -> PageError | None:
    """Why one follow-up did not end well (or is done but not recorded yet), in ``lang``; None when it did.

    By the outcome itself (uncertain, done but not recorded, done but not in the print batch) and, for
    a refused or failed one, by its ``error_code``; the service's text is the technical detail.
    """
    labels = LABELS[lang]
    text = outcome.error or outcome.local_copy_error or ""
    if outcome.outcome == "sent-not-recorded":  # done: `retry` records it
        return PageError(labels["not_recorded_yet"], labels["not_recorded_yet_remedy"], text)
    if outcome.ok:
        return PageError(labels["not_in_batch"], None, text) if outcome.local_copy_error else None
    if outcome.outcome == "uncertain" and outcome.channel is Channel.LETTER:  # the quote's files, not a mailbox
        return PageError(labels["err_letter_uncertain"], labels["err_letter_uncertain_remedy"], text)
    if outcome.outcome == "uncertain":
        return PageError(labels["err_mail_uncertain"], labels["err_mail_uncertain_remedy"], text)
    code = outcome.error_code
    if outcome.outcome == "refused":
        if code is ErrorCode.ALREADY_DONE:
            return PageError(labels["already_done"])
        if code is ErrorCode.RECENT:
            return PageError(labels["recent_held"])
        return PageError(labels["err_in_progress"])
    if code is ErrorCode.NO_EMAIL:
        return PageError(labels["no_email_short"])
    if code is None or code is ErrorCode.NO_CUSTOMER:  # not ours (an OSError), or words that need the search
        return PageError(labels["err_generic"], labels[_ADMIN], text)
    words = WORDS[code]
    return PageError(
        labels[words.message], labels[words.remedy] if words.remedy else None, text if words.keep_detail else None
    )
