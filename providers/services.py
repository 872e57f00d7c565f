"""Writes for member organisations and professionals. Validate fully, then store, then audit."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from igo.banking import bank_account_check, mask_iban
from igo.dates import midnight
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
    if org.pk is not None and org.member_until is not None:
        _check_no_care_after(org, org.member_until)


def _check_no_care_after(org: MemberOrganisation, until: date) -> None:
    """Refuse an end of membership before care the organisation has logged: logging refuses care after the end,
    and an end set back afterwards would have the split pay a former member for it. Its care events through
    the relation pregnancies' CareEvent declares (`events`): providers sits below pregnancies and does not
    import it; "active" is pregnancies' EventStatus.ACTIVE."""
    later = org.events.filter(status="active", occurred_at__gte=midnight(until + timedelta(days=1)))
    count = later.count()
    if count:
        last = timezone.localdate(later.order_by("-occurred_at").values_list("occurred_at", flat=True)[0])
        raise ValidationError(
            {
                "member_until": _(
                    "%(n)s care event(s) of this organisation were logged after this date (the last on "
                    "%(last)s). The membership cannot end before them."
                )
                % {"n": count, "last": last.strftime("%d-%m-%Y")}
            }
        )


def _assign(obj: Any, values: dict[str, Any]) -> dict[str, str]:
    """Set the values that differ; returns them as text, for the audit entry."""
    changed = {}
    for key, value in values.items():
        if getattr(obj, key) != value:
            changed[key] = str(value)
            setattr(obj, key, value)
    return changed


def _bank_account(*, iban: str, bic: str, account_holder: str) -> dict[str, str]:
    """The bank account fields as stored: the IBAN checked and compact, the BIC checked or derived from it,
    the holder required with an IBAN. All empty: no account (the member cannot be paid out yet)."""
    holder = " ".join((account_holder or "").split())
    if not (iban or "").strip():
        errors: dict[str, list[str]] = {}
        if (bic or "").strip():
            errors["bic"] = [_("Enter the IBAN this BIC belongs to.")]
        if holder:
            errors["iban"] = [_("Enter the IBAN of this account holder.")]
        if errors:
            raise ValidationError(errors)
        return {"iban": "", "bic": "", "account_holder": ""}
    errors = {}
    try:
        account = bank_account_check(iban=iban, bic=bic)
    except ValidationError as exc:
        errors = exc.message_dict
    if not holder:
        errors.setdefault("account_holder", []).append(_("Enter the name of the account holder."))
    if errors:
        raise ValidationError(errors)
    return {"iban": account.iban, "bic": account.bic, "account_holder": holder}


def _bank_audit(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """What changed in the bank account, for the audit entry: IBANs masked except their last four."""
    changed: dict[str, str] = {}
    if before["iban"] != after["iban"]:
        changed["iban_old"], changed["iban_new"] = mask_iban(before["iban"]), mask_iban(after["iban"])
    for key in ("bic", "account_holder"):
        if before[key] != after[key]:
            changed[f"{key}_old"], changed[f"{key}_new"] = before[key], after[key]
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
    iban: str = "",
    bic: str = "",
    account_holder: str = "",
) -> MemberOrganisation:
    """A member organisation, with the bank account its payouts go to (optional: without one it is not paid
    out, and a payout run opens a work item)."""
    account = _bank_account(iban=iban, bic=bic, account_holder=account_holder)
    org = MemberOrganisation(
        tenant=tenant,
        name=name,
        kind=kind,
        agb_code=agb_code,
        member_from=member_from,
        member_until=member_until,
        **account,
    )
    _check_organisation(org)
    _save(org, "agb_code", _("Another member organisation of this IGO has this AGB code."))
    audit_record(
        actor=actor,
        action="organisation.create",
        tenant=tenant,
        obj=org,
        agb_code=org.agb_code,
        **_bank_audit({"iban": "", "bic": "", "account_holder": ""}, account),
    )
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
    iban: str | None = None,
    bic: str = "",
    account_holder: str = "",
) -> MemberOrganisation:
    """Store the form's values; the audit entry lists the ones that changed (a bank account with the old
    and new IBAN masked). `iban` None leaves the bank account as it is."""
    values: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "agb_code": agb_code,
        "member_from": member_from,
        "member_until": member_until,
    }
    bank: dict[str, str] = {}
    if iban is not None:
        before = {k: getattr(organisation, k) for k in ("iban", "bic", "account_holder")}
        account = _bank_account(iban=iban, bic=bic, account_holder=account_holder)
        bank = _bank_audit(before, account)
        values.update(account)
    changed = {
        k: v for k, v in _assign(organisation, values).items() if k not in ("iban", "bic", "account_holder")
    }
    changed.update(bank)  # the bank account's changes with the IBANs masked, never the full number
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
    _check_no_care_after(organisation, until)
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
