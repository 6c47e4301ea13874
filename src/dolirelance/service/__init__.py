"""The use cases: the only package that wires Dolibarr, rendering, letters, mail and the ledger.

Front ends (CLI, scheduler, web, checks) call these functions and never talk to the parts directly.
One module per use case, each importing only those above it:

- :mod:`.runtime`: settings, clients and caches built once at the edge; the rights check;
- :mod:`.reads`: reads several use cases share (a quote by ref, follow-up histories);
- :mod:`.views`: quotes overview, history, upcoming follow-ups (read only);
- :mod:`.prepare`: a quote → exactly what will be sent or printed, nothing done;
- :mod:`.delivery`: claim, send or file, record (the exactly-once core), and retry;
- :mod:`.manual`: remind and mass follow-ups;
- :mod:`.auto`: the automatic run and ``explain``;
- :mod:`.report`: the effectiveness report (which follow-ups pay), read in bulk.
"""

from dolirelance.files import write_atomically
from dolirelance.policy import SkipReason
from dolirelance.service.access import Access, access_of, require_access
from dolirelance.service.auto import (
    AutoReport,
    auto_rules,
    candidate_filter,
    day_off,
    explain,
    run_auto,
    working_calendar,
)
from dolirelance.service.delivery import (
    CHANNEL_LABELS_FR,
    IN_PROGRESS_STATES,
    SENT_STATES,
    Attempt,
    FollowUpOutcome,
    Outcome,
    deliver,
    describe_holder,
    ledger_problems,
    retry_unrecorded,
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

__all__ = [
    "CHANNEL_LABELS_FR",
    "IN_PROGRESS_STATES",
    "REQUIRED_RIGHTS",
    "SENT_STATES",
    "Access",
    "Attempt",
    "AutoReport",
    "ChannelChoice",
    "FollowUpOutcome",
    "HistoryLine",
    "MassItem",
    "MassReport",
    "MassSelection",
    "MessageOutcome",
    "Outcome",
    "PreparedFollowUp",
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
    "iter_quote_rows",
    "ledger_location",
    "ledger_problems",
    "letter_file_name",
    "load_history",
    "log_in",
    "mass_follow_up",
    "next_model_name",
    "open_ledger",
    "open_runtime",
    "plan_mass",
    "prepare_followup",
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
