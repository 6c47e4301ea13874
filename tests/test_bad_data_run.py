"""One bad quote never stops the others: an automatic run over damaged rows mails every good quote."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import SAMPLE_TODAY
from dolirelance.ledger import FollowUpState
from dolirelance.service import Runtime, run_auto
from dolirelance.testing import FakeDolibarr, SampleData
from dolirelance.testing.fake_dolibarr import REMOVED
from dolirelance.testing.smtp_sink import SmtpSink

# What a damaged database row, a buggy module or a hand-edited record can send for a proposal.
DAMAGES: list[dict[str, Any]] = [
    {"total_ht": "NaN"},
    {"total_ttc": "1e309"},
    {"total_ht": "1e999999999"},
    {"date": "garbage", "datep": "garbage"},
    {"fin_validite": 253402214400},  # 9999-12-31
    {"ref": REMOVED},
    {"status": 99, "statut": 99},
]


def _due_quotes(fake: FakeDolibarr, sample: SampleData, count: int) -> list[int]:
    """``count`` open quotes like the sample's ``expired`` one: step 2 is due today for each."""
    ids = []
    for _ in range(count):
        proposal = fake.add_proposal(
            sample.customers["boulangerie"], date=SAMPLE_TODAY - timedelta(days=40), duree_validite=30
        )
        fake.add_proposal_line(proposal.id, description="Installation", qty=1, subprice="1000")
        fake.validate_proposal(proposal.id)
        ids.append(proposal.id)
    return ids


async def test_one_in_ten_malformed_the_others_are_mailed_and_each_bad_one_named(
    runtime: Runtime, fake_dolibarr: FakeDolibarr, sample_data: SampleData, smtp_sink: SmtpSink
) -> None:
    """70 more due quotes, 7 of them damaged in 7 ways: 63 + the 3 sample ones mailed, 7 named."""
    added = _due_quotes(fake_dolibarr, sample_data, 70)
    bad = added[::10]
    for quote_id, damage in zip(bad, DAMAGES, strict=True):
        fake_dolibarr.corrupt_proposal(quote_id, **damage)
    good_refs = {fake_dolibarr.proposals[i].ref for i in added if i not in bad}

    report = await run_auto(runtime)

    assert report.error is None
    mailed = {o.quote_ref for o in report.sent}
    assert good_refs <= mailed and len(mailed) == len(good_refs) + 3
    assert len(smtp_sink.messages) == len(mailed)
    assert all(o.outcome == "recorded" for o in report.outcomes)
    named = {(row.row_id, row.field.split(".")[0]) for row in report.rejected}
    expected_fields = ["total_ht", "total_ttc", "total_ht", "date", "fin_validite", "ref", "status"]
    assert named == {(str(i), f) for i, f in zip(bad, expected_fields, strict=True)}
    for row in report.rejected:
        if row.field != "ref":
            assert row.ref == fake_dolibarr.proposals[int(str(row.row_id))].ref
        assert "in Dolibarr" in row.remedy
    assert not report.ok  # a person has something to fix
    for quote_id in bad:  # nothing claimed, nothing sent for them
        assert runtime.ledger.entries_for_quotes([quote_id]) == []
    claimed = [e for e in runtime.ledger.entries_for_quotes(added) if e.state is not FollowUpState.RECORDED]
    assert claimed == []
