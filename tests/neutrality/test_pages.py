"""The monitor's pages: the table, chart and CSV of the worked example (tests.scenarios.neutrality), who may
see and change what, another IGO's data, and the DBC and mapping forms' field errors."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from igo.models import Role
from igo.tenancy import tenant_scope
from neutrality.models import CatalogueMapping, DbcAmount
from neutrality.selectors import neutrality_year
from tests.factories import CareEventFactory
from tests.scenarios.clock import local
from tests.scenarios.http import row
from tests.scenarios.neutrality import Neutral, neutral

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2026, 11, 15))]
D = Decimal


@pytest.fixture
def n(world_a) -> Neutral:
    return neutral(world_a)


def _url(world, name: str) -> str:  # type: ignore[no-untyped-def]
    return reverse(name, kwargs={"tenant_slug": world.tenant.slug})


def test_the_page_shows_the_table_chart_and_missing_data(n, world_a, client_for):
    """De Maas / ZK: 520.00 monodisciplinary, 1650.00 integral, 317.3 %, two events missing (the worked
    example of test_monitor); the year is chosen in the selector, 2025 and 2026 are offered."""
    client = client_for(world_a.user(Role.IGO_FINANCE))
    page = client.get(_url(world_a, "neutrality"), {"year": "2026"})
    assert page.status_code == 200
    html = page.content.decode()
    maas = row(html, f"neutrality-{n.b.maas.pk}-{n.b.zk.pk}")
    assert "520,00" in maas and "1.650,00" in maas and "317,3%" in maas
    assert "VK-ECHO" in maas and "POST_VISIT" in maas
    assert "2.990,00" in row(html, "neutrality-total") and "4.400,00" in row(html, "neutrality-total")
    assert 'data-testid="neutrality-missing"' in html and 'data-testid="neutrality-chart"' in html
    assert '<option value="2025"' in html and '<option value="2026" selected' in html
    # A year outside the selector falls back to this year (2026 on the clock), never a 500.
    assert client.get(_url(world_a, "neutrality"), {"year": "1999"}).status_code == 200
    assert client.get(_url(world_a, "neutrality"), {"year": "x"}).status_code == 200


def test_csv_export_has_the_same_figures(n, world_a, client_for):
    client = client_for(world_a.user(Role.IGO_ADMIN))
    # The international convention asked for; the Dutch one (the default in Dutch) has the same figures.
    response = client.get(_url(world_a, "neutrality_csv"), {"year": "2026", "convention": "intl"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "_intl.csv" in response["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    maas = next(x for x in lines if n.b.maas.name in x and "Zilveren Kruis" in x)
    assert maas[3:8] == ["520.00", "1650.00", "1130.00", "317.3", "2"]
    assert lines[-1][3:5] == ["2990.00", "4400.00"]
    dutch = client.get(_url(world_a, "neutrality_csv"), {"year": "2026", "convention": "nl"})
    rows = list(csv.reader(io.StringIO(dutch.content.decode("utf-8-sig")), delimiter=";"))
    assert [[c.replace(",", ".") for c in r] for r in rows] == lines


@pytest.mark.parametrize(
    "role,get_status,dbc_post,mapping_post",
    [
        (Role.IGO_FINANCE, 200, 302, 403),
        (Role.IGO_ADMIN, 200, 403, 302),
        (Role.MIDWIFE, 403, 403, 403),
        (Role.MATERNITY_CARER, 403, 403, 403),
    ],
)
def test_who_may_see_and_change(n, world_a, client_for, role, get_status, dbc_post, mapping_post):
    """Finance and administrators look; finance enters DBC amounts; administrators keep the mapping."""
    client = client_for(world_a.user(role))
    for name in ("neutrality", "neutrality_csv", "neutrality_dbc", "neutrality_mapping"):
        assert client.get(_url(world_a, name)).status_code == get_status, name
    dbc = {"code": "149999003", "description": "Keizersnede", "valid_from": "2026-01-01", "amount": "2000.00"}
    assert client.post(_url(world_a, "neutrality_dbc"), dbc).status_code == dbc_post
    mapping = {"event_type": n.types["POST_VISIT"].pk, "source": "included", "code": ""}
    assert client.post(_url(world_a, "neutrality_mapping"), mapping).status_code == mapping_post
    assert DbcAmount.unscoped.filter(code="149999003").exists() == (dbc_post == 302)
    assert CatalogueMapping.unscoped.filter(event_type=n.types["POST_VISIT"]).exists() == (
        mapping_post == 302
    )


def test_outsider_and_other_tenant_are_refused(n, world_a, world_b, client_for, outsider):
    for user in (outsider, world_b.user(Role.IGO_FINANCE)):
        response = client_for(user).get(_url(world_a, "neutrality"))
        assert response.status_code == 404


def test_another_igo_s_data_never_counts(n, world_a, world_b, client_for):
    """IGO Beta has a DBC amount for the same care product (9999.00) and care of its own: IGO Alpha's
    hospital still counts 1000.00, and Beta's monitor shows none of Alpha's members or money."""
    DbcAmount.unscoped.create(
        tenant=world_b.tenant,
        code="149999002",
        description="x",
        valid_from=dt.date(2025, 1, 1),
        amount=D("9999"),
    )
    CareEventFactory(
        tenant=world_b.tenant, occurred_at=local(2026, 3, 3), created_by=world_b.user(Role.MIDWIFE)
    )
    with tenant_scope(world_a.tenant):
        a = neutrality_year(year=2026)
    with tenant_scope(world_b.tenant):
        b = neutrality_year(year=2026)
    hosp = next(r for r in a.members if r.organisation_id == n.b.hospital.pk)
    assert hosp.monodisciplinary == D("1000.00")
    assert {r.organisation_id for r in b.rows}.isdisjoint({n.b.maas.pk, n.b.kraam.pk, n.b.hospital.pk})
    assert (b.total.integral, b.total.monodisciplinary, b.total.missing_events) == (D("0"), D("0"), 1)
    html = client_for(world_b.user(Role.IGO_FINANCE)).get(_url(world_b, "neutrality_dbc")).content.decode()
    assert "9.999,00" in html and "1.000,00" not in html


@pytest.mark.parametrize(
    "data,field",
    [
        ({"code": "12AB", "description": "x", "valid_from": "2026-01-01", "amount": "10"}, "code"),
        ({"code": "149999003", "description": "x", "valid_from": "2026-01-01", "amount": "-1"}, "amount"),
        (
            {
                "code": "149999003",
                "description": "x",
                "valid_from": "2026-02-01",
                "valid_to": "2026-01-01",
                "amount": "1",
            },
            "valid_to",
        ),
        ({"code": "149999003", "description": "", "valid_from": "", "amount": "1"}, "valid_from"),
        # The stored amount of 149999002 is open-ended from 2026: a second one may not share a day with it.
        ({"code": "149999002", "description": "x", "valid_from": "2027-01-01", "amount": "1"}, "valid_from"),
    ],
)
def test_dbc_form_errors_are_on_the_field_and_nothing_is_stored(n, world_a, client_for, data, field):
    client = client_for(world_a.user(Role.IGO_FINANCE))
    before = DbcAmount.unscoped.count()
    response = client.post(_url(world_a, "neutrality_dbc"), data)
    assert response.status_code == 400
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert DbcAmount.unscoped.count() == before


def test_mapping_form_sets_clears_and_refuses_a_missing_code(n, world_a, client_for):
    """ECHO without a code is refused on the code field; with one it is stored; an empty source removes the
    mapping again (its events then count as missing)."""
    client = client_for(world_a.user(Role.IGO_ADMIN))
    url, echo = _url(world_a, "neutrality_mapping"), n.types["ECHO"]
    response = client.post(url, {"event_type": echo.pk, "source": "kraamzorg", "code": ""})
    assert response.status_code == 400 and response.context["form"].errors["code"]
    assert (
        client.post(url, {"event_type": echo.pk, "source": "kraamzorg", "code": "KZ-UUR"}).status_code == 302
    )
    assert CatalogueMapping.unscoped.get(event_type=echo).code == "KZ-UUR"
    assert client.post(url, {"event_type": echo.pk, "source": ""}).status_code == 302
    assert not CatalogueMapping.unscoped.filter(event_type=echo).exists()


def test_another_igo_s_catalogue_entry_cannot_be_mapped(n, world_a, world_b, client_for):
    other = CareEventFactory(tenant=world_b.tenant, created_by=world_b.user(Role.MIDWIFE)).event_type
    client = client_for(world_a.user(Role.IGO_ADMIN))
    response = client.post(
        _url(world_a, "neutrality_mapping"), {"event_type": other.pk, "source": "included"}
    )
    assert response.status_code == 400 and response.context["form"].errors["event_type"]
    assert not CatalogueMapping.unscoped.filter(event_type=other).exists()
