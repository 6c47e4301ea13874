"""The follow-up commands through the real entry point (``dolirelance.cli.main``).

The fake Dolibarr is served on loopback (the CLI builds its own HTTP client from the config file), the
SMTP server is real; each test checks the exit code, what is printed, and what Dolibarr and the SMTP
server then hold.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import io
import json
from datetime import timedelta

import pytest
from pypdf import PdfReader

from conftest import ON_EACH_RECORDED_VERSION, SAMPLE_TODAY, MutableClock
from dolirelance.history import decode_facts
from dolirelance.testing import AgendaEventRecord, FakeDolibarr
from in_process_cli import CliResult
from in_process_cli import DemoCli as Cli

TODAY = SAMPLE_TODAY
# Every command, end to end, against a Dolibarr 20.0.0 and a 23.0.0-beta.
pytestmark = ON_EACH_RECORDED_VERSION


def relance_events(fake: FakeDolibarr, quote_id: int | None = None) -> list[AgendaEventRecord]:
    return sorted(
        (e for e in fake.events.values() if e.code.startswith("AC_RELANCE") and quote_id in (None, e.fk_element)),
        key=lambda e: e.id,
    )


def writes(fake: FakeDolibarr) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.requests if r.method != "GET"]


def assert_clean_error(result: CliResult, *fragments: str, code: int = 1) -> None:
    assert result.code == code, result
    assert result.err.startswith("error: "), result.err
    assert "Traceback" not in result.err + result.out
    flat = " ".join(result.err.split())
    for fragment in fragments:
        assert " ".join(fragment.split()) in flat, (fragment, result.err)


def flat(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- remind


def test_remind_by_email(cli: Cli) -> None:
    ref, quote_id = cli.sample.refs["about_to_expire"], cli.sample.quotes["about_to_expire"]
    result = cli("remind", ref, "--email", "--note", "Appel sans réponse", "--next", "+3 days")
    assert result.code == 0, result
    assert result.out.startswith(
        f"✔ {ref} Garage Dupont SAS: 1ère relance by e-mail to sophie.dupont@garage-dupont.test"
    )
    done, todo = relance_events(cli.fake, quote_id)
    assert f"recorded in Dolibarr (event {done.id}, next follow-up to-do {todo.id})" in flat(result.out)
    assert done.code == "AC_RELANCE_EMAIL" and "Appel sans réponse" in done.note
    assert decode_facts(done.note)["next"] == (TODAY + timedelta(days=3)).isoformat()
    assert cli.fake.day_of_epoch(todo.datep) == TODAY + timedelta(days=3) and todo.percentage == 0
    [received] = cli.sink.messages
    assert received.rcpt_tos == ["sophie.dupont@garage-dupont.test"]
    assert done.email_msgid == str(received.message["Message-ID"])
    assert [p.get_filename() for p in received.message.iter_attachments()] == [f"{ref}.pdf"]


def test_remind_by_letter_with_an_explicit_date_and_out_file(cli: Cli) -> None:
    ref, quote_id = cli.sample.refs["expired"], cli.sample.quotes["expired"]
    out = cli.tmp_path / "lettre.pdf"
    result = cli("remind", ref, "--letter", "--model", "2nde relance", "--next", "2026-12-20", "--out", str(out))
    assert result.code == 0, result
    done, todo = relance_events(cli.fake, quote_id)
    facts = decode_facts(done.note)
    assert (done.code, facts["model"], facts["next"]) == ("AC_RELANCE_LETTER", "2nde relance", "2026-12-20")
    files = {f.name: f.content for f in cli.fake.proposal_files(cli.fake.proposals[quote_id])}
    assert facts["file"] in files and files[facts["file"]] == out.read_bytes()
    assert f"file {facts['file']}" in flat(result.out)
    assert len(PdfReader(io.BytesIO(out.read_bytes())).pages) >= 2
    assert cli.fake.day_of_epoch(todo.datep).isoformat() == "2026-12-20"
    assert cli.sink.messages == []


@pytest.mark.parametrize(
    ("args", "fragments", "code"),
    [
        (["--email"], ["has no e-mail address"], 1),
        # what the command line does not say is a usage error: exit 2, as the README says
        (["--email", "--letter"], ["choose one channel", "add --email or --letter"], 2),
        ([], ["choose one channel"], 2),
        (
            ["--letter", "--model", "Relance finale"],
            ["unknown model 'Relance finale'", "1ère relance, 2nde relance"],
            1,
        ),
        (["--letter", "--next", "2026-11-01"], ["the next follow-up date 2026-11-01 is in the past"], 2),
        (["--letter", "--next", "-3 days"], ["the next follow-up date 2026-11-25 is in the past"], 2),
        (["--letter", "--next", "demain"], ["--next 'demain' is neither a date nor a delay"], 2),
        (["--letter", "--next", "22/12/2026"], ["--next '22/12/2026' is neither a date nor a delay"], 2),
    ],
)
def test_remind_errors_are_one_clear_line(cli: Cli, args: list[str], fragments: list[str], code: int) -> None:
    result = cli("remind", cli.sample.refs["no_email"], *args)
    assert_clean_error(result, *fragments, code=code)
    assert relance_events(cli.fake) == [] and cli.sink.messages == [] and writes(cli.fake) == []
    if code == 2:  # a follow-up that never started leaves nothing in the ledger (no `failed` row)
        status = cli("status")
        assert status.code == 0 and status.out.startswith("ledger: empty"), status


def test_remind_without_email_gives_the_exact_message(cli: Cli) -> None:
    ref = cli.sample.refs["no_email"]
    result = cli("remind", ref, "--email")
    assert_clean_error(
        result,
        f"{ref} (Ferme des Trois Chênes) has no e-mail address: add one to the customer or to a "
        "CUSTOMER contact of the quote, or follow up by letter",
    )


@pytest.mark.parametrize("role", ["signed", "refused", "draft"])
def test_remind_refuses_a_quote_that_is_not_open(cli: Cli, role: str) -> None:
    key = str(cli.sample.quotes[role]) if role == "draft" else cli.sample.refs[role]
    result = cli("remind", key, "--letter")
    assert_clean_error(result, f"is {role}: only open (validated, not signed or refused) quotes")
    assert relance_events(cli.fake) == [] and writes(cli.fake) == []


def test_remind_without_rights_names_the_missing_one(cli: Cli) -> None:
    result = cli("remind", cli.sample.refs["expired"], "--letter", login="stagiaire")
    assert_clean_error(result, "agenda.myactions.create")
    assert relance_events(cli.fake) == [] and writes(cli.fake) == [] and cli.sink.messages == []


def test_dolibarr_down_is_a_clear_error(cli: Cli) -> None:
    cli.fake.fail_next(50, 503)
    result = cli("remind", cli.sample.refs["expired"], "--email")
    assert_clean_error(result, "503")
    assert "→" in result.err  # with a remedy
    assert relance_events(cli.fake) == [] and cli.sink.messages == []
    cli.fake._fail_queue.clear()


# --------------------------------------------------------------------------- mass


def test_mass_dry_run_prints_the_plan_and_does_nothing(cli: Cli) -> None:
    refs = cli.sample.refs
    result = cli("mass", refs["expired"], refs["no_email"], refs["signed"], "--prefer-email", "--dry-run")
    assert result.code == 0, result
    text = flat(result.out)
    assert "Dry run: 3 quote(s)" in text
    for ref in (refs["expired"], refs["no_email"], refs["signed"]):
        assert ref in text
    assert "letter" in text and "email" in text and f"{refs['signed']} is signed" in text
    assert "Ferme des Trois Chênes" in text and "1ère relance" in text
    assert "following up" not in text
    assert writes(cli.fake) == [] and relance_events(cli.fake) == [] and cli.sink.messages == []
    assert not (cli.tmp_path / "cfg-jdupont" / "letters").exists()


def test_mass_run_reports_progress_and_a_summary(cli: Cli) -> None:
    refs, quotes = cli.sample.refs, cli.sample.quotes
    cli.sink.refuse_recipient("jean.martin@boulangerie-martin.test")
    out_dir = cli.tmp_path / "a-imprimer"
    result = cli(
        "mass",
        refs["expired"],
        refs["no_email"],
        refs["two_contacts"],
        refs["about_to_expire"],
        "--prefer-email",
        "--note",
        "Relance de fin de mois",
        "--out",
        str(out_dir),
    )
    assert result.code == 1, result  # one failed
    text = flat(result.out)
    assert "following up 4 quote(s)..." in text
    assert "3 done, 1 failed, 0 refused of 4" in text
    assert f"✘ {refs['expired']} Boulangerie Martin: failed, nothing was sent:" in text
    assert "jean.martin@boulangerie-martin.test" in text
    [pdf] = list(out_dir.glob("relances-*.pdf"))
    assert f"letters to print (1): {pdf}" in text
    assert "Traceback" not in result.out + result.err
    assert relance_events(cli.fake, quotes["expired"]) == []
    for role in ("no_email", "two_contacts", "about_to_expire"):
        codes = [e.code for e in relance_events(cli.fake, quotes[role])]
        assert sorted(codes) == sorted([codes[0], "AC_RELANCE_TODO"]) and len(codes) == 2
        assert "Relance de fin de mois" in relance_events(cli.fake, quotes[role])[0].note
    assert len(cli.sink.messages) == 2


def test_mass_filters_and_model_choices(cli: Cli) -> None:
    refs = cli.sample.refs
    result = cli("mass", "--customer", "Garage Dupont", "--expired", "--letter", "--dry-run")
    assert result.code == 0 and "Dry run: 1 quote(s)" in result.out and refs["contact_without_email"] in result.out
    result = cli("mass", "--all-open", "--sales-rep", "jdupont", "--email", "--dry-run")
    assert f"Dry run: {len(cli.sample.open_quotes) - 1} quote(s)" in result.out
    result = cli("mass", "--due", "--letter", "--dry-run")
    assert result.code == 0 and "Dry run: 0 quote(s)" in result.out
    result = cli("mass", refs["expired"], "--letter", "--model-for", f"{refs['expired']}=2nde relance", "--dry-run")
    assert result.code == 0 and "2nde relance" in result.out
    assert_clean_error(cli("mass", refs["expired"], "--letter", "--model-for", "oops"), "is not REF=MODEL", code=2)
    assert_clean_error(cli("mass", refs["expired"], "--letter", "--model", "Nope"), "unknown model 'Nope'")
    assert_clean_error(cli("mass", "--letter"), "no quotes selected")
    assert_clean_error(cli("mass", refs["expired"]), "choose one channel", code=2)
    assert_clean_error(cli("mass", "PR9999-0001", "--letter"), "quote(s) not found: PR9999-0001")
    assert writes(cli.fake) == [] and cli.sink.messages == []


# --------------------------------------------------------------------------- retry


def test_retry_records_what_was_sent_but_not_recorded(cli: Cli) -> None:
    ref, quote_id = cli.sample.refs["about_to_expire"], cli.sample.quotes["about_to_expire"]
    cli.fake.fail_next(1, 503, path_prefix="/agendaevents", method="POST")
    result = cli("remind", ref, "--email")
    assert result.code == 1, result  # done, but someone must see that it still needs `retry`
    assert f"! {ref}: e-mail sent, not recorded yet; done, but not recorded in Dolibarr yet" in flat(result.out)
    assert "dolirelance retry" in result.out
    assert relance_events(cli.fake, quote_id) == [] and len(cli.sink.messages) == 1

    result = cli("retry")
    assert result.code == 0, result
    assert f"✔ {ref}" in result.out and "recorded in Dolibarr" in result.out
    done, todo = relance_events(cli.fake, quote_id)
    assert done.email_msgid == str(cli.sink.messages[0].message["Message-ID"])
    assert todo.code == "AC_RELANCE_TODO"
    result = cli("retry")
    assert result.code == 0 and "nothing to record" in result.out
    assert len(cli.sink.messages) == 1 and len(relance_events(cli.fake, quote_id)) == 2


# --------------------------------------------------------------------------- history, upcoming, quotes


def _some_follow_ups(cli: Cli, clock: MutableClock) -> None:
    refs = cli.sample.refs
    assert cli("remind", refs["about_to_expire"], "--email", "--note", "Premier").code == 0
    assert cli("remind", refs["expired"], "--letter", "--note", "Courrier", "--next", "+2 days").code == 0
    assert cli("remind", refs["not_yet_due"], "--email", "--note", "Cabinet").code == 0
    clock.advance(days=1)
    assert cli("remind", refs["about_to_expire"], "--email", "--note", "Second", "--force").code == 0
    cli.fake.close_proposal(cli.sample.quotes["not_yet_due"], 2)


def test_history_views(cli: Cli, clock: MutableClock) -> None:
    refs = cli.sample.refs
    _some_follow_ups(cli, clock)
    cli.fake.reset_requests()

    result = cli("history", "--quote", refs["about_to_expire"])
    assert result.code == 0, result
    text = flat(result.out)
    assert "2 follow-up(s)" in text
    for header in ("Id", "Customer", "Quote", "Note", "Model", "Channel", "User", "Date", "Next", "File"):
        assert header in text
    assert text.index("Second") < text.index("Premier")  # newest first
    assert "2nde relance" in text and "Julie Dupont" in text and "Garage Dupont SAS" in text
    assert (TODAY + timedelta(days=16)).isoformat() in text
    second = relance_events(cli.fake, cli.sample.quotes["about_to_expire"])[-2]
    assert str(second.id) in text

    letter = flat(cli("history", "--quote", refs["expired"]).out)
    file_name = decode_facts(relance_events(cli.fake, cli.sample.quotes["expired"])[0].note)["file"]
    assert "Courrier" in letter and "letter" in letter
    assert file_name[:20] in letter  # the file column (long names may wrap)

    cabinet = flat(cli("history", "--customer", "Cabinet Lefèvre").out)
    assert "1 follow-up(s)" in cabinet and f"{refs['not_yet_due']} (closed)" in cabinet and "Cabinet" in cabinet

    opened = cli("history", "--open")
    assert opened.code == 0 and "3 follow-up(s)" in opened.out and refs["not_yet_due"] not in opened.out
    assert cli.fake.count_requests("/agendaevents", "GET") <= 4

    assert_clean_error(cli("history"), "say which history", code=2)
    assert_clean_error(cli("history", "--open", "--quote", refs["expired"]), "say which history", code=2)


def test_upcoming(cli: Cli, clock: MutableClock) -> None:
    refs = cli.sample.refs
    _some_follow_ups(cli, clock)  # to-dos: expired +2 days, about_to_expire +16 days (not_yet_due is signed)
    result = cli("upcoming")
    assert result.code == 0, result
    text = flat(result.out)
    assert "2 follow-up(s) to do" in text
    assert text.index(refs["expired"]) < text.index(refs["about_to_expire"])
    assert refs["not_yet_due"] not in text
    assert "Boulangerie Martin" in text and "(overdue)" not in text
    assert "1 follow-up(s) to do" in flat(cli("upcoming", "--days", "5").out)
    clock.advance(days=3)
    assert "(overdue)" in flat(cli("upcoming", "--user", "jdupont").out)
    assert_clean_error(cli("upcoming", "--user", "admin"), "user.user.lire")  # jdupont may not read others
    assert "0 follow-up(s) to do" in flat(cli("upcoming", login="admin").out)


def test_quotes_lists_open_quotes_with_their_follow_ups(cli: Cli, clock: MutableClock) -> None:
    refs = cli.sample.refs
    _some_follow_ups(cli, clock)
    result = cli("quotes", "--json")
    assert result.code == 0, result
    rows = {row["ref"]: row for row in json.loads(result.out)}
    assert set(rows) == {refs[r] for r in cli.sample.open_quotes if r != "not_yet_due"}  # signed meanwhile
    row = rows[refs["about_to_expire"]]
    assert row["last_followup"]["model"] == "2nde relance" and row["last_followup"]["note"] == "Second"
    assert row["next_followup"] == (TODAY + timedelta(days=16)).isoformat()
    assert row["next_model"] == "2nde relance"
    assert rows[refs["two_contacts"]]["last_followup"] is None
    table = flat(cli("quotes", "--customer", "Garage").out)
    assert "3 open quote(s)" in table and "Garage Dupont SAS" in table


# --------------------------------------------------------------------------- preview


def test_preview_writes_exactly_what_would_be_sent_and_does_nothing(cli: Cli) -> None:
    ref = cli.sample.refs["two_contacts"]
    eml, pdf = cli.tmp_path / "out.eml", cli.tmp_path / "out.pdf"
    email_result = cli("preview", ref, "--email", str(eml))
    letter_result = cli("preview", ref, "--model", "2nde relance", "--letter", str(pdf))
    assert email_result.code == 0 and letter_result.code == 0, (email_result, letter_result)
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert ref in str(message["Subject"]) and message["Message-ID"]
    assert len(email.utils.getaddresses([str(message["To"])])) == 2  # both CUSTOMER contacts
    assert [part.get_filename() for part in message.iter_attachments()] == [f"{ref}.pdf"]
    # the HTML part beside the .eml, its inline logo written in, to open in a browser
    html = eml.with_suffix(".html").read_text(encoding="utf-8")
    assert "its HTML part, to open in a browser" in flat(email_result.out)
    assert 'src="data:image/png;base64,' in html and "cid:" not in html and ref in html
    text = "\n".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "Seconde relance" in text and ref in text
    assert "attachments: " + f"{ref}.pdf" in flat(letter_result.out)
    assert cli.sink.messages == [] and relance_events(cli.fake) == []
    assert writes(cli.fake) == []  # nothing written to Dolibarr (the quote PDF existed already)


def test_preview_needs_one_output(cli: Cli) -> None:
    assert_clean_error(cli("preview", cli.sample.refs["two_contacts"]), "--letter out.pdf or --email out.eml", code=2)


def test_times_amounts_and_opt_out_read_the_same_everywhere(cli: Cli) -> None:
    """status and history show the same follow-up at the same business-zone time, and name the zone;
    JSON amounts have two decimals; the opt-out quote is marked in the mass preview; a bad --next fails
    a dry run too."""
    refs = cli.sample.refs
    assert cli("remind", refs["about_to_expire"], "--email").code == 0  # clock: 08:30 UTC = 09:30 in Paris
    history = flat(cli("history", "--quote", refs["about_to_expire"]).out)
    assert "Date (Europe/Paris)" in history and "2026-11-28 09:30" in history
    status = flat(cli("status").out)
    assert "When (Europe/Paris)" in status and "2026-11-28 09:30" in status

    rows = {row["ref"]: row for row in json.loads(cli("quotes", "--json").out)}
    assert rows[refs["expired"]]["total_excl_tax"] == "910.00"
    assert rows[refs["expired"]]["total_incl_tax"] == "1092.00"
    assert rows[refs["about_to_expire"]]["last_followup"]["date"] == "2026-11-28T09:30:00+01:00"

    preview = cli("preview", refs["opt_out"], "--email", str(cli.tmp_path / "o.eml"))
    assert preview.code == 0 and "is opt-out: automatic runs skip it" in flat(preview.out)
    plan = cli("mass", refs["opt_out"], refs["expired"], "--email", "--dry-run")
    assert plan.code == 0, plan
    assert f"{refs['opt_out']} (opt-out)" in flat(plan.out)
    assert_clean_error(
        cli("mass", refs["expired"], "--email", "--dry-run", "--next", "dans 3 jours"),
        "is neither a date nor a delay",
        code=2,
    )


# --------------------------------------------------------------------------- explain and run


def test_explain_then_run_once_sends_exactly_the_due_quotes(cli: Cli) -> None:
    """`explain` shows the decision; `run --once` e-mails the 3 due quotes once and records them; no resend."""
    refs = cli.sample.refs
    shown = cli("explain", refs["expired"], "--preview")
    assert shown.code == 0, shown
    assert "due: step 2 (2nde relance)" in shown.out and "→ due from" in shown.out
    assert "recipients: Jean Martin <jean.martin@boulangerie-martin.test>" in shown.out
    assert f"{refs['expired']}.pdf" in shown.out
    assert "is draft" in cli("explain", str(cli.sample.quotes["draft"])).out
    assert cli.sink.messages == [] and writes(cli.fake) == []

    ran = cli("run", "--once")
    assert ran.code == 0, ran
    assert "due 3, sent 3, failed 0" in flat(ran.out)
    assert "1 at once at the end ([auto] requests_at_once = 1; list pages up to [dolibarr] max_concurrency = 4)" in (
        flat(ran.out)
    )
    due = ("expired", "about_to_expire", "contact_without_email")
    subjects = [str(m.message["Subject"]) for m in cli.sink.messages]
    assert sorted(ref for ref in refs.values() if any(ref in subject for subject in subjects)) == sorted(
        refs[r] for r in due
    )
    for role in due:
        quote_id = cli.sample.quotes[role]
        (done,) = [e for e in relance_events(cli.fake, quote_id) if e.code == "AC_RELANCE_EMAIL"]
        assert done.percentage == 100 and done.socid == cli.fake.proposals[quote_id].socid
        # signed by the customer's sales rep: from /representatives on 20, the quote's author on 23
        signer = cli.fake.users[cli.fake.proposals[quote_id].user_author_id]
        message = next(m for m in cli.sink.messages if refs[role] in str(m.message["Subject"]))
        assert signer.lastname in message.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    again = cli("run", "--once")
    assert again.code == 0 and "sent 0" in flat(again.out)
    assert len(cli.sink.messages) == 3
