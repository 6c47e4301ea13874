"""The letter path: filing the letter in the quote's files (FILING, the upload, FILED), looking for it
there by its name when the upload's answer is lost, and what to print when it missed the print batch."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from dolirelance.domain import Quote
from dolirelance.errors import DolibarrError, DolibarrRequestError, DolibarrResponseError, DolibarrUnavailable
from dolirelance.service.agenda import record_facts
from dolirelance.service.handover import after_handover, mark_uncertain, release_claim
from dolirelance.service.outcome import FollowUpOutcome, outcome_of
from dolirelance.service.prepare import PreparedFollowUp
from dolirelance.service.runtime import Runtime

log = logging.getLogger("dolirelance.service.delivery")  # one name for the whole delivery, as before its split


async def file_letter(rt: Runtime, prepared: PreparedFollowUp) -> datetime | FollowUpOutcome:
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
        found = await letter_in_files(rt, prepared.quote, name)
        answered = exc.status_code is not None  # an answer ends the request: not there now, never there
        if found is None or (found is False and not answered):
            look = "could not look for it" if found is None else "it is not in the quote's files yet"
            return await mark_uncertain(
                rt,
                prepared,
                f"the upload of {name} got no clear answer ({exc}) and {look}; check the quote's files in "
                "Dolibarr (`dolirelance retry` looks again)",
            )
        if found is False:  # Dolibarr answered no, and the file is not there: nothing was filed
            reason = f"the letter could not be filed in Dolibarr: {exc}"
            await asyncio.to_thread(release_claim, rt, prepared.key, reason)
            return outcome_of(prepared, "failed", error=reason, error_code=exc.code)
        log.warning(
            "letter %s of %s: no clear answer (%s), but it is in the quote's files", name, prepared.quote.ref, exc
        )
    except DolibarrError as exc:  # refused before anything was stored (rights, unknown quote): nothing filed
        reason = f"the letter could not be filed in Dolibarr: {exc}"
        await asyncio.to_thread(release_claim, rt, prepared.key, reason)
        return outcome_of(prepared, "failed", error=reason, error_code=exc.code)
    except Exception as exc:
        log.exception("filing letter %s of %s failed unexpectedly", prepared.key, prepared.quote.ref)
        return await mark_uncertain(
            rt,
            prepared,
            f"filing the letter stopped on an unexpected error ({type(exc).__name__}: {exc}); check the "
            f"quote's files in Dolibarr for {name}",
        )
    done_at = rt.now()
    await asyncio.to_thread(after_handover, lambda: ledger.mark_filed(prepared.key), prepared)
    return done_at


async def letter_in_files(rt: Runtime, quote: Quote, name: str) -> bool | None:
    """Whether the quote's files hold ``name`` (None: Dolibarr could not say)."""
    try:
        documents = await rt.dolibarr.list_documents(quote)
    except DolibarrError as exc:
        log.warning("could not list the files of %s to look for %s: %s", quote.ref, name, exc)
        return None
    return any(document.name == name for document in documents)


async def filed_letter_name(rt: Runtime, quote: Quote, key: str) -> str | None:
    """The letter a follow-up filed in the quote's documents (named by
    :func:`~dolirelance.service.prepare.letter_file_name`)."""
    suffix = key.rsplit(":", 1)[-1][:8]
    for document in await rt.dolibarr.list_documents(quote):
        if document.name.startswith(f"relance-{quote.ref}-") and document.name.endswith(f"-{suffix}.pdf"):
            return document.name
    return None


def not_in_batch(reason: str, file_name: str | None) -> str:
    """What a letter done and recorded but missing from the print batch tells the person printing."""
    return f"not in the print batch ({reason}): print {file_name} from the quote's files in Dolibarr"
