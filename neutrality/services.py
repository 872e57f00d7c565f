"""Writes of the budget-neutrality monitor: DBC amounts and the catalogue mapping (per IGO), and the
operator's reference tariffs loaded from a CSV file. Each validates everything, then writes in one
transaction with an audit entry."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from igo.models import Tenant, User
from igo.services import audit_record
from neutrality.models import (
    CatalogueMapping,
    DbcAmount,
    ReferenceSource,
    ReferenceTariff,
    TariffDiscipline,
    TariffUnit,
)
from pregnancies.models import EventType


def _overlaps(start: dt.date, end: dt.date | None) -> Q:
    """Versions whose period shares a day with [start, end] (end None: open)."""
    q = Q(valid_to__isnull=True) | Q(valid_to__gte=start)
    if end is not None:
        q &= Q(valid_from__lte=end)
    return q


@transaction.atomic
def dbc_amount_create(
    *,
    tenant: Tenant,
    actor: User,
    code: str,
    description: str,
    valid_from: dt.date,
    valid_to: dt.date | None,
    amount: Decimal,
) -> DbcAmount:
    """A new amount of a DBC care product. Two amounts of one product never share a day: which one applies
    to a care date must be unambiguous."""
    row = DbcAmount(
        tenant=tenant,
        code=code.strip(),
        description=description.strip(),
        valid_from=valid_from,
        valid_to=valid_to,
        amount=amount,
    )
    row.full_clean(exclude=["tenant"], validate_unique=False, validate_constraints=False)
    if valid_to is not None and valid_to < valid_from:
        raise ValidationError({"valid_to": _("The end lies before the start.")})
    # Two finance users entering the same product at once: the second waits, then sees the first's amount.
    Tenant.objects.select_for_update().get(pk=tenant.pk)
    if DbcAmount.objects.filter(_overlaps(valid_from, valid_to), code=row.code).exists():
        raise ValidationError(
            {"valid_from": _("This DBC care product already has an amount for part of this period.")}
        )
    row.save()
    audit_record(actor=actor, action="dbc_amount.create", tenant=tenant, obj=row, code=row.code)
    return row


@transaction.atomic
def catalogue_mapping_set(
    *, tenant: Tenant, actor: User, event_type: EventType, source: str, code: str
) -> CatalogueMapping | None:
    """Say how a catalogue entry would have been billed monodisciplinary; no source removes the mapping
    (its events then count as missing reference data)."""
    if event_type.tenant_id != tenant.pk:
        raise ValidationError({"event_type": _("Unknown care event type.")})
    code = code.strip()
    if not source:
        CatalogueMapping.objects.filter(event_type=event_type).delete()
        audit_record(actor=actor, action="catalogue_mapping.remove", tenant=tenant, obj=event_type)
        return None
    if source not in ReferenceSource.values:
        raise ValidationError({"source": _("Choose how the care would have been billed.")})
    if source == ReferenceSource.INCLUDED:
        code = ""
    elif not code:
        raise ValidationError({"code": _("Give the prestatie or DBC code.")})
    mapping, _created = CatalogueMapping.objects.update_or_create(
        event_type=event_type, defaults={"tenant": tenant, "source": source, "code": code}
    )
    audit_record(
        actor=actor, action="catalogue_mapping.set", tenant=tenant, obj=mapping, source=source, code=code
    )
    return mapping


REFERENCE_COLUMNS = (
    "discipline",
    "code",
    "description",
    "valid_from",
    "valid_to",
    "max_tariff",
    "unit",
    "source",
)


def _row_errors(n: int, row: dict[str, str]) -> tuple[ReferenceTariff | None, list[str]]:
    errors = []
    discipline = (row.get("discipline") or "").strip()
    unit = (row.get("unit") or "").strip()
    if discipline not in TariffDiscipline.values:
        errors.append(_("row %(n)s: unknown discipline %(value)r") % {"n": n, "value": discipline})
    if unit not in TariffUnit.values:
        errors.append(_("row %(n)s: unknown unit %(value)r") % {"n": n, "value": unit})
    try:
        valid_from = dt.date.fromisoformat((row.get("valid_from") or "").strip())
        valid_to_text = (row.get("valid_to") or "").strip()
        valid_to = dt.date.fromisoformat(valid_to_text) if valid_to_text else None
    except ValueError:
        errors.append(_("row %(n)s: dates are written as YYYY-MM-DD") % {"n": n})
        return None, errors
    try:
        amount = Decimal((row.get("max_tariff") or "").strip().replace(",", "."))
    except InvalidOperation:
        errors.append(_("row %(n)s: the maximum tariff is not an amount") % {"n": n})
        return None, errors
    tariff = ReferenceTariff(
        discipline=discipline,
        code=(row.get("code") or "").strip(),
        description=(row.get("description") or "").strip(),
        valid_from=valid_from,
        valid_to=valid_to,
        max_tariff=amount,
        unit=unit,
        source_note=(row.get("source") or "").strip(),
    )
    if valid_to is not None and valid_to < valid_from:
        errors.append(_("row %(n)s: the end lies before the start") % {"n": n})
    if not errors:
        try:
            # A stored version with the same discipline, code and start is replaced, not refused.
            tariff.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            errors += [
                _("row %(n)s: %(field)s: %(errors)s") % {"n": n, "field": field, "errors": " ".join(msgs)}
                for field, msgs in exc.message_dict.items()
            ]
    return tariff, errors


@transaction.atomic
def reference_tariffs_load(*, text: str) -> tuple[int, int]:
    """Load reference tariffs from CSV (comma-separated, with the REFERENCE_COLUMNS header): a row with the
    discipline, code and start of a stored version replaces its amount, unit, period and notes; others are
    added. Nothing is stored when any row is wrong. Returns (added, changed)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = set(REFERENCE_COLUMNS) - set(reader.fieldnames or [])
    if missing:
        raise ValidationError(_("Missing columns: %(columns)s") % {"columns": ", ".join(sorted(missing))})
    tariffs, errors = [], []
    for n, row in enumerate(reader, start=2):
        tariff, row_errors = _row_errors(n, row)
        errors += row_errors
        if tariff is not None:
            tariffs.append(tariff)
    if errors:
        raise ValidationError(errors)
    added = changed = 0
    for t in tariffs:
        _obj, created = ReferenceTariff.objects.update_or_create(
            discipline=t.discipline,
            code=t.code,
            valid_from=t.valid_from,
            defaults={
                "description": t.description,
                "valid_to": t.valid_to,
                "max_tariff": t.max_tariff,
                "unit": t.unit,
                "source_note": t.source_note,
            },
        )
        added, changed = (added + 1, changed) if created else (added, changed + 1)
    audit_record(actor=None, action="reference_tariffs.load", added=added, changed=changed)
    return added, changed
