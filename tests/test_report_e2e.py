"""The effectiveness report read from the fake Dolibarr: seeded history, real follow-ups, CLI and requests.

The expected figures are worked out by hand from ``testing/report_history.HISTORY`` (days before
2026-11-28) plus the sample quotes (10 validated, none followed up, one signed for 1,700.00).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from conftest import SAMPLE_TODAY, MutableClock
from dolirelance.config import Settings
from dolirelance.demo import write_demo_config
from dolirelance.domain import Channel
from dolirelance.effectiveness import as_dict
from dolirelance.service import Runtime, follow_up, open_runtime
from dolirelance.service.report import default_period_start, effectiveness_report
from dolirelance.testing import FakeDolibarr, SampleData, create_app
from dolirelance.testing.report_history import seed_report_history
from dolirelance.testing.smtp_sink import SmtpSink
from in_process_cli import CliResult, run_main, served_for_cli


@pytest.fixture
def history(fake_dolibarr: FakeDolibarr, sample_data: SampleData) -> SampleData:
    seed_report_history(fake_dolibarr, sample_data)
    return sample_data


def row(data: dict[str, object], grouping: str, key: str) -> tuple[object, ...]:
    rows = {r["key"]: r for r in data["by"][grouping]}  # type: ignore[index]
    r = rows[key]
    return (r["followups"], r["quotes"], r["signed"], r["refused"], r["open"], r["expired"], r["other"],
            r["amount_signed_excl_tax"], r["median_days_to_signature"])  # fmt: skip


async def test_report_over_the_seeded_history_matches_the_hand_computed_figures(
    runtime: Runtime, history: SampleData, fake_dolibarr: FakeDolibarr
) -> None:
    """9 follow-ups on 6 quotes; 3 signed after one (5, 5 and 10 days), 6,000.00; 2/12 signed without."""
    fake_dolibarr.reset_requests()
    data = as_dict(await effectiveness_report(runtime))
    assert data["period"] == {"from": "2025-12-01", "to": "2026-11-28"}
    total = data["total"]
    assert total == {
        "followups": 9, "quotes": 6, "signed": 3, "refused": 1, "open": 1, "expired": 1, "other": 0,
        "conversion": {"count": 3, "of": 6, "percent": 50.0}, "median_days_to_signature": 5.0,
        "signed_within_7_days": 2, "signed_within_30_days": 3, "amount_signed_excl_tax": "6000.00",
    }  # fmt: skip
    # followups, quotes, signed, refused, open, expired, other, amount, median days
    assert row(data, "step", "1") == (4, 4, 1, 0, 0, 0, 0, "1000.00", 5.0)
    assert row(data, "step", "2") == (3, 3, 1, 1, 0, 1, 0, "2000.00", 5.0)
    assert row(data, "step", "manual") == (2, 2, 1, 0, 1, 0, 0, "3000.00", 10.0)
    assert row(data, "channel", "email") == (6, 5, 1, 1, 1, 0, 0, "1000.00", 5.0)
    assert row(data, "channel", "letter") == (3, 3, 2, 0, 0, 1, 0, "5000.00", 7.5)
    assert row(data, "model", "1ère relance") == (6, 6, 2, 0, 1, 0, 0, "4000.00", 7.5)
    assert row(data, "model", "2nde relance") == (3, 3, 1, 1, 0, 1, 0, "2000.00", 5.0)
    # the sales person is the owner of the planned to-do: jdupont, and admin for the farm, whom
    # jdupont may not read (no user.user.lire): shown by id
    assert row(data, "sales_person", "jdupont") == (8, 5, 2, 1, 1, 1, 0, "3000.00", 5.0)
    assert row(data, "sales_person", f"#{history.users['admin']}") == (1, 1, 1, 0, 0, 0, 0, "3000.00", 10.0)
    assert data["funnel"] == [
        {"rank": 1, "reached": 6, "signed": 2, "amount_signed_excl_tax": "4000.00"},
        {"rank": 2, "reached": 3, "signed": 1, "amount_signed_excl_tax": "2000.00"},
    ]
    assert data["without_followup"] == {
        "quotes": 12, "signed": 2, "conversion": {"count": 2, "of": 12, "percent": 16.7},
        "amount_signed_excl_tax": "2200.00",
    }  # fmt: skip
    months = {m["month"]: (m["followups"], m["signed"], m["amount_signed_excl_tax"]) for m in data["months"]}  # type: ignore[attr-defined]
    assert len(months) == 12
    assert months["2026-09"] == (3, 1, "1000.00")
    assert months["2026-10"] == (5, 2, "5000.00")
    assert months["2026-11"] == (1, 0, "0.00")
    assert months["2026-08"] == (0, 0, "0.00")
    # bulk reads: one events list, one list of the quotes issued in the period (every quote
    # followed up was issued in it: none to read by id); one read per other sales person
    asked = fake_dolibarr.requests_by_path()
    assert asked["GET /agendaevents"] == 1
    assert asked["GET /proposals"] == 1
    assert sum(count for path, count in asked.items() if path.startswith("GET /users/")) <= 2


async def test_filters_and_an_explicit_period(
    runtime: Runtime, history: SampleData, fake_dolibarr: FakeDolibarr
) -> None:
    """October only: 5 follow-ups; with the second model only, H2 signed, H3 refused, H4 expired."""
    fake_dolibarr.reset_requests()
    october = as_dict(await effectiveness_report(runtime, start=date(2026, 10, 1), end=date(2026, 10, 31)))
    # the quotes followed up in October were issued before it: read by id, in one more request
    assert fake_dolibarr.requests_by_path()["GET /proposals"] == 2
    assert october["total"]["followups"] == 5  # type: ignore[index]
    # H2's step 2 (signed 5 days later), H4's two, H3's step 2, the farm's letter (signed 10 days later)
    assert october["total"]["signed"] == 2  # type: ignore[index]
    second = as_dict(await effectiveness_report(runtime, model="2nde relance"))
    assert second["total"]["quotes"] == 3  # type: ignore[index]
    assert (second["total"]["signed"], second["total"]["refused"], second["total"]["expired"]) == (1, 1, 1)  # type: ignore[index]
    mine = as_dict(await effectiveness_report(runtime, sales_rep="jdupont"))
    assert (mine["total"]["followups"], mine["total"]["signed"], mine["total"]["quotes"]) == (8, 2, 5)  # type: ignore[index]


async def test_a_real_followup_then_a_signature_is_credited_to_it(
    runtime: Runtime, sample_data: SampleData, fake_dolibarr: FakeDolibarr, clock: MutableClock
) -> None:
    """What the service itself records is read back: manual e-mail by jdupont, signed 3 days later."""
    ref = sample_data.refs["about_to_expire"]
    await follow_up(runtime, ref, channel=Channel.EMAIL, note="Appel sans réponse")
    clock.advance(days=3)
    fake_dolibarr.close_proposal(sample_data.quotes["about_to_expire"], 2)
    data = as_dict(await effectiveness_report(runtime))
    assert data["total"]["followups"] == 1  # type: ignore[index]
    assert data["total"]["signed"] == 1  # type: ignore[index]
    assert data["total"]["median_days_to_signature"] == 3.0  # type: ignore[index]
    assert [r["key"] for r in data["by"]["step"]] == ["manual"]  # type: ignore[index]
    assert [r["key"] for r in data["by"]["sales_person"]] == ["jdupont"]  # type: ignore[index]
    assert [r["key"] for r in data["by"]["channel"]] == ["email"]  # type: ignore[index]
    assert [r["key"] for r in data["by"]["model"]] == ["1ère relance"]  # type: ignore[index]


async def test_follow_ups_whose_to_do_a_later_one_moved_are_credited_to_its_sales_person(
    settings: Settings, sample_data: SampleData, fake_dolibarr: FakeDolibarr, clock: MutableClock
) -> None:
    """The admin follows up jdupont's quote twice: the second moves the first's to-do (which then carries
    its key), and both follow-ups are still jdupont's, not the admin's."""
    admins = settings.model_copy(
        update={"dolibarr": settings.dolibarr.model_copy(update={"api_key": SecretStr(sample_data.api_keys["admin"])})}
    )
    async with open_runtime(admins, transport=httpx.ASGITransport(app=create_app(fake_dolibarr)), now=clock) as rt:
        first = await follow_up(rt, sample_data.refs["about_to_expire"], channel=Channel.EMAIL)
        clock.advance(days=4)
        second = await follow_up(rt, sample_data.refs["about_to_expire"], channel=Channel.EMAIL, force=True)
        assert first.todo_event_id == second.todo_event_id  # moved, not created
        data = as_dict(await effectiveness_report(rt))
    assert [(r["key"], r["followups"]) for r in data["by"]["sales_person"]] == [("jdupont", 2)]  # type: ignore[index]


def test_default_period_is_twelve_calendar_months() -> None:
    """To 2026-11-28: from 2025-12-01; to 2026-01-15: from 2025-02-01."""
    assert default_period_start(date(2026, 11, 28)) == date(2025, 12, 1)
    assert default_period_start(date(2026, 1, 15)) == date(2025, 2, 1)


# --------------------------------------------------------------------------- through the CLI


@pytest.fixture
def config(
    fake_dolibarr: FakeDolibarr,
    history: SampleData,
    smtp_sink: SmtpSink,
    clock: MutableClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    """The demo's configuration file, on the history served over HTTP (the product on the fake's clock)."""
    with served_for_cli(fake_dolibarr, clock, monkeypatch) as url:
        yield write_demo_config(tmp_path, dolibarr_url=url, api_key=history.api_keys["jdupont"],
                                smtp_port=smtp_sink.port)


def run_cli(
    args: list[str], config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> CliResult:
    return run_main([*args, "--config", str(config)], capsys, monkeypatch)


def test_cli_json_csv_and_text_give_the_same_figures(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`report --json`, `--csv` and the text tables agree: 3/6 signed after a follow-up, 6,000.00."""
    code, out, err = run_cli(["report", "--json"], config, monkeypatch, capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["total"]["conversion"] == {"count": 3, "of": 6, "percent": 50.0}
    code, out, err = run_cli(["report", "--csv"], config, monkeypatch, capsys)
    assert code == 0, err
    rows = {(r["section"], r["key"]): r for r in csv.DictReader(io.StringIO(out))}
    assert rows[("total", "all")]["signed"] == "3"
    assert rows[("total", "all")]["amount_signed_excl_tax"] == "6000.00"
    assert rows[("step", "manual")]["conversion_percent"] == "50.0"
    assert rows[("without_followup", "all")]["quotes"] == "12"
    code, out, err = run_cli(["report"], config, monkeypatch, capsys)
    assert code == 0, err
    assert "signed after a follow-up: 3/6 (50 %)" in out
    assert "6 000,00 €" in out  # the CLI prints the one formatter's amounts with plain spaces
    assert "without any follow-up: signed 2/12 (16.7 %)" in out


def test_cli_bad_input_is_a_clear_error(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad date, a reversed period, an unknown model or login: `error:` with what to do, exit 2 or 1."""
    cases = [  # a command line that cannot be read is a usage error: exit 2
        (["report", "--from", "28/11/2026"], "--from '28/11/2026' is not a date", 2),
        (["report", "--from", "2026-11-01", "--to", "2026-10-01"], "ends (2026-10-01) before it starts", 1),
        (["report", "--model", "Relance 9"], "no model named 'Relance 9'", 1),
        (["report", "--json", "--csv"], "--json and --csv cannot go together", 2),
    ]
    for args, message, expected_code in cases:
        code, out, err = run_cli(args, config, monkeypatch, capsys)
        assert code == expected_code, (args, out, err)
        assert err.startswith("error: ") and message in " ".join(err.split()), (args, err)
        assert "Traceback" not in err
    assert (SAMPLE_TODAY - timedelta(days=1)).year == 2026
