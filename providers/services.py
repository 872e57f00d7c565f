"""Writes for member organisations and professionals. Validate fully, then store, then audit."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from igo.models import Membership, Tenant, User
from igo.services import audit_record
from providers.models import BIG_DISCIPLINES, MemberOrganisation, Professional


def _check_organisation(org: MemberOrganisation) -> None:
    org.full_clean(exclude=["tenant"])
    if (
        MemberOrganisation.unscoped.filter(tenant_id=org.tenant_id, agb_code=org.agb_code)
        .exclude(pk=org.pk)
        .exists()
    ):
        raise ValidationError({"agb_code": _("Another member organisation of this IGO has this AGB code.")})
    if org.member_until and org.member_until < org.member_from:
        raise ValidationError({"member_until": _("The end of the membership lies before its start.")})


def _assign(obj: Any, values: dict[str, Any]) -> dict[str, str]:
    """Set the values that differ; returns them as text, for the audit entry."""
    changed = {}
    for key, value in values.items():
        if getattr(obj, key) != value:
            changed[key] = str(value)
            setattr(obj, key, value)
    return changed


def _save(obj: Any, message_field: str, message: str) -> None:
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as exc:  # a concurrent duplicate that passed the checks above
        raise ValidationError({message_field: message}) from exc


@transaction.atomic
def organisation_create(
    *,
    tenant: Tenant,
    actor: User,
    name: str,
    kind: str,
    agb_code: str,
    member_from: date,
    member_until: date | None = None,
) -> MemberOrganisation:
    org = MemberOrganisation(
        tenant=tenant,
        name=name,
        kind=kind,
        agb_code=agb_code,
        member_from=member_from,
        member_until=member_until,
    )
    _check_organisation(org)
    _save(org, "agb_code", _("Another member organisation of this IGO has this AGB code."))
    audit_record(actor=actor, action="organisation.create", tenant=tenant, obj=org, agb_code=org.agb_code)
    return org


@transaction.atomic
def organisation_update(
    *,
    organisation: MemberOrganisation,
    actor: User,
    name: str,
    kind: str,
    agb_code: str,
    member_from: date,
    member_until: date | None,
) -> MemberOrganisation:
    """Store the form's values; the audit entry lists the ones that changed."""
    values = {
        "name": name,
        "kind": kind,
        "agb_code": agb_code,
        "member_from": member_from,
        "member_until": member_until,
    }
    changed = _assign(organisation, values)
    _check_organisation(organisation)
    _save(organisation, "agb_code", _("Another member organisation of this IGO has this AGB code."))
    if changed:
        audit_record(
            actor=actor, action="organisation.update", tenant=organisation.tenant, obj=organisation, **changed
        )
    return organisation


@transaction.atomic
def organisation_end_membership(
    *, organisation: MemberOrganisation, actor: User, until: date
) -> MemberOrganisation:
    if until < organisation.member_from:
        raise ValidationError({"member_until": _("The end of the membership lies before its start.")})
    organisation.member_until = until
    organisation.save(update_fields=["member_until"])
    audit_record(
        actor=actor, action="organisation.end", tenant=organisation.tenant, obj=organisation, until=str(until)
    )
    return organisation


def _check_professional(prof: Professional) -> None:
    prof.full_clean(exclude=["tenant", "organisation", "user"])
    errors: dict[str, list[str]] = {}
    if prof.discipline in BIG_DISCIPLINES and not prof.big_number:
        errors.setdefault("big_number", []).append(_("A BIG number is required for this discipline."))
    if prof.organisation_id is None or prof.organisation.tenant_id != prof.tenant_id:
        errors.setdefault("organisation", []).append(_("Choose a member organisation of this IGO."))
    if prof.user_id is not None:
        if not Membership.unscoped.filter(
            tenant_id=prof.tenant_id, user_id=prof.user_id, is_active=True
        ).exists():
            errors.setdefault("user", []).append(_("This user has no role in this IGO."))
        elif (
            Professional.unscoped.filter(tenant_id=prof.tenant_id, user_id=prof.user_id)
            .exclude(pk=prof.pk)
            .exists()
        ):
            errors.setdefault("user", []).append(_("This user is already linked to another professional."))
    if prof.agb_code and (
        Professional.unscoped.filter(tenant_id=prof.tenant_id, agb_code=prof.agb_code)
        .exclude(pk=prof.pk)
        .exists()
    ):
        errors.setdefault("agb_code", []).append(_("Another professional of this IGO has this AGB code."))
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def professional_create(
    *,
    tenant: Tenant,
    actor: User,
    full_name: str,
    discipline: str,
    organisation: MemberOrganisation,
    agb_code: str = "",
    big_number: str = "",
    user: User | None = None,
) -> Professional:
    prof = Professional(
        tenant=tenant,
        full_name=full_name,
        discipline=discipline,
        agb_code=agb_code,
        big_number=big_number,
        organisation=organisation,
        user=user,
    )
    _check_professional(prof)
    _save(prof, "agb_code", _("Another professional of this IGO has this AGB code."))
    audit_record(
        actor=actor, action="professional.create", tenant=tenant, obj=prof, discipline=prof.discipline
    )
    return prof


@transaction.atomic
def professional_update(
    *,
    professional: Professional,
    actor: User,
    full_name: str,
    discipline: str,
    organisation: MemberOrganisation,
    agb_code: str,
    big_number: str,
    user: User | None,
) -> Professional:
    """Store the form's values; the audit entry lists the ones that changed."""
    values = {
        "full_name": full_name,
        "discipline": discipline,
        "agb_code": agb_code,
        "big_number": big_number,
        "organisation": organisation,
        "user": user,
    }
    changed = _assign(professional, values)
    _check_professional(professional)
    _save(professional, "agb_code", _("Another professional of this IGO has this AGB code."))
    if changed:
        audit_record(
            actor=actor, action="professional.update", tenant=professional.tenant, obj=professional, **changed
        )
    return professional


@transaction.atomic
def professional_set_active(*, professional: Professional, actor: User, active: bool) -> Professional:
    if professional.is_active != active:
        professional.is_active = active
        professional.save(update_fields=["is_active"])
        audit_record(
            actor=actor,
            action="professional.activate" if active else "professional.deactivate",
            tenant=professional.tenant,
            obj=professional,
        )
    return professional
