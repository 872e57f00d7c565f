"""A former member's debt repaid outside the platform.

A member whose membership has ended and whose ledger balance is below nothing owes the IGO money that no later
payout will take back (`payouts._former_member_debt_items` opens a FORMER_MEMBER_DEBT work item). When it pays
the money back by bank transfer, finance records the repayment here: a `MemberRepayment`, a +entry of that
member in the ledger booked at the moment it is recorded (so a closed month's statement does not change), never
an edit of anything sent or paid. The member's balance (`ledger.member_balance`: its payable unpaid entries
plus its repayments not netted off yet) rises by it; the next payout run counts it with those entries and
marks it netted off in its payout (`netted_in`), as it marks the entries paid.

A repayment is at most the debt when it is recorded (a field error otherwise, and a database constraint);
a part leaves the rest owed and the work item open with the rest as its amount; the whole resolves it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import ledger
from billing.models import MemberRepayment, WorkItem, WorkReason
from igo.dates import midnight
from igo.models import User
from igo.money import euro_text
from igo.services import audit_record
from providers.models import MemberOrganisation

ZERO = Decimal("0.00")
REFERENCE_LENGTH = 140


def member_debt(*, organisation: MemberOrganisation, today: dt.date) -> Decimal:
    """What the member owes the IGO on `today` (nothing when its balance is not below nothing): minus its
    balance over everything booked so far, read as a payout run would. Call inside tenant_scope."""
    balance = ledger.member_balance(
        organisation_id=organisation.pk, until=midnight(today + dt.timedelta(days=1)), today=today
    )
    return -balance if balance < 0 else ZERO


def is_former_member(organisation: MemberOrganisation, today: dt.date) -> bool:
    return organisation.member_until is not None and organisation.member_until < today


def member_repayment_record(
    *,
    organisation: MemberOrganisation,
    actor: User,
    amount: Decimal,
    received_on: dt.date,
    reference: str,
    today: dt.date | None = None,
) -> MemberRepayment:
    """Book that the former member `organisation` paid `amount` back on `received_on` (bank reference or note
    in `reference`). Refused with field errors and nothing stored: an amount of nothing or less, or more than
    the debt; a day in the future; no reference; a member whose membership has not ended (its next payouts
    net its debt off). Brings its FORMER_MEMBER_DEBT work item to the rest, or resolves it when nothing is
    left; audited as `member.repayment`. Call inside tenant_scope."""
    today = today or timezone.localdate()
    reference = (reference or "").strip()
    errors: dict[str, list[str]] = {}
    if amount is None or amount <= 0:
        errors.setdefault("amount", []).append(_("A repayment is an amount above nothing."))
    elif amount != amount.quantize(ZERO):
        errors.setdefault("amount", []).append(_("An amount has at most two decimal places."))
    if received_on > today:
        errors.setdefault("received_on", []).append(_("The day it was received lies in the future."))
    if not reference:
        errors.setdefault("reference", []).append(_("Give the bank reference or a note."))
    elif len(reference) > REFERENCE_LENGTH:
        errors.setdefault("reference", []).append(
            _("At most %(max)s characters (this one has %(n)s).")
            % {"max": REFERENCE_LENGTH, "n": len(reference)}
        )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # One repayment of a member at a time: the second waits here and reads the debt the first left.
        org = MemberOrganisation.objects.select_for_update().get(pk=organisation.pk)
        if not is_former_member(org, today):
            raise ValidationError(
                {
                    "amount": _(
                        "%(org)s is still a member: its next payouts take its debt back. A repayment is "
                        "recorded for a former member."
                    )
                    % {"org": org.name}
                },
                code="member",
            )
        debt = member_debt(organisation=org, today=today)
        if debt == 0:
            raise ValidationError({"amount": _("%(org)s owes nothing.") % {"org": org.name}}, code="no_debt")
        if amount > debt:
            raise ValidationError(
                {
                    "amount": _(
                        "More than the debt: %(org)s owes %(debt)s. Record at most that; what it paid "
                        "too much is paid back to it outside the platform."
                    )
                    % {"org": org.name, "debt": euro_text(debt)}
                },
                code="over",
            )
        repayment = MemberRepayment.objects.create(
            tenant_id=org.tenant_id,
            organisation=org,
            amount=amount,
            debt_before=debt,
            received_on=received_on,
            reference=reference,
            recorded_by=actor,
        )
        rest = debt - amount
        item = (
            WorkItem.objects.select_for_update()
            .filter(organisation=org, reason=WorkReason.FORMER_MEMBER_DEBT, resolved_at__isnull=True)
            .first()
        )
        if item is not None:
            if rest == 0:
                # Resolved at nothing: a later run opens a new item for any debt that arises after this.
                item.resolved_at = timezone.now()
                item.resolution_note = (
                    _("Repaid in full: %(amount)s received on %(day)s (%(ref)s).")
                    % {"amount": euro_text(amount), "day": received_on.strftime("%d-%m-%Y"), "ref": reference}
                )[:500]
                item.amount = ZERO
                item.save(update_fields=["resolved_at", "resolution_note", "amount"])
            else:
                item.amount = rest
                item.message = (
                    _(
                        "%(org)s (a member until %(until)s) paid back %(paid)s on %(day)s and still owes "
                        "%(rest)s. Ask for the rest and record it when it arrives."
                    )
                    % {
                        "org": org.name,
                        "until": org.member_until.strftime("%d-%m-%Y") if org.member_until else "",
                        "paid": euro_text(amount),
                        "day": received_on.strftime("%d-%m-%Y"),
                        "rest": euro_text(rest),
                    }
                )[:300]
                item.save(update_fields=["amount", "message"])
        audit_record(
            actor=actor,
            action="member.repayment",
            tenant=org.tenant,
            obj=repayment,
            organisation=org.pk,
            amount=str(amount),
            received_on=received_on.isoformat(),
            reference=reference,
            debt_before=str(debt),
            debt_after=str(rest),
            work_item=item.pk if item is not None else None,
            resolved=item is not None and rest == 0,
        )
    return repayment


def former_member_debts(*, today: dt.date) -> list[tuple[MemberOrganisation, Decimal, Decimal]]:
    """The former members with a debt or a repayment: (organisation, what it owes now, what it paid back in
    all), by name. Read by the payouts page and the finance home: a few queries per former member (there are
    few), none per entry. Call inside tenant_scope."""
    formers = list(MemberOrganisation.objects.filter(member_until__lt=today).order_by("name", "pk"))
    if not formers:
        return []
    repaid: dict[int, Decimal] = {}
    for org_id, amount in MemberRepayment.objects.filter(organisation__in=formers).values_list(
        "organisation_id", "amount"
    ):
        repaid[org_id] = repaid.get(org_id, ZERO) + amount
    rows = []
    for org in formers:
        owes = member_debt(organisation=org, today=today)
        if owes or org.pk in repaid:
            rows.append((org, owes, repaid.get(org.pk, ZERO)))
    return rows
