"""What a signed-in user may reach, cached between requests: her IGOs and roles, her insurers, and whether
she has a second factor.

Every page and API call needs these before its view runs (igo.middleware, igo.api). Read from the
database they cost four queries a request; cached, none. The cache key carries `User.access_version`,
which the receivers below raise **in the same transaction** as any change to what they depend on
(membership or role added, changed or ended; IGO changed or deactivated; insurer link or insurer
changed; authenticator added or removed). The user row is read on every request anyway (the session's
user), so the request after a committed change reads the new version and misses the cache: a revoked
role counts from the very next request, even if the cache kept an old entry or was not reachable when the
change was made. A deactivated account or a changed password needs nothing here: Django refuses the
session itself (the user row's `is_active` and password hash).

When the cache does not answer, the access is read from the database: never "allowed" by default.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save

from igo.models import Insurer, InsurerMembership, Membership, Tenant, User, access_version_raise

logger = logging.getLogger(__name__)

# An entry outlives no version change; the timeout only bounds what idle users leave in Redis.
CACHE_SECONDS = 60 * 60 * 12
CACHE_PREFIX = "igo:access:v1"


@dataclass(frozen=True)
class UserAccess:
    """The user's active IGOs (active memberships in active IGOs, by name) with her roles in each, her
    active insurers (active links to active insurers), and whether she has a second factor (an
    authenticator app or a passkey / security key; recovery codes alone are not one)."""

    tenants: tuple[Tenant, ...] = ()
    roles: dict[int, frozenset[str]] = field(default_factory=dict)
    insurers: tuple[Insurer, ...] = ()
    has_second_factor: bool = False

    @property
    def all_roles(self) -> frozenset[str]:
        return frozenset().union(*self.roles.values())

    def tenant(self, slug: str) -> tuple[Tenant, frozenset[str]] | None:
        for tenant in self.tenants:
            if tenant.slug == slug:
                return tenant, self.roles[tenant.pk]
        return None


NO_ACCESS = UserAccess()


def cache_key(user: User) -> str:
    """By user and version; the moment the account was made tells apart two users who got the same id (a
    database recreated or restored while the cache kept its entries)."""
    return f"{CACHE_PREFIX}:{user.pk}:{user.date_joined.timestamp():.6f}:{user.access_version}"


def access_read(user: User) -> UserAccess:
    """From the database: three queries."""
    from allauth.mfa.models import Authenticator

    tenants: dict[int, Tenant] = {}
    roles: dict[int, set[str]] = {}
    memberships = (
        Membership.unscoped.filter(user=user, is_active=True, tenant__is_active=True)
        .select_related("tenant")
        .order_by("tenant__name", "tenant_id")
    )
    for membership in memberships:
        tenants.setdefault(membership.tenant_id, membership.tenant)
        roles.setdefault(membership.tenant_id, set()).add(membership.role)
    insurers = Insurer.objects.filter(
        pk__in=InsurerMembership.objects.filter(user=user, is_active=True).values("insurer_id"),
        is_active=True,
    )
    second_factor = Authenticator.objects.filter(
        user=user, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
    ).exists()
    return UserAccess(
        tenants=tuple(tenants.values()),
        roles={pk: frozenset(r) for pk, r in roles.items()},
        insurers=tuple(insurers),
        has_second_factor=second_factor,
    )


def user_access(user: Any) -> UserAccess:
    """The user's access, from the cache when it has the entry of her current version. Kept on the user
    object for the rest of the request (a request reads a fresh user row; a service that changes the access
    of a user it holds raises the version on that object too, see `_raise`)."""
    if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
        return NO_ACCESS
    key = cache_key(user)
    memo = getattr(user, "_igo_access", None)
    if memo is not None and memo[0] == key:
        return memo[1]
    access: UserAccess | None
    try:
        access = cache.get(key)
    except Exception:  # the cache is down: read the database, never assume access
        logger.warning("access cache not reachable; reading the database", exc_info=True)
        access, cached = access_read(user), False
    else:
        cached = access is not None
        if access is None:
            access = access_read(user)
    if not cached:
        try:
            cache.set(key, access, CACHE_SECONDS)
        except Exception:
            logger.warning("access cache not reachable; not stored", exc_info=True)
    user._igo_access = (key, access)  # type: ignore[attr-defined]
    return access


# --- invalidation --------------------------------------------------------------------------------


def _raise(user_ids: Any, instance_user: User | None = None) -> None:
    """Raise the access version of these users (a list, or a subquery of ids) in the current transaction."""
    access_version_raise(user_ids)
    if instance_user is not None:  # the object the caller holds: its next read misses the cache too
        instance_user.access_version += 1
        instance_user.__dict__.pop("_igo_access", None)


def _loaded_user(instance: Any) -> User | None:
    user = instance._state.fields_cache.get("user")
    return user if isinstance(user, User) else None


def _membership_changed(sender: Any, instance: Membership | InsurerMembership, **kwargs: Any) -> None:
    _raise([instance.user_id], _loaded_user(instance))


def _tenant_changed(sender: Any, instance: Tenant, **kwargs: Any) -> None:
    _raise(Membership.unscoped.filter(tenant_id=instance.pk).values("user_id"))


def _insurer_changed(sender: Any, instance: Insurer, **kwargs: Any) -> None:
    _raise(InsurerMembership.objects.filter(insurer_id=instance.pk).values("user_id"))


def _authenticator_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and set(update_fields) <= {"last_used_at"}:
        return  # a sign-in with it: nothing that decides access changed
    _raise([instance.user_id], _loaded_user(instance))


def connect() -> None:
    """Called from IgoConfig.ready. Model signals, not services, because the admin and allauth change these
    rows too (allauth adds and removes authenticators, the operator edits memberships in the admin)."""
    from allauth.mfa.models import Authenticator

    for model, receiver in (
        (Membership, _membership_changed),
        (InsurerMembership, _membership_changed),
        (Tenant, _tenant_changed),
        (Insurer, _insurer_changed),
        (Authenticator, _authenticator_changed),
    ):
        uid = f"igo.access.{model._meta.label}"
        post_save.connect(receiver, sender=model, dispatch_uid=uid + ".save")
        post_delete.connect(receiver, sender=model, dispatch_uid=uid + ".delete")
