"""Where a signed-in user lands: in her IGO, a clinician on her caseload, anyone else on the dashboard.

A user whose roles in an IGO are all clinical (midwife, gynaecologist, maternity carer) works from her
caseload ("Mijn caseload"); a user who also administers the IGO or does its finance lands on the
dashboard, whose figures are hers to watch. The sign-in redirect (igo.adapters), the site's root
(igo.views.home) and the brand link of the navigation ask the same question here.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.urls import reverse

from igo import rules, selectors
from igo.models import Tenant, User


def tenant_home_url(*, tenant_slug: str, roles: Iterable[str]) -> str:
    """The first page of an IGO for a user with `roles` in it."""
    name = "care_home" if rules.lands_on_caseload(roles) else "tenant_dashboard"
    return reverse(name, kwargs={"tenant_slug": tenant_slug})


def tenant_to_open(*, user: User, last_slug: str | None) -> tuple[list[Tenant], Tenant | None]:
    """Her IGOs, and the one to open without asking: her only IGO, else the one she used last."""
    tenants = selectors.user_tenants(user=user)
    if len(tenants) == 1:
        return tenants, tenants[0]
    chosen = next((t for t in tenants if last_slug and t.slug == last_slug), None)
    return tenants, chosen


def landing_url(*, user: User, last_slug: str | None) -> str | None:
    """The page to open after sign-in, or None when there is no IGO to open without asking."""
    _tenants, tenant = tenant_to_open(user=user, last_slug=last_slug)
    if tenant is None:
        return None
    return tenant_home_url(tenant_slug=tenant.slug, roles=selectors.user_roles(user=user, tenant=tenant))
