"""Payments received from an insurer for a batch (bank statement lines), matched against what the insurer
accepted of it.

The accepted total of a batch is the sum of the amounts of its lines the insurer accepted (a credit counts
negative; `billing.ledger.batch_money`). Once a batch has a payment, the payments' sum is held against that
total: a difference opens a work item (`WorkReason.PAYMENT_DIFFERENCE`, on the batch, with the amount still
to receive: accepted - received, negative when the insurer paid too much), equality resolves it. A batch
without any payment is waiting for one, not a difference. The match runs again whenever a payment or the
insurer's answer for the batch (`billing.services.returns`) is recorded.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from billing import ledger
from billing.models import BatchStatus, ClaimBatch, InsurerPayment, WorkItem, WorkReason
from igo.models import User
from igo.services import audit_record

MAX_AMOUNT = Decimal("1e12")  # InsurerPayment.amount: 14 digits, 2 after the point
REFERENCE_LENGTH = 140  # InsurerPayment.reference


def _amount(value: Any, errors: dict[str, str]) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        errors["amount"] = _("Enter the amount received.")
        return None
    if isinstance(value, float):  # money is never a float: its cents are not exact
        errors["amount"] = _("Enter the amount as a decimal number, e.g. 1234.56.")
        return None
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        errors["amount"] = _("Enter the amount as a decimal number, e.g. 1234.56.")
        return None
    if not amount.is_finite():
        errors["amount"] = _("Enter the amount as a decimal number, e.g. 1234.56.")
    elif abs(amount) >= MAX_AMOUNT:
        errors["amount"] = _("This amount is too large.")
    elif amount != amount.quantize(Decimal("0.01")):
        errors["amount"] = _("An amount has at most two decimals (whole cents).")
    elif amount == 0:
        errors["amount"] = _("A payment of nothing is not a payment; enter the amount received.")
    else:
        return amount.quantize(Decimal("0.01"))
    return None


def insurer_payment_record(
    *,
    batch: ClaimBatch,
    amount: Any,
    received_on: date | None,
    reference: str,
    actor: User,
    today: date | None = None,
) -> InsurerPayment:
    """Record money received from the batch's insurer for a released batch and match the batch again.
    `amount` is a Decimal (or its text) with at most two decimals, negative for money paid back; it is
    refused as a float. Field errors (`amount`, `received_on`, `reference`, `batch`) store nothing."""
    today = today or timezone.localdate()
    errors: dict[str, str] = {}
    value = _amount(amount, errors)
    if received_on is None:
        errors["received_on"] = _("Enter the date the payment was received.")
    elif received_on > today:
        errors["received_on"] = _("A payment cannot have been received after today.")
    reference = (reference or "").strip()
    if not reference:
        errors["reference"] = _("Enter the payment reference from the bank statement.")
    elif len(reference) > REFERENCE_LENGTH:
        errors["reference"] = _("The payment reference is longer than 140 characters.")
    with transaction.atomic():
        locked = ClaimBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status != BatchStatus.RELEASED:
            errors["batch"] = _("Payments can be recorded only for a released batch.")
        if errors:
            raise ValidationError(errors)
        assert value is not None and received_on is not None
        payment = InsurerPayment.objects.create(
            tenant_id=locked.tenant_id,
            batch=locked,
            amount=value,
            received_on=received_on,
            reference=reference,
            recorded_by=actor,
        )
        item = insurer_payment_match(batch=locked)
        audit_record(
            actor=actor,
            action="insurer_payment.record",
            tenant=locked.tenant,
            obj=payment,
            batch=locked.number,
            amount=str(value),
            received_on=received_on.isoformat(),
            reference=reference,
            difference=str(item.amount) if item is not None else "0.00",
        )
    return payment


def _money(amount: Decimal) -> str:
    return "€ " + formats.number_format(amount, 2, use_l10n=True, force_grouping=True)


def insurer_payment_match(*, batch: ClaimBatch) -> WorkItem | None:
    """Hold the batch's payments against its accepted lines: open (or update) the batch's payment
    difference work item when they differ, resolve it when they agree or there is no payment. Returns the
    open item, if any. Call inside a transaction, inside tenant_scope."""
    money = ledger.batch_money([batch.pk])[batch.pk]
    item = (
        WorkItem.objects.select_for_update()
        .filter(batch_id=batch.pk, reason=WorkReason.PAYMENT_DIFFERENCE, resolved_at__isnull=True)
        .first()
    )
    if money.payments == 0 or money.difference == 0:
        if item is not None:
            item.resolved_at = timezone.now()
            item.save(update_fields=["resolved_at"])
        return None
    with translation.override(settings.LANGUAGE_CODE):  # read in the IGO's work queue
        figures = {
            "n": batch.number,
            "accepted": _money(money.accepted),
            "received": _money(money.received),
            "difference": _money(abs(money.difference)),
        }
        if money.difference > 0:
            text = _(
                "Batch %(n)s: the insurer accepted %(accepted)s and paid %(received)s; %(difference)s still to receive."
            )
        else:
            text = _(
                "Batch %(n)s: the insurer accepted %(accepted)s and paid %(received)s; %(difference)s paid too much."
            )
        message = text % figures
    if item is None:
        return WorkItem.objects.create(
            tenant_id=batch.tenant_id,
            batch_id=batch.pk,
            reason=WorkReason.PAYMENT_DIFFERENCE,
            message=message[:300],
            amount=money.difference,
        )
    if item.amount != money.difference or item.message != message[:300]:
        item.amount, item.message = money.difference, message[:300]
        item.save(update_fields=["amount", "message"])
    return item
