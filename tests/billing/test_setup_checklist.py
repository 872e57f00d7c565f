"""A new IGO's setup checklist: every item for its administrators, the billing items for finance, and a
"not ready to bill" state on the finance home instead of "nothing waits". An empty IGO has everything to
do; the worked example, completed, has nothing (the card goes away)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from billing.setup_checklist import setup_checklist
from igo.models import Role, Tenant
from igo.tenancy import tenant_scope
from providers.models import MemberOrganisation, Professional
from tests.factories import MembershipFactory, ProfessionalFactory, UserFactory
from tests.scenarios.billing import worked_example
from tests.scenarios.clock import local

pytestmark = [pytest.mark.django_db, pytest.mark.dated, pytest.mark.clock(local(2026, 11, 20, 10))]

ALL = ["members", "professionals", "finance_users", "contracts", "split_rule", "igo_iban", "member_ibans"]
BILLING = ["members", "contracts", "split_rule", "igo_iban", "member_ibans"]


def _items(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-testid="setup-([a-z_]+)" data-done="(yes|no)"', html))


def _complete(world):  # type: ignore[no-untyped-def]
    w = worked_example(world, actor=world.user(Role.IGO_FINANCE))
    Tenant.objects.filter(pk=world.tenant.pk).update(iban="NL91ABNA0417164300")
    MemberOrganisation.unscoped.filter(tenant=world.tenant).update(iban="NL91ABNA0417164300")
    ProfessionalFactory(tenant=world.tenant, organisation=w.practice, user=world.user(Role.MIDWIFE))
    MembershipFactory(tenant=world.tenant, user=UserFactory(), role=Role.IGO_FINANCE)
    return w


def test_an_empty_igo_shows_every_item_to_do_with_a_link(world_a, client_for):
    admin = client_for(world_a.user(Role.IGO_ADMIN))
    html = admin.get(reverse("tenant_dashboard", args=[world_a.tenant.slug])).content.decode()
    assert _items(html) == dict.fromkeys(ALL, "no")
    assert f'href="{reverse("payout_list", args=[world_a.tenant.slug])}"' in html
    # Finance sees the items billing needs, and the finance home says it is not ready to bill.
    finance = client_for(world_a.user(Role.IGO_FINANCE))
    dashboard = finance.get(reverse("tenant_dashboard", args=[world_a.tenant.slug])).content.decode()
    assert _items(dashboard) == dict.fromkeys(BILLING, "no")
    home = finance.get(reverse("finance_home", args=[world_a.tenant.slug])).content.decode()
    assert 'data-testid="not-ready-to-bill"' in home and "Er wacht niets op financiën." not in home
    assert set(re.findall(r'data-testid="missing-([a-z_]+)"', home)) == set(BILLING)


def test_a_half_set_up_igo_says_what_is_missing(world_a, client_for):
    w = worked_example(world_a, actor=world_a.user(Role.IGO_FINANCE))
    ProfessionalFactory(tenant=world_a.tenant, organisation=w.practice)  # no account yet
    with tenant_scope(world_a.tenant):
        items = {i.key: i for i in setup_checklist(today=local(2026, 11, 20).date())}
    assert {k for k, i in items.items() if i.done} == {"members", "contracts", "split_rule"}
    assert items["professionals"].detail == "0 van 1 zorgverleners kunnen inloggen."
    assert items["member_ibans"].detail == "3 lidorganisaties hebben geen bankrekening."
    # Next year has no split rule yet.
    with tenant_scope(world_a.tenant):
        items = {i.key: i for i in setup_checklist(today=local(2027, 1, 4).date())}
    assert not items["split_rule"].done


def test_a_complete_igo_shows_no_checklist_and_the_usual_finance_home(
    world_a, client_for, django_assert_max_num_queries
):
    _complete(world_a)
    assert Professional.unscoped.filter(tenant=world_a.tenant, user__isnull=True).count() == 0
    with tenant_scope(world_a.tenant), django_assert_max_num_queries(8):
        items = setup_checklist(today=local(2026, 11, 20).date())
    assert all(i.done for i in items), [i for i in items if not i.done]
    admin = client_for(world_a.user(Role.IGO_ADMIN))
    assert (
        'data-testid="setup-checklist"'
        not in admin.get(reverse("tenant_dashboard", args=[world_a.tenant.slug])).content.decode()
    )
    finance = client_for(world_a.user(Role.IGO_FINANCE))
    home = finance.get(reverse("finance_home", args=[world_a.tenant.slug])).content.decode()
    assert 'data-testid="not-ready-to-bill"' not in home


def test_a_midwife_sees_no_checklist(world_a, client_for):
    midwife = client_for(world_a.user(Role.MIDWIFE))
    html = midwife.get(reverse("tenant_dashboard", args=[world_a.tenant.slug])).content.decode()
    assert 'data-testid="setup-checklist"' not in html
