"""Writes for tenancy and accounts. Each action validates, changes, and writes an audit entry atomically."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from igo.models import AuditEntry, Insurer, InsurerMembership, Invitation, Membership, Role, Tenant, User
from igo.tenancy import tenant_scope


def audit_record(
    *, actor: User | None, action: str, tenant: Tenant | None = None, obj: Any = None, **details: Any
) -> AuditEntry:
    return AuditEntry.objects.create(
        tenant=tenant,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        details=details,
    )


def _normalise_email(email: str) -> str:
    return (email or "").strip().lower()


@transaction.atomic
def tenant_create(
    *, actor: User, name: str, slug: str, agb_code: str, first_admin_email: str
) -> tuple[Tenant, Invitation]:
    """A platform operator creates an IGO and invites its first administrator."""
    tenant = Tenant(name=name.strip(), slug=slug.strip(), agb_code=agb_code.strip())
    tenant.full_clean()
    tenant.save()
    audit_record(actor=actor, action="tenant.create", tenant=tenant, obj=tenant, agb_code=tenant.agb_code)
    from pregnancies.catalogue import catalogue_seed

    catalogue_seed(tenant=tenant)
    with tenant_scope(tenant):
        invitation = invitation_create(
            tenant=tenant, actor=actor, email=first_admin_email, role=Role.IGO_ADMIN, full_name=""
        )
    return tenant, invitation


@transaction.atomic
def invitation_create(
    *, tenant: Tenant, actor: User, email: str, role: str, full_name: str = ""
) -> Invitation:
    email = _normalise_email(email)
    if role not in Role.values:
        raise ValidationError({"role": _("Choose a valid role.")})
    if Membership.unscoped.filter(
        tenant=tenant, user__email__iexact=email, role=role, is_active=True
    ).exists():
        raise ValidationError({"email": _("%(email)s already has this role in this IGO.") % {"email": email}})
    if Invitation.unscoped.filter(
        tenant=tenant,
        email__iexact=email,
        role=role,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).exists():
        raise ValidationError(
            {"email": _("An open invitation for %(email)s with this role already exists.") % {"email": email}}
        )
    # An expired invitation for the same address and role is closed, so a new one may be sent.
    Invitation.unscoped.filter(
        tenant=tenant,
        email__iexact=email,
        role=role,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__lte=timezone.now(),
    ).update(revoked_at=timezone.now())
    invitation = Invitation(
        tenant=tenant,
        email=email,
        role=role,
        full_name=full_name.strip(),
        nonce=secrets.token_hex(16),
        invited_by=actor if actor.is_authenticated else None,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_VALID_DAYS),
    )
    invitation.full_clean(exclude=["nonce", "tenant"])
    try:
        with transaction.atomic():
            invitation.save()
    except IntegrityError as exc:  # a concurrent double submit of the same form
        raise ValidationError(
            {"email": _("An open invitation for %(email)s with this role already exists.") % {"email": email}}
        ) from exc
    audit_record(
        actor=actor, action="invitation.create", tenant=tenant, obj=invitation, email=email, role=role
    )
    from igo.tasks import invitation_send

    invitation_send.delay_on_commit(invitation.pk)  # type: ignore[attr-defined]
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: User) -> Invitation:
    if invitation.accepted_at is not None:
        raise ValidationError(_("This invitation has already been accepted and cannot be revoked."))
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="invitation.revoke", tenant=invitation.tenant, obj=invitation)
    return invitation


def invitation_check_open(invitation: Invitation) -> None:
    if invitation.accepted_at is not None:
        raise ValidationError(
            _("This invitation has already been used. Sign in with your account."), code="used"
        )
    if invitation.revoked_at is not None:
        raise ValidationError(
            _("This invitation has been withdrawn. Ask your IGO administrator for a new one."), code="revoked"
        )
    if invitation.expires_at <= timezone.now():
        raise ValidationError(
            _("This invitation expired on %(date)s. Ask your IGO administrator for a new one.")
            % {"date": timezone.localtime(invitation.expires_at).strftime("%d-%m-%Y %H:%M")},
            code="expired",
        )


@transaction.atomic
def invitation_accept(
    *, invitation: Invitation, user: User | None = None, full_name: str = "", password: str = ""
) -> tuple[User, Membership]:
    """Accept an invitation, creating the account if the address has none yet.

    An existing account must be signed in (``user``) and match the invited address.
    """
    invitation = (
        Invitation.unscoped.select_for_update(of=("self",)).select_related("tenant").get(pk=invitation.pk)
    )
    invitation_check_open(invitation)
    existing = User.objects.filter(email__iexact=invitation.email).first()
    if existing is not None:
        if user is None or user.pk != existing.pk:
            raise ValidationError(
                _(
                    "An account with this e-mail address already exists. Sign in first, then open the link again."
                ),
                code="sign_in",
            )
        account = existing
    else:
        if user is not None and user.is_authenticated:
            raise ValidationError(
                _("This invitation is for %(email)s. Sign out first to accept it.")
                % {"email": invitation.email},
                code="other_user",
            )
        if not full_name.strip():
            raise ValidationError({"full_name": _("Enter your full name.")})
        account = User(email=invitation.email, full_name=full_name.strip())
        try:
            validate_password(password, account)
        except ValidationError as exc:
            raise ValidationError({"password1": exc.messages}) from exc
        account.set_password(password)
        account.save()
    membership, created = Membership.unscoped.get_or_create(
        tenant=invitation.tenant, user=account, role=invitation.role, defaults={"is_active": True}
    )
    if not created and not membership.is_active:
        membership.is_active = True
        membership.ended_at = None
        membership.save(update_fields=["is_active", "ended_at"])
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = account
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        actor=account,
        action="invitation.accept",
        tenant=invitation.tenant,
        obj=invitation,
        role=invitation.role,
    )
    return account, membership


@transaction.atomic
def membership_end(*, membership: Membership, actor: User) -> Membership:
    if not membership.is_active:
        return membership
    if membership.role == Role.IGO_ADMIN:
        # Lock every active admin row of the tenant, in a fixed order, so two administrators ending
        # each other at the same moment cannot leave the IGO without one.
        admins = list(
            Membership.unscoped.select_for_update()
            .filter(tenant_id=membership.tenant_id, role=Role.IGO_ADMIN, is_active=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not [pk for pk in admins if pk != membership.pk]:
            raise ValidationError(_("An IGO needs at least one administrator; invite another one first."))
    membership.is_active = False
    membership.ended_at = timezone.now()
    membership.save(update_fields=["is_active", "ended_at"])
    audit_record(
        actor=actor,
        action="membership.end",
        tenant=membership.tenant,
        obj=membership,
        user=membership.user.email,
        role=membership.role,
    )
    return membership


@transaction.atomic
def insurer_user_create(
    *, actor: User | None, insurer: Insurer, email: str, full_name: str, password: str
) -> User:
    email = _normalise_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": _("A user with this e-mail address already exists.")})
    user = User(email=email, full_name=full_name)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    InsurerMembership.objects.create(user=user, insurer=insurer)
    audit_record(actor=actor, action="insurer_user.create", obj=user, insurer=insurer.uzovi_code)
    return user
