"""Where a user lands and what her navigation offers first (issue 17): a user whose roles in her IGO are all
clinical opens her caseload after sign-in, from `/` and from the brand link; administrators and finance keep
the dashboard. The bar shows first what the role uses most: finance its claims, batches, payouts and
revenue, a clinician her caseload, the search and (a maternity carer) Vandaag."""

from __future__ import annotations

import re

import pytest
from django.test import RequestFactory

from igo.adapters import AccountAdapter
from igo.models import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

CLINICAL = [Role.MIDWIFE, Role.GYNAECOLOGIST, Role.MATERNITY_CARER]
OFFICE = [Role.IGO_ADMIN, Role.IGO_FINANCE]


def caseload(world) -> str:
    return f"/t/{world.tenant.slug}/home/"


def dashboard(world) -> str:
    return f"/t/{world.tenant.slug}/"


def bar(html: str) -> list[str]:
    """The data-nav keys on the bar (before "More"), in their order."""
    nav = html[html.index('class="mainnav"') :]
    nav = nav[: nav.index("</nav>")]
    on_bar = nav.split('data-testid="nav-more"')[0]
    return re.findall(r'data-nav="([a-z]+)"', on_bar)


def more(html: str) -> list[str]:
    nav = html[html.index('data-testid="nav-more"') :]
    return re.findall(r'data-nav="([a-z]+)"', nav[: nav.index("</nav>")])


def brand(html: str) -> str:
    found = re.search(r'<a class="brand" href="([^"]+)"', html)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("role", CLINICAL)
def test_a_clinician_lands_on_her_caseload(role, world_a, client_for):
    browser = client_for(world_a.user(role))
    assert browser.get("/")["Location"] == caseload(world_a)
    page = browser.get(caseload(world_a)).content.decode()
    assert brand(page) == caseload(world_a)


@pytest.mark.parametrize("role", OFFICE)
def test_administrators_and_finance_keep_the_dashboard(role, world_a, client_for):
    browser = client_for(world_a.user(role))
    assert browser.get("/")["Location"] == dashboard(world_a)
    assert brand(browser.get(dashboard(world_a)).content.decode()) == dashboard(world_a)


def test_a_midwife_who_also_administers_keeps_the_dashboard(world_a, client_for):
    midwife = world_a.user(Role.MIDWIFE)
    MembershipFactory(tenant=world_a.tenant, user=midwife, role=Role.IGO_ADMIN)
    assert client_for(midwife).get("/")["Location"] == dashboard(world_a)


def test_the_landing_follows_the_roles_in_the_igo_she_opens(world_a, world_b, client_for):
    """A midwife in one IGO who does the finance of another lands, in each, on the page of her role there."""
    user = world_a.user(Role.MIDWIFE)
    MembershipFactory(tenant=world_b.tenant, user=user, role=Role.IGO_FINANCE)
    browser = client_for(user)
    assert browser.get("/").status_code == 200  # two IGOs, none opened yet: she chooses
    browser.get(dashboard(world_b))
    assert browser.get("/")["Location"] == dashboard(world_b)
    browser.get(caseload(world_a))
    assert browser.get("/")["Location"] == caseload(world_a)


@pytest.mark.parametrize(("role", "expected"), [(Role.MIDWIFE, "home"), (Role.IGO_FINANCE, "dashboard")])
def test_the_sign_in_redirect_is_the_landing(role, expected, world_a):
    request = RequestFactory().get("/accounts/login/")
    request.user = world_a.user(role)
    request.session = {}  # type: ignore[assignment]
    url = AccountAdapter(request).get_login_redirect_url(request)
    assert url == {"home": caseload(world_a), "dashboard": dashboard(world_a)}[expected]


def test_a_user_without_an_igo_is_sent_where_she_belongs(db):
    operator = UserFactory(email="operator@example.test", is_staff=True)
    request = RequestFactory().get("/accounts/login/")
    request.user = operator
    request.session = {}  # type: ignore[assignment]
    assert AccountAdapter(request).get_login_redirect_url(request) == "/"


def test_finance_sees_its_monthly_round_on_the_bar(world_a, client_for):
    page = client_for(world_a.user(Role.IGO_FINANCE)).get(dashboard(world_a)).content.decode()
    assert bar(page) == ["claims", "batches", "payouts", "revenue", "workqueue"]
    assert {"dashboard", "contracts", "members", "quality"} <= set(more(page))


def test_the_administrator_sees_users_and_organisations_on_the_bar(world_a, client_for):
    page = client_for(world_a.user(Role.IGO_ADMIN)).get(dashboard(world_a)).content.decode()
    assert bar(page) == ["dashboard", "members", "organisations", "professionals"]
    assert {"claims", "batches", "catalogue", "access", "audit"} <= set(more(page))


def test_a_midwife_sees_her_caseload_and_the_search_first(world_a, client_for):
    page = client_for(world_a.user(Role.MIDWIFE)).get(caseload(world_a)).content.decode()
    assert bar(page) == ["home", "clients", "dashboard"]


def test_a_maternity_carer_sees_vandaag_first(world_a, client_for):
    page = client_for(world_a.user(Role.MATERNITY_CARER)).get(caseload(world_a)).content.decode()
    assert bar(page)[:3] == ["today", "home", "clients"]
