"""The exception tree. Leaf module: imports nothing of ours.

Every error a user can meet carries a message that says what is wrong and, where one
exists, a remedy (what to do). The CLI prints ``error: <message>`` then the remedy.
"""

from __future__ import annotations

from dataclasses import dataclass


class DolirelanceError(Exception):
    """Root of every error dolirelance raises on purpose."""

    def __init__(self, message: str, *, remedy: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

    def __str__(self) -> str:
        if self.remedy:
            return f"{self.message}\n  → {self.remedy}"
        return self.message


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a configuration file, located as precisely as we can."""

    file: str
    line: int | None
    key_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" [{self.key_path}]" if self.key_path else ""
        return f"{where}{key}: {self.message}"


class ConfigError(DolirelanceError):
    """The configuration file is missing, unreadable or invalid (one entry per problem)."""

    def __init__(self, problems: list[ConfigProblem], *, remedy: str | None = None) -> None:
        self.problems = problems
        count = len(problems)
        head = "the configuration has 1 problem" if count == 1 else f"the configuration has {count} problems"
        body = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{head}:\n{body}", remedy=remedy)


class DolibarrError(DolirelanceError):
    """Anything that went wrong talking to Dolibarr."""

    def __init__(self, message: str, *, remedy: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message, remedy=remedy)
        self.status_code = status_code


class DolibarrUnavailable(DolibarrError):
    """Dolibarr could not be reached or answered 5xx: retrying later may work."""


class DolibarrAuthError(DolibarrError):
    """401 (bad or missing API key) or 403 (the API user lacks a right)."""


class DolibarrNotFound(DolibarrError):
    """The object asked for does not exist (or the user may not see it)."""


class DolibarrRequestError(DolibarrError):
    """Dolibarr refused the request (400, 409, business 500): retrying the same will not help."""


class DolibarrResponseError(DolibarrError):
    """Dolibarr answered something we cannot understand (not JSON, wrong shape)."""


class TemplateError(DolirelanceError):
    """A model's template has a syntax error or uses an unknown variable."""


class LetterError(DolirelanceError):
    """A letter or a PDF to merge could not be produced (corrupt, encrypted, missing file)."""


class MailError(DolirelanceError):
    """An e-mail could not be built or sent."""

    retryable: bool = False


class MailTemporaryError(MailError):
    """SMTP said 4xx or dropped the connection: the same message may go through later."""

    retryable = True


class MailPermanentError(MailError):
    """SMTP said 5xx or refused every recipient: sending again will fail the same way."""


class MailUncertain(MailError):
    """The message was handed to the SMTP server but no reply came: it may or may not have left.

    Never retried automatically: a person checks the mailbox (``dolirelance ledger resolve``).
    """


class FollowUpError(DolirelanceError):
    """A follow-up cannot be done as asked (no e-mail address, quote not open, bad date...)."""


class NoEmailAddress(FollowUpError):
    """Neither the quote's CUSTOMER contacts nor the customer have an e-mail address."""


class QuoteNotOpen(FollowUpError):
    """The quote is a draft, signed, refused, billed or cancelled."""


class FollowUpInProgress(FollowUpError):
    """Another follow-up of the quote is claimed, being sent, uncertain or not recorded yet."""


class RecentFollowUp(FollowUpError):
    """The quote was followed up recently; a person may go on only when saying so (``--force``)."""


class AccessDenied(DolirelanceError):
    """``[access]``: the acting user is not in the Dolibarr group that may do this (and not an admin)."""


class SetupIncomplete(DolirelanceError):
    """``dolirelance setup`` found something it cannot create through the API (an [access] group)."""


class InitError(DolirelanceError):
    """``dolirelance init`` cannot write its starter files (one exists already, or the folder is not writable)."""


class LedgerError(DolirelanceError):
    """The ledger (claims and outcomes store) cannot be read or written."""


class MailboxError(DolirelanceError):
    """The replies mailbox (IMAP) cannot be reached, logged into or read."""
