"""What a newcomer types: a ref in lower case, a customer without its accents, a past --next."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from conftest import MutableClock
from dolirelance.config import Settings
from dolirelance.errors import MailPermanentError
from dolirelance.mail import check_connection
from dolirelance.testing import FakeDolibarr
from in_process_cli import DemoCli as Cli
from in_process_cli import run_main


def test_a_ref_is_found_whatever_its_case(cli: Cli) -> None:
    ref = cli.sample.refs["about_to_expire"]
    result = cli("explain", ref.lower())
    assert result.code == 0, result
    assert ref in result.out
    result = cli("history", "--quote", ref.lower())
    assert result.code == 0, result


def test_an_unknown_ref_says_what_to_do(cli: Cli) -> None:
    result = cli("explain", "pr9999-0001")
    assert result.code == 1, result
    assert result.err.startswith("error: no quote with the reference pr9999-0001 in Dolibarr"), result.err
    assert "→ check the reference" in result.err and "`dolirelance quotes`" in result.err
    assert "Not Found" not in result.err


@pytest.mark.parametrize("typed", ["hotel", "HOTEL", "Hôtel", "hôtel du lac"])
def test_a_customer_is_found_whatever_its_accents_and_case(cli: Cli, typed: str) -> None:
    """`hotel` finds « Hôtel du Lac », as MariaDB's collation does on a real Dolibarr."""
    result = cli("quotes", "--customer", typed)
    assert result.code == 0, result
    assert cli.sample.refs["opt_out"] in result.out and "Hôtel du Lac" in result.out
    assert cli.sample.refs["about_to_expire"] not in result.out


def test_doctor_fails_on_an_example_sender_and_leaves_no_ledger_behind(
    cli: Cli, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = cli.config()
    ledger_file = config.parent / "ledger.sqlite3"
    result = run_main(["doctor", "--config", str(config)], capsys, monkeypatch)
    assert result.code == 0, result
    assert "✔ sender: Solaire Rhône-Alpes <devis@solaire-ra.example>" in result.out
    assert "ledger.sqlite3: not created yet" in result.out
    assert not ledger_file.exists()  # doctor looks, it does not create
    text = config.read_text(encoding="utf-8").replace("devis@solaire-ra.example", "devis@example.fr")
    config.write_text(text, encoding="utf-8")
    result = run_main(["doctor", "--config", str(config)], capsys, monkeypatch)
    assert result.code == 1, result
    flat = " ".join(result.out.split())
    assert "✘ sender: Solaire Rhône-Alpes <devis@example.fr>: example.fr is an example domain" in flat
    assert "→ set [smtp] sender to your company's address" in flat


def test_a_login_to_a_server_without_auth_says_to_remove_the_username(settings: Settings) -> None:
    """security = "none" is right; the username is what the server cannot take."""
    smtp = settings.smtp.model_copy(update={"username": "devis@solaire.fr"})
    assert smtp.security == "none"
    with pytest.raises(MailPermanentError) as caught:
        check_connection(smtp)
    assert "offers no login (no AUTH) but smtp.username is set" in caught.value.message
    assert (caught.value.remedy or "").startswith("remove smtp.username")


def test_a_second_demo_on_a_taken_port_stops_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = run_main(
            ["demo", "--keep-running", "--port", str(port), "--out", str(tmp_path / "demo")], capsys, monkeypatch
        )
    assert result.code == 2, result
    assert result.err.startswith(f"error: port {port} is taken"), result.err
    assert f"--keep-running --port {port + 1}" in result.err
    assert result.out == "" and not (tmp_path / "demo").exists()  # nothing of the demo ran


def test_a_letter_says_where_to_get_it_to_print(cli: Cli) -> None:
    ref = cli.sample.refs["no_email"]
    result = cli("remind", ref, "--letter")
    assert result.code == 0, result
    flat = " ".join(result.out.split())
    assert "to print it: open relance-" in flat and "in the quote's attached files in Dolibarr" in flat
    assert "(with --out letter.pdf, a letter is also written here)" in flat
    written = cli("remind", cli.sample.refs["expired"], "--letter", "--force", "--out", str(cli.tmp_path / "l.pdf"))
    assert written.code == 0 and "to print it" not in written.out, written


async def test_without_company_a_non_admin_key_is_told_to_fill_it(
    settings: Settings, fake_dolibarr: FakeDolibarr, clock: MutableClock
) -> None:
    """The cause is the missing [company] (only an admin reads Dolibarr's), not a right of the sales person:
    the page says the set-up is not finished, the CLI and the detail say what to fill."""
    import httpx

    from dolirelance.errors import SetupIncomplete
    from dolirelance.service import open_runtime
    from dolirelance.testing import create_app
    from dolirelance.web.labels import LABELS
    from dolirelance.web.user_errors import page_error

    no_company = settings.model_copy(update={"company": None})
    transport = httpx.ASGITransport(app=create_app(fake_dolibarr))
    async with open_runtime(no_company, transport=transport, now=clock) as rt:  # jdupont: not an admin
        with pytest.raises(SetupIncomplete) as caught:
            await rt.company()
    assert caught.value.message.startswith("dolirelance.toml has no [company] table")
    assert (caught.value.remedy or "").startswith("fill the [company] table of dolirelance.toml")
    shown = page_error(caught.value, "fr")
    assert shown.message == LABELS["fr"]["err_setup"] and "[company]" in (shown.detail or "")
    assert "droit" not in shown.message


def test_the_cap_warning_keeps_its_brackets(
    cli: Cli, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`[auto] max_per_run` in the run's warning is printed as written, not eaten as rich markup."""
    config = cli.config()
    config.write_text(
        config.read_text(encoding="utf-8").replace("[auto]\n", "[auto]\nmax_per_run = 1\n", 1), encoding="utf-8"
    )
    result = run_main(["run", "--once", "--dry-run", "--config", str(config)], capsys, monkeypatch)
    assert result.code == 0, result
    flat = " ".join(result.out.split())
    assert "automatic follow-ups are due but [auto] max_per_run = 1:" in flat, flat
