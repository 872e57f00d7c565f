"""Reads for tenancy and accounts. Cross-tenant reads say so by using `unscoped`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AnonymousUser
from django.core import signing
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone

from igo.access import user_access
from igo.models import Insurer, InsurerApiToken, InsurerMembership, Invitation, Membership, Tenant, User
from igo.tenancy import current_tenant


def user_tenants(*, user: User) -> list[Tenant]:
    """The active IGOs in which the user has an active membership (cross-tenant by design)."""
    if not user.is_authenticated:
        return []
    ids = Membership.unscoped.filter(user=user, is_active=True).values("tenant_id")
    return list(Tenant.objects.filter(pk__in=ids, is_active=True).order_by("name"))


def user_roles(*, user: User | AnonymousUser, tenant: Tenant) -> frozenset[str]:
    if not user.is_authenticated:
        return frozenset()
    return frozenset(
        Membership.unscoped.filter(user=user, tenant=tenant, is_active=True).values_list("role", flat=True)
    )


def tenant_for_member(*, slug: str, user: User | AnonymousUser) -> tuple[Tenant, frozenset[str]]:
    """The active IGO a URL names and the user's roles in it, for the web pages and the API alike.

    An IGO that does not exist, is inactive, or in which the user holds no active role raises one and the
    same Http404, so that a response does not reveal which IGOs exist. Whether a role may use the page
    (403) is for the caller to decide. Read from the user's cached access (igo.access).
    """
    found = user_access(user).tenant(slug)
    if found is None or not found[1]:
        raise Http404
    return found


def user_insurers(*, user: User) -> list[Insurer]:
    if not user.is_authenticated:
        return []
    ids = InsurerMembership.objects.filter(user=user, is_active=True).values("insurer_id")
    return list(Insurer.objects.filter(pk__in=ids, is_active=True))


@dataclass(frozen=True)
class Access:
    """What a signed-in user can reach, computed once per request."""

    tenants: list[Tenant]
    insurers: list[Insurer]
    all_roles: frozenset[str]


def request_access(request: HttpRequest) -> Access:
    """From the user's cached access (igo.access): no query when the cache has it."""
    cached = getattr(request, "_igo_access", None)
    if cached is None:
        access = user_access(request.user)
        cached = Access(
            tenants=list(access.tenants), insurers=list(access.insurers), all_roles=access.all_roles
        )
        request._igo_access = cached  # type: ignore[attr-defined]
    return cached


def user_all_roles(*, user: User) -> frozenset[str]:
    """Every role the user holds in any IGO (for the second-factor rule)."""
    return frozenset(
        Membership.unscoped.filter(user=user, is_active=True, tenant__is_active=True).values_list(
            "role", flat=True
        )
    )


def has_second_factor(*, user: User) -> bool:
    """Whether the user has set up a second factor of any kind allauth offers here (an authenticator app
    or a passkey / security key); recovery codes alone are not one, they only stand in for a lost one.
    From the user's cached access (igo.access)."""
    return user_access(user).has_second_factor


def second_factor_required(*, user: User) -> bool:
    """Whether the user must have a second factor: anyone with a role in an IGO, at an insurer, or an
    operator (igo.rules.needs_mfa). A user with none of these can reach no data."""
    from igo.rules import needs_mfa

    access = user_access(user)
    return needs_mfa(roles=access.all_roles, is_insurer_user=bool(access.insurers), is_operator=user.is_staff)


def second_factor_missing(*, user: User) -> bool:
    """The user must have a second factor and has none: the web pages send her to set one up, the API
    refuses her credentials (igo.api.permissions.HasSecondFactor)."""
    return second_factor_required(user=user) and not has_second_factor(user=user)


def membership_list(*, q: str = "", role: str = "", include_ended: bool = False) -> QuerySet[Membership]:
    qs = Membership.objects.select_related("user").order_by("user__full_name", "user__email", "role")
    if not include_ended:
        qs = qs.filter(is_active=True)
    if role:
        qs = qs.filter(role=role)
    if q:
        from django.db.models import Q

        qs = qs.filter(Q(user__full_name__icontains=q) | Q(user__email__icontains=q))
    return qs


def invitation_list(*, open_only: bool = False) -> QuerySet[Invitation]:
    qs = Invitation.objects.select_related("invited_by").order_by("-created_at")
    if open_only:
        qs = qs.filter(accepted_at__isnull=True, revoked_at__isnull=True)
    return qs


INVITATION_SALT = "igo.invitation"


def invitation_token(invitation: Invitation) -> str:
    return signing.Signer(salt=INVITATION_SALT).sign(f"{invitation.pk}.{invitation.nonce}")


def invitation_by_token(*, token: str) -> Invitation | None:
    """Find an invitation from the signed token in its link (cross-tenant: the link names no tenant)."""
    try:
        value = signing.Signer(salt=INVITATION_SALT).unsign(token)
        pk, nonce = value.split(".", 1)
    except (signing.BadSignature, ValueError):
        return None
    return Invitation.unscoped.select_related("tenant", "insurer").filter(pk=pk, nonce=nonce).first()


def tenant_summary() -> dict[str, object]:
    tenant = current_tenant()
    members = Membership.objects.filter(is_active=True)
    by_role = {r: 0 for r, _ in Membership._meta.get_field("role").choices}  # type: ignore[union-attr]
    for role in members.values_list("role", flat=True):
        by_role[role] += 1
    return {
        "tenant": tenant,
        "member_count": members.values("user").distinct().count(),
        "by_role": by_role,
        "open_invitations": Invitation.objects.filter(
            accepted_at__isnull=True, revoked_at__isnull=True
        ).count(),
    }


@dataclass(frozen=True)
class PlatformTenantRow:
    """One IGO on the operator's page: how many administrators it has and its latest administrator
    invitation that was not accepted (pending, expired or withdrawn), if any."""

    tenant: Tenant
    admin_count: int
    admin_invitation: Invitation | None


def platform_tenant_list(*, pk: int | None = None) -> list[PlatformTenantRow]:
    """Every IGO (or the one with this `pk`) with its administrator count and latest unaccepted administrator invitation, in three
    queries whatever the number of IGOs (cross-tenant: the operator's page)."""
    from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
    from django.db.models.functions import Coalesce

    from igo.models import Role

    admins = (
        Membership.unscoped.filter(tenant=OuterRef("pk"), role=Role.IGO_ADMIN, is_active=True)
        .order_by()
        .values("tenant")
        .annotate(n=Count("pk"))
        .values("n")
    )
    found = Tenant.objects.all() if pk is None else Tenant.objects.filter(pk=pk)
    tenants = list(
        found.annotate(
            admin_count=Coalesce(Subquery(admins, output_field=IntegerField()), Value(0))
        ).order_by("name")
    )
    latest: dict[int, Invitation] = {}
    invitations = (
        Invitation.unscoped.filter(
            tenant__in=[t.pk for t in tenants], role=Role.IGO_ADMIN, accepted_at__isnull=True
        )
        .select_related("invited_by")
        .order_by("tenant_id", "-created_at", "-pk")
    )
    # The newest per IGO: the first of each IGO in this order (not DISTINCT ON, which SQLite, `make run`'s
    # database, does not have; an IGO has a handful of unaccepted administrator invitations at most).
    for invitation in invitations:
        if invitation.tenant_id is not None:  # always: the query is by IGO
            latest.setdefault(invitation.tenant_id, invitation)
    return [
        PlatformTenantRow(tenant=t, admin_count=t.admin_count, admin_invitation=latest.get(t.pk))
        for t in tenants
    ]


@dataclass(frozen=True)
class PlatformInsurerRow:
    """One insurer on the operator's page: how many users work for it and how many invitations are open."""

    insurer: Insurer
    user_count: int
    open_invitations: int


def platform_insurer_list() -> list[PlatformInsurerRow]:
    """Every insurer with its active users and open invitations, in one query (the operator's page)."""
    from django.db.models import Count, Q

    now = timezone.now()
    insurers = Insurer.objects.annotate(
        user_count=Count("memberships", filter=Q(memberships__is_active=True), distinct=True),
        open_invitations=Count(
            "invitations",
            filter=Q(
                invitations__accepted_at__isnull=True,
                invitations__revoked_at__isnull=True,
                invitations__expires_at__gt=now,
            ),
            distinct=True,
        ),
    ).order_by("name")
    return [
        PlatformInsurerRow(insurer=i, user_count=i.user_count, open_invitations=i.open_invitations)
        for i in insurers
    ]


@dataclass(frozen=True)
class InsurerUserRow:
    """A person on an insurer's user list: her link (once she accepted) and her latest invitation that was
    not accepted or withdrawn (pending or expired), if any. `status` is one of active, ended, invited,
    expired."""

    email: str
    full_name: str
    link: InsurerMembership | None
    invitation: Invitation | None
    status: str
    last_login: datetime | None
    keys: tuple[InsurerApiToken, ...] = ()  # usable insurer keys she made (the end-of-access form lists them)


def platform_insurer_users(*, insurer: Insurer) -> list[InsurerUserRow]:
    """The insurer's users and pending invitations, one row per address, in two queries."""
    now = timezone.now()
    links = {
        link.user.email.lower(): link
        for link in InsurerMembership.objects.filter(insurer=insurer).select_related("user")
    }
    pending: dict[str, Invitation] = {}
    for open_one in Invitation.unscoped.filter(
        insurer=insurer, accepted_at__isnull=True, revoked_at__isnull=True
    ).order_by("created_at", "pk"):
        pending[open_one.email.lower()] = open_one  # the newest wins
    keys: dict[int, list[InsurerApiToken]] = {}
    for token in InsurerApiToken.objects.filter(
        insurer=insurer, revoked_at__isnull=True, expires_at__gt=now
    ).order_by("created_at"):
        keys.setdefault(token.created_by_id, []).append(token)
    rows = []
    for email in sorted(set(links) | set(pending)):
        link, invitation = links.get(email), pending.get(email)
        if link is not None and link.is_active:
            status = "active"
        elif invitation is not None:
            status = "invited" if invitation.expires_at > now else "expired"
        else:
            status = "ended"
        rows.append(
            InsurerUserRow(
                email=link.user.email if link is not None else email,
                full_name=link.user.full_name
                if link is not None
                else (invitation.full_name if invitation else ""),
                link=link,
                invitation=invitation,
                status=status,
                last_login=link.user.last_login if link is not None else None,
                keys=tuple(keys.get(link.user_id, ())) if link is not None else (),
            )
        )
    return rows
