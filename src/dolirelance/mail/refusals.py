"""What an SMTP server's replies mean for a follow-up: temporary (retry later), permanent, or uncertain."""

from __future__ import annotations

from dolirelance.errors import MailError, MailPermanentError, MailTemporaryError

# What to do when the message may have left: a person finds out, never a retry.
UNCERTAIN_REMEDY = (
    "check the sender's mailbox or the SMTP logs, then `dolirelance ledger resolve KEY --sent` or `--not-sent`"
)


def reply_text(value: bytes | str) -> str:
    """A reply's text (smtplib gives bytes), readable whatever its encoding."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def reply_error(code: int, text: bytes | str, doing: str) -> MailError:
    """A refusal while ``doing``: 4xx temporary, anything else permanent."""
    reply = f"{code} {reply_text(text)}".strip()
    if 400 <= code < 500:
        return MailTemporaryError(
            f"the SMTP server said {reply} while {doing}",
            remedy="a temporary refusal: the follow-up can be retried later",
        )
    return MailPermanentError(
        f"the SMTP server said {reply} while {doing}",
        remedy="read the server's reply: the sender may not be allowed, or the message was rejected",
    )


def refused_error(refused: dict[str, tuple[int, bytes]]) -> MailError:
    """Recipients refused at RCPT: temporary only when every one was deferred (4xx)."""
    details = "; ".join(f"{addr}: {code} {reply_text(text)}" for addr, (code, text) in refused.items())
    if refused and all(400 <= code < 500 for code, _ in refused.values()):
        return MailTemporaryError(f"the SMTP server deferred recipients ({details})", remedy="retry later")
    return MailPermanentError(
        f"the SMTP server refused recipients ({details})",
        remedy="correct the contact's or customer's e-mail address in Dolibarr",
    )
