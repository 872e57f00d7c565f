"""The demo data tells the same story on any day it is made: the batches of the month before last and of
last month (Zilveren Kruis and VGZ) released; in IGO Rijnmond the Zilveren Kruis ones answered (the older in
full and paid, last month's with one line rejected, held back and in the work queue) and the members paid
out (the older month released by the controller, last month prepared and waiting); this month's drafts
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

from billing import ledger
from billing.models import (
    BatchLine,
    BatchReturn,
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    InsurerPayment,
    LineStatus,
    Payout,
    PayoutRun,
    PayoutStatus,
    ReturnLine,
    WorkItem,
)
from billing.reconcile import books_check, problem_lines
from igo.models import AuditEntry, InsurerApiToken, Membership, Role, Tenant
from igo.tenancy import tenant_scope
from neutrality.models import CatalogueMapping, DbcAmount, ReferenceTariff
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
            InsurerPayment,
            PayoutRun,
            Payout,
            ReferenceTariff,
            DbcAmount,
            CatalogueMapping,
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
    before_last = (last_month - dt.timedelta(days=1)).replace(day=1)
    first = seed()

    for tenant in Tenant.objects.order_by("slug"):
        made = list(ClaimBatch.unscoped.filter(tenant=tenant).select_related("insurer"))
        assert sorted((b.period, b.insurer.uzovi_code, b.status) for b in made) == [
            (before_last, ZK, BatchStatus.RELEASED),
            (before_last, VGZ, BatchStatus.RELEASED),
            (last_month, ZK, BatchStatus.RELEASED),
            (last_month, VGZ, BatchStatus.RELEASED),
            (this_month, ZK, BatchStatus.DRAFT),
            (this_month, CZ, BatchStatus.DRAFT),
        ], tenant.slug
        assert all(b.line_count > 0 and not b.held for b in made)
        # Four eyes (the IGO's setting, on for a new IGO): finance made the batches, the controller released.
        assert tenant.batch_four_eyes
        for b in (b for b in made if b.status == BatchStatus.RELEASED):
            prepared, released = b.created_by.email, b.released_by.email
            assert prepared.startswith("finance@") and released.startswith("controller@") and b.four_eyes
        # Every claim line is in the batch of the month it was made in (the seed dates the lines of care
        # that ended before this month back to last month); none waits for a batch.
        lines = ClaimLine.unscoped.filter(tenant=tenant)
        assert not lines.filter(batch_line__isnull=True).exists()
        assert not lines.filter(batch_line__batch__period=this_month, created_at__lt=midnight(this_month))
        assert not lines.filter(batch_line__batch__period=last_month, created_at__gte=midnight(this_month))
        assert not lines.filter(batch_line__batch__period=last_month, created_at__lt=midnight(last_month))
        assert not lines.filter(batch_line__batch__period=before_last, created_at__gte=midnight(last_month))

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
        # The lifecycle (issue 17): Anouk's first pregnancy ended in a birth, her second began today.
        earlier, later = Episode.unscoped.filter(tenant=tenant, client__given_names="Anouk").order_by("pk")
        assert (earlier.status, later.status) == ("ended", "active")
        assert (later.gravida, later.parity, later.intake_date) == (2, 1, timezone.localdate(now))

    answers = BatchReturn.unscoped.select_related("batch__tenant", "batch__insurer").order_by("batch__period")
    assert [(a.batch.tenant.slug, a.batch.insurer.uzovi_code, a.batch.period) for a in answers] == [
        ("igo-rijnmond", ZK, before_last),
        ("igo-rijnmond", ZK, last_month),
    ]
    older, answer = answers
    assert (older.accepted, older.rejected) == (older.batch.line_count, 0)
    assert (answer.accepted, answer.rejected) == (answer.batch.line_count - 1, 1)
    rejected = ReturnLine.unscoped.select_related("batch_line__claim_line").get(status="rejected")
    assert rejected.reason_code == "0101"
    assert rejected.batch_line.claim_line.status == LineStatus.REJECTED
    item = WorkItem.unscoped.get(resolved_at__isnull=True)
    assert (item.reason, item.episode_id) == ("rejected", rejected.batch_line.claim_line.episode_id)
    # The older batch is paid by the insurer exactly as accepted (no payment difference in the work queue).
    payment = InsurerPayment.unscoped.select_related("tenant").get()
    assert payment.batch_id == older.batch_id
    with tenant_scope(payment.tenant):
        assert payment.amount == ledger.batch_money([older.batch_id])[older.batch_id].accepted > 0

    # Payouts in IGO Rijnmond only (Brabant-Oost's batches are not answered, so nothing is payable yet):
    # the month before last released by a second finance user, last month prepared and waiting.
    runs = list(PayoutRun.unscoped.select_related("tenant", "prepared_by", "released_by").order_by("period"))
    assert [(r.tenant.slug, r.period, r.status) for r in runs] == [
        ("igo-rijnmond", before_last, PayoutStatus.RELEASED),
        ("igo-rijnmond", last_month, PayoutStatus.PREPARED),
    ]
    assert runs[0].prepared_by.email == "finance@rijnmond.demo"
    assert runs[0].released_by.email == "controller@rijnmond.demo"
    rijnmond = runs[0].tenant
    with tenant_scope(rijnmond):
        today = timezone.localdate()
        # Per member: what the released run paid, and what the prepared one will pay once released.
        paid_out: dict[tuple[int, str], object] = {}
        for run in runs:
            payouts = list(Payout.objects.filter(run=run))
            assert payouts and all(p.amount > 0 and p.iban for p in payouts)
            assert sum(p.amount for p in payouts) == run.total
            state = "paid" if run.status == PayoutStatus.RELEASED else "prepared"
            for p in payouts:
                key = (p.organisation_id, state)
                paid_out[key] = paid_out.get(key, ledger.ZERO) + p.amount
        # What the members' statements call paid out, month by month, is what the released run paid them;
        # what they call in a prepared payout run is what the prepared one holds.
        months, period = [], this_month
        for _ in range(6):
            months.append(ledger.month_totals(period=period, today=today))
            period = (period - dt.timedelta(days=1)).replace(day=1)
        for (org_id, state), amount in paid_out.items():
            assert sum((getattr(m.member(org_id), state) for m in months), ledger.ZERO) == amount
        # The rejected line's parts are held back, never paid.
        held = ledger.month_totals(period=last_month, today=today)
        claim_line = rejected.batch_line.claim_line
        assert sum((t.held for t in held.rows.values()), ledger.ZERO) == claim_line.amount
        assert not claim_line.allocations.filter(paid_in__isnull=False).exists()

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
