"""Payouts to the members: a month's payout run, its SEPA credit-transfer file, release by a second person.

A run for month M pays, per member organisation, what the ledger (billing.ledger.payable_entries) says is
payable on the day it is prepared among the entries booked before the end of M (so also earlier months'
entries that became payable since): the sum of the +entries minus the sum of the -entries. A member with a
positive amount and a valid bank account gets a Payout and its entries are marked paid in it
(`Allocation.paid_in`, `reversal_paid_in`); a member without a valid IBAN gets a work item (NO_IBAN) and its
entries stay unpaid, so a file never has a gap; a member whose entries add up to nothing or less is carried
over (its entries stay unpaid for a later run). The file holds exactly the payouts, and its control sum is
the run's total. A former member (membership ended before the month's last day) carried over below nothing
will not net its debt off against later payouts: a work item (FORMER_MEMBER_DEBT) asks finance to settle it
outside the platform; a later run resolves it once the member is no longer below nothing. What it pays back
is booked as a repayment (`billing.services.repayments`): a +entry of the member that the run counts with its
unpaid entries and marks netted off in its payout (`MemberRepayment.netted_in`) like them.

Finance prepares a run, another finance user releases it (four eyes: the preparer cannot, and the database
refuses it too); a prepared run can be discarded, which makes its entries unpaid again. A month has one run
(a unique constraint; the tenant row is locked while it is made, so two requests make one).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Case, Count, QuerySet, Sum, Value, When
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from billing.files.sepa import (
    Debtor,
    SepaFileError,
    Transfer,
    payout_description,
    sepa_totals,
    sepa_transfers,
)
from billing.ledger import payable_entries
from billing.models import (
    Allocation,
    MemberRepayment,
    Payout,
    PayoutFile,
    PayoutFileKind,
    PayoutRun,
    PayoutStatus,
    WorkItem,
    WorkReason,
)
from billing.services.work_items import member_work_item_set
from igo.banking import BankAccount, bank_account_check, iban_normalise, mask_iban
from igo.dates import is_bank_working_day, midnight, month_end, month_start, next_bank_working_day, next_month
from igo.models import Tenant, User
from igo.services import audit_record
from providers.models import MemberOrganisation

ZERO = Decimal("0.00")
PREPARE_STEPS = 4  # reading the ledger, marking the entries, the amounts, the file


def month_label(period: dt.date) -> str:
    return formats.date_format(period, "F Y")


def next_working_day(day: dt.date) -> dt.date:
    """The first bank working day after `day` (the default execution date): no weekend day and no TARGET
    closing day (igo.dates.is_bank_working_day), so a run prepared on 24 December executes on the 28th."""
    return next_bank_working_day(day)


def execution_date_check(*, day: dt.date, today: dt.date) -> dt.date:
    """A requested execution date: not in the past, and a bank working day (a SEPA credit transfer is
    executed on TARGET working days only; a bank would move it, and the members' statements would name a
    day nobody is paid on). Refused with a ValidationError on `execution_date`."""
    if day < today:
        raise ValidationError(
            {"execution_date": ValidationError(_("The execution date lies in the past."), code="past")}
        )
    if not is_bank_working_day(day):
        raise ValidationError(
            {
                "execution_date": ValidationError(
                    _(
                        "%(day)s is not a bank working day (a weekend or a TARGET holiday); "
                        "the next one is %(next)s."
                    )
                    % {
                        "day": formats.date_format(day, "l j F Y"),
                        "next": formats.date_format(next_bank_working_day(day), "l j F Y"),
                    },
                    code="not_working_day",
                )
            }
        )
    return day


def payout_period_check(*, period: dt.date, today: dt.date) -> dt.date:
    """A month that may be paid out (its first day): one that is over, since its entries are not all
    booked before then. Refused with a ValidationError on `period`."""
    period = month_start(period)
    if next_month(period) > today:
        raise ValidationError(
            {
                "period": ValidationError(
                    _("%(month)s is not over yet; a month is paid out after it has ended.")
                    % {"month": month_label(period)},
                    code="not_over",
                )
            }
        )
    return period


def debtor_account(tenant: Tenant) -> BankAccount:
    """The IGO's own account, which the transfers are paid from; refused when it is missing or invalid."""
    if not tenant.iban:
        raise ValidationError(
            _("The IGO has no bank account to pay from. An administrator enters it on the payouts page."),
            code="no_debtor",
        )
    try:
        return bank_account_check(iban=tenant.iban, bic=tenant.bic)
    except ValidationError:
        raise ValidationError(
            _(
                "The IGO's bank account (%(iban)s) is not valid. An administrator corrects it on the payouts page."
            )
            % {"iban": mask_iban(tenant.iban)},
            code="no_debtor",
        ) from None


def _member_account(org: MemberOrganisation) -> BankAccount | None:
    if not org.iban or not org.account_holder.strip():
        return None
    try:
        return bank_account_check(iban=org.iban, bic=org.bic)
    except ValidationError:
        return None


@dataclass
class _Net:
    amount: Decimal = ZERO
    entries: int = 0


def _nets(
    made: QuerySet[Allocation], undone: QuerySet[Allocation], repaid: QuerySet[MemberRepayment]
) -> dict[int, _Net]:
    """Per organisation id: +entries minus -entries plus repayments, and how many entries (repayments
    counted)."""
    nets: dict[int, _Net] = {}
    for qs, sign in ((made, 1), (undone, -1), (repaid, 1)):
        for row in qs.values("organisation_id").annotate(s=Sum("amount"), n=Count("pk")).order_by():
            net = nets.setdefault(row["organisation_id"], _Net())
            # Quantized: SQLite (the demo's database) sums decimals as floats.
            net.amount += sign * Decimal(row["s"] or ZERO).quantize(ZERO)
            net.entries += row["n"]
    return nets


def _no_iban_items(tenant: Tenant, missing: dict[MemberOrganisation, Decimal], period: dt.date) -> None:
    """Open (or bring up to date) a NO_IBAN work item for each member that has money waiting and no valid
    bank account."""
    open_items = {
        w.organisation_id: w
        for w in WorkItem.objects.filter(
            organisation__in=list(missing), reason=WorkReason.NO_IBAN, resolved_at__isnull=True
        )
    }
    for org, amount in missing.items():
        message = _(
            "%(org)s has € %(amount)s waiting to be paid out (run of %(month)s) but no valid bank account. "
            "An administrator enters the IBAN on the member organisation's page."
        ) % {
            "org": org.name,
            "amount": formats.number_format(amount, 2, use_l10n=True),
            "month": month_label(period),
        }
        item = open_items.get(org.pk)
        if item is None:
            WorkItem.objects.create(
                tenant=tenant,
                organisation=org,
                reason=WorkReason.NO_IBAN,
                amount=amount,
                message=message[:300],
            )
        else:
            item.amount, item.message = amount, message[:300]
            item.save(update_fields=["amount", "message"])


def _former_member_debt_items(
    orgs: dict[int, MemberOrganisation], balances: dict[int, Decimal], period: dt.date
) -> list[int]:
    """Open (or bring up to date) a FORMER_MEMBER_DEBT work item for each member whose membership ended
    before the month's last day and that the run carries over below nothing: no later payout will take its
    debt back. Resolve the open ones of members no longer below nothing. Returns the organisations with
    a debt."""
    last_day = month_end(period)
    debtors = {
        pk: org.member_until
        for pk, org in orgs.items()
        if org.member_until is not None and org.member_until < last_day and balances.get(pk, ZERO) < 0
    }
    # A debt finance resolved by hand (repaid or written off outside the platform) stays in the ledger's
    # unpaid entries: it is not opened again unless it grew since.
    settled: dict[int, Decimal] = {}
    for w in (
        WorkItem.objects.filter(
            organisation_id__in=list(debtors), reason=WorkReason.FORMER_MEMBER_DEBT, resolved_at__isnull=False
        )
        .exclude(resolution_note="")
        .order_by("resolved_at")
    ):
        if w.organisation_id is not None:
            settled[w.organisation_id] = w.amount or ZERO
    for pk, until in debtors.items():
        org, debt = orgs[pk], -balances[pk]
        if pk in settled and debt <= settled[pk]:
            continue
        message = _(
            "%(org)s (a member until %(until)s) owes € %(amount)s after the run of %(month)s. No later payout "
            "nets it off: ask for repayment, then resolve this item with a note."
        ) % {
            "org": org.name,
            "until": until.strftime("%d-%m-%Y"),
            "amount": formats.number_format(debt, 2, use_l10n=True),
            "month": month_label(period),
        }
        member_work_item_set(
            organisation=org, reason=WorkReason.FORMER_MEMBER_DEBT, amount=debt, message=message
        )
    WorkItem.objects.filter(reason=WorkReason.FORMER_MEMBER_DEBT, resolved_at__isnull=True).exclude(
        organisation_id__in=list(debtors)
    ).update(resolved_at=timezone.now())
    return list(debtors)


def _entries_unmark(payouts: list[int]) -> None:
    Allocation.objects.filter(paid_in__in=payouts).update(paid_in=None)
    Allocation.objects.filter(reversal_paid_in__in=payouts).update(reversal_paid_in=None)
    MemberRepayment.objects.filter(netted_in__in=payouts).update(netted_in=None)


def _end_to_end_id(run: PayoutRun, org: MemberOrganisation) -> str:
    return f"IGO-{run.pk}-{org.agb_code}-{run.period:%Y%m}"[:35]


def _sepa_file(run: PayoutRun, tenant: Tenant, debtor: BankAccount, payouts: list[Payout]) -> PayoutFile:
    content = sepa_transfers(
        debtor=Debtor(name=tenant.name, iban=debtor.iban, bic=debtor.bic),
        transfers=[
            Transfer(
                name=p.account_holder, iban=p.iban, bic=p.bic, amount=p.amount, end_to_end_id=p.end_to_end_id
            )
            for p in payouts
        ],
        description=payout_description(tenant.name, run.period),
        execution_date=run.execution_date,
        message_id=run.message_id,
    )
    totals = sepa_totals(content)
    # The file must pay exactly the run: a mismatch aborts it all.
    if totals.transactions != len(payouts) or totals.control_sum != run.total:
        raise SepaFileError(
            f"payout run {run.pk}: file {totals.transactions}/{totals.control_sum}, run {len(payouts)}/{run.total}"
        )
    return PayoutFile(
        tenant=tenant,
        run=run,
        kind=PayoutFileKind.SEPA,
        content=content,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
    )


def payout_run_prepare(
    *,
    tenant: Tenant,
    period: dt.date,
    actor: User,
    today: dt.date | None = None,
    execution_date: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PayoutRun:
    """Prepare the payout of month `period` to the members, with its SEPA file. Refused (ValidationError) for
    a month not over yet, a month that has a run, while an earlier month's run waits for release, without a
    valid IGO account, or when no member has anything to be paid. Call inside tenant_scope."""
    today = today or timezone.localdate()
    period = payout_period_check(period=period, today=today)
    execution_date = execution_date_check(day=execution_date or next_working_day(today), today=today)
    until = midnight(next_month(period))

    def step(done: int) -> None:
        if progress is not None:
            progress(done, PREPARE_STEPS)

    step(0)
    with transaction.atomic():
        # One run per month, made by one caller at a time: a second caller waits here, then finds it.
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        existing = PayoutRun.objects.filter(period=period).first()
        if existing is not None:
            raise ValidationError(
                _(
                    "The payout of %(month)s has already been prepared (%(status)s). Discard it first to prepare it again."
                )
                % {"month": month_label(period), "status": existing.get_status_display()},
                code="exists",
            )
        if PayoutRun.objects.filter(period__gt=period).exists():
            raise ValidationError(
                _(
                    "A later month has already been paid out; what is payable now goes in the next month's run."
                ),
                code="later_exists",
            )
        waiting = PayoutRun.objects.filter(status=PayoutStatus.PREPARED, period__lt=period).first()
        if waiting is not None:
            raise ValidationError(
                _("The payout of %(month)s waits for release; release or discard it first.")
                % {"month": month_label(waiting.period)},
                code="earlier_waiting",
            )
        debtor = debtor_account(locked)

        # Every member with a valid account gets a provisional payout, and its payable entries are marked
        # paid in it set-based (no row-by-row saves); the amounts are then read from what was marked, so
        # payout, entries and file agree whatever the ledger did meanwhile (a return recorded). The ledger's
        # payable set is read once, by the marking itself.
        orgs = {o.pk: o for o in MemberOrganisation.objects.order_by("name", "pk")}
        accounts = {pk: _member_account(org) for pk, org in orgs.items()}
        with_account = [pk for pk, account in accounts.items() if account is not None]
        without_account = [pk for pk, account in accounts.items() if account is None]
        made, undone = payable_entries(until=until, today=today)
        # A former member's repayment counts with its entries: a late claim is paid net of what it still
        # owed, not of what it already paid back.
        repaid = MemberRepayment.objects.filter(recorded_at__lt=until, netted_in__isnull=True)
        step(1)
        run = PayoutRun.objects.create(
            tenant=locked,
            period=period,
            payable_on=today,
            execution_date=execution_date,
            message_id="",
            prepared_by=actor,
        )
        run.message_id = f"IGO{locked.agb_code}-{period:%Y%m}-{run.pk}"[:35]
        run.save(update_fields=["message_id"])
        payouts = Payout.objects.bulk_create(
            Payout(
                tenant=locked,
                run=run,
                organisation=orgs[pk],
                amount=ZERO,
                iban=account.iban,
                bic=account.bic,
                account_holder=orgs[pk].account_holder.strip(),
                end_to_end_id=_end_to_end_id(run, orgs[pk]),
            )
            for pk in with_account
            if (account := accounts[pk]) is not None
        )
        if payouts:
            payout_of = Case(
                *(When(organisation_id=p.organisation_id, then=Value(p.pk)) for p in payouts),
                output_field=models.BigIntegerField(),
            )
            made.filter(organisation_id__in=with_account).update(paid_in=payout_of)
            undone.filter(organisation_id__in=with_account).update(reversal_paid_in=payout_of)
            repaid.filter(organisation_id__in=with_account).update(netted_in=payout_of)
        step(2)
        marked = _nets(
            Allocation.objects.filter(paid_in__run=run),
            Allocation.objects.filter(reversal_paid_in__run=run),
            MemberRepayment.objects.filter(netted_in__run=run),
        )
        # A member whose entries add up to nothing or less is carried over: its entries stay unpaid.
        carried = [p for p in payouts if marked.get(p.organisation_id, _Net()).amount <= 0]
        if carried:
            _entries_unmark([p.pk for p in carried if p.organisation_id in marked])
            Payout.objects.filter(pk__in=[p.pk for p in carried]).delete()
        payouts = [p for p in payouts if p not in carried]
        for p in payouts:
            p.amount = marked[p.organisation_id].amount
            p.entries = marked[p.organisation_id].entries
        Payout.objects.bulk_update(payouts, ["amount", "entries"])
        # Members without a valid account: what waits for them is a work item; their entries stay unpaid.
        missing: dict[MemberOrganisation, Decimal] = {}
        nets: dict[int, _Net] = {}
        if without_account:
            nets = _nets(
                made.filter(organisation_id__in=without_account),
                undone.filter(organisation_id__in=without_account),
                repaid.filter(organisation_id__in=without_account),
            )
            missing = {orgs[pk]: net.amount for pk, net in nets.items() if net.amount > 0}
        _no_iban_items(locked, missing, period)
        # What each member is left with after the run: below nothing is carried over.
        balances = {pk: net.amount for pk, net in (marked | nets).items()}
        former_debtors = _former_member_debt_items(orgs, balances, period)
        # Members that can be paid now (paid, or carried over): their earlier no-bank-account item is done.
        WorkItem.objects.filter(
            organisation_id__in=list(marked), reason=WorkReason.NO_IBAN, resolved_at__isnull=True
        ).update(resolved_at=timezone.now())
        step(3)
        if payouts:
            run.total = sum((p.amount for p in payouts), ZERO)
            run.save(update_fields=["total"])
            try:
                _sepa_file(run, locked, debtor, payouts).save()
            except SepaFileError as exc:
                raise ValidationError(
                    _("The SEPA file could not be made: %(error)s") % {"error": exc}, code="sepa"
                ) from exc
            audit_record(
                actor=actor,
                action="payout_run.prepare",
                tenant=locked,
                obj=run,
                period=period.isoformat(),
                payable_on=today.isoformat(),
                execution_date=execution_date.isoformat(),
                total=str(run.total),
                payouts=len(payouts),
                carried_over=sorted(p.organisation_id for p in carried if p.organisation_id in marked),
                no_iban=sorted(o.pk for o in missing),
                former_member_debt=sorted(former_debtors),
            )
        else:
            run.delete()  # nothing to pay: no run (the work items above stay)
        step(PREPARE_STEPS)
    if not payouts:
        raise ValidationError(
            _("There is nothing to pay out for %(month)s: no member has a positive payable amount%(extra)s.")
            % {
                "month": month_label(period),
                "extra": (
                    _(" with a valid bank account (%(n)s without one: see the work queue)")
                    % {"n": len(missing)}
                    if missing
                    else ""
                ),
            },
            code="nothing",
        )
    return run


def _run_locked(run: PayoutRun) -> PayoutRun:
    return PayoutRun.objects.select_for_update().get(pk=run.pk)


def payout_accounts_changed(run: PayoutRun) -> list[str]:
    """Names of the members whose bank account changed since the run was prepared (the file pays the old one)."""
    changed = []
    for p in Payout.objects.filter(run=run).select_related("organisation"):
        org = p.organisation
        if (iban_normalise(org.iban), org.account_holder.strip()) != (p.iban, p.account_holder):
            changed.append(org.name)
    return changed


def payout_run_release(*, run: PayoutRun, actor: User) -> PayoutRun:
    """A second finance user releases a prepared run: its SEPA file may go to the bank. Whoever prepared the
    run cannot release it (four eyes; a database constraint refuses it as well). Call inside tenant_scope."""
    with transaction.atomic():
        locked = _run_locked(run)
        if locked.status != PayoutStatus.PREPARED:
            raise ValidationError(_("This payout run has already been released."), code="released")
        if locked.prepared_by_id == actor.pk:
            raise ValidationError(
                _(
                    "You prepared this payout run, so you cannot release it: a second finance user must "
                    "check and release it (four eyes)."
                ),
                code="four_eyes",
            )
        changed = payout_accounts_changed(locked)
        if changed:
            raise ValidationError(
                _(
                    "The bank account of %(names)s changed after this run was prepared; its file would pay "
                    "the old account. Discard the run and prepare it again."
                )
                % {"names": ", ".join(changed)},
                code="account_changed",
            )
        locked.status = PayoutStatus.RELEASED
        locked.released_at = timezone.now()
        locked.released_by = actor
        locked.save(update_fields=["status", "released_at", "released_by"])
        audit_record(
            actor=actor,
            action="payout_run.release",
            tenant=locked.tenant,
            obj=locked,
            period=locked.period.isoformat(),
            total=str(locked.total),
            prepared_by=locked.prepared_by_id,
        )
    return locked


def payout_run_discard(*, run: PayoutRun, actor: User) -> None:
    """Throw away a prepared run: its entries are unpaid again, its payouts and file are deleted, and the month
    can be prepared anew. A released run cannot be. Call inside tenant_scope."""
    with transaction.atomic():
        locked = _run_locked(run)
        if locked.status != PayoutStatus.PREPARED:
            raise ValidationError(_("A released payout run cannot be discarded."), code="released")
        audit_record(
            actor=actor,
            action="payout_run.discard",
            tenant=locked.tenant,
            obj=locked,
            period=locked.period.isoformat(),
            total=str(locked.total),
            payouts=Payout.objects.filter(run=locked).count(),
        )
        _entries_unmark(list(Payout.objects.filter(run=locked).values_list("pk", flat=True)))
        PayoutFile.objects.filter(run=locked).delete()
        Payout.objects.filter(run=locked).delete()
        locked.delete()
