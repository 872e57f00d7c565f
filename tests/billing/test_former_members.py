"""A member whose membership ended (suspicions 3 and 4 of the review): care after the end is refused when it
is logged, an end set back before logged care is refused, a split rule cannot give a former member a share,
and a rule that does (made while the member still was one) is stopped at split time with a work item, never
paid. The world is tests.scenarios.payouts: prenatal 70/30 practice/hospital, natal 60/40, postnatal 30/70
practice/kraamzorg; one pregnancy, intake 2 Feb 2026, labour 14 Aug, completed 25 Sep 2026.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from billing import reconcile
from billing.models import Allocation, WorkItem
from billing.services.split_rules import split_rule_create
from igo.models import Role
from igo.tenancy import tenant_scope
from providers.models import MemberOrganisation
from providers.services import organisation_end_membership
from tests.scenarios.care_logging import first_line_from_intake, log_service
from tests.scenarios.clock import local, travel
from tests.scenarios.payouts import at, bill, completed_pregnancy, lines, payout_world

pytestmark = [pytest.mark.django_db, pytest.mark.dated]


def test_a_share_for_a_member_gone_before_the_phase_is_not_paid_but_a_work_item(world_a):
    pw = payout_world(world_a)
    # Kraamzorg Noord left on 30 June 2026, after the split rule of 2026 was made; the postnatal phase (from
    # 14 August) would give it 70 %.
    MemberOrganisation.unscoped.filter(pk=pw.kraam.pk).update(member_until=dt.date(2026, 6, 30))
    ep = completed_pregnancy(pw)
    bill(pw, at(2026, 10, 2))
    current = lines(ep)
    assert Allocation.unscoped.filter(claim_line=current["prenatal"], is_current=True).exists()
    assert not Allocation.unscoped.filter(claim_line=current["postnatal"], is_current=True).exists()
    assert not Allocation.unscoped.filter(organisation=pw.kraam).exists()
    (item,) = WorkItem.unscoped.filter(episode=ep, phase="postnatal", resolved_at__isnull=True)
    assert "Kraamzorg Noord" in item.message and "30-06-2026" in item.message
    assert reconcile.books_check(tenant=pw.tenant, today=dt.date(2026, 10, 2)).ok


def test_a_split_rule_cannot_give_a_former_member_a_share(world_a):
    pw = payout_world(world_a)
    MemberOrganisation.unscoped.filter(pk=pw.kraam.pk).update(member_until=dt.date(2026, 12, 31))
    with tenant_scope(pw.tenant), pytest.raises(ValidationError) as exc:
        split_rule_create(
            tenant=pw.tenant,
            actor=pw.finance,
            year=2027,
            phases={"postnatal": {"method": "fixed", "shares": {pw.practice.pk: 30, pw.kraam.pk: 70}}},
        )
    assert "Kraamzorg Noord" in " ".join(exc.value.message_dict["phases"])


@pytest.mark.clock(local(2026, 3, 10, 12))
def test_a_membership_cannot_end_before_care_it_logged_and_care_after_the_end_is_refused(care):
    first_line_from_intake(care)
    admin = care.user(Role.IGO_ADMIN)
    log_service(care, "PRE_CHECK", at=local(2026, 3, 10, 9))
    with tenant_scope(care.tenant), pytest.raises(ValidationError) as exc:
        organisation_end_membership(organisation=care.practice, actor=admin, until=dt.date(2026, 3, 9))
    assert "10-03-2026" in " ".join(exc.value.message_dict["member_until"])
    with tenant_scope(care.tenant):
        organisation_end_membership(organisation=care.practice, actor=admin, until=dt.date(2026, 3, 10))
    # Two days later the midwife logs care of 11 March for her (former) practice: refused at logging.
    with travel(local(2026, 3, 12, 12)), pytest.raises(ValidationError) as exc:
        log_service(care, "PRE_CHECK", at=local(2026, 3, 11, 9))
    assert "organisation" in exc.value.message_dict
