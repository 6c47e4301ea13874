"""Names that look like markup or hold terminal escapes print as plain text; bad rows are named."""

from __future__ import annotations

import logging

from dolirelance.terminal import PlainLogFormatter, plain, text
from test_cli_followup import Cli, flat

MARKUP_NAME = "Dupont [SARL] [/b]"
ESCAPES = "\x1b[2J\x1b]0;pwned\x07\u202e"


def test_text_escapes_markup_and_removes_control_characters() -> None:
    """Markup is escaped for rich, control and direction characters dropped, line breaks and tabs kept."""
    assert plain(f"a{ESCAPES}b\n\tc") == "a[2J]0;pwnedb\n\tc"
    assert text("[/b] [red]x") == "\\[/b] \\[red]x"
    assert text(42) == "42"
    record = logging.LogRecord("x", logging.WARNING, "f", 1, "left out %s", (f"PR1{ESCAPES}",), None)
    assert PlainLogFormatter("%(message)s").format(record) == "left out PR1[2J]0;pwned"


def test_markup_and_escapes_in_names_print_as_text_in_every_view(cli: Cli) -> None:
    """quotes, mass, run, history, upcoming, explain: the customer's name comes out as it is, no crash."""
    cli.fake.thirdparties[cli.sample.customers["boulangerie"]].name = MARKUP_NAME + ESCAPES
    expired = cli.sample.refs["expired"]
    # one damaged quote of another customer: the run names it and mails the others
    damaged_id = cli.sample.quotes["about_to_expire"]
    cli.fake.corrupt_proposal(damaged_id, total_ht="NaN")

    run = cli("run", "--once")
    assert run.code == 1, run  # something for a person to fix
    assert "Traceback" not in run.out + run.err and "\x1b" not in run.out
    out = flat(run.out)
    assert f"✔ {expired} {MARKUP_NAME}[2J]0;pwned: 2nde relance by e-mail" in out
    damaged_ref = cli.fake.proposals[damaged_id].ref
    assert (
        f"left out quote {damaged_ref} (id {damaged_id}): field total_ht = 'NaN': not a finite amount "
        "→ correct the amount excl. tax of this quote in Dolibarr; until then it is left out"
    ) in out
    assert len(cli.sink.messages) == 2  # expired and contact_without_email; about_to_expire left out

    listed = cli("quotes")
    assert listed.code == 0 and f"left out quote {damaged_ref} (id {damaged_id})" in flat(listed.err)

    for args in (
        ["quotes"],
        ["mass", expired, "--email", "--dry-run"],
        ["history", "--open"],
        ["upcoming"],
        ["explain", expired],
    ):
        result = cli(*args)
        assert result.code == 0, (args, result)
        assert "[SARL]" in result.out and "[/b]" in result.out, (args, result.out)  # tables may wrap the name
        assert "\x1b" not in result.out and "\u202e" not in result.out
        assert "Traceback" not in result.out + result.err


def test_explain_of_a_damaged_quote_says_what_to_fix(cli: Cli) -> None:
    """A far-future end of validity: a clear error naming the quote and the field, not a crash."""
    ref, quote_id = cli.sample.refs["expired"], cli.sample.quotes["expired"]
    cli.fake.corrupt_proposal(quote_id, fin_validite=253402214400)
    result = cli("explain", ref)
    assert result.code == 1, result
    assert result.err.startswith(f"error: quote {ref} (id {quote_id}): field fin_validite = 253402214400: date out")
    assert "correct the end of validity date of this quote in Dolibarr" in flat(result.err)
    assert "Traceback" not in result.err
