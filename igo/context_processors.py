"""Navigation for the base layout: the current tenant, the user's other tenants, and items by role, in the
order the role uses them most (the first `nav_bar` on the bar, the rest under "More")."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from igo import landing, rules, selectors
from igo.models import Role, User

# What each kind of user opens most, first; items not named keep their place after these.
# Clinicians: the caseload, the search and (maternity carers) Vandaag; the dashboard follows.
# Finance: the monthly round of claims, batches, payouts and revenue, then the work queue.
# Administrators: users, organisations and professionals (the order in which items are made).
CLINICAL_ORDER = ("home", "clients", "dashboard")
MATERNITY_ORDER = ("today", "home", "clients", "dashboard")
FINANCE_ORDER = ("claims", "batches", "payouts", "revenue", "workqueue", "dashboard", "finance", "contracts")
# How many items stand on the bar before "More": finance's five labels are short; an administrator's
# four are long. Both keep the bar on one row at 1366 px (tests/browser/test_phone_layout.py).
NAV_BAR = 4
FINANCE_NAV_BAR = 5


def nav_order(roles: frozenset[str]) -> tuple[tuple[str, ...], int]:
    """The items a user with `roles` in the IGO sees first, and how many stand on the bar."""
    if rules.lands_on_caseload(roles):
        carer_only = Role.MATERNITY_CARER in roles and not rules.can_record_birth(roles)
        return (MATERNITY_ORDER if carer_only else CLINICAL_ORDER), NAV_BAR
    if Role.IGO_FINANCE in roles and Role.IGO_ADMIN not in roles:
        return FINANCE_ORDER, FINANCE_NAV_BAR
    return (), NAV_BAR


def _ordered(items: list[tuple[str, str, str]], first: tuple[str, ...]) -> list[tuple[str, str, str]]:
    rank = {key: i for i, key in enumerate(first)}
    return sorted(items, key=lambda item: rank.get(item[0], len(first)))  # stable: the rest keep their order


def navigation(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if not isinstance(user, User) or not user.is_authenticated:
        return {}
    tenant = getattr(request, "tenant", None)
    roles: frozenset[str] = getattr(request, "tenant_roles", frozenset())
    items: list[tuple[str, str, str]] = []
    if tenant is not None:
        kw = {"tenant_slug": tenant.slug}
        items.append(("dashboard", str(_("Dashboard")), reverse("tenant_dashboard", kwargs=kw)))
        if rules.can_log_care(roles):
            items.append(("home", str(_("My caseload")), reverse("care_home", kwargs=kw)))
            items.append(("clients", str(_("Clients")), reverse("client_search", kwargs=kw)))
        if Role.MATERNITY_CARER in roles:
            items.append(("today", str(_("Today")), reverse("care_today", kwargs=kw)))
        if rules.can_view_members(roles):
            items.append(("members", str(_("Users and roles")), reverse("membership_list", kwargs=kw)))
            items.append(
                ("organisations", str(_("Member organisations")), reverse("organisation_list", kwargs=kw))
            )
            items.append(("professionals", str(_("Professionals")), reverse("professional_list", kwargs=kw)))
        if rules.can_view_finance(roles):
            items.append(("finance", str(_("Finance overview")), reverse("finance_home", kwargs=kw)))
            items.append(("contracts", str(_("Contracts")), reverse("contract_list", kwargs=kw)))
            items.append(("claims", str(_("Claims")), reverse("claim_list", kwargs=kw)))
            items.append(("batches", str(_("Batches")), reverse("batch_list", kwargs=kw)))
            items.append(("workqueue", str(_("Work queue")), reverse("work_queue", kwargs=kw)))
            items.append(("revenue", str(_("Revenue")), reverse("revenue", kwargs=kw)))
            items.append(("payouts", str(_("Payouts")), reverse("payout_list", kwargs=kw)))
        if rules.can_view_quality(roles):
            items.append(("quality", str(_("Quality")), reverse("quality_dashboard", kwargs=kw)))
        if rules.can_manage_members(roles):
            items.append(("catalogue", str(_("Care catalogue")), reverse("catalogue", kwargs=kw)))
            items.append(("access", str(_("Access log")), reverse("access_log", kwargs=kw)))
            items.append(("audit", str(_("Audit log")), reverse("audit_list", kwargs=kw)))
            items.append(("settings", str(_("IGO settings")), reverse("tenant_settings", kwargs=kw)))
    access = selectors.request_access(request)
    if access.insurers:
        items.append(("insurer", str(_("Insurer portal")), reverse("insurer_dashboard")))
    if user.is_staff:
        items.append(("platform", str(_("Platform")), reverse("platform_tenants")))
    first, bar = nav_order(roles)
    return {
        "nav_items": _ordered(items, first),
        "nav_bar": bar,
        "nav_home": (
            landing.tenant_home_url(tenant_slug=tenant.slug, roles=roles)
            if tenant is not None
            else reverse("home")
        ),
        "nav_tenant": tenant,
        "nav_roles": sorted(roles),
        "nav_tenants": access.tenants,
        # Personal keys are for the IGO API: someone who works only for insurers has the portal's own keys
        # (a second "API keys" link would lead her to a key the insurer API refuses).
        "nav_personal_keys": bool(access.tenants) or not access.insurers or user.is_staff,
    }
