"""The use cases: the only package that wires Dolibarr, rendering, letters, mail and the ledger.

Front ends (CLI, scheduler, web) call these functions and never talk to the parts directly.
One module per use case, each importing only those above it when it runs (a type named for mypy alone may
be below: :mod:`.agenda` names :mod:`.prepare`'s):

- :mod:`.runtime`: settings, clients and caches built once at the edge; the rights check;
- :mod:`.access`: who may read and who may send (``[access]``), the check every front end goes through;
- :mod:`.reads`: reads several use cases share (a quote by ref, follow-up histories);
- :mod:`.agenda`: the one recorder of follow-ups in Dolibarr's agenda, and the "last follow-up" rules read;
- :mod:`.views`: quotes overview, history, upcoming follow-ups (read only);
- :mod:`.prepare`: a quote → exactly what will be sent or printed, nothing done;
- :mod:`.outcome`: what became of a follow-up, in words (and who holds a quote refused);
- :mod:`.handover`: the ledger writes around the hand-over (a claim released, a write after it left);
- :mod:`.sending`: the e-mail path (the SMTP turn); :mod:`.filing`: the letter path (filed in Dolibarr);
- :mod:`.recovery`: what earlier runs left: quotes still held, and ``retry``;
- :mod:`.delivery`: claim, send or file, record: the exactly-once core, in the order of its steps;
- :mod:`.manual`: remind and mass follow-ups;
- :mod:`.preview`: what a preview says before anything leaves (recent follow-ups, mass preview lines);
- :mod:`.letters`: letters filed but in no print file yet, and the print file that gathers them;
- :mod:`.auto`: the automatic run and ``explain``;
- :mod:`.answers`: a quote's replies and bounces as ``explain`` shows them;
- :mod:`.replies`: the replies mailbox read once: each message sorted (reply, bounce…) and recorded;
- :mod:`.report`: the effectiveness report (which follow-ups pay), read in bulk;
- :mod:`.checks`: ``doctor`` and ``setup``: is everything in place, and what to do if not.

Importing this package imports none of them: each name is imported from its module when first used,
so a command that only reads (``quotes``) does not pay for the ledger (SQLAlchemy, Alembic), the
letters (ReportLab, pypdf) or the templates (Jinja2).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

# The names this package exports, by the module that defines them: the one table the lazy loader
# and ``__all__`` read. Mypy cannot read a table: the imports under TYPE_CHECKING below say the same
# for it (pyproject.toml lets them re-export), and tests/test_service_exports.py checks they match.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "dolirelance.files": ("write_atomically",),
    "dolirelance.policy": ("SkipReason",),
    "dolirelance.service.access": ("Access", "access_of", "require_access"),
    "dolirelance.service.agenda": ("TodoSweep", "close_superseded_todos"),
    "dolirelance.service.answers": ("QuoteAnswer", "quote_answers"),
    "dolirelance.service.auto": (
        "AutoReport",
        "Explanation",
        "auto_rules",
        "candidate_filter",
        "day_off",
        "explain",
        "run_auto",
        "working_calendar",
    ),
    "dolirelance.service.delivery": (
        "Attempt",
        "deliver",
    ),
    "dolirelance.service.letters": ("PrintReport", "letters_to_print", "print_letters"),
    "dolirelance.service.manual": (
        "ChannelChoice",
        "MassItem",
        "MassReport",
        "MassSelection",
        "choose_channel",
        "email_reachable",
        "follow_up",
        "mass_follow_up",
        "plan_mass",
        "select_quotes",
    ),
    "dolirelance.service.outcome": (
        "FollowUpOutcome",
        "Outcome",
        "describe_holder",
        "how_to_settle",
    ),
    "dolirelance.service.prepare": (
        "PreparedFollowUp",
        "addressee",
        "ensure_open",
        "letter_file_name",
        "prepare_followup",
        "quote_pdfs",
        "sales_rep_of",
    ),
    "dolirelance.service.reads": (
        "load_history",
        "next_model_name",
        "read_customer",
        "read_quote",
        "resolve_customer_ids",
    ),
    "dolirelance.service.recovery": ("ledger_problems", "retry_unrecorded"),
    "dolirelance.service.replies": ("MessageOutcome", "RepliesReport", "read_replies"),
    "dolirelance.service.report": ("default_period_start", "effectiveness_report"),
    "dolirelance.service.runtime": (
        "REQUIRED_RIGHTS",
        "Runtime",
        "SmtpFactory",
        "api_user",
        "ledger_location",
        "log_in",
        "open_ledger",
        "open_runtime",
        "require_rights",
        "state_directory",
    ),
    "dolirelance.service.views": (
        "AnswerLine",
        "HistoryLine",
        "QuoteRow",
        "QuotesSelection",
        "SalesRepSelection",
        "UpcomingLine",
        "due_quote_ids",
        "history_view",
        "iter_quote_rows",
        "quotes_overview",
        "quotes_screen",
        "quotes_selection",
        "upcoming",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)

if TYPE_CHECKING:
    from dolirelance.files import write_atomically
    from dolirelance.policy import SkipReason
    from dolirelance.service.access import Access, access_of, require_access
    from dolirelance.service.agenda import (
        TodoSweep,
        close_superseded_todos,
    )
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
    from dolirelance.service.delivery import Attempt, deliver
    from dolirelance.service.letters import (
        PrintReport,
        letters_to_print,
        print_letters,
    )
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
    from dolirelance.service.outcome import FollowUpOutcome, Outcome, describe_holder, how_to_settle
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
    from dolirelance.service.recovery import ledger_problems, retry_unrecorded
    from dolirelance.service.replies import (
        MessageOutcome,
        RepliesReport,
        read_replies,
    )
    from dolirelance.service.report import (
        default_period_start,
        effectiveness_report,
    )
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
else:  # hidden from mypy: a name missing from the block above is an error there, not an Any

    def __getattr__(name: str) -> Any:
        module = _MODULE_OF.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        globals()[name] = value  # found at once next time
        return value
