"""Writes of the FHIR import: member system keys and the code mapping (the import itself: importing.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fhir_io.models import CodeMapping, MemberApiKey, MemberSystemAccount
from igo.models import Tenant, User
from igo.services import api_key_hash, api_key_new, api_key_terms_errors, api_key_touch, audit_record
from pregnancies.models import EventType
from providers.models import MemberOrganisation

# `igom_<prefix>_<secret>`: told apart from insurer (`igo_`) and personal (`igop_`) keys before any lookup.
MEMBER_KEY_PREFIX = "igom"
MEMBER_KEY_DAYS_DEFAULT = 180
MEMBER_KEY_DAYS_MAX = 365  # a member system's key: at most a year (was two until the 2026 review)
SYSTEM_EMAIL_DOMAIN = "members.invalid"  # RFC 2606: no mail can reach it, so no password reset either


def system_account_for(*, organisation: MemberOrganisation) -> MemberSystemAccount:
    """The member's system account, made with its own user (unusable password) on first use."""
    account = MemberSystemAccount.unscoped.filter(organisation=organisation).select_related("user").first()
    if account is not None:
        return account
    user = User.objects.create_user(
        email=f"system-{organisation.tenant_id}-{organisation.pk}@{SYSTEM_EMAIL_DOMAIN}",
        password=None,
        full_name=f"{organisation.name} (system)"[:150],
    )
    return MemberSystemAccount.unscoped.create(
        tenant_id=organisation.tenant_id, organisation=organisation, user=user
    )


@transaction.atomic
def member_key_create(
    *,
    tenant: Tenant,
    actor: User,
    organisation: MemberOrganisation,
    name: str,
    days: int = MEMBER_KEY_DAYS_DEFAULT,
) -> tuple[MemberApiKey, str]:
    """Make a key for a member's system. Returns the row and the key, shown once and never stored."""
    name = (name or "").strip()
    errors = api_key_terms_errors(name=name, days=days, max_days=MEMBER_KEY_DAYS_MAX)
    if organisation.tenant_id != tenant.pk:
        errors["organisation"] = _("This organisation is not a member of this IGO.")
    if errors:
        raise ValidationError(errors)
    account = system_account_for(organisation=organisation)
    prefix, key = api_key_new(MEMBER_KEY_PREFIX)
    now = timezone.now()
    row = MemberApiKey.unscoped.create(
        tenant=tenant,
        account=account,
        name=name,
        prefix=prefix,
        key_hash=api_key_hash(key),
        created_by=actor,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    audit_record(
        actor=actor,
        tenant=tenant,
        action="member_key.create",
        obj=row,
        organisation=organisation.agb_code,
        name=name,
        prefix=prefix,
        expires_at=row.expires_at.isoformat(),
    )
    return row, key


@transaction.atomic
def member_key_revoke(*, tenant: Tenant, key: MemberApiKey, actor: User) -> MemberApiKey:
    """Withdraw a member's key at once."""
    locked = MemberApiKey.unscoped.select_for_update().get(pk=key.pk, tenant=tenant)
    if locked.revoked_at is not None:
        raise ValidationError(_("This key has already been revoked."))
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    audit_record(actor=actor, tenant=tenant, action="member_key.revoke", obj=locked, prefix=locked.prefix)
    key.revoked_at = locked.revoked_at
    return locked


def _member_keys_revoke(
    *, user: User, because: str, actor: User, now: datetime, tenant: Tenant | None
) -> int:
    revoked = 0
    usable = MemberApiKey.unscoped.select_for_update().filter(
        created_by=user, revoked_at__isnull=True, expires_at__gt=now
    )
    if tenant is not None:
        usable = usable.filter(tenant=tenant)
    for key in usable.select_related("tenant"):
        key.revoked_at, key.revoked_because = now, because
        key.save(update_fields=["revoked_at", "revoked_because"])
        audit_record(
            actor=actor,
            action="member_key.revoke",
            tenant=key.tenant,
            obj=key,
            prefix=key.prefix,
            because=because,
        )
        revoked += 1
    return revoked


def member_keys_revoke_for_user(
    sender: Any, *, user: User, because: str, actor: User, now: datetime, **kwargs: Any
) -> int:
    """igo.services.account_recovered: the member-system keys the user made are revoked with her other keys
    (her account may have been taken over, and a key does not ask for the password or the factor)."""
    return _member_keys_revoke(user=user, because=because, actor=actor, now=now, tenant=None)


def member_keys_revoke_on_access_end(
    sender: Any, *, user: User, tenant: Tenant, because: str, actor: User, now: datetime, **kwargs: Any
) -> int:
    """igo.services.member_access_ended: the administrator ended her role and chose to revoke the
    member-system keys she made in this IGO (they authenticate as the member's system, not as her, so they
    would otherwise keep working)."""
    return _member_keys_revoke(user=user, because=because, actor=actor, now=now, tenant=tenant)


def member_keys_of(
    sender: Any, *, user: User, tenant: Tenant | None, now: datetime, **kwargs: Any
) -> list[Any]:
    """igo.services.organisational_keys_of: the usable member-system keys `user` made in `tenant`."""
    from igo.services import OrganisationalKey

    rows = MemberApiKey.unscoped.filter(created_by=user, revoked_at__isnull=True, expires_at__gt=now)
    if tenant is not None:
        rows = rows.filter(tenant=tenant)
    return [
        OrganisationalKey(str(_("Member system key")), k.name, k.prefix, k.expires_at)
        for k in rows.order_by("created_at")
    ]


def member_key_touch(*, key: MemberApiKey, now: datetime | None = None) -> None:
    """Note that a key was used, at most once a minute (a conditional update)."""
    api_key_touch(key, now)


@transaction.atomic
def code_mapping_create(
    *, tenant: Tenant, actor: User, system: str, code: str, event_type: EventType
) -> CodeMapping:
    """Say that a sender's code stands for a catalogue entry of this IGO."""
    system, code = (system or "").strip(), (code or "").strip()
    errors: dict[str, str] = {}
    if not system:
        errors["system"] = _("Give the code system (a URI).")
    if not code:
        errors["code"] = _("Give the code.")
    if event_type.tenant_id != tenant.pk:
        errors["event_type"] = _("Choose an entry of this IGO's catalogue.")
    if not errors and CodeMapping.unscoped.filter(tenant=tenant, system=system, code=code).exists():
        errors["code"] = _("This code already has a mapping.")
    if errors:
        raise ValidationError(errors)
    mapping = CodeMapping.unscoped.create(
        tenant=tenant, system=system, code=code, event_type=event_type, created_by=actor
    )
    audit_record(
        actor=actor, tenant=tenant, action="code_mapping.create", obj=mapping, system=system, code=code,
        event_type=event_type.code,
    )  # fmt: skip
    return mapping
