"""The demo's contracts, split rules, claims and claim batches (the billing app)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from billing import services as billing_services
from billing.models import (
    BatchLine,
    BatchReturn,
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    Contract,
    ReturnSource,
    ReturnStatus,
)
from billing.services import batches, returns
from demo.people import CZ, MENZIS, VGZ, ZK
from igo.models import Insurer, Tenant, User
from igo.tenancy import tenant_scope
from pregnancies.models import EventType
from providers.models import MemberOrganisation, OrganisationKind

DEMO_TARIFFS = {  # per insurer: (prenatal, natal, postnatal) in euros; demo figures around the NZa average
    ZK: ("1210.00", "905.00", "1480.00"),
    VGZ: ("1195.00", "920.00", "1465.00"),
    MENZIS: ("1230.00", "890.00", "1500.00"),
    CZ: ("1205.00", "910.00", "1490.00"),
}


def seed_billing(tenant: Tenant, admin: User, insurers: dict[str, Insurer], *, now: datetime) -> None:
    """Contracts with every insurer and this year's split rule, then a billing run (once per tenant)."""
    today = timezone.localdate(now)
    with tenant_scope(tenant):
        if Contract.objects.exists():
            return
        year = today.year
        for code, insurer in insurers.items():
            pre, nat, post = (Decimal(x) for x in DEMO_TARIFFS[code])
            billing_services.contract_create(
                tenant=tenant,
                actor=admin,
                insurer=insurer,
                name=f"{insurer.name} {year - 1}–{year}",
                valid_from=date(year - 1, 1, 1),
                tariffs={
                    "prenatal": ("DEMO-PRE", pre),
                    "natal": ("DEMO-NAT", nat),
                    "postnatal": ("DEMO-POST", post),
                },
                # Prenatal care interrupted by a miscarriage before 16 weeks: half; by a transfer out of the
                # region: in full. Any other interrupted phase waits for finance's decision.
                partial_rules=[
                    {"end_reason": "miscarriage", "phase": "prenatal", "until_week": 16, "percentage": 50},
                    {"end_reason": "transferred_out", "phase": "prenatal", "percentage": 100},
                ],
            )
        orgs = {o.kind: o for o in MemberOrganisation.objects.all()}
        types = {t.code: t.pk for t in EventType.objects.all()}
        practice, hospital, kraam = (
            orgs[OrganisationKind.MIDWIFERY_PRACTICE],
            orgs[OrganisationKind.HOSPITAL],
            orgs[OrganisationKind.KRAAMZORG],
        )
        for rule_year in (year - 1, year):
            billing_services.split_rule_create(
                tenant=tenant,
                actor=admin,
                year=rule_year,
                note="Demo verdeelmodel",
                overhead_pct=Decimal("4.50"),
                reserve_pct=Decimal("1.50"),
                phases={
                    "prenatal": {"method": "care", "minimums": {kraam.pk: 5}},
                    "natal": {"method": "fixed", "shares": {practice.pk: 55, hospital.pk: 35, kraam.pk: 10}},
                    "postnatal": {"method": "care", "minimums": {practice.pk: 15}},
                },
                rates={
                    types[c]: Decimal(r)
                    for c, r in [
                        ("INTAKE", "80"),
                        ("PRE_CHECK", "45"),
                        ("ECHO_TERM", "90"),
                        ("ECHO_NT", "90"),
                        ("ECHO_SEO", "130"),
                        ("ECHO_GROWTH", "90"),
                        ("REFERRAL", "150"),
                        ("KZ_INTAKE", "60"),
                        ("POST_VISIT", "55"),
                        ("CHECK_6W", "60"),
                        ("KZ_HOURS", "38"),
                        ("HOSP_DAY", "400"),
                    ]
                },
            )
        billing_services.billing_run(tenant=tenant, today=today)


def _date_history_lines(tenant: Tenant, this_month: date) -> None:
    """The billing run of this demo makes every claim line today. In a real IGO the run every 15 minutes
    made each line soon after its phase ended, so the lines of care that ended before this month belong to
    last month's batch. Date those lines (not yet in a batch) to the day after their phase ended, as the
    run would have; an unscoped update, as it touches only the demo tenant's own rows."""
    first = timezone.make_aware(datetime.combine(this_month, time.min))
    lines = ClaimLine.unscoped.filter(
        tenant=tenant, batch_line__isnull=True, created_at__gte=first, service_end__lt=this_month
    )
    for line in lines:
        made = timezone.make_aware(datetime.combine(line.service_end + timedelta(days=1), time(9)))
        ClaimLine.unscoped.filter(pk=line.pk).update(created_at=min(made, first - timedelta(hours=1)))


def seed_batches(
    tenant: Tenant, finance: User, *, answer_as: User | None, insurer: Insurer, now: datetime
) -> list[str]:
    """Last month's batches (released) and this month's (drafts, for review); when `answer_as` is given,
    that insurer user answers last month's batch of `insurer`: every line accepted but one, rejected with
    code 0101, which puts a rejection in the IGO's work queue. Safe to repeat: batch_create returns the
    existing batch of a month, a released batch is not released again, a batch is answered once."""
    today = timezone.localdate(now)
    this_month = today.replace(day=1)
    previous = (this_month - timedelta(days=1)).replace(day=1)
    with tenant_scope(tenant):
        billing_services.billing_run(tenant=tenant, today=today)  # bills history added after an earlier seed
        _date_history_lines(tenant, this_month)
        batches.batches_create_month(tenant=tenant, period=previous, actor=finance, today=today)
        batches.batches_create_month(tenant=tenant, period=this_month, actor=finance, today=today)
        for draft in ClaimBatch.objects.filter(period__lt=this_month, status=BatchStatus.DRAFT):
            batches.batch_release(batch=draft, actor=finance)
        answered = ClaimBatch.objects.filter(
            insurer=insurer, period=previous, status=BatchStatus.RELEASED
        ).first()
        if (
            answer_as is not None
            and answered is not None
            and not BatchReturn.objects.filter(batch=answered).exists()
        ):
            rows = list(BatchLine.objects.filter(batch=answered).order_by("line_no"))
            if len(rows) >= 2:
                entries = [returns.ReturnEntry(r.number, ReturnStatus.ACCEPTED) for r in rows[:-1]]
                entries.append(
                    returns.ReturnEntry(
                        rows[-1].number,
                        ReturnStatus.REJECTED,
                        "0101",
                        "BSN niet gevonden in de verzekerdenadministratie.",
                    )
                )
                returns.batch_return_record(
                    batch=answered, entries=entries, user=answer_as, source=ReturnSource.PORTAL
                )
        summary = []
        for batch in ClaimBatch.objects.select_related("insurer").order_by("period", "number"):
            answers = BatchReturn.objects.filter(batch=batch)
            answered_text = "".join(
                f", answered: {a.accepted} accepted, {a.rejected} rejected" for a in answers
            )
            summary.append(
                f"{tenant.name}: batch {batch.number}, {batch.insurer.name}, {batch.period:%m-%Y}, "
                f"{batch.line_count} lines, {batch.get_status_display()}{answered_text}"
            )
        return summary
