"""The use cases: the only package that wires Dolibarr, rendering, letters, mail and the ledger.

Front ends (CLI, scheduler, web) call these functions and never talk to the parts directly.
One module per use case, each importing only those above it:

- :mod:`.runtime`: settings, clients and caches built once at the edge; the rights check;
- :mod:`.reads`: reads several use cases share (a quote by ref, follow-up histories);
- :mod:`.views`: quotes overview, history, upcoming follow-ups (read only);
- :mod:`.prepare`: a quote → exactly what will be sent or printed, nothing done;
- :mod:`.delivery`: claim, send or file, record (the exactly-once core), and retry;
- :mod:`.manual`: remind and mass follow-ups;
- :mod:`.letters`: letters filed but in no print file yet, and the print file that gathers them;
- :mod:`.auto`: the automatic run and ``explain``;
- :mod:`.answers`: a quote's replies and bounces as ``explain`` shows them;
- :mod:`.report`: the effectiveness report (which follow-ups pay), read in bulk.

Importing this package imports none of them: each name is imported from its module when first used,
so a command that only reads (``quotes``) does not pay for the ledger (SQLAlchemy, Alembic), the
letters (ReportLab, pypdf) or the templates (Jinja2).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dolirelance.files import write_atomically
    from dolirelance.policy import SkipReason
    from dolirelance.service.access import Access, access_of, require_access
    from dolirelance.service.agenda import CHANNEL_LABELS_FR, close_superseded_todos
    from dolirelance.service.answers import QuoteAnswer, quote_answers
    from dolirelance.service.auto import (
        AutoReport,
        Explanation,
        auto_rules,
        candidate_filter,
        day_off,
        explain,
        run_auto,
        working_calendar,
    )
    from dolirelance.service.delivery import (
        Attempt,
        FollowUpOutcome,
        Outcome,
        deliver,
        describe_holder,
        how_to_settle,
        ledger_problems,
        retry_unrecorded,
    )
    from dolirelance.service.letters import PrintReport, letters_to_print, print_letters
    from dolirelance.service.manual import (
        ChannelChoice,
        MassItem,
        MassReport,
        MassSelection,
        choose_channel,
        email_reachable,
        follow_up,
        mass_follow_up,
        plan_mass,
        select_quotes,
    )
    from dolirelance.service.prepare import (
        PreparedFollowUp,
        addressee,
        ensure_open,
        letter_file_name,
        prepare_followup,
        quote_pdfs,
        sales_rep_of,
    )
    from dolirelance.service.reads import (
        load_history,
        next_model_name,
        read_customer,
        read_quote,
        resolve_customer_ids,
    )
    from dolirelance.service.replies import MessageOutcome, RepliesReport, read_replies
    from dolirelance.service.report import default_period_start, effectiveness_report
    from dolirelance.service.runtime import (
        REQUIRED_RIGHTS,
        Runtime,
        SmtpFactory,
        api_user,
        ledger_location,
        log_in,
        open_ledger,
        open_runtime,
        require_rights,
        state_directory,
    )
    from dolirelance.service.views import (
        AnswerLine,
        HistoryLine,
        QuoteRow,
        QuotesSelection,
        SalesRepSelection,
        UpcomingLine,
        due_quote_ids,
        history_view,
        iter_quote_rows,
        quotes_overview,
        quotes_screen,
        quotes_selection,
        upcoming,
    )

_MODULE_OF = {
    "Access": "dolirelance.service.access",
    "AnswerLine": "dolirelance.service.views",
    "Attempt": "dolirelance.service.delivery",
    "AutoReport": "dolirelance.service.auto",
    "CHANNEL_LABELS_FR": "dolirelance.service.agenda",
    "ChannelChoice": "dolirelance.service.manual",
    "close_superseded_todos": "dolirelance.service.agenda",
    "Explanation": "dolirelance.service.auto",
    "FollowUpOutcome": "dolirelance.service.delivery",
    "HistoryLine": "dolirelance.service.views",
    "MassItem": "dolirelance.service.manual",
    "MassReport": "dolirelance.service.manual",
    "MassSelection": "dolirelance.service.manual",
    "MessageOutcome": "dolirelance.service.replies",
    "Outcome": "dolirelance.service.delivery",
    "PreparedFollowUp": "dolirelance.service.prepare",
    "PrintReport": "dolirelance.service.letters",
    "QuoteAnswer": "dolirelance.service.answers",
    "QuoteRow": "dolirelance.service.views",
    "QuotesSelection": "dolirelance.service.views",
    "REQUIRED_RIGHTS": "dolirelance.service.runtime",
    "RepliesReport": "dolirelance.service.replies",
    "Runtime": "dolirelance.service.runtime",
    "SalesRepSelection": "dolirelance.service.views",
    "SkipReason": "dolirelance.policy",
    "SmtpFactory": "dolirelance.service.runtime",
    "UpcomingLine": "dolirelance.service.views",
    "access_of": "dolirelance.service.access",
    "addressee": "dolirelance.service.prepare",
    "api_user": "dolirelance.service.runtime",
    "auto_rules": "dolirelance.service.auto",
    "candidate_filter": "dolirelance.service.auto",
    "choose_channel": "dolirelance.service.manual",
    "day_off": "dolirelance.service.auto",
    "default_period_start": "dolirelance.service.report",
    "deliver": "dolirelance.service.delivery",
    "describe_holder": "dolirelance.service.delivery",
    "how_to_settle": "dolirelance.service.delivery",
    "due_quote_ids": "dolirelance.service.views",
    "effectiveness_report": "dolirelance.service.report",
    "email_reachable": "dolirelance.service.manual",
    "ensure_open": "dolirelance.service.prepare",
    "explain": "dolirelance.service.auto",
    "follow_up": "dolirelance.service.manual",
    "history_view": "dolirelance.service.views",
    "iter_quote_rows": "dolirelance.service.views",
    "ledger_location": "dolirelance.service.runtime",
    "ledger_problems": "dolirelance.service.delivery",
    "letter_file_name": "dolirelance.service.prepare",
    "letters_to_print": "dolirelance.service.letters",
    "load_history": "dolirelance.service.reads",
    "log_in": "dolirelance.service.runtime",
    "mass_follow_up": "dolirelance.service.manual",
    "next_model_name": "dolirelance.service.reads",
    "open_ledger": "dolirelance.service.runtime",
    "open_runtime": "dolirelance.service.runtime",
    "plan_mass": "dolirelance.service.manual",
    "print_letters": "dolirelance.service.letters",
    "prepare_followup": "dolirelance.service.prepare",
    "quote_pdfs": "dolirelance.service.prepare",
    "quote_answers": "dolirelance.service.answers",
    "quotes_overview": "dolirelance.service.views",
    "quotes_screen": "dolirelance.service.views",
    "quotes_selection": "dolirelance.service.views",
    "read_customer": "dolirelance.service.reads",
    "read_quote": "dolirelance.service.reads",
    "read_replies": "dolirelance.service.replies",
    "require_access": "dolirelance.service.access",
    "require_rights": "dolirelance.service.runtime",
    "resolve_customer_ids": "dolirelance.service.reads",
    "retry_unrecorded": "dolirelance.service.delivery",
    "run_auto": "dolirelance.service.auto",
    "sales_rep_of": "dolirelance.service.prepare",
    "select_quotes": "dolirelance.service.manual",
    "state_directory": "dolirelance.service.runtime",
    "upcoming": "dolirelance.service.views",
    "working_calendar": "dolirelance.service.auto",
    "write_atomically": "dolirelance.files",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # found at once next time
    return value


__all__ = [
    "CHANNEL_LABELS_FR",
    "REQUIRED_RIGHTS",
    "Access",
    "AnswerLine",
    "Attempt",
    "AutoReport",
    "ChannelChoice",
    "Explanation",
    "FollowUpOutcome",
    "HistoryLine",
    "MassItem",
    "MassReport",
    "MassSelection",
    "MessageOutcome",
    "Outcome",
    "PreparedFollowUp",
    "PrintReport",
    "QuoteAnswer",
    "QuoteRow",
    "QuotesSelection",
    "RepliesReport",
    "Runtime",
    "SalesRepSelection",
    "SkipReason",
    "SmtpFactory",
    "UpcomingLine",
    "access_of",
    "addressee",
    "api_user",
    "auto_rules",
    "candidate_filter",
    "choose_channel",
    "close_superseded_todos",
    "day_off",
    "default_period_start",
    "deliver",
    "describe_holder",
    "due_quote_ids",
    "effectiveness_report",
    "email_reachable",
    "ensure_open",
    "explain",
    "follow_up",
    "history_view",
    "how_to_settle",
    "iter_quote_rows",
    "ledger_location",
    "ledger_problems",
    "letter_file_name",
    "letters_to_print",
    "load_history",
    "log_in",
    "mass_follow_up",
    "next_model_name",
    "open_ledger",
    "open_runtime",
    "plan_mass",
    "prepare_followup",
    "print_letters",
    "quote_answers",
    "quote_pdfs",
    "quotes_overview",
    "quotes_screen",
    "quotes_selection",
    "read_customer",
    "read_quote",
    "read_replies",
    "require_access",
    "require_rights",
    "resolve_customer_ids",
    "retry_unrecorded",
    "run_auto",
    "sales_rep_of",
    "select_quotes",
    "state_directory",
    "upcoming",
    "working_calendar",
    "write_atomically",
]
