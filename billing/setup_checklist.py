"""What a new IGO still has to set up before it can bill and pay out: a checklist for its administrators
(everything) and finance (what billing needs), each item done or not with a link to where it is done.

One count query per item at most (the member figures share one), whatever the size of the IGO; call inside
tenant_scope.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.models import Contract, SplitRule
from igo.http import TenantRequest
from igo.models import Membership, Role, Tenant
from igo.tenancy import current_tenant
from pregnancies.models import ClientInsurance
from providers.models import MemberOrganisation, Professional

# Four eyes: one finance user prepares a batch or payout, another releases it.
FINANCE_USERS_MIN = 2


@dataclass(frozen=True)
class SetupItem:
    key: str
    label: str
    done: bool
    detail: str
    url: str
    # Needed before the IGO can bill and pay out (shown to finance, and as "not ready to bill").
    for_billing: bool


def setup_checklist(*, today: dt.date) -> list[SetupItem]:
    tenant = current_tenant()
    slug = {"tenant_slug": tenant.slug}
    # Read afresh: the tenant in scope may come from a user's cached access, older than the account.
    igo_iban = Tenant.objects.filter(pk=tenant.pk).values_list("iban", flat=True).first() or ""
    current_member = Q(member_from__lte=today) & (Q(member_until__isnull=True) | Q(member_until__gte=today))
    members = MemberOrganisation.objects.aggregate(
        n=Count("pk", filter=current_member),
        no_iban=Count("pk", filter=current_member & Q(iban="")),
    )
    pros = Professional.objects.filter(is_active=True).aggregate(
        n=Count("pk"), linked=Count("pk", filter=Q(user__isnull=False))
    )
    finance_users = (
        Membership.objects.filter(role=Role.IGO_FINANCE, is_active=True).values("user").distinct().count()
    )
    in_force = Q(valid_from__lte=today) & (Q(valid_until__isnull=True) | Q(valid_until__gte=today))
    contracted = set(Contract.objects.filter(in_force).values_list("insurer_id", flat=True).distinct())
    client_insurers = set(
        ClientInsurance.objects.filter(in_force).values_list("insurer_id", flat=True).distinct()
    )
    uncontracted = len(client_insurers - contracted)
    has_split_rule = SplitRule.objects.filter(year=today.year).exists()
    return [
        SetupItem(
            "members",
            _("Member organisations"),
            members["n"] > 0,
            ngettext("%(n)s member organisation.", "%(n)s member organisations.", members["n"])
            % {"n": members["n"]},
            reverse("organisation_list", kwargs=slug),
            True,
        ),
        SetupItem(
            "professionals",
            _("Professionals linked to an account"),
            pros["n"] > 0 and pros["linked"] == pros["n"],
            _("%(linked)s of %(n)s professionals can sign in.") % pros,
            reverse("professional_list", kwargs=slug),
            False,
        ),
        SetupItem(
            "finance_users",
            _("At least two finance users (four eyes)"),
            finance_users >= FINANCE_USERS_MIN,
            ngettext("%(n)s finance user.", "%(n)s finance users.", finance_users) % {"n": finance_users},
            reverse("membership_list", kwargs=slug) + f"?role={Role.IGO_FINANCE}",
            False,
        ),
        SetupItem(
            "contracts",
            _("A contract with every insurer"),
            bool(contracted) and not uncontracted,
            (
                ngettext(
                    "%(n)s insurer of the clients has no contract in force.",
                    "%(n)s insurers of the clients have no contract in force.",
                    uncontracted,
                )
                % {"n": uncontracted}
                if uncontracted
                else ngettext("%(n)s contract in force.", "%(n)s contracts in force.", len(contracted))
                % {"n": len(contracted)}
            ),
            reverse("contract_list", kwargs=slug),
            True,
        ),
        SetupItem(
            "split_rule",
            _("A split rule for %(year)s") % {"year": today.year},
            has_split_rule,
            _("Set.") if has_split_rule else _("None yet: claims cannot be divided among the members."),
            reverse("split_rule_list", kwargs=slug),
            True,
        ),
        SetupItem(
            "igo_iban",
            _("The IGO's bank account"),
            bool(igo_iban),
            _("Set.") if igo_iban else _("Not set: payouts cannot be made (set by an administrator)."),
            reverse("payout_list", kwargs=slug),
            True,
        ),
        SetupItem(
            "member_ibans",
            _("A bank account for every member"),
            members["n"] > 0 and members["no_iban"] == 0,
            ngettext(
                "%(n)s member organisation has no bank account.",
                "%(n)s member organisations have no bank account.",
                members["no_iban"],
            )
            % {"n": members["no_iban"]}
            if members["no_iban"] or not members["n"]
            else _("All set."),
            reverse("organisation_list", kwargs=slug),
            True,
        ),
    ]


def dashboard_part(request: TenantRequest) -> dict[str, Any]:
    """The setup checklist on the IGO dashboard: every item for an administrator, the billing items for
    finance; hidden once all of them are done (registered with igo.dashboard by BillingConfig.ready)."""
    from django.utils import timezone

    roles = request.tenant_roles
    is_admin, is_finance = Role.IGO_ADMIN in roles, Role.IGO_FINANCE in roles
    if not (is_admin or is_finance):
        return {}
    items = setup_checklist(today=timezone.localdate())
    if not is_admin:
        items = [item for item in items if item.for_billing]
    if all(item.done for item in items):
        return {}
    return {"setup_items": items}
