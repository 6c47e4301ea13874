"""Customers' replies and bounces where a person reads a quote's history: `history` (text and --json),
`explain`, the web history pages and the "Nouvelle relance" page.

The real path: the automatic run of 28 November sends three e-mails; a Thunderbird reply and a Postfix
bounce are delivered into a real dovecot on loopback; `replies --once` records them in the fake Dolibarr;
every view then reads them back from Dolibarr's events alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from conftest import ON_EACH_RECORDED_VERSION, MutableClock
from dolirelance.demo import write_demo_config
from dolirelance.service import Runtime, read_replies, run_auto
from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.imap_server import DovecotServer
from dolirelance.testing.smtp_sink import SmtpSink
from mailbox_samples import NEEDS_DOVECOT
from mailbox_samples import sample_message as sample
from test_cli_followup import Cli, flat
from test_replies import dovecot, settings
from test_web import Web, web

__all__ = ["dovecot", "settings", "web"]  # the fixtures, served here too

pytestmark = [
    ON_EACH_RECORDED_VERSION,
    # CI (.ci/run sets CI) installs dovecot: there a missing one fails instead of skipping
    NEEDS_DOVECOT,
]

REPLIER = "sophie.dupont@garage-dupont.test"  # answers the follow-up of `about_to_expire`
BOUNCED = "jean.martin@boulangerie-martin.test"  # does not exist any more
AFTER_THE_REPLIES = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
STEP_TWO_DAY = date(2026, 12, 11)  # `about_to_expire`'s step 2 would be due that day
# The samples' Date headers, in Europe/Paris
REPLIED_AT = "2026-11-30 09:12"
BOUNCED_AT = "2026-11-28 09:30"


@dataclass(frozen=True)
class Answered:
    reply_quote: int
    reply_ref: str
    bounce_quote: int
    bounce_ref: str


def deliver_reply_and_bounce(sink: SmtpSink, mailbox: DovecotServer, sample_data: SampleData) -> Answered:
    """The customer of `about_to_expire` replies to its follow-up; the follow-up to Jean Martin bounces."""
    sent = {str(m.message["To"]): m.message for m in sink.messages}
    [reply_to] = [m for to, m in sent.items() if REPLIER in to]
    [bounced] = [m for to, m in sent.items() if BOUNCED in to]
    [bounce_name] = [name for name, ref in sample_data.refs.items() if ref in str(bounced["Subject"])]
    reply_ref = sample_data.refs["about_to_expire"]
    mailbox.deliver(sample("thunderbird_reply.eml", message_id=str(reply_to["Message-ID"]), ref=reply_ref,
                           customer=REPLIER))  # fmt: skip
    mailbox.deliver(sample("postfix_dsn.eml", message_id=str(bounced["Message-ID"]),
                           ref=sample_data.refs[bounce_name], customer=BOUNCED))  # fmt: skip
    return Answered(sample_data.quotes["about_to_expire"], reply_ref, sample_data.quotes[bounce_name],
                    sample_data.refs[bounce_name])  # fmt: skip


def answer_events(fake: FakeDolibarr, code: str) -> list[object]:
    return [e for e in fake.events.values() if e.code == code]


def table_rows(out: str) -> list[dict[str, str]]:
    """The rows of a table as piped (a header line, then one record per line, tab-separated), by column header."""
    lines = [line for line in out.splitlines() if "\t" in line]
    headers = lines[0].split("\t")
    return [dict(zip(headers, line.split("\t"), strict=True)) for line in lines[1:]]


def squeezed(value: str) -> str:
    """Without any white space: a cell may break a line inside a word (an address) or between words."""
    return "".join(value.split())


# --------------------------------------------------------------------------- the command line


@dataclass
class MailboxCli(Cli):
    """The demo's configuration with the dovecot on loopback as the replies mailbox."""

    mailbox: DovecotServer | None = None

    def config(self, login: str = "jdupont") -> Path:
        return write_demo_config(self.tmp_path / f"cfg-{login}", dolibarr_url=self.url,
                                 api_key=self.sample.api_keys[login], smtp_port=self.sink.port,
                                 imap=self.mailbox)  # fmt: skip


@pytest.fixture
def answered_cli(cli: Cli, clock: MutableClock, dovecot: DovecotServer) -> tuple[MailboxCli, Answered]:
    """`run --once` on 28 November, a reply and a bounce delivered, `replies --once` on 1 December."""
    mailbox_cli = MailboxCli(cli.fake, cli.sample, cli.sink, cli.url, cli.tmp_path, cli.capsys, cli.monkeypatch,
                             mailbox=dovecot)  # fmt: skip
    assert mailbox_cli("run", "--once").code == 0
    clock.set(AFTER_THE_REPLIES)
    answered = deliver_reply_and_bounce(cli.sink, dovecot, cli.sample)
    read = mailbox_cli("replies", "--once")
    assert read.code == 0, read
    assert len(answer_events(cli.fake, "AC_RELANCE_REPLY")) == 1
    assert len(answer_events(cli.fake, "AC_RELANCE_BOUNCE")) == 1
    cli.fake.reset_requests()
    return mailbox_cli, answered


def test_history_of_a_quote_shows_the_reply_above_the_follow_up_it_answers(
    answered_cli: tuple[MailboxCli, Answered],
) -> None:
    """`history --quote`: the reply dated, with its sender, first words and .eml, newest first; one events read."""
    run, answered = answered_cli
    [reply] = answer_events(run.fake, "AC_RELANCE_REPLY")

    result = run("history", "--quote", answered.reply_ref)

    assert result.code == 0, result
    assert "1 follow-up(s), 1 reply" in flat(result.out) and "bounce" not in result.out
    replied, followed = table_rows(result.out)  # the reply (30 Nov) above the follow-up (28 Nov)
    assert (replied["Id"], replied["Channel"], replied["Date (Europe/Paris)"]) == (str(reply.id), "reply", REPLIED_AT)
    assert squeezed(f'reply from {REPLIER}: "Bonjour Madame Dupont, Merci pour votre relance. Nous signons la '
                    'semaine prochaine,') in squeezed(replied["Note"])  # fmt: skip
    assert ">" not in replied["Note"]  # the quoted text was never kept
    assert re.fullmatch(rf"reponse-{answered.reply_ref}-\d+-\d+\.eml", squeezed(replied["File"]))  # the message
    assert (replied["Quote"], replied["Customer"]) == (answered.reply_ref, "Garage Dupont SAS")
    assert followed["Channel"] == "email" and followed["Date (Europe/Paris)"].startswith("2026-11-28")
    assert run.fake.count_requests("/agendaevents", "GET") == 1


def test_history_of_the_bounced_quote_says_which_address_bounced_and_why(
    answered_cli: tuple[MailboxCli, Answered],
) -> None:
    """`history --quote` of the quote whose e-mail bounced: the address, the server's reason and the date."""
    run, answered = answered_cli
    [bounce] = answer_events(run.fake, "AC_RELANCE_BOUNCE")
    result = run("history", "--quote", answered.bounce_ref)
    assert "1 follow-up(s), 1 bounce" in flat(result.out) and "reply" not in result.out
    bounced, _ = table_rows(result.out)
    assert (bounced["Id"], bounced["Channel"], bounced["Date (Europe/Paris)"]) == (str(bounce.id), "bounce", BOUNCED_AT)
    assert squeezed(f"{BOUNCED} bounced: 550 5.1.1 <{BOUNCED}>: Recipient address rejected") in squeezed(
        bounced["Note"]
    )
    assert "User unknown" in bounced["Note"]


def test_history_of_open_quotes_as_text_and_json_reads_answers_in_bulk(
    answered_cli: tuple[MailboxCli, Answered],
) -> None:
    """`history --open` (text and --json) lists follow-ups, the reply and the bounce from one paged events read."""
    run, answered = answered_cli
    [reply] = answer_events(run.fake, "AC_RELANCE_REPLY")
    [bounce] = answer_events(run.fake, "AC_RELANCE_BOUNCE")

    opened = run("history", "--open")
    assert opened.code == 0, opened
    assert "3 follow-up(s), 1 reply, 1 bounce" in flat(opened.out)
    assert run.fake.count_requests("/agendaevents", "GET") == 1  # not one per quote

    as_json = run("history", "--open", "--json")
    assert as_json.code == 0, as_json
    lines = json.loads(as_json.out)
    assert [line["type"] for line in lines].count("followup") == 3
    dates = [line["date"] for line in lines]
    assert dates == sorted(dates, reverse=True)  # newest first
    [replied] = [line for line in lines if line["type"] == "reply"]
    assert replied["event_id"] == reply.id and replied["quote_ref"] == answered.reply_ref
    assert replied["date"] == "2026-11-30T09:12:44+01:00" and replied["address"] == REPLIER
    assert replied["subject"] == f"Re: Votre devis {answered.reply_ref}"
    assert replied["excerpt"] == (  # what the customer wrote, the quoted follow-up left out
        "Bonjour Madame Dupont,\n\nMerci pour votre relance. Nous signons la semaine prochaine,\n"
        "je vous renvoie le devis paraphé d'ici vendredi.\n\nBien cordialement,\nJean Martin"
    )
    assert replied["file"].startswith(f"reponse-{answered.reply_ref}-") and replied["file"].endswith(".eml")
    assert replied["reason"] is None and replied["customer"] == "Garage Dupont SAS" and replied["quote_open"]
    [bounced] = [line for line in lines if line["type"] == "bounce"]
    assert bounced["event_id"] == bounce.id and bounced["quote_ref"] == answered.bounce_ref
    assert bounced["address"] == BOUNCED and bounced["date"].startswith("2026-11-28T09:30")
    assert bounced["reason"].startswith(f"550 5.1.1 <{BOUNCED}>: Recipient address rejected")
    assert bounced["excerpt"] is None
    followup = next(line for line in lines if line["type"] == "followup" and line["quote_id"] == answered.reply_quote)
    assert followup["channel"] == "email" and followup["automatic"] and followup["step"] == 1


def test_explain_says_when_the_customer_replied_and_when_the_address_bounced(
    answered_cli: tuple[MailboxCli, Answered], dolibarr_version: str
) -> None:
    """`explain` dates the reply (the sequence stopped) and the bounce (address blocked, then freed by a change)."""
    run, answered = answered_cli
    [reply] = answer_events(run.fake, "AC_RELANCE_REPLY")
    [bounce] = answer_events(run.fake, "AC_RELANCE_BOUNCE")

    replied = run("explain", answered.reply_ref, "--on", STEP_TWO_DAY.isoformat())
    assert replied.code == 0, replied
    text = flat(replied.out)
    assert f"skipped: the customer replied on 30 November (see event {reply.id})" in text
    assert f"the customer replied on {REPLIED_AT} (event {reply.id}) from {REPLIER}: " in text
    assert (
        '"Bonjour Madame Dupont, Merci pour votre relance. Nous signons la semaine prochaine, je vous renvoie le '
        "devis paraphé d'ici vendredi. Bien cordialement, Jean Martin\"" in text
    )
    assert "(it answers our e-mail: In-Reply-To/References)" in text  # which proof made it a reply

    blocked = flat(run("explain", answered.bounce_ref).out)
    assert f"the address {BOUNCED} bounced on {BOUNCED_AT} (event {bounce.id}) (550 5.1.1 <{BOUNCED}>:" in blocked
    assert "automatic runs do not use it until the customer or contact card holding it is changed" in blocked
    assert "replied" not in blocked

    if dolibarr_version.startswith("20."):  # 23.0.0-beta gives no modification dates: only a new address frees
        contact = run.fake.contacts[run.sample.contacts["jean_martin"]]
        contact.tms = int(datetime(2026, 12, 1, 17, 0, tzinfo=UTC).timestamp())
        freed = flat(run("explain", answered.bounce_ref).out)
        assert f"the address {BOUNCED} bounced on {BOUNCED_AT}" in freed
        assert "the card holding it was changed in Dolibarr since: automatic runs may use it again" in freed


def test_explain_lists_the_answers_from_the_events_its_decision_read(
    answered_cli: tuple[MailboxCli, Answered],
) -> None:
    """`explain` costs what its decision costs: one events read (the answers in it), the contacts once for a
    bounce (who changed since), nothing read again to list the reply or the bounce."""
    run, answered = answered_cli

    replied = run("explain", answered.reply_ref, "--on", STEP_TWO_DAY.isoformat())
    assert replied.code == 0, replied
    assert "the customer replied on" in flat(replied.out)
    assert run.fake.count_requests("/agendaevents", "GET") == 1
    assert run.fake.count_requests("/contacts", "GET", prefix=True) == 0

    run.fake.reset_requests()
    bounced = run("explain", answered.bounce_ref, "--on", STEP_TWO_DAY.isoformat())
    assert bounced.code == 0, bounced
    assert f"the address {BOUNCED} bounced on {BOUNCED_AT}" in flat(bounced.out)
    assert "skipped" in flat(bounced.out)  # no run plan read either: the address bounced, nothing is due
    assert run.fake.count_requests("/agendaevents", "GET") == 1
    assert run.fake.count_requests("/contacts", "GET", prefix=True) == 1


def test_explain_preview_reuses_the_history_the_decision_read(cli: Cli) -> None:
    """`explain --preview` of a due quote: the e-mail is prepared from the history already read (the events
    are read for the decision and for the run's plan that checks the cap, not a third time)."""
    cli.fake.reset_requests()
    result = cli("explain", cli.sample.refs["expired"], "--preview")
    assert result.code == 0, result
    assert "due" in flat(result.out) and "E-mail that would go out:" in result.out
    assert cli.fake.count_requests("/agendaevents", "GET") == 2


def test_explain_of_a_quote_without_answers_lists_none(cli: Cli) -> None:
    """A quote nobody answered: `explain` says nothing of replies or bounces."""
    result = cli("explain", cli.sample.refs["about_to_expire"])
    assert result.code == 0, result
    assert "replied" not in result.out and "bounced" not in result.out


def test_quotes_marks_who_replied_and_which_address_bounced_from_the_one_events_read(
    answered_cli: tuple[MailboxCli, Answered],
) -> None:
    """`quotes --json` gives the last reply (date, sender, event) and the bounced addresses of each quote;
    the table says "replied <day>" / "bounced <address>"; the page of quotes costs one events read."""
    run, answered = answered_cli
    [reply] = answer_events(run.fake, "AC_RELANCE_REPLY")
    [bounce] = answer_events(run.fake, "AC_RELANCE_BOUNCE")

    listed = run("quotes", "--json")
    assert listed.code == 0, listed
    rows = {row["ref"]: row for row in json.loads(listed.out)}
    assert rows[answered.reply_ref]["last_reply"] == {
        "date": "2026-11-30T09:12:44+01:00", "address": REPLIER, "event_id": reply.id,
    }  # fmt: skip
    assert rows[answered.reply_ref]["bounces"] == []
    assert rows[answered.bounce_ref]["last_reply"] is None
    [bounced] = rows[answered.bounce_ref]["bounces"]
    assert bounced["address"] == BOUNCED and bounced["event_id"] == bounce.id
    assert bounced["date"].startswith(BOUNCED_AT.replace(" ", "T"))
    others = [row for ref, row in rows.items() if ref not in (answered.reply_ref, answered.bounce_ref)]
    assert others and all(row["last_reply"] is None and row["bounces"] == [] for row in others)
    assert run.fake.count_requests("/agendaevents", "GET") == 1  # the answers came with the follow-ups

    table = run("quotes")
    assert table.code == 0, table
    by_ref = quote_table_rows(table.out, [answered.reply_ref, answered.bounce_ref])
    assert "replied 2026-11-30" in by_ref[answered.reply_ref] and "bounced" not in by_ref[answered.reply_ref]
    assert squeezed(f"bounced {BOUNCED}") in squeezed(by_ref[answered.bounce_ref])
    assert "replied" not in by_ref[answered.bounce_ref]
    assert "Answer" in table.out and "2026-12-13" in by_ref[answered.bounce_ref]  # no column squeezed


def test_upcoming_marks_the_answers_of_the_quotes_to_follow_up(
    answered_cli: tuple[MailboxCli, Answered],
) -> None:
    """`upcoming`: the to-do of the bounced quote says which address bounced; a follow-up made by hand after
    the reply (its to-do) says the customer replied; one more events read for all the quotes, not one each."""
    run, answered = answered_cli
    assert run("remind", answered.reply_ref, "--letter", "--force").code == 0  # a person follows up anyway
    run.fake.reset_requests()

    result = run("upcoming", "--days", "60")
    assert result.code == 0, result
    by_ref = quote_table_rows(result.out, [answered.reply_ref, answered.bounce_ref])
    assert "replied 2026-11-30" in flat(by_ref[answered.reply_ref])
    assert squeezed(f"bounced {BOUNCED}") in squeezed(by_ref[answered.bounce_ref])
    assert "Answer" in result.out
    assert run.fake.count_requests("/agendaevents", "GET") == 2  # the to-dos, then the quotes' answers


def quote_table_rows(out: str, refs: list[str]) -> dict[str, str]:
    """The text of each listed quote's row (its wrapped lines put together) in a printed quote list."""
    lines = out.splitlines()
    found: dict[str, str] = {}
    starts = sorted((i, ref) for i, line in enumerate(lines) for ref in refs if ref in line)
    for number, (start, ref) in enumerate(starts):
        end = starts[number + 1][0] if number + 1 < len(starts) else len(lines)
        row = [lines[start]]
        for line in lines[start + 1 : end]:
            if re.search(r"PR\d{4}-\d{4}", line) or not line.strip() or set(line.strip()) <= set("─━└┘┴╵"):
                break  # the next quote's row, or the end of the table
            row.append(line)
        found[ref] = "\n".join(row)
    return found


# --------------------------------------------------------------------------- the web pages


@pytest.fixture
async def answered_web(
    web: Web, runtime: Runtime, clock: MutableClock, dovecot: DovecotServer, smtp_sink: SmtpSink,
    sample_data: SampleData,
) -> tuple[Web, Answered]:  # fmt: skip
    """The automatic run and `replies --once` of the service (in-process), then a logged-in web session."""
    report = await run_auto(runtime)
    assert report.ok and len(report.sent) == 3
    clock.set(AFTER_THE_REPLIES)
    answered = deliver_reply_and_bounce(smtp_sink, dovecot, sample_data)
    read = await read_replies(runtime)
    assert read.ok and [m.outcome for m in read.messages] == ["recorded", "recorded"], read
    assert (await web.login()).status_code in (302, 303)
    web.fake.reset_requests()
    return web, answered


def rows_of(html: str) -> list[str]:
    return re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S)


async def test_web_history_of_a_quote_shows_the_reply_in_french_and_english(
    answered_web: tuple[Web, Answered],
) -> None:
    """The quote's history page: the reply row (date, sender, excerpt, link to the .eml) above the follow-up."""
    web, answered = answered_web
    [reply] = answer_events(web.fake, "AC_RELANCE_REPLY")

    page = await web.client.get(f"/quotes/{answered.reply_quote}/followups")

    assert page.status_code == 200
    assert web.fake.count_requests("/agendaevents", "GET") == 1
    rows = rows_of(page.text)[1:]  # after the header
    assert len(rows) == 2 and 'class="answer reply"' in rows[0] and "answer" not in rows[1]
    assert f"Réponse de {REPLIER}" in rows[0] and "réponse du client" in rows[0]
    assert f"Re: Votre devis {answered.reply_ref}" in rows[0]
    assert "Nous signons la semaine prochaine" in rows[0] and "&gt; Madame" not in rows[0]
    assert "30/11/2026 09:12" in rows[0] and f">{reply.id}<" in rows[0]
    eml = re.search(r'href="([^"]*document\.php[^"]*)"[^>]*>(reponse-[^<]+\.eml)<', rows[0])
    assert eml is not None and "modulepart=propal" in eml.group(1) and answered.reply_ref in eml.group(1)

    english = await web.client.get(f"/quotes/{answered.reply_quote}/followups?lang=en")
    assert f"Reply from {REPLIER}" in english.text and "customer&#39;s reply" in english.text
    assert "Réponse de" not in english.text


async def test_web_history_of_open_quotes_shows_replies_and_bounces_from_one_events_read(
    answered_web: tuple[Web, Answered],
) -> None:
    """The "Suivi des relances" page of all open quotes: the bounce with its reason, the reply; events read once."""
    web, answered = answered_web
    page = await web.client.get("/followups")
    assert page.status_code == 200
    assert web.fake.count_requests("/agendaevents", "GET") == 1
    rows = rows_of(page.text)[1:]
    assert len(rows) == 5  # three follow-ups, one reply, one bounce
    [bounce_row] = [row for row in rows if 'class="answer bounce"' in row]
    assert f"{BOUNCED} : e-mail non remis" in bounce_row and f"550 5.1.1 &lt;{BOUNCED}&gt;: Recipient" in bounce_row
    assert "28/11/2026 09:30" in bounce_row and answered.bounce_ref in bounce_row
    assert sum('class="answer reply"' in row for row in rows) == 1


async def test_the_new_follow_up_page_warns_that_the_customer_replied_or_the_address_bounced(
    answered_web: tuple[Web, Answered],
) -> None:
    """"Nouvelle relance" with the quote chosen: the reply or the bounce, dated, before anyone writes again."""
    web, answered = answered_web
    replied = await web.client.get(f"/quotes/{answered.reply_quote}/followup")
    assert replied.status_code == 200
    assert f"Le client a répondu le 30/11/2026 09:12 ({REPLIER})." in replied.text
    assert "Nous signons la semaine prochaine" in replied.text
    assert f'href="/quotes/{answered.reply_quote}/followups">Voir le suivi' in replied.text

    bounced = await web.client.get(f"/quotes/{answered.bounce_quote}/followup")
    assert f"L&#39;e-mail envoyé à {BOUNCED} n&#39;a pas pu être remis (le 28/11/2026 09:30)" in bounced.text
    assert "Le client a répondu" not in bounced.text

    english = await web.client.get(f"/quotes/{answered.reply_quote}/followup?lang=en")
    assert f"The customer replied on 30/11/2026 09:12 ({REPLIER})." in english.text  # en_GB days
    assert "Le client a répondu" not in english.text


def row_of(html: str, marker: str) -> str:
    [row] = [row for row in rows_of(html) if marker in row]
    return row


async def test_web_quote_lists_mark_who_replied_and_which_address_bounced(
    answered_web: tuple[Web, Answered], sample_data: SampleData,
) -> None:
    """The mass page, the to-do list and the quotes of "Nouvelle relance" say « a répondu le … » or
    « e-mail non remis », each mark a link to its row of the quote's "Suivi"; lists stay bulk reads."""
    web, answered = answered_web
    [reply] = answer_events(web.fake, "AC_RELANCE_REPLY")
    [bounce] = answer_events(web.fake, "AC_RELANCE_BOUNCE")

    mass = await web.client.get("/mass?all=1")
    assert mass.status_code == 200
    assert web.fake.count_requests("/agendaevents", "GET") == 1  # the page's history, answers included
    replied = row_of(mass.text, f'data-ref="{answered.reply_ref}"')
    assert (f'<a class="mark reply" href="/quotes/{answered.reply_quote}/followups#event-{reply.id}">'
            "a répondu le 30/11/2026</a>") in replied  # fmt: skip
    assert "mark bounce" not in replied
    bounced = row_of(mass.text, f'data-ref="{answered.bounce_ref}"')
    assert (f'<a class="mark bounce" href="/quotes/{answered.bounce_quote}/followups#event-{bounce.id}">'
            f"e-mail non remis\u00a0: {BOUNCED}</a>") in bounced  # fmt: skip
    assert "mark reply" not in bounced
    assert sum('class="mark ' in row for row in rows_of(mass.text)) == 2  # nobody else answered
    assert "Réponse du client" in mass.text  # the column

    english = await web.client.get("/mass?all=1&lang=en")
    assert "replied on 30/11/2026</a>" in row_of(english.text, f'data-ref="{answered.reply_ref}"')
    assert f"bounced: {BOUNCED}</a>" in row_of(english.text, f'data-ref="{answered.bounce_ref}"')
    assert "a répondu" not in english.text

    web.fake.reset_requests()
    todo = await web.client.get("/todo?lang=fr")  # the language chosen stays: back to French
    assert todo.status_code == 200
    assert f"e-mail non remis\u00a0: {BOUNCED}</a>" in row_of(todo.text, f">{answered.bounce_ref}</a>")
    assert web.fake.count_requests("/agendaevents", "GET") == 2  # the to-dos, the answers of their quotes

    garage = sample_data.customers["garage"]
    new = await web.client.get(f"/followup/new?customer={garage}")
    [option] = re.findall(rf'<option value="{answered.reply_quote}"[^>]*>([^<]*)</option>', new.text)
    assert option.startswith(answered.reply_ref) and option.endswith("— a répondu le 30/11/2026")

