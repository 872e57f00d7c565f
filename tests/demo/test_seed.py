"""The demo data tells the same story on any day it is made: last month's batches (Zilveren Kruis and VGZ)
released, the Zilveren Kruis one answered with one line rejected and in the work queue; this month's drafts
(Zilveren Kruis and CZ) with lines; care logged this week; maternity carers with clients today; an insurer
API key. The books reconcile, and a second run adds nothing.

Each case seeds once at its moment. The first uses the process clock as it is, so that the moved-clock
passes (scripts/dated.sh, marker `dated`) try the same story at their own moments; the others are fixed
moments at the edges of a month, where only half an hour of this month (or of last month) is left.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing.models import (
    BatchLine,
    BatchReturn,
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    LineStatus,
    ReturnLine,
    WorkItem,
)
from billing.reconcile import books_check, problem_lines
from igo.models import AuditEntry, InsurerApiToken, Membership, Role, Tenant
from igo.tenancy import tenant_scope
from pregnancies.models import CareEvent, Client, Episode
from pregnancies.selectors import my_clients_today
from providers.models import Discipline
from tests.scenarios.clock import local

pytestmark = [pytest.mark.django_db, pytest.mark.dated]

ZK, VGZ, CZ = "3311", "7095", "9664"


def at(moment: dt.datetime, name: str) -> object:
    return pytest.param(moment, marks=pytest.mark.clock(moment), id=name)


# Seeding takes seconds, so a few cases, each at a moment the story used to depend on.
MOMENTS = [
    pytest.param(None, id="process-clock"),  # no time-machine: the moved-clock passes move this one
    at(local(2026, 12, 4, 9, 0), "4th"),  # a birth ten days ago was last month, two days ago this month
    at(local(2027, 3, 1, 0, 30), "1st-0030-after-february"),  # half an hour of March, after a short month
    at(local(2027, 4, 30, 23, 30), "30th-2330"),
    at(local(2027, 12, 31, 23, 30), "31-december-2330"),
    at(local(2028, 1, 1, 0, 30), "1-january-0030"),  # a new year: this year's contracts and split rule
    at(local(2028, 2, 29, 23, 30), "29-february-2330"),
]


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {
        model.__name__: (model.unscoped if hasattr(model, "unscoped") else model.objects).count()
        for model in (
            Tenant,
            Client,
            Episode,
            CareEvent,
            ClaimLine,
            ClaimBatch,
            BatchLine,
            BatchReturn,
            ReturnLine,
            WorkItem,
            InsurerApiToken,
        )
    }


def midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@pytest.mark.parametrize("moment", MOMENTS)
def test_the_demo_tells_the_same_story_on_any_day_and_a_second_run_adds_nothing(moment):
    now = timezone.now()
    if moment is not None:  # the clock marker has set the clock (ticking) to the moment
        assert abs(now - moment) < dt.timedelta(minutes=1)
    this_month = timezone.localdate(now).replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    first = seed()

    for tenant in Tenant.objects.order_by("slug"):
        made = list(ClaimBatch.unscoped.filter(tenant=tenant).select_related("insurer"))
        assert sorted((b.period, b.insurer.uzovi_code, b.status) for b in made) == [
            (last_month, ZK, BatchStatus.RELEASED),
            (last_month, VGZ, BatchStatus.RELEASED),
            (this_month, ZK, BatchStatus.DRAFT),
            (this_month, CZ, BatchStatus.DRAFT),
        ], tenant.slug
        assert all(b.line_count > 0 and not b.held for b in made)
        # Every claim line is in the batch of the month it was made in (the seed dates the lines of care
        # that ended before this month back to last month); none waits for a batch.
        lines = ClaimLine.unscoped.filter(tenant=tenant)
        assert not lines.filter(batch_line__isnull=True).exists()
        assert not lines.filter(batch_line__batch__period=this_month, created_at__lt=midnight(this_month))
        assert not lines.filter(batch_line__batch__period=last_month, created_at__gte=midnight(this_month))

        # Care logged this week by a midwife and by a maternity carer; none in the future.
        events = CareEvent.unscoped.filter(tenant=tenant).select_related("professional")
        assert not events.filter(occurred_at__gt=timezone.now()).exists()
        this_week = {
            e.professional.discipline for e in events.filter(occurred_at__gt=now - dt.timedelta(days=7))
        }
        assert this_week >= {Discipline.MIDWIFE, Discipline.MATERNITY_CARER}
        # The maternity carer's *Vandaag*: Emma (gave birth two days ago) and Roos (ten days ago).
        carer = Membership.unscoped.get(tenant=tenant, role=Role.MATERNITY_CARER).user
        with tenant_scope(tenant):
            assert sorted(e.client.given_names for e in my_clients_today(user=carer)) == ["Emma", "Roos"]

    answer = BatchReturn.unscoped.select_related("batch__tenant", "batch__insurer").get()
    assert (answer.batch.tenant.slug, answer.batch.insurer.uzovi_code) == ("igo-rijnmond", ZK)
    assert answer.batch.period == last_month
    assert (answer.accepted, answer.rejected) == (answer.batch.line_count - 1, 1)
    rejected = ReturnLine.unscoped.select_related("batch_line__claim_line").get(status="rejected")
    assert rejected.reason_code == "0101"
    assert rejected.batch_line.claim_line.status == LineStatus.REJECTED
    item = WorkItem.unscoped.get(resolved_at__isnull=True)
    assert (item.reason, item.episode_id) == ("rejected", rejected.batch_line.claim_line.episode_id)

    token = InsurerApiToken.objects.select_related("insurer", "created_by").get()
    assert (token.insurer.uzovi_code, token.created_by.email) == (ZK, "declaraties@zk.demo")
    assert token.is_usable()
    assert f"igo_{token.prefix}_" in first and "DEMO key" in first

    # Every figure reconciles: claims against the care paths, allocations, batches and what was sent.
    report = books_check()
    assert report.ok, "\n".join(problem_lines(report))
    assert report.pending_episodes == 0

    before = counts()
    audit_before = AuditEntry.objects.count()
    second = seed()
    assert counts() == before
    assert AuditEntry.objects.count() == audit_before  # nothing was made, released or answered again
    assert f"igo_{token.prefix}_" not in second and "was printed then" in second
