"""The demo's contracts, split rules, claims and claim batches (the billing app)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from billing import ledger
from billing import services as billing_services
from billing.models import (
    Allocation,
    BatchLine,
    BatchReturn,
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    Contract,
    InsurerPayment,
    PayoutRun,
    PayoutStatus,
    ReturnSource,
    ReturnStatus,
)
from billing.services import batches, insurer_payments, payouts, returns
from demo.people import CZ, MENZIS, VGZ, ZK
from igo import services as igo_services
from igo.models import Insurer, Tenant, User
from igo.tenancy import tenant_scope
from pregnancies.models import EventType
from providers import services as provider_services
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
                    "prenatal": ("DEMPRE", pre),
                    "natal": ("DEMNAT", nat),
                    "postnatal": ("DEMPOS", post),
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


BANK_ACCOUNTS = {  # demo accounts (valid check digits, not real accounts): the IGO's own, then per AGB code
    "igo-rijnmond": "NL14RABO0330000011",
    "igo-brabant-oost": "NL09INGB0006500022",
    "02000101": "NL57RABO0123400101",
    "06000102": "NL83INGB0004500102",
    "01000103": "NL20ABNA0417100103",
    "02000201": "NL73RABO0123400201",
    "06000202": "NL02INGB0004500202",
    "01000203": "NL36ABNA0417100203",
}


def seed_bank_accounts(tenant: Tenant, admin: User) -> None:
    """The IGO's account (which payouts are paid from) and each member's, entered by the administrator
    through the services (checked and audited as in the app); an account already entered is left alone."""
    with tenant_scope(tenant):
        if not tenant.iban:
            igo_services.tenant_bank_account_set(tenant=tenant, actor=admin, iban=BANK_ACCOUNTS[tenant.slug])
            tenant.refresh_from_db()
        for org in MemberOrganisation.objects.filter(iban="").order_by("pk"):
            if org.agb_code not in BANK_ACCOUNTS:
                continue
            provider_services.organisation_update(
                organisation=org,
                actor=admin,
                name=org.name,
                kind=org.kind,
                agb_code=org.agb_code,
                member_from=org.member_from,
                member_until=org.member_until,
                iban=BANK_ACCOUNTS[org.agb_code],
                account_holder=org.name,
            )


def _date_history_lines(tenant: Tenant, this_month: date) -> None:
    """The billing run of this demo makes every claim line today. In a real IGO the run every 15 minutes
    made each line soon after its phase ended, so the lines of care that ended before this month belong to
    an earlier month's batch. Date those lines (not yet in a batch) to the day after their phase ended, as
    the run would have, and their allocations with them, so that the ledger books each line's money in the
    month the line was made (statements, revenue and payouts of past months have figures). An unscoped
    update, as it touches only the demo tenant's own rows."""
    first = timezone.make_aware(datetime.combine(this_month, time.min))
    lines = ClaimLine.unscoped.filter(
        tenant=tenant, batch_line__isnull=True, created_at__gte=first, service_end__lt=this_month
    )
    for line in lines:
        made = min(
            timezone.make_aware(datetime.combine(line.service_end + timedelta(days=1), time(9))),
            first - timedelta(hours=1),
        )
        ClaimLine.unscoped.filter(pk=line.pk).update(created_at=made)
        allocations = Allocation.unscoped.filter(claim_line_id=line.pk)
        allocations.filter(created_at__gte=first).update(created_at=made)
        allocations.filter(superseded_at__gte=first).update(superseded_at=made)


def _month_before(month: date) -> date:
    return (month - timedelta(days=1)).replace(day=1)


def _answer(batch: ClaimBatch | None, user: User, *, reject_last: bool) -> None:
    """The insurer's answer to a released batch (once): every line accepted, or all but the last, which is
    rejected with code 0101 and puts a rejection in the IGO's work queue."""
    if batch is None or BatchReturn.objects.filter(batch=batch).exists():
        return
    rows = list(BatchLine.objects.filter(batch=batch).order_by("line_no"))
    if len(rows) < 2:
        return
    entries = [returns.ReturnEntry(r.number, ReturnStatus.ACCEPTED) for r in rows]
    if reject_last:
        entries[-1] = returns.ReturnEntry(
            rows[-1].number,
            ReturnStatus.REJECTED,
            "0101",
            "BSN niet gevonden in de verzekerdenadministratie.",
        )
    returns.batch_return_record(batch=batch, entries=entries, user=user, source=ReturnSource.PORTAL)


def seed_batches(
    tenant: Tenant,
    finance: User,
    controller: User,
    *,
    answer_as: User | None,
    insurer: Insurer,
    now: datetime,
) -> list[str]:
    """The batches of the month before last and of last month (released) and this month's (drafts, for
    review), made by finance and released by the controller (four eyes, the IGO's setting). When `answer_as` is given, that insurer user answers `insurer`'s released batches: the older
    one accepted in full and paid (the payment recorded by finance), last month's accepted but one line,
    rejected with code 0101 (held back from the members, and in the IGO's work queue). Safe to repeat:
    batch_create returns the existing batch of a month, a released batch is not released again, a batch is
    answered and paid once."""
    today = timezone.localdate(now)
    this_month = today.replace(day=1)
    previous = _month_before(this_month)
    before_previous = _month_before(previous)
    with tenant_scope(tenant):
        billing_services.billing_run(tenant=tenant, today=today)  # bills history added after an earlier seed
        _date_history_lines(tenant, this_month)
        for period in (before_previous, previous, this_month):
            batches.batches_create_month(tenant=tenant, period=period, actor=finance, today=today)
        for draft in ClaimBatch.objects.filter(period__lt=this_month, status=BatchStatus.DRAFT).order_by(
            "period", "number"
        ):
            batches.batch_release(batch=draft, actor=controller)
        if answer_as is not None:
            released = ClaimBatch.objects.filter(insurer=insurer, status=BatchStatus.RELEASED)
            older = released.filter(period=before_previous).first()
            _answer(older, answer_as, reject_last=False)
            _answer(released.filter(period=previous).first(), answer_as, reject_last=True)
            if older is not None and not InsurerPayment.objects.filter(batch=older).exists():
                money = ledger.batch_money([older.pk])[older.pk]
                if money.accepted > 0:
                    insurer_payments.insurer_payment_record(
                        batch=older,
                        amount=money.accepted,
                        received_on=today,
                        reference=f"{insurer.name} betaling declaratie {older.number}",
                        actor=finance,
                        today=today,
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


def seed_payouts(tenant: Tenant, finance: User, controller: User, *, now: datetime) -> list[str]:
    """The payouts to the members: the month before last prepared by finance and released by the controller
    (four eyes), last month prepared and waiting for the controller. Each month is prepared once; a month
    with nothing payable yet (no insurer has answered) gets no run."""
    today = timezone.localdate(now)
    previous = _month_before(today.replace(day=1))
    summary = []
    with tenant_scope(tenant):
        for period, release in ((_month_before(previous), True), (previous, False)):
            run = PayoutRun.objects.filter(period=period).first()
            if run is None:
                try:
                    run = payouts.payout_run_prepare(tenant=tenant, period=period, actor=finance, today=today)
                except ValidationError:
                    continue  # nothing payable in this month (or an earlier run waits): no run
            if release and run.status == PayoutStatus.PREPARED:
                run = payouts.payout_run_release(run=run, actor=controller)
            summary.append(
                f"{tenant.name}: payout {period:%m-%Y}, € {run.total} to {run.payouts.count()} members, "
                f"{run.get_status_display()}"
            )
    return summary
