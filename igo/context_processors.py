"""Navigation for the base layout: the current tenant, the user's other tenants, and items by role."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from igo import rules, selectors
from igo.models import Role, User


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
    access = selectors.request_access(request)
    if access.insurers:
        items.append(("insurer", str(_("Insurer portal")), reverse("insurer_dashboard")))
    if user.is_staff:
        items.append(("platform", str(_("Platform")), reverse("platform_tenants")))
    return {
        "nav_items": items,
        "nav_tenant": tenant,
        "nav_roles": sorted(roles),
        "nav_tenants": access.tenants,
    }
