"""The exception tree. Leaf module: imports nothing of ours.

Every error a user can meet carries a message that says what is wrong and, where one
exists, a remedy (what to do). The CLI prints ``error: <message>`` then the remedy.

Every class also carries its own :class:`ErrorCode` (``code``): front ends that word errors
themselves (the web pages, in the page's language) choose their words by it, never by the English
message. The tree, with each class's code::

    DolirelanceError                    error
    ├── ConfigError                     config
    ├── DolibarrError                   dolibarr
    │   ├── DolibarrUnavailable         dolibarr-unavailable
    │   ├── DolibarrAuthError           dolibarr-auth
    │   ├── DolibarrNotFound            dolibarr-not-found
    │   ├── DolibarrRequestError        dolibarr-request
    │   └── DolibarrResponseError       dolibarr-response
    ├── TemplateError                   template
    ├── LetterError                     letter
    ├── MailError                       mail
    │   ├── MailTemporaryError          mail-temporary
    │   ├── MailPermanentError          mail-permanent
    │   └── MailUncertain               mail-uncertain
    ├── FollowUpError                   follow-up
    │   ├── NoEmailAddress              no-email
    │   ├── BadEmailAddress             bad-address
    │   ├── QuoteNotOpen                quote-not-open
    │   ├── FollowUpInProgress          in-progress
    │   │   └── FollowUpAlreadyDone     already-done
    │   ├── RecentFollowUp              recent
    │   ├── UnknownModel                unknown-model
    │   └── NoCustomerMatch             no-customer
    ├── AccessDenied                    access-denied
    ├── SetupIncomplete                 setup-incomplete
    ├── InitError                       init
    ├── LedgerError                     ledger
    ├── MailboxError                    mailbox
    └── OAuthTokenError                 oauth
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar


class ErrorCode(StrEnum):
    """What kind of error: one per class of the tree above."""

    ERROR = "error"
    CONFIG = "config"
    DOLIBARR = "dolibarr"
    DOLIBARR_UNAVAILABLE = "dolibarr-unavailable"
    DOLIBARR_AUTH = "dolibarr-auth"
    DOLIBARR_NOT_FOUND = "dolibarr-not-found"
    DOLIBARR_REQUEST = "dolibarr-request"
    DOLIBARR_RESPONSE = "dolibarr-response"
    TEMPLATE = "template"
    LETTER = "letter"
    MAIL = "mail"
    MAIL_TEMPORARY = "mail-temporary"
    MAIL_PERMANENT = "mail-permanent"
    MAIL_UNCERTAIN = "mail-uncertain"
    FOLLOW_UP = "follow-up"
    NO_EMAIL = "no-email"
    BAD_ADDRESS = "bad-address"
    QUOTE_NOT_OPEN = "quote-not-open"
    IN_PROGRESS = "in-progress"
    ALREADY_DONE = "already-done"
    RECENT = "recent"
    UNKNOWN_MODEL = "unknown-model"
    NO_CUSTOMER = "no-customer"
    ACCESS_DENIED = "access-denied"
    SETUP_INCOMPLETE = "setup-incomplete"
    INIT = "init"
    LEDGER = "ledger"
    MAILBOX = "mailbox"
    OAUTH = "oauth"


class DolirelanceError(Exception):
    """Root of every error dolirelance raises on purpose."""

    code: ClassVar[ErrorCode] = ErrorCode.ERROR

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

    code = ErrorCode.CONFIG

    def __init__(self, problems: list[ConfigProblem], *, remedy: str | None = None) -> None:
        self.problems = problems
        count = len(problems)
        head = "the configuration has 1 problem" if count == 1 else f"the configuration has {count} problems"
        body = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{head}:\n{body}", remedy=remedy)


class DolibarrError(DolirelanceError):
    """Anything that went wrong talking to Dolibarr."""

    code = ErrorCode.DOLIBARR

    def __init__(self, message: str, *, remedy: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message, remedy=remedy)
        self.status_code = status_code


class DolibarrUnavailable(DolibarrError):
    """Dolibarr could not be reached or answered 5xx: retrying later may work."""

    code = ErrorCode.DOLIBARR_UNAVAILABLE


class DolibarrAuthError(DolibarrError):
    """401 (bad or missing API key) or 403 (the API user lacks a right)."""

    code = ErrorCode.DOLIBARR_AUTH


class DolibarrNotFound(DolibarrError):
    """The object asked for does not exist (or the user may not see it)."""

    code = ErrorCode.DOLIBARR_NOT_FOUND


class DolibarrRequestError(DolibarrError):
    """Dolibarr refused the request (400, 409, business 500): retrying the same will not help."""

    code = ErrorCode.DOLIBARR_REQUEST


class DolibarrResponseError(DolibarrError):
    """Dolibarr answered something we cannot understand (not JSON, wrong shape)."""

    code = ErrorCode.DOLIBARR_RESPONSE


class TemplateError(DolirelanceError):
    """A model's template has a syntax error or uses an unknown variable."""

    code = ErrorCode.TEMPLATE


class LetterError(DolirelanceError):
    """A letter or a PDF to merge could not be produced (corrupt, encrypted, missing file)."""

    code = ErrorCode.LETTER


class MailError(DolirelanceError):
    """An e-mail could not be built or sent."""

    code = ErrorCode.MAIL

    retryable: bool = False


class MailTemporaryError(MailError):
    """SMTP said 4xx or dropped the connection: the same message may go through later."""

    code = ErrorCode.MAIL_TEMPORARY

    retryable = True


class MailPermanentError(MailError):
    """SMTP said 5xx or refused every recipient: sending again will fail the same way."""

    code = ErrorCode.MAIL_PERMANENT


class MailUncertain(MailError):
    """The message was handed to the SMTP server but no reply came: it may or may not have left.

    Never retried automatically: a person checks the mailbox (``dolirelance ledger resolve``).
    """

    code = ErrorCode.MAIL_UNCERTAIN


class FollowUpError(DolirelanceError):
    """A follow-up cannot be done as asked (no e-mail address, quote not open, bad date...)."""

    code = ErrorCode.FOLLOW_UP


class NoEmailAddress(FollowUpError):
    """Neither the quote's CUSTOMER contacts nor the customer have an e-mail address."""

    code = ErrorCode.NO_EMAIL


class BadEmailAddress(FollowUpError):
    """An e-mail address in Dolibarr is not one plain address (a list, a name with it, a typo): nothing sent."""

    code = ErrorCode.BAD_ADDRESS


class QuoteNotOpen(FollowUpError):
    """The quote is a draft, signed, refused, billed or cancelled."""

    code = ErrorCode.QUOTE_NOT_OPEN


class FollowUpInProgress(FollowUpError):
    """Another follow-up of the quote is claimed, being sent, uncertain or not recorded yet."""

    code = ErrorCode.IN_PROGRESS


class FollowUpAlreadyDone(FollowUpInProgress):
    """This very follow-up (the same form posted twice, the same key) is already done and recorded."""

    code = ErrorCode.ALREADY_DONE


class RecentFollowUp(FollowUpError):
    """The quote was followed up recently; a person may go on only when saying so (``--force``)."""

    code = ErrorCode.RECENT


class UnknownModel(FollowUpError):
    """The model asked for is not in ``dolirelance.toml``."""

    code = ErrorCode.UNKNOWN_MODEL


class NoCustomerMatch(FollowUpError):
    """No customer has the id, name or code given (``searched``, as the person wrote it)."""

    code = ErrorCode.NO_CUSTOMER

    def __init__(self, searched: str, *, remedy: str | None = None) -> None:
        super().__init__(f"no customer matches {searched!r}", remedy=remedy)
        self.searched = searched


class AccessDenied(DolirelanceError):
    """``[access]``: the acting user is not in the Dolibarr group that may do this (and not an admin)."""

    code = ErrorCode.ACCESS_DENIED


class SetupIncomplete(DolirelanceError):
    """The setup is not finished: something ``setup`` cannot create through the API (an [access] group), or
    no ``[company]`` table while the API user may not read Dolibarr's company details."""

    code = ErrorCode.SETUP_INCOMPLETE


class InitError(DolirelanceError):
    """``dolirelance init`` cannot write its starter files (one exists already, or the folder is not writable)."""

    code = ErrorCode.INIT


class LedgerError(DolirelanceError):
    """The ledger (claims and outcomes store) cannot be read or written."""

    code = ErrorCode.LEDGER


class MailboxError(DolirelanceError):
    """The replies mailbox (IMAP) cannot be reached, logged into or read."""

    code = ErrorCode.MAILBOX


class OAuthTokenError(DolirelanceError):
    """No OAuth2 access token for the SMTP or IMAP sign-in: the token endpoint refused, or cannot be reached
    (``temporary``). Mail and mailbox code turn it into their own error, nothing being sent or read."""

    code = ErrorCode.OAUTH

    def __init__(self, message: str, *, remedy: str | None = None, temporary: bool = False) -> None:
        super().__init__(message, remedy=remedy)
        self.temporary = temporary
