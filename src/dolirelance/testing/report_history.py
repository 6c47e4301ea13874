"""A past of follow-ups for the effectiveness report: quotes followed up, then signed, refused or left.

Added on top of :func:`load_sample_data` (its customers and users). Every follow-up is written the
way dolirelance writes it: a done ``AC_RELANCE_EMAIL``/``AC_RELANCE_LETTER`` event with its facts
line, and the to-do it planned for the customer's sales representative. Days are relative to
``sample.today``; ``HISTORY`` is the plan the tests compute their expected figures from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from dolirelance.domain import Channel
from dolirelance.history import CODE_BY_CHANNEL, CODE_TODO, compose_note
from dolirelance.testing.fake import FakeDolibarr
from dolirelance.testing.sample_data import SampleData

__all__ = ["DEMO_EXTRA", "HISTORY", "FollowUpPlan", "QuotePlan", "seed_report_history"]

FIRST = "1ère relance"
SECOND = "2nde relance"


@dataclass(frozen=True)
class FollowUpPlan:
    days_ago: int
    channel: Channel
    model: str
    step: int | None = None  # None: a manual follow-up by the sales representative


@dataclass(frozen=True)
class QuotePlan:
    role: str
    customer: str
    days_ago: int  # issued
    validity_days: int
    amount: int  # excl. tax, one line
    followups: tuple[FollowUpPlan, ...]
    closed: int | None = None  # 2 signed, 3 refused
    closed_days_ago: int | None = None


EMAIL, LETTER = Channel.EMAIL, Channel.LETTER
HISTORY = (
    QuotePlan("h_signed_step1", "garage", 100, 30, 1000, (FollowUpPlan(75, EMAIL, FIRST, 1),), 2, 70),
    QuotePlan("h_signed_step2", "cabinet", 95, 30, 2000,
              (FollowUpPlan(70, EMAIL, FIRST, 1), FollowUpPlan(55, LETTER, SECOND, 2)), 2, 50),
    QuotePlan("h_refused", "hotel", 90, 30, 1500,
              (FollowUpPlan(65, EMAIL, FIRST, 1), FollowUpPlan(50, EMAIL, SECOND, 2)), 3, 45),
    QuotePlan("h_expired", "boulangerie", 80, 30, 800,
              (FollowUpPlan(55, EMAIL, FIRST, 1), FollowUpPlan(40, LETTER, SECOND, 2))),
    QuotePlan("h_signed_manual", "ferme", 60, 30, 3000, (FollowUpPlan(40, LETTER, FIRST),), 2, 30),
    QuotePlan("h_open", "garage", 20, 45, 1200, (FollowUpPlan(5, EMAIL, FIRST),)),
    QuotePlan("h_signed_alone", "boulangerie", 70, 30, 500, (), 2, 60),
    QuotePlan("h_refused_alone", "hotel", 65, 30, 700, (), 3, 55),
)  # fmt: skip


# The demo's past is HISTORY and these: quotes followed up then signed, as most are where follow-ups pay
# (the tests' figures are worked out from HISTORY alone).
DEMO_EXTRA = (
    QuotePlan("h_demo_signed_1", "cabinet", 110, 30, 2400, (FollowUpPlan(85, EMAIL, FIRST, 1),), 2, 80),
    QuotePlan("h_demo_signed_2", "garage", 50, 30, 1800,
              (FollowUpPlan(30, EMAIL, FIRST, 1), FollowUpPlan(18, LETTER, SECOND, 2)), 2, 12),
    QuotePlan("h_demo_signed_3", "ferme", 45, 30, 950, (FollowUpPlan(25, EMAIL, FIRST, 1),), 2, 20),
)  # fmt: skip


def seed_report_history(
    fake: FakeDolibarr, sample: SampleData, *, auto_login: str = "admin", plans: tuple[QuotePlan, ...] = HISTORY
) -> None:
    """Add ``plans`` (``HISTORY``) to a fake loaded with the sample data (roles land in ``sample.quotes``)."""
    today = sample.today
    robot = sample.users[auto_login]
    for plan in plans:
        customer_id = sample.customers[plan.customer]
        rep = fake.thirdparties[customer_id].sales_rep_ids[0]
        proposal = fake.add_proposal(customer_id, date=today - timedelta(days=plan.days_ago),
                                     duree_validite=plan.validity_days, user_id=rep)
        fake.add_proposal_line(proposal.id, description="Installation photovoltaïque", qty=1,
                               subprice=str(plan.amount), tva_tx=20, product_type=1)
        fake.validate_proposal(proposal.id, user_id=rep)
        for index, followup in enumerate(plan.followups):
            done_at = fake.epoch_of_day(today - timedelta(days=followup.days_ago)) + 10 * 3600
            key = f"history:{proposal.id}:{index}"
            facts: dict[str, str | int | None] = {
                "key": key,
                "model": followup.model,
                "level": 1 if followup.model == FIRST else 2,
                "channel": followup.channel.value,
                "next": (today - timedelta(days=followup.days_ago - 15)).isoformat(),
                "auto": 1 if followup.step is not None else None,
                "step": followup.step,
            }
            label_channel = "e-mail" if followup.channel is EMAIL else "courrier"
            fake.add_event(
                type_code="AC_OTH_AUTO", code=CODE_BY_CHANNEL[followup.channel],
                label=f"Relance devis {proposal.ref} ({followup.model}, {label_channel})",
                userownerid=robot if followup.step is not None else rep, datep=done_at, datef=done_at,
                note=compose_note("", facts), percentage=100, socid=customer_id, elementtype="propal",
                fk_element=proposal.id,
            )
            last = index == len(plan.followups) - 1
            fake.add_event(
                type_code="AC_OTH", code=CODE_TODO, label=f"À relancer : devis {proposal.ref}",
                userownerid=rep, datep=done_at + 15 * 86400, note=compose_note("", {"key": key}),
                percentage=0 if last and plan.closed is None else 100, socid=customer_id,
                elementtype="propal", fk_element=proposal.id,
            )
        if plan.closed is not None:
            fake.close_proposal(proposal.id, plan.closed, user_id=rep)
            closed_day = today - timedelta(days=plan.closed_days_ago or 0)
            if plan.closed == 2:
                proposal.date_signature = fake.epoch_of_day(closed_day) + 11 * 3600
            proposal.date_cloture = fake.epoch_of_day(closed_day) + 11 * 3600
            proposal.row_cache = None
        sample.quotes[plan.role] = proposal.id
        sample.refs[plan.role] = proposal.ref
