"""Writes for sign-in identities: changes of a user's e-mail address (her sign-in name).

An address changes in two ways only (docs/operations.md, "Identities"):
- the user herself asks for it; a link goes to the new address and only when she opens it there, signed in,
  does the address change; the old address is told;
- an administrator of her IGO sets it, for a user who works for that IGO only; both addresses are told.
Every change writes an audit entry with the old and the new address. An address of another account, or one
an open invitation was sent to, is never taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from igo.models import Invitation, Membership, Tenant, User
from igo.services import audit_record

EMAIL_CHANGE_SALT = "igo.email-change"
# How long the confirmation link in the mail to the new address stays valid.
EMAIL_CHANGE_MAX_AGE = 24 * 60 * 60


@dataclass(frozen=True)
class EmailChange:
    """A requested change, as carried (signed) in the confirmation link."""

    user_id: int
    old: str
    new: str


def _normalise(email: str) -> str:
    return (email or "").strip().lower()


def email_available_check(*, email: str, user: User) -> str:
    """The address, normalised, if `user` may take it; else a field error on `email`."""
    email = _normalise(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": _("Enter a valid e-mail address.")}) from exc
    if email == _normalise(user.email):
        raise ValidationError({"email": _("This is already the sign-in address of this account.")})
    from allauth.account.models import EmailAddress

    taken = (
        User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists()
        or EmailAddress.objects.filter(email__iexact=email).exclude(user=user).exists()
        or Invitation.unscoped.filter(
            email__iexact=email,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        ).exists()
    )
    if taken:
        # One message for both cases: it must not tell whether an account exists.
        raise ValidationError({"email": _("This e-mail address cannot be used. Choose another one.")})
    return email


def _apply(*, user: User, new: str, verified: bool) -> str:
    """Set the sign-in address, and allauth's address rows with it (allauth signs in by those rows too)."""
    from allauth.account.models import EmailAddress

    user = User.objects.select_for_update().get(pk=user.pk)
    old = user.email
    user.email = new
    try:
        with transaction.atomic():
            user.save(update_fields=["email"])
    except IntegrityError as exc:  # taken between the check and the write
        raise ValidationError(
            {"email": _("This e-mail address cannot be used. Choose another one.")}
        ) from exc
    EmailAddress.objects.filter(user=user).delete()
    EmailAddress.objects.create(user=user, email=new, primary=True, verified=verified)
    return old


def _mail(template: str, to: str, context: dict[str, Any]) -> None:
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string(f"igo/email/{template}_subject.txt", context).strip()
        body = render_to_string(f"igo/email/{template}.txt", context)
    transaction.on_commit(lambda: send_mail(subject, body, None, [to]))


def _changed_notice(*, old: str, new: str, by_admin: User | None, tenant: Tenant | None) -> None:
    context = {
        "old": old,
        "new": new,
        "by_admin": by_admin,
        "tenant": tenant,
        "at": timezone.localtime(),
    }
    _mail("email_changed", old, context)


def email_change_request(*, user: User, email: str) -> EmailChange:
    """The user asks to sign in with another address: a confirmation link goes to that address."""
    new = email_available_check(email=email, user=user)
    change = EmailChange(user_id=user.pk, old=_normalise(user.email), new=new)
    token = signing.dumps({"u": change.user_id, "old": change.old, "new": change.new}, salt=EMAIL_CHANGE_SALT)
    link = settings.SITE_URL.rstrip("/") + reverse("account_email_confirm", kwargs={"token": token})
    with transaction.atomic():
        audit_record(
            actor=user, action="user.email_change_requested", obj=user, old_email=change.old, new_email=new
        )
        _mail("email_confirm", new, {"user": user, "old": change.old, "new": new, "link": link})
    return change


def email_change_read(*, token: str, user: User) -> EmailChange:
    """The change a confirmation link asks for, if it is still valid for this signed-in user."""
    invalid = ValidationError(
        _("This confirmation link is not valid (any more). Ask for the change again on your account page."),
        code="invalid",
    )
    try:
        data = signing.loads(token, salt=EMAIL_CHANGE_SALT, max_age=EMAIL_CHANGE_MAX_AGE)
    except signing.BadSignature as exc:  # SignatureExpired is a BadSignature
        raise invalid from exc
    change = EmailChange(user_id=int(data["u"]), old=str(data["old"]), new=str(data["new"]))
    # The old address in the link makes it single-use: once the address changed, it no longer matches.
    if change.user_id != user.pk or change.old != _normalise(user.email):
        raise invalid
    return change


@transaction.atomic
def email_change_confirm(*, token: str, user: User) -> User:
    """The user opened the link at her new address: that address becomes her sign-in address."""
    change = email_change_read(token=token, user=user)
    new = email_available_check(email=change.new, user=user)
    old = _apply(user=user, new=new, verified=True)
    audit_record(
        actor=user, action="user.email_change", obj=user, old_email=old, new_email=new, verified=True
    )
    _changed_notice(old=old, new=new, by_admin=None, tenant=None)
    user.refresh_from_db()
    return user


@transaction.atomic
def user_email_set(*, tenant: Tenant, actor: User, user: User, email: str) -> User:
    """An administrator of `tenant` sets the sign-in address of one of its users.

    Only for a user who works for this IGO alone: an address is the key to an account (a password reset goes
    to it), so an administrator of one IGO must not be able to take over an account another IGO relies on.
    """
    memberships = Membership.unscoped.filter(user=user)
    if (
        not memberships.filter(tenant=tenant).exists()
        or memberships.exclude(tenant=tenant).exists()
        or user.insurer_memberships.exists()
        or user.is_staff
    ):
        raise ValidationError(
            {
                "email": _(
                    "This user also has an account elsewhere on the platform; only she or the platform "
                    "operator can change her address."
                )
            }
        )
    new = email_available_check(email=email, user=user)
    old = _apply(user=user, new=new, verified=False)
    audit_record(
        actor=actor,
        action="user.email_change",
        tenant=tenant,
        obj=user,
        old_email=old,
        new_email=new,
        verified=False,
    )
    _changed_notice(old=old, new=new, by_admin=actor, tenant=tenant)
    _mail(
        "email_changed",
        new,
        {"old": old, "new": new, "by_admin": actor, "tenant": tenant, "at": timezone.localtime()},
    )
    user.refresh_from_db()
    return user
