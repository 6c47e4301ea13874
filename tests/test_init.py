"""`dolirelance init`: the packaged starter files, written anywhere, pass `config check` once secrets are set."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dolirelance.config import load_config
from dolirelance.starter import _ANSWER_LINES, StarterAnswers, example_config_text, starter_config_text
from in_process_cli import run_main as run


def test_init_writes_a_config_that_checks_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not on a terminal it asks nothing; the folder gets dolirelance.toml and templates/; config check says ok."""
    target = tmp_path / "etc" / "dolirelance"
    code, out, _ = run(["init", str(target)], capsys, monkeypatch)
    assert code == 0
    assert (target / "dolirelance.toml").read_text(encoding="utf-8") == example_config_text()
    assert sorted(p.name for p in (target / "templates").iterdir()) == [
        "1ere-relance.email.en.html",
        "1ere-relance.email.html",
        "2nde-relance.email.en.html",
        "2nde-relance.email.en.txt",
        "2nde-relance.email.html",
        "2nde-relance.email.txt",
        "2nde-relance.letter.txt",
    ]
    assert "DOLIRELANCE_API_KEY" in out and "[company]" in out
    monkeypatch.setenv("DOLIRELANCE_API_KEY", "dummy")
    monkeypatch.setenv("DOLIRELANCE_SMTP_PASSWORD", "dummy")
    monkeypatch.chdir(tmp_path)  # template paths are relative to the file, not to where one stands
    code, out, err = run(["--config", str(target / "dolirelance.toml"), "config", "check"], capsys, monkeypatch)
    assert code == 0, err
    assert out.startswith("ok ")
    # valid, but not finished: each example value left is named (a warning, not a failure)
    warnings = " ".join(err.split())
    for key, value in (
        ("[dolibarr] url", "https://erp.example.fr/api/index.php"),
        ("[smtp] host", "smtp.example.fr"),
        ("[smtp] sender", "Solaire Rhône-Alpes <devis@example.fr>"),
    ):
        assert f"warning: {key} is still the example '{value}'" in warnings, warnings
    assert "→ set your own in" in warnings
    # the starter leaves [company] commented: only an admin key could read it from Dolibarr
    assert "warning: no [company] table: letters and e-mails take the company from Dolibarr" in warnings


def test_config_check_names_a_typo_in_the_written_english_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The English HTML files `init` writes are checked like the French: an unknown variable, even in an
    untaken branch, is reported with the variant, the file, the line and the name meant."""
    run(["init", str(tmp_path)], capsys, monkeypatch)
    page = tmp_path / "templates" / "2nde-relance.email.en.html"
    lines = page.read_text(encoding="utf-8").splitlines()
    assert "{{ followup.previous_date }}" in lines[2]
    lines[2] = lines[2].replace("{{ followup.previous_date }}", "{{ followup.previous_dat }}")
    page.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("DOLIRELANCE_API_KEY", "dummy")
    monkeypatch.setenv("DOLIRELANCE_SMTP_PASSWORD", "dummy")
    code, _, err = run(["config", "check", "-c", str(tmp_path / "dolirelance.toml")], capsys, monkeypatch)
    assert code == 2
    message = " ".join(err.split())
    assert "1 template problem(s)" in message  # the French file beside it is fine
    where = f"model '2nde relance', variant 'en', email_html ({page}:3)"
    assert f"{where}: unknown variable followup.previous_dat; did you mean followup.previous_date" in message


def test_config_check_without_secrets_names_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(["init", str(tmp_path)], capsys, monkeypatch)
    monkeypatch.delenv("DOLIRELANCE_API_KEY", raising=False)
    code, _, err = run(["config", "check", "-c", str(tmp_path / "dolirelance.toml")], capsys, monkeypatch)
    assert code == 2 and "DOLIRELANCE_API_KEY" in err


def test_init_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An existing model file is never replaced, and nothing else is written either."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "2nde-relance.email.txt").write_text("mine", encoding="utf-8")
    code, _, err = run(["init", str(tmp_path)], capsys, monkeypatch)
    assert code == 1
    assert err.startswith("error: not overwriting") and "2nde-relance.email.txt" in err and "→" in err
    assert (tmp_path / "templates" / "2nde-relance.email.txt").read_text(encoding="utf-8") == "mine"
    assert not (tmp_path / "dolirelance.toml").exists()


def test_answers_given_as_options_land_in_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(
        [
            "init",
            str(tmp_path),
            "--dolibarr-url",
            "https://crm.acme.test/api/index.php",
            "--smtp-host",
            "mail.acme.test",
            "--sender",
            'Acme "Devis" <devis@acme.test>',
        ],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    monkeypatch.setenv("DOLIRELANCE_API_KEY", "dummy")
    monkeypatch.setenv("DOLIRELANCE_SMTP_PASSWORD", "dummy")
    settings = load_config(tmp_path / "dolirelance.toml")
    assert settings.dolibarr.url == "https://crm.acme.test/api/index.php"
    assert settings.smtp.host == "mail.acme.test"
    assert settings.smtp.sender == 'Acme "Devis" <devis@acme.test>'
    code, out, err = run(["config", "check", "-c", str(tmp_path / "dolirelance.toml")], capsys, monkeypatch)
    assert code == 0 and out.startswith("ok "), err
    # the SMTP login is still the example one (init does not ask it): only that is named
    assert "[smtp] username is still the example 'devis@example.fr'" in " ".join(err.split())
    assert "sender" not in err and "[smtp] host" not in err and "[dolibarr]" not in err


def test_each_answer_replaces_exactly_one_example_line() -> None:
    """If the shipped file's example lines change, the answers must still find their line."""
    text = example_config_text()
    for field, pattern in _ANSWER_LINES.items():
        assert len(pattern.findall(text)) == 1, field
    assert starter_config_text(StarterAnswers()) == text


def test_at_a_terminal_init_asks_without_offering_made_up_values(tmp_path: Path) -> None:
    """On a terminal: three questions, an example in each but no default: Enter asks again."""
    import os
    import pty
    import subprocess
    import time

    main_fd, child_fd = pty.openpty()
    command = [str(Path(sys.executable).parent / "dolirelance"), "init", str(tmp_path / "site")]
    proc = subprocess.Popen(command, stdin=child_fd, stdout=child_fd, stderr=child_fd, close_fds=True)
    os.close(child_fd)
    seen = b""
    answers = [b"https://crm.acme.test/api/index.php\n", b"\n", b"mail.acme.test\n", b"Acme <devis@acme.test>\n"]
    answered = 0
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            seen += os.read(main_fd, 4096)
        except OSError:
            break
        while answered < min(seen.count(b"): "), len(answers)):  # each prompt ends with its example: "(like …): "
            os.write(main_fd, answers[answered])
            answered += 1
    proc.wait(timeout=10)
    os.close(main_fd)
    assert proc.returncode == 0, seen.decode(errors="replace")
    text = seen.decode(errors="replace")
    assert "Dolibarr API URL" in text and "SMTP server (like smtp.your-company.fr): " in text and "Sender" in text
    assert text.count("SMTP server") == 2  # Enter alone asked again
    assert "example.fr" not in text  # nothing made up is offered
    written = (tmp_path / "site" / "dolirelance.toml").read_text(encoding="utf-8")
    assert 'url = "https://crm.acme.test/api/index.php"' in written
    assert 'host = "mail.acme.test"' in written
    assert 'sender = "Acme <devis@acme.test>"' in written


def test_the_top_level_example_files_are_what_init_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """config.example.toml and templates/ at the top of the repository, the first files a reader opens,
    are the package's defaults byte for byte: config.example.toml is a copy (change
    src/dolirelance/defaults/dolirelance.toml and copy it over), templates/ a link to defaults/templates."""
    repository = Path(__file__).resolve().parent.parent
    code, _, err = run(["init", str(tmp_path)], capsys, monkeypatch)
    assert code == 0, err
    assert (repository / "config.example.toml").read_bytes() == (tmp_path / "dolirelance.toml").read_bytes()
    shown = {path.name: path.read_bytes() for path in (repository / "templates").iterdir()}
    written = {path.name: path.read_bytes() for path in (tmp_path / "templates").iterdir()}
    assert shown == written
