"""Writes for tenancy and accounts. Each action validates, changes, and writes an audit entry atomically."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _

from igo.banking import bank_account_check, mask_iban
from igo.models import (
    AuditEntry,
    Insurer,
    InsurerApiToken,
    InsurerMembership,
    Invitation,
    KeysRevokedBecause,
    Membership,
    PersonalApiToken,
    Role,
    Tenant,
    User,
)
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


def _invitation_save(invitation: Invitation, duplicate: str) -> None:
    """Store a checked invitation; the database's one-open-invitation constraint refusing it (a concurrent
    double submit of the same form) is `duplicate`, at the e-mail field."""
    try:
        with transaction.atomic():
            invitation.save()
    except IntegrityError as exc:
        raise ValidationError({"email": duplicate}) from exc


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
    _invitation_save(
        invitation, _("An open invitation for %(email)s with this role already exists.") % {"email": email}
    )
    audit_record(
        actor=actor, action="invitation.create", tenant=tenant, obj=invitation, email=email, role=role
    )
    from igo.tasks import invitation_send

    invitation_send.delay_on_commit(invitation.pk)
    return invitation


@transaction.atomic
def tenant_admin_invite(*, tenant: Tenant, actor: User, email: str) -> Invitation:
    """A platform operator invites an IGO administrator (again): the first one's invitation had a typo,
    expired or never arrived. Every pending administrator invitation of the IGO is withdrawn first, so
    that only the new link works and a stuck row (e.g. one never sent) does not block the address."""
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    pending = list(
        Invitation.unscoped.select_for_update()
        .filter(tenant=locked, role=Role.IGO_ADMIN, accepted_at__isnull=True, revoked_at__isnull=True)
        .order_by("pk")
    )
    with tenant_scope(locked):
        for old in pending:
            invitation_revoke(invitation=old, actor=actor)
        invitation = invitation_create(tenant=locked, actor=actor, email=email, role=Role.IGO_ADMIN)
    audit_record(
        actor=actor,
        action="tenant.admin_invite",
        tenant=locked,
        obj=invitation,
        email=invitation.email,
        revoked=[old.email for old in pending],
    )
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
    # An IGO's first administrator has nobody in the IGO to ask: her invitation comes from the operator,
    # as does an insurer user's.
    first_admin = invitation.insurer_id is not None or (
        invitation.role == Role.IGO_ADMIN
        and not Membership.unscoped.filter(
            tenant=invitation.tenant, role=Role.IGO_ADMIN, is_active=True
        ).exists()
    )
    if invitation.revoked_at is not None:
        if first_admin:
            message = _("This invitation has been withdrawn. Ask the platform operator for a new one.")
        else:
            message = _("This invitation has been withdrawn. Ask your IGO administrator for a new one.")
        raise ValidationError(message, code="revoked")
    if invitation.expires_at <= timezone.now():
        if first_admin:
            message = _("This invitation expired on %(date)s. Ask the platform operator for a new one.")
        else:
            message = _("This invitation expired on %(date)s. Ask your IGO administrator for a new one.")
        raise ValidationError(
            message % {"date": timezone.localtime(invitation.expires_at).strftime("%d-%m-%Y %H:%M")},
            code="expired",
        )


@transaction.atomic
def invitation_accept(
    *, invitation: Invitation, user: User | None = None, full_name: str = "", password: str = ""
) -> tuple[User, Membership | InsurerMembership]:
    """Accept an invitation, creating the account if the address has none yet: a membership of the IGO
    with the role, or (an operator's invitation for an insurer) a link to the insurer.

    An existing account must be signed in (``user``) and match the invited address.
    """
    invitation = (
        Invitation.unscoped.select_for_update(of=("self",))
        .select_related("tenant", "insurer")
        .get(pk=invitation.pk)
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
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = account
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    if invitation.insurer is not None:
        link, created = InsurerMembership.objects.get_or_create(
            user=account, insurer=invitation.insurer, defaults={"is_active": True}
        )
        if not created and not link.is_active:
            link.is_active = True
            link.save(update_fields=["is_active"])
        audit_record(
            actor=account,
            action="invitation.accept",
            obj=invitation,
            insurer=invitation.insurer.uzovi_code,
        )
        return account, link
    membership, created = Membership.unscoped.get_or_create(
        tenant=invitation.tenant, user=account, role=invitation.role, defaults={"is_active": True}
    )
    if not created and not membership.is_active:
        membership.is_active = True
        membership.ended_at = None
        membership.save(update_fields=["is_active", "ended_at"])
    audit_record(
        actor=account,
        action="invitation.accept",
        tenant=invitation.tenant,
        obj=invitation,
        role=invitation.role,
    )
    return account, membership


@transaction.atomic
def membership_end(*, membership: Membership, actor: User, revoke_keys: bool = True) -> Membership:
    """An administrator ends someone's role. Her personal API keys act as her: when this was her last active
    role anywhere they are revoked at once (and igo.api.auth refuses them at check time anyway). The keys of
    member systems she made in this IGO belong to the organisation and may be meant to outlive her: they are
    revoked too unless the administrator chose to keep them (`revoke_keys`)."""
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
        keys_revoked=revoke_keys,
    )
    user = membership.user
    now = timezone.now()
    if not Membership.unscoped.filter(user=user, is_active=True).exists():
        _personal_tokens_revoke(user=user, because=KeysRevokedBecause.ACCESS_ENDED, actor=actor, now=now)
    if revoke_keys:
        member_access_ended.send(
            sender=Membership,
            user=user,
            tenant=membership.tenant,
            because=KeysRevokedBecause.ACCESS_ENDED,
            actor=actor,
            now=now,
        )
    return membership


# Keys of the apps above igo that a member made for her organisation (fhir_io's member-system keys), asked
# for by the end-of-access screen: a receiver returns the usable ones `user` made in `tenant` as
# `OrganisationalKey`s (member_keys_of), and on `member_access_ended` revokes them (audited), returning how many.
organisational_keys_of = Signal()
member_access_ended = Signal()


@dataclass(frozen=True)
class OrganisationalKey:
    """A usable key someone made for her organisation, as the end-of-access screen lists it."""

    kind: str
    name: str
    prefix: str
    expires_at: datetime


def organisational_keys(
    *, user: User, tenant: Tenant | None = None, insurer: Insurer | None = None
) -> list[OrganisationalKey]:
    """The usable keys `user` made that may outlive her: an insurer's keys, or member-system keys in an IGO."""
    now = timezone.now()
    if insurer is not None:
        return [
            OrganisationalKey(str(_("Insurer API key")), t.name, t.prefix, t.expires_at)
            for t in InsurerApiToken.objects.filter(
                created_by=user, insurer=insurer, revoked_at__isnull=True, expires_at__gt=now
            ).order_by("created_at")
        ]
    keys: list[OrganisationalKey] = []
    for _receiver, found in organisational_keys_of.send(sender=User, user=user, tenant=tenant, now=now):
        keys.extend(cast(list[OrganisationalKey], found or []))
    return keys


def personal_tokens_usable(*, user: User) -> list[PersonalApiToken]:
    now = timezone.now()
    return list(
        PersonalApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now).order_by(
            "created_at"
        )
    )


@transaction.atomic
def insurer_user_invite(*, insurer: Insurer, actor: User, email: str, full_name: str = "") -> Invitation:
    """A platform operator invites someone to work for an insurer, or invites her again (a typo, an expired
    link, a mail that never arrived, access that was ended). She sets her own password from the e-mailed
    link and her second factor at her first sign-in. The address's pending invitation for this insurer is
    withdrawn first, so only the newest link works."""
    email = _normalise_email(email)
    locked = Insurer.objects.select_for_update().get(pk=insurer.pk)
    if not locked.is_active:
        raise ValidationError(_("This insurer is not active."))
    if InsurerMembership.objects.filter(user__email__iexact=email, insurer=locked, is_active=True).exists():
        raise ValidationError({"email": _("%(email)s already works for this insurer.") % {"email": email}})
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None and (
        existing.is_staff or Membership.unscoped.filter(user=existing, is_active=True).exists()
    ):
        # An insurer sees claims addressed to it; an IGO account sees the care. One person, one side.
        raise ValidationError(
            {
                "email": _(
                    "%(email)s has an account in an IGO or as operator; an insurer user needs an "
                    "address of her own."
                )
                % {"email": email}
            }
        )
    pending = list(
        Invitation.unscoped.select_for_update()
        .filter(insurer=locked, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True)
        .order_by("pk")
    )
    for old in pending:
        invitation_revoke(invitation=old, actor=actor)
    invitation = Invitation(
        insurer=locked,
        email=email,
        full_name=full_name.strip(),
        nonce=secrets.token_hex(16),
        invited_by=actor,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_VALID_DAYS),
    )
    # The constraints are the database's to check (the scoped default manager cannot see this row).
    invitation.full_clean(exclude=["nonce", "tenant", "role"], validate_constraints=False)
    _invitation_save(invitation, _("An open invitation for %(email)s already exists.") % {"email": email})
    audit_record(
        actor=actor,
        action="insurer_user.invite",
        obj=invitation,
        insurer=locked.uzovi_code,
        email=email,
        revoked=len(pending),
    )
    from igo.tasks import invitation_send

    invitation_send.delay_on_commit(invitation.pk)
    return invitation


@transaction.atomic
def insurer_user_end(*, link: InsurerMembership, actor: User, revoke_keys: bool = True) -> InsurerMembership:
    """A platform operator ends someone's work for an insurer: from her next request on she reaches
    nothing of it (igo.access). Her account stays (an audit trail names it). The insurer API keys she made
    are revoked with it unless the operator chose to keep them (`revoke_keys`): a kept key does not work
    while its maker has no access (igo.api.auth), and the portal's list says so, for a colleague to revoke."""
    locked = InsurerMembership.objects.select_for_update().select_related("user", "insurer").get(pk=link.pk)
    if not locked.is_active:
        raise ValidationError(_("This user's access has already been ended."))
    locked.is_active = False
    locked.save(update_fields=["is_active"])
    audit_record(
        actor=actor,
        action="insurer_user.end",
        obj=locked,
        insurer=locked.insurer.uzovi_code,
        user=locked.user.email,
        keys_revoked=revoke_keys,
    )
    if revoke_keys:
        _insurer_tokens_revoke(
            user=locked.user,
            because=KeysRevokedBecause.ACCESS_ENDED,
            actor=actor,
            now=timezone.now(),
            insurer=locked.insurer,
        )
    return locked


# --- insurer API keys ---------------------------------------------------------------------------

TOKEN_DAYS_DEFAULT = 90
TOKEN_DAYS_MAX = 180  # an insurer system's key: at most half a year (was a year until the 2026 review)
API_KEY_PREFIX = "igo"
# Writing last_used_at on every call would turn each API read into a write; a minute is precise enough.
TOKEN_TOUCH_SECONDS = 60


def api_key_hash(key: str) -> str:
    """The stored form of an API key (insurer or personal). The keys are long random strings, so a plain
    SHA-256 suffices (no salt or slow hash: there is nothing to guess)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


insurer_token_hash = api_key_hash

# The stored key row's name field holds this many characters (InsurerApiToken, PersonalApiToken and
# fhir_io.MemberApiKey alike).
API_KEY_NAME_LENGTH = 100


def api_key_terms_errors(*, name: str, days: Any, max_days: int) -> dict[str, str]:
    """The field errors of a new API key's name and validity (insurer, personal and member keys alike)."""
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = _("Give the key a name, e.g. the system that will use it.")
    elif len(name) > API_KEY_NAME_LENGTH:
        errors["name"] = _("The name is too long.")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= max_days:
        errors["days"] = _("A key is valid for 1 to %(max)s days.") % {"max": max_days}
    return errors


def api_key_new(word: str) -> tuple[str, str]:
    """A new key `<word>_<prefix>_<secret>` and its prefix (shown in lists to tell keys apart)."""
    prefix = secrets.token_hex(4)
    return prefix, f"{word}_{prefix}_{secrets.token_urlsafe(32)}"


def api_key_touch(row: Any, now: datetime | None = None) -> None:
    """Note that a key was used, at most once a minute (a conditional update: concurrent calls do not pile
    up writes). `row` is a key of any kind; its model's unscoped manager is used when it has one."""
    now = now or timezone.now()
    if row.last_used_at is not None and now - row.last_used_at < timedelta(seconds=TOKEN_TOUCH_SECONDS):
        return
    manager = getattr(type(row), "unscoped", None) or type(row)._default_manager
    manager.filter(pk=row.pk).filter(
        models.Q(last_used_at__isnull=True)
        | models.Q(last_used_at__lt=now - timedelta(seconds=TOKEN_TOUCH_SECONDS))
    ).update(last_used_at=now)
    row.last_used_at = now


def insurer_member(*, user: User, insurer: Insurer) -> bool:
    return (
        user.is_active
        and insurer.is_active
        and InsurerMembership.objects.filter(user=user, insurer=insurer, is_active=True).exists()
    )


@transaction.atomic
def insurer_token_create(
    *, user: User, insurer: Insurer, name: str, days: int = TOKEN_DAYS_DEFAULT
) -> tuple[InsurerApiToken, str]:
    """Make an API key for an insurer. Returns the token row and the key, which is shown once and
    never stored: the database keeps only its SHA-256."""
    name = (name or "").strip()
    errors = api_key_terms_errors(name=name, days=days, max_days=TOKEN_DAYS_MAX)
    if not insurer_member(user=user, insurer=insurer):
        errors["insurer"] = _("You can only make keys for an insurer you work for.")
    if errors:
        raise ValidationError(errors)
    prefix, key = api_key_new(API_KEY_PREFIX)
    now = timezone.now()
    token = InsurerApiToken.objects.create(
        insurer=insurer,
        name=name,
        prefix=prefix,
        key_hash=insurer_token_hash(key),
        created_by=user,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    audit_record(
        actor=user,
        action="insurer_token.create",
        obj=token,
        insurer=insurer.uzovi_code,
        name=name,
        prefix=prefix,
        expires_at=token.expires_at.isoformat(),
    )
    return token, key


@transaction.atomic
def insurer_token_revoke(*, token: InsurerApiToken, actor: User) -> InsurerApiToken:
    """Withdraw a key at once. Any colleague at the same insurer may do so (e.g. for a key of someone
    who left)."""
    locked = InsurerApiToken.objects.select_for_update().select_related("insurer").get(pk=token.pk)
    if not insurer_member(user=actor, insurer=locked.insurer):
        raise ValidationError(_("You can only revoke keys of an insurer you work for."))
    if locked.revoked_at is not None:
        raise ValidationError(_("This key has already been revoked."))
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="insurer_token.revoke",
        obj=locked,
        insurer=locked.insurer.uzovi_code,
        prefix=locked.prefix,
    )
    token.revoked_at = locked.revoked_at
    return locked


def insurer_token_touch(*, token: InsurerApiToken, now: datetime | None = None) -> None:
    """Note that a key was used, at most once a minute (a conditional update: concurrent calls
    do not pile up writes)."""
    api_key_touch(token, now)


# --- personal API keys (issue 16) ----------------------------------------------------------------
# A user's own key for the IGO API, `igop_<prefix>_<secret>`: the extra "p" tells it apart from an insurer
# key (`igo_<prefix>_<secret>`) before any lookup, so each authentication class knows its own keys and an
# insurer key never reaches the IGO endpoints (nor a personal key the insurer API).

PERSONAL_KEY_PREFIX = "igop"
PERSONAL_TOKEN_DAYS_DEFAULT = 30
PERSONAL_TOKEN_DAYS_MAX = 90


@transaction.atomic
def personal_token_create(
    *, user: User, name: str, days: int = PERSONAL_TOKEN_DAYS_DEFAULT, now: datetime | None = None
) -> tuple[PersonalApiToken, str]:
    """A user makes a key for herself (the page asks her to re-authenticate first). Returns the row and the
    key, shown once; the database keeps only its SHA-256. Nobody makes keys for someone else: there is no
    `actor` (issue 16: the operator could mint DRF tokens for any user in the admin)."""
    from igo import selectors

    name = (name or "").strip()
    errors = api_key_terms_errors(name=name, days=days, max_days=PERSONAL_TOKEN_DAYS_MAX)
    if not user.is_active:
        errors["name"] = _("This account is not active.")
    elif selectors.second_factor_missing(user=user):
        errors["name"] = _("Set up a second factor (an authenticator app or a passkey) before making a key.")
    if errors:
        raise ValidationError(errors)
    prefix, key = api_key_new(PERSONAL_KEY_PREFIX)
    now = now or timezone.now()
    token = PersonalApiToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        key_hash=api_key_hash(key),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    audit_record(
        actor=user,
        action="personal_token.create",
        obj=token,
        name=name,
        prefix=prefix,
        expires_at=token.expires_at.isoformat(),
    )
    return token, key


@transaction.atomic
def personal_token_revoke(*, token: PersonalApiToken, actor: User) -> PersonalApiToken:
    """Withdraw one of one's own keys at once."""
    locked = PersonalApiToken.objects.select_for_update().get(pk=token.pk)
    if locked.user_id != actor.pk:
        raise ValidationError(_("You can only revoke your own keys."))
    if locked.revoked_at is not None:
        raise ValidationError(_("This key has already been revoked."))
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    audit_record(actor=actor, action="personal_token.revoke", obj=locked, prefix=locked.prefix)
    token.revoked_at = locked.revoked_at
    return locked


def personal_token_touch(*, token: PersonalApiToken, now: datetime | None = None) -> None:
    """Note that a key was used, at most once a minute (as `insurer_token_touch`)."""
    api_key_touch(token, now)


@transaction.atomic
def authenticator_reset(*, authenticator: Any, actor: User) -> None:
    """An operator removes a user's second factor (a lost phone or key), so that she sets up a new one at
    her next sign-in. Audited; the secret itself never leaves the database."""
    audit_record(
        actor=actor,
        action="authenticator.reset",
        obj=authenticator,
        user=authenticator.user.email,
        type=authenticator.type,
    )
    authenticator.delete()
    api_keys_revoke_for_user(user=authenticator.user, because=KeysRevokedBecause.OPERATOR_RESET, actor=actor)


# --- the IGO's bank account (issue 14: payouts) --------------------------------------------------------


@transaction.atomic
def tenant_bank_account_set(*, tenant: Tenant, actor: User, iban: str, bic: str = "") -> Tenant:
    """The IGO's own account, which member payouts are paid from (the debtor of the SEPA file). The IBAN is
    checked with schwifty, the BIC checked or looked up from it; the audit entry has the old and the new IBAN
    masked. Set by an administrator: those who prepare and release payouts do not choose where they come
    from, as they do not choose where they go (the members' accounts)."""
    account = bank_account_check(iban=iban, bic=bic)
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    before = (locked.iban, locked.bic)
    if before != (account.iban, account.bic):
        locked.iban, locked.bic = account.iban, account.bic
        locked.save(update_fields=["iban", "bic"])
        audit_record(
            actor=actor,
            action="tenant.bank_account",
            tenant=locked,
            obj=locked,
            iban_old=mask_iban(before[0]),
            iban_new=mask_iban(account.iban),
            bic_old=before[1],
            bic_new=account.bic,
        )
    tenant.iban, tenant.bic = locked.iban, locked.bic
    return locked


@transaction.atomic
def tenant_batch_four_eyes_set(*, tenant: Tenant, actor: User, on: bool) -> Tenant:
    """The administrator switches four eyes on claim batch release on or off (Tenant.batch_four_eyes).
    Audited with the value before and after; setting the value it already has writes nothing."""
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if locked.batch_four_eyes != on:
        before = locked.batch_four_eyes
        locked.batch_four_eyes = on
        locked.save(update_fields=["batch_four_eyes"])
        audit_record(
            actor=actor, action="tenant.batch_four_eyes", tenant=locked, obj=locked, before=before, after=on
        )
    tenant.batch_four_eyes = locked.batch_four_eyes
    return locked


# --- keys revoked when an account is recovered (security review) -----------------------------------------
# A password changed or reset, a second factor removed or reset (by the user or by an operator): whoever
# may have taken the account over may also have made keys with it, and a key does not ask for the password
# or the factor again. Every usable key the user made is revoked: her personal keys, the insurer keys and
# the member-system keys she made. Each revocation is audited, and the key lists say why.


# Sent inside that transaction: (user, because, actor, now); a receiver revokes its app's keys the user made
# and returns how many (fhir_io.services.member_keys_revoke_for_user).
account_recovered = Signal()


def _personal_tokens_revoke(*, user: User, because: str, actor: User, now: datetime) -> int:
    revoked = 0
    usable = models.Q(revoked_at__isnull=True, expires_at__gt=now)
    for token in PersonalApiToken.objects.select_for_update().filter(usable, user=user):
        token.revoked_at, token.revoked_because = now, because
        token.save(update_fields=["revoked_at", "revoked_because"])
        audit_record(
            actor=actor, action="personal_token.revoke", obj=token, prefix=token.prefix, because=because
        )
        revoked += 1
    return revoked


def _insurer_tokens_revoke(
    *, user: User, because: str, actor: User, now: datetime, insurer: Insurer | None = None
) -> int:
    revoked = 0
    usable = models.Q(revoked_at__isnull=True, expires_at__gt=now, created_by=user)
    if insurer is not None:
        usable &= models.Q(insurer=insurer)
    for itoken in InsurerApiToken.objects.select_for_update().select_related("insurer").filter(usable):
        itoken.revoked_at, itoken.revoked_because = now, because
        itoken.save(update_fields=["revoked_at", "revoked_because"])
        audit_record(
            actor=actor,
            action="insurer_token.revoke",
            obj=itoken,
            insurer=itoken.insurer.uzovi_code,
            prefix=itoken.prefix,
            because=because,
        )
        revoked += 1
    return revoked


@transaction.atomic
def api_keys_revoke_for_user(*, user: User, because: str, actor: User | None = None) -> int:
    """Revoke every usable key the user made (personal, insurer, member system). Returns how many."""
    now = timezone.now()
    actor = actor or user
    revoked = _personal_tokens_revoke(user=user, because=because, actor=actor, now=now)
    revoked += _insurer_tokens_revoke(user=user, because=because, actor=actor, now=now)
    # Keys of the apps above igo (fhir_io's member-system keys) are revoked by their own receivers.
    for _receiver, count in account_recovered.send(
        sender=User, user=user, because=because, actor=actor, now=now
    ):
        revoked += int(count or 0)
    return revoked


def _on_password_changed(sender: Any, request: Any, user: User, **kwargs: Any) -> None:
    api_keys_revoke_for_user(user=user, because=KeysRevokedBecause.PASSWORD_CHANGED)


def _on_password_reset(sender: Any, request: Any, user: User, **kwargs: Any) -> None:
    api_keys_revoke_for_user(user=user, because=KeysRevokedBecause.PASSWORD_RESET)


def _on_factor_removed(sender: Any, request: Any, user: User, authenticator: Any, **kwargs: Any) -> None:
    api_keys_revoke_for_user(user=user, because=KeysRevokedBecause.FACTOR_REMOVED)


def _on_factor_reset(sender: Any, request: Any, user: User, authenticator: Any, **kwargs: Any) -> None:
    api_keys_revoke_for_user(user=user, because=KeysRevokedBecause.FACTOR_RESET)


def connect_key_revocation() -> None:
    """allauth's signals of an account's recovery (igo.apps)."""
    from allauth.account.signals import password_changed, password_reset, password_set
    from allauth.mfa.signals import authenticator_removed, authenticator_reset

    password_changed.connect(_on_password_changed, dispatch_uid="igo.keys.password_changed")
    password_set.connect(_on_password_changed, dispatch_uid="igo.keys.password_set")
    password_reset.connect(_on_password_reset, dispatch_uid="igo.keys.password_reset")
    authenticator_removed.connect(_on_factor_removed, dispatch_uid="igo.keys.factor_removed")
    authenticator_reset.connect(_on_factor_reset, dispatch_uid="igo.keys.factor_reset")
