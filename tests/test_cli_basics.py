"""The CLI's basic commands as a user runs them: --version, config check, doctor, setup, demo."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from conftest import ON_EACH_RECORDED_VERSION
from dolirelance import starter
from dolirelance.demo import write_demo_config
from dolirelance.service.checks import version_checks
from dolirelance.testing import FakeDolibarr, SampleData, create_app, serve_in_thread
from dolirelance.testing.imap_server import dovecot_available
from dolirelance.testing.smtp_sink import SmtpSink

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = Path(starter.__file__).parent / "defaults"
EXAMPLE = DEFAULTS / "dolirelance.toml"


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    full_env.pop("DOLIRELANCE_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "dolirelance", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_version_names_the_dependencies() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("dolirelance ")
    for package in ("httpx", "reportlab", "pypdf", "babel"):
        assert package in result.stdout


def test_config_check_accepts_the_example_and_renders_every_model() -> None:
    result = run_cli(
        "config", "check", "--config", str(EXAMPLE), env={"DOLIRELANCE_API_KEY": "x", "DOLIRELANCE_SMTP_PASSWORD": "y"}
    )
    assert result.returncode == 0, result.stderr
    assert "2 model(s), 2 language variant(s), 2 automatic step(s)" in result.stdout


def test_config_check_names_the_missing_environment_variable() -> None:
    result = run_cli("config", "check", "--config", str(EXAMPLE), env={"DOLIRELANCE_SMTP_PASSWORD": "y"})
    assert result.returncode == 2
    assert "DOLIRELANCE_API_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("page_size = 100", "page_size = 0").replace('security = "starttls"', 'security = "ssl"')
    text = text.replace("timeout = 30                 # seconds per request", "timout = 30")
    broken = tmp_path / "dolirelance.toml"
    broken.write_text(text, encoding="utf-8")
    (tmp_path / "templates").mkdir()
    result = run_cli("config", "check", "--config", str(broken))
    assert result.returncode == 2
    lines = {line.split("]")[0]: line for line in result.stderr.splitlines() if "[" in line}
    page_line = next(n for n, raw in enumerate(text.splitlines(), 1) if raw.startswith("page_size"))
    assert any(f"dolirelance.toml:{page_line} [dolibarr.page_size" in key for key in lines), result.stderr
    assert "[smtp.security]" in result.stderr and "[dolibarr.timout]" in result.stderr
    assert "unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_reports_an_unknown_template_variable(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        'email_subject = "Votre devis {{ quote.ref }}', 'email_subject = "Votre devis {{ quote.reference }}'
    )
    path = tmp_path / "dolirelance.toml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "templates").symlink_to(DEFAULTS / "templates")
    result = run_cli(
        "config", "check", "--config", str(path), env={"DOLIRELANCE_API_KEY": "x", "DOLIRELANCE_SMTP_PASSWORD": "y"}
    )
    assert result.returncode == 2
    assert "1ère relance" in result.stderr and "email_subject" in result.stderr
    assert "quote.reference" in result.stderr


def test_a_broken_toml_line_is_located(tmp_path: Path) -> None:
    path = tmp_path / "dolirelance.toml"
    path.write_text('[dolibarr]\nurl = "https://erp.example.fr\n', encoding="utf-8")
    result = run_cli("config", "check", "--config", str(path))
    assert result.returncode == 2
    assert "dolirelance.toml:2" in result.stderr and "TOML syntax error" in result.stderr


def test_missing_config_file_says_what_to_do(tmp_path: Path) -> None:
    result = run_cli("quotes", cwd=tmp_path)
    assert result.returncode == 2
    assert "dolirelance.toml: file not found" in result.stderr
    assert "dolirelance init" in result.stderr


@pytest.fixture
def served(fake_dolibarr: FakeDolibarr, sample_data: SampleData) -> Iterator[str]:
    with serve_in_thread(create_app(fake_dolibarr)) as url:
        yield url


@ON_EACH_RECORDED_VERSION
def test_doctor_reports_rights_extrafield_and_smtp(
    tmp_path: Path, served: str, sample_data: SampleData, dolibarr_version: str
) -> None:
    """doctor names the version and the quirks the client works around, then the user, rights, extrafield and SMTP."""
    with SmtpSink() as sink:
        config = write_demo_config(
            tmp_path, dolibarr_url=served, api_key=sample_data.api_keys["jdupont"], smtp_port=sink.port
        )
        result = run_cli("doctor", "--config", str(config))
    assert f"Dolibarr: version {dolibarr_version}" in result.stdout
    quirks = {line.split(":", 1)[0].split()[-1] for line in result.stdout.splitlines() if "quirk " in line}
    if dolibarr_version == "20.0.0":
        assert quirks == {"no_pagination_total"}
    else:
        assert {"ref_route_broken", "contact_source_in_query", "representatives_broken", "document_name_null"} <= quirks
        assert "through the list filter" in result.stdout
        assert "missing: cannot read the sales people's names and signatures (on this version: the quote" in " ".join(
            result.stdout.split()
        )
    assert "outside the tested range" not in result.stdout
    assert "API user: jdupont (Julie Dupont" in result.stdout
    assert "right agenda.myactions.create" in result.stdout
    assert "opt-out extrafield: proposals have 'norelance'" in result.stdout
    assert "SMTP: 127.0.0.1" in result.stdout
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("version", "outside"),
    [((17, 0, 4), True), ((18, 0, 0), False), ((23, 0, 0), False), ((24, 0, 0), True), ((), True)],
)
def test_doctor_names_a_version_outside_the_tested_range(version: tuple[int, ...], outside: bool) -> None:
    """A version outside 18 to 23 (or unreadable) is a warning that names the range; one inside is not."""
    text = ".".join(map(str, version))
    checks = version_checks(version, text)
    warnings = [check for check in checks if check.name == "Dolibarr version"]
    assert bool(warnings) is outside
    if outside:
        assert warnings[0].warning and "outside the tested range 18 to 23" in warnings[0].detail
        assert (text or "(unknown)") in warnings[0].detail


def test_doctor_with_a_bad_key_and_no_smtp_fails_with_remedies(tmp_path: Path, served: str) -> None:
    config = write_demo_config(tmp_path, dolibarr_url=served, api_key="wrong-key", smtp_port=1)
    result = run_cli("doctor", "--config", str(config))
    assert result.returncode == 1
    assert "✘ Dolibarr" in result.stdout and "api_key" in result.stdout
    assert "✘ SMTP" in result.stdout
    assert "wrong-key" not in result.stdout + result.stderr


def test_doctor_names_missing_rights(tmp_path: Path, served: str, sample_data: SampleData) -> None:
    config = write_demo_config(tmp_path, dolibarr_url=served, api_key=sample_data.api_keys["stagiaire"], smtp_port=1)
    result = run_cli("doctor", "--config", str(config))
    assert result.returncode == 1
    assert "denied GET /users/info" in result.stdout and "user.self.creer" in result.stdout


def test_setup_without_admin_key_explains_the_manual_way(
    tmp_path: Path, fake_dolibarr: FakeDolibarr, sample_data: SampleData, served: str
) -> None:
    fake_dolibarr.extrafields.get("propal", {}).pop("norelance", None)
    config = write_demo_config(tmp_path, dolibarr_url=served, api_key=sample_data.api_keys["jdupont"], smtp_port=1)
    result = run_cli("setup", "--config", str(config))
    assert result.returncode == 1
    assert "not an admin" in result.stderr and "Complementary attributes" in result.stderr
    admin = write_demo_config(tmp_path, dolibarr_url=served, api_key=sample_data.api_keys["admin"], smtp_port=1)
    result = run_cli("setup", "--config", str(admin))
    assert result.returncode == 0, result.stderr
    assert "created the extrafield 'norelance'" in result.stdout
    assert "norelance" in fake_dolibarr.extrafields["propal"]
    assert "already exists" in run_cli("setup", "--config", str(admin)).stdout


def test_demo_runs_the_whole_cycle(tmp_path: Path) -> None:
    result = run_cli("demo", "--out", str(tmp_path / "demo"), "--port", "8799")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "demo"
    emails = sorted((out / "emails").glob("*.eml"))
    letters = sorted((out / "letters").glob("relances-*.pdf"))
    assert emails and letters
    assert len(PdfReader(letters[0]).pages) >= 2
    # each mail's HTML part beside it, with the company logo inside and the sales person's signature
    html = emails[0].with_suffix(".html").read_text(encoding="utf-8")
    assert '<img src="data:image/png;base64,' in html and "Bien cordialement" in html
    assert "Chargée d&#39;affaires" in html or "Chargée d'affaires" in html
    assert "AC_RELANCE_EMAIL" in result.stdout and "AC_RELANCE_LETTER" in result.stdout
    assert "jdupont / relance" in result.stdout
    # the seeded history gives the report something to say (figures: tests/test_report_e2e.py)
    assert "7. dolirelance report" in result.stdout and "signed after a follow-up:" in result.stdout
    # the demo makes its point: quotes followed up sign more often than those without a follow-up
    followed = re.search(r"signed after a follow-up: \d+/\d+ \(([\d.]+) %\)", result.stdout)
    alone = re.search(r"without any follow-up: signed \d+/\d+ \(([\d.]+) %\)", " ".join(result.stdout.split()))
    assert followed and alone and float(followed[1]) > float(alone[1]), (followed, alone)
    assert "missing" not in result.stdout  # doctor: the demo user has every right the demo uses
    assert "unexpected" not in result.stdout + result.stderr
    # the "try:" commands need the fake Dolibarr, which stops with the demo: the output says so
    flat = " ".join(result.stdout.split())
    assert "try, after `dolirelance demo --keep-running` (the fake Dolibarr stops with the demo):" in flat
    assert "[web]\nport = 8799\n" in (out / "dolirelance.toml").read_text(encoding="utf-8")  # --port
    if dovecot_available():  # her answer goes to the Reply-To: the sales person and the replies mailbox
        assert "her answer goes to the e-mail's Reply-To" in flat and "relances@example.test" in flat
        assert "AC_RELANCE_REPLY" in result.stdout


def test_demo_user_can_list_quotes_by_sales_rep(tmp_path: Path) -> None:
    """In the demo's setting, `quotes --sales-rep` works (it reads users: user.user.lire)."""
    from dolirelance.demo import DEMO_USER, demo_environment

    with demo_environment(tmp_path, date(2026, 11, 28)) as (_fake, _sample, _sink, config, _url, _mailbox):
        doctor = run_cli("doctor", "--config", str(config))
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "missing" not in doctor.stdout
        result = run_cli("quotes", "--sales-rep", DEMO_USER, "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "Garage Dupont SAS" in result.stdout and "Ferme des Trois Chênes" not in result.stdout
