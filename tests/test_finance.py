"""Finance screens and the billing API: thin views over the billing services, finance writes only,
field errors on the right fields with nothing stored, and an explanation of an amount to the cent."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from django.core.cache import cache
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from billing import services
from billing.models import (
    Allocation,
    ClaimLine,
    Contract,
    ContractTariff,
    InternalRate,
    LineStatus,
    PartialRule,
    SplitPhase,
    SplitRule,
    SplitShare,
    WorkItem,
)
from billing.tasks import billing_run, progress_key
from igo.models import AuditEntry, Insurer, Role, User
from igo.tenancy import tenant_scope
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import AccessLogEntry, CareEvent, ClientInsurance, Episode, EventType
from providers.models import MemberOrganisation
from tests.factories import (
    CareEventFactory,
    EpisodeFactory,
    InsurerFactory,
    MemberOrganisationFactory,
    ProfessionalFactory,
)
from tests.scenarios.billing import BILLING_NOW
from tests.scenarios.http import api, row
from tests.scenarios.people import TenantWorld

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]

TZ = timezone.get_default_timezone()
NOTE = "Vertrouwelijke notitie: bloeddruk 150/95"


def at(y: int, m: int, d: int, h: int = 12) -> dt.datetime:
    return dt.datetime(y, m, d, h, tzinfo=TZ)


@dataclass
class Fin:
    world: TenantWorld
    finance: User
    admin: User
    zk: Insurer
    practice: MemberOrganisation
    hospital: MemberOrganisation
    kraam: MemberOrganisation
    types: dict[str, EventType]
    contract: Contract

    @property
    def tenant(self) -> Any:
        return self.world.tenant

    def url(self, name: str, **kwargs: Any) -> str:
        return reverse(name, kwargs={"tenant_slug": self.tenant.slug, **kwargs})

    def api(self, path: str = "") -> str:
        return f"/api/t/{self.tenant.slug}/{path}"

    def run(self, today: dt.date = dt.date(2026, 11, 1)) -> services.RunResult:
        with tenant_scope(self.tenant):
            return services.billing_run(tenant=self.tenant, today=today)

    def insure(self, episode: Episode, insurer: Insurer | None = None) -> None:
        ClientInsurance.unscoped.create(
            tenant=self.tenant,
            client=episode.client,
            insurer=insurer or self.zk,
            policy_number="123456",
            valid_from=dt.date(2025, 1, 1),
        )


@pytest.fixture
def fin(world_a: TenantWorld) -> Fin:
    """The worked example of tests/test_billing.py, set up by IGO finance."""
    tenant = world_a.tenant
    finance = world_a.user(Role.IGO_FINANCE)
    catalogue_seed(tenant=tenant)
    zk = InsurerFactory(uzovi_code="3311", name="Zilveren Kruis")
    practice = MemberOrganisationFactory(tenant=tenant, name="Praktijk De Wieg", kind="midwifery_practice")
    hospital = MemberOrganisationFactory(tenant=tenant, name="Ziekenhuis Oost", kind="hospital")
    kraam = MemberOrganisationFactory(tenant=tenant, name="Kraamzorg Noord", kind="kraamzorg")
    with tenant_scope(tenant):
        contract = services.contract_create(
            tenant=tenant,
            actor=finance,
            insurer=zk,
            name="ZK 2026",
            valid_from=dt.date(2026, 1, 1),
            overhead_pct=Decimal("5"),
            reserve_pct=Decimal("2"),
            tariffs={
                "prenatal": ("IGB-PRE", Decimal("1200.00")),
                "natal": ("IGB-NAT", Decimal("900.00")),
                "postnatal": ("IGB-POST", Decimal("1500.00")),
            },
            partial_rules=[
                {"end_reason": "miscarriage", "before_week": 16, "phases": ["prenatal"], "percentage": 50}
            ],
        )
        types = {t.code: t for t in EventType.objects.all()}
        services.split_rule_create(
            tenant=tenant,
            actor=finance,
            year=2026,
            phases={
                "prenatal": {"method": "care"},
                "natal": {"method": "fixed", "shares": {practice.pk: 60, hospital.pk: 40}},
                "postnatal": {"method": "care", "minimums": {practice.pk: 10}},
            },
            rates={
                types["PRE_CHECK"].pk: Decimal("50"),
                types["ECHO_SEO"].pk: Decimal("120"),
                types["KZ_HOURS"].pk: Decimal("35"),
                types["POST_VISIT"].pk: Decimal("60"),
            },
        )
    return Fin(
        world=world_a,
        finance=finance,
        admin=world_a.user(Role.IGO_ADMIN),
        zk=zk,
        practice=practice,
        hospital=hospital,
        kraam=kraam,
        types=types,
        contract=contract,
    )


def full_trajectory(fin: Fin) -> Episode:
    """Ten prenatal checks by the practice, 49 kraamzorg hours and one postnatal visit (test_billing)."""
    ep = EpisodeFactory(
        tenant=fin.tenant,
        intake_date=dt.date(2026, 2, 1),
        due_date=dt.date(2026, 9, 1),
        gestational_age_at_intake=70,
        labour_started_at=at(2026, 8, 30, 8),
        placenta_plus_2h_at=at(2026, 8, 30, 16),
        postnatal_ended_on=dt.date(2026, 10, 10),
    )
    fin.insure(ep)
    mw = ProfessionalFactory(tenant=fin.tenant, organisation=fin.practice)
    kz = ProfessionalFactory(
        tenant=fin.tenant, organisation=fin.kraam, discipline="maternity_carer", big_number=""
    )
    for i in range(10):
        CareEventFactory(
            tenant=fin.tenant,
            episode=ep,
            event_type=fin.types["PRE_CHECK"],
            professional=mw,
            occurred_at=at(2026, 3, 1) + dt.timedelta(weeks=i),
            note=NOTE,
        )
    CareEventFactory(
        tenant=fin.tenant,
        episode=ep,
        event_type=fin.types["KZ_HOURS"],
        professional=kz,
        phase="postnatal",
        occurred_at=at(2026, 8, 31),
        quantity=Decimal("49"),
        note=NOTE,
    )
    CareEventFactory(
        tenant=fin.tenant,
        episode=ep,
        event_type=fin.types["POST_VISIT"],
        professional=mw,
        phase="postnatal",
        occurred_at=at(2026, 9, 1),
        note=NOTE,
    )
    return ep


CONTRACT_POST = {
    "insurer": "",
    "name": "VGZ 2026",
    "valid_from": "2026-01-01",
    "valid_until": "",
    "overhead_pct": "4.5",
    "reserve_pct": "1.5",
    "submission_months": "12",
    "code_prenatal": "IGB-PRE",
    "amount_prenatal": "1195.00",
    "code_natal": "",
    "amount_natal": "",
    "code_postnatal": "IGB-POST",
    "amount_postnatal": "1465.50",
    "rules-TOTAL_FORMS": "3",
    "rules-INITIAL_FORMS": "0",
    "rules-MIN_NUM_FORMS": "0",
    "rules-MAX_NUM_FORMS": "10",
    "rules-0-end_reason": "miscarriage",
    "rules-0-before_week": "16",
    "rules-0-phases": ["prenatal"],
    "rules-0-percentage": "50",
    "rules-1-end_reason": "",
    "rules-2-end_reason": "",
}


# --- contracts -------------------------------------------------------------------------------


def test_contract_list_shows_versions_and_tariffs_per_insurer(fin, client_for):
    html = client_for(fin.finance).get(fin.url("contract_list")).content.decode()
    contract_row = row(html, f"contract-{fin.contract.pk}")
    assert "ZK 2026" in contract_row and "01-01-2026" in contract_row
    assert "IGB-PRE € 1.200,00" in contract_row and "IGB-POST € 1.500,00" in contract_row
    assert "5,00%" in contract_row and "2,00%" in contract_row
    assert "Zilveren Kruis" in row(html, "insurer-3311")
    assert "Miskraam" in html and "week 16" in html  # the rule for an early ending, in Dutch
    assert 'data-testid="contract-new"' in html
    # An administrator may look but not change.
    admin_html = client_for(fin.admin).get(fin.url("contract_list")).content.decode()
    assert "ZK 2026" in admin_html and 'data-testid="contract-new"' not in admin_html
    assert f'data-testid="new-version-{fin.contract.pk}"' not in admin_html


def test_finance_creates_a_contract_with_a_phase_not_covered(fin, client_for):
    vgz = InsurerFactory(uzovi_code="7095", name="VGZ")
    response = client_for(fin.finance).post(fin.url("contract_create"), {**CONTRACT_POST, "insurer": vgz.pk})
    assert response.status_code == 302 and response["Location"] == fin.url("contract_list")
    contract = Contract.unscoped.get(tenant=fin.tenant, insurer=vgz)
    assert (contract.overhead_pct, contract.reserve_pct, contract.created_by) == (
        Decimal("4.50"),
        Decimal("1.50"),
        fin.finance,
    )
    tariffs = {
        t.phase: (t.prestatie_code, t.amount) for t in ContractTariff.unscoped.filter(contract=contract)
    }
    assert tariffs == {
        "prenatal": ("IGB-PRE", Decimal("1195.00")),
        "postnatal": ("IGB-POST", Decimal("1465.50")),
    }
    (rule,) = PartialRule.unscoped.filter(contract=contract)
    assert (rule.end_reason, rule.before_week, rule.phases, rule.percentage) == (
        "miscarriage",
        16,
        ["prenatal"],
        Decimal("50.00"),
    )
    assert AuditEntry.objects.filter(action="contract.create", actor=fin.finance).count() == 2
    html = client_for(fin.finance).get(fin.url("contract_list")).content.decode()
    assert "niet gedekt" in row(html, f"contract-{contract.pk}")  # natal: not covered


def test_contract_field_errors_are_on_their_fields_and_nothing_is_stored(fin, client_for):
    vgz = InsurerFactory(uzovi_code="7095", name="VGZ")
    before = (Contract.unscoped.count(), ContractTariff.unscoped.count(), PartialRule.unscoped.count())
    response = client_for(fin.finance).post(
        fin.url("contract_create"),
        {
            **CONTRACT_POST,
            "insurer": vgz.pk,
            "overhead_pct": "150",
            "amount_prenatal": "-5.00",
            "code_natal": "",
            "amount_natal": "900.00",
            "amount_postnatal": "1465.555",
        },
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"overhead_pct", "amount_prenatal", "code_natal", "amount_postnatal"}
    assert errors["amount_prenatal"] == ["Een prijs kan niet negatief zijn."]
    assert errors["code_natal"] == ["Vul de prestatiecode in."]
    html = response.content.decode()
    assert "Een prijs kan niet negatief zijn." in html and "Vul de prestatiecode in." in html
    assert (
        Contract.unscoped.count(),
        ContractTariff.unscoped.count(),
        PartialRule.unscoped.count(),
    ) == before


def test_overlapping_period_and_too_much_overhead_are_refused(fin, client_for):
    client = client_for(fin.finance)
    response = client.post(
        fin.url("contract_create"),
        {
            **CONTRACT_POST,
            "insurer": fin.zk.pk,
            "valid_from": "2026-06-01",
            "overhead_pct": "60",
            "reserve_pct": "50",
        },
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "ZK 2026" in errors["valid_from"][0] and "01-01-2026" in errors["valid_from"][0]
    assert errors["reserve_pct"] == ["Overhead en reserve samen zijn meer dan 100%."]
    # No tariff at all: the service says a contract covers at least one phase.
    empty = {k: "" for k in CONTRACT_POST if k.startswith(("code_", "amount_"))}
    vgz = InsurerFactory(uzovi_code="7095", name="VGZ")
    response = client.post(fin.url("contract_create"), {**CONTRACT_POST, **empty, "insurer": vgz.pk})
    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == ["Een contract dekt minstens één fase."]
    assert Contract.unscoped.filter(tenant=fin.tenant).count() == 1


def test_new_version_ends_the_old_one_and_changes_tariffs(fin, client_for):
    client = client_for(fin.finance)
    page = client.get(fin.url("contract_new_version", pk=fin.contract.pk))
    assert page.status_code == 200 and 'value="1200.00"' in page.content.decode()
    response = client.post(
        fin.url("contract_new_version", pk=fin.contract.pk),
        {
            "valid_from": "2026-07-01",
            "name": "ZK 2026 (juli)",
            "overhead_pct": "5",
            "reserve_pct": "2",
            "submission_months": "12",
            "code_prenatal": "IGB-PRE",
            "amount_prenatal": "1250.00",
            "code_natal": "IGB-NAT",
            "amount_natal": "900.00",
            "code_postnatal": "IGB-POST",
            "amount_postnatal": "1500.00",
        },
    )
    assert response.status_code == 302
    fin.contract.refresh_from_db()
    assert fin.contract.valid_until == dt.date(2026, 6, 30)
    new = Contract.unscoped.get(tenant=fin.tenant, valid_from=dt.date(2026, 7, 1))
    assert new.name == "ZK 2026 (juli)" and new.valid_until is None
    tariffs = {t.phase: t.amount for t in ContractTariff.unscoped.filter(contract=new)}
    assert tariffs == {
        "prenatal": Decimal("1250.00"),
        "natal": Decimal("900.00"),
        "postnatal": Decimal("1500.00"),
    }
    assert PartialRule.unscoped.filter(contract=new).count() == 1  # carried over


def test_new_version_before_the_start_is_refused_on_its_date_field(fin, client_for):
    response = client_for(fin.finance).post(
        fin.url("contract_new_version", pk=fin.contract.pk),
        {
            "valid_from": "2026-01-01",
            "name": "ZK",
            "overhead_pct": "5",
            "reserve_pct": "2",
            "submission_months": "12",
            "code_prenatal": "IGB-PRE",
            "amount_prenatal": "1.005",
        },
    )
    assert response.status_code == 400
    # Ending the old version on 31-12-2025 is refused as `valid_until`; the form shows it on its start date.
    assert response.context["form"].errors["valid_from"] == ["Het einde ligt voor het begin."]
    assert "Einde" not in response.content.decode() or "31-12-2025" not in response.content.decode()
    fin.contract.refresh_from_db()
    assert fin.contract.valid_until is None
    assert Contract.unscoped.filter(tenant=fin.tenant).count() == 1


def test_a_price_with_a_code_needs_an_amount(fin, client_for):
    response = client_for(fin.finance).post(
        fin.url("contract_create"),
        {**CONTRACT_POST, "insurer": fin.zk.pk, "valid_from": "2027-01-01", "amount_postnatal": ""},
    )
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["amount_postnatal"]
    assert Contract.unscoped.filter(tenant=fin.tenant).count() == 1


def test_administrator_may_not_change_contracts_split_rules_or_start_a_run(fin, client_for):
    client = client_for(fin.admin)
    assert client.post(fin.url("contract_create"), {**CONTRACT_POST, "insurer": fin.zk.pk}).status_code == 403
    assert client.post(fin.url("contract_new_version", pk=fin.contract.pk), {}).status_code == 403
    assert client.post(fin.url("split_rule_create"), {"year": "2027"}).status_code == 403
    assert client.post(fin.url("billing_run_start")).status_code == 403
    assert Contract.unscoped.filter(tenant=fin.tenant).count() == 1
    assert SplitRule.unscoped.filter(tenant=fin.tenant).count() == 1


# --- split rules -----------------------------------------------------------------------------


def _split_post(fin: Fin, **overrides: str) -> dict[str, str]:
    data = {
        "year": "2026",
        "valid_from": "2026-07-01",
        "note": "Nieuwe afspraak",
        "method_prenatal": "care",
        "method_natal": "fixed",
        f"pct_natal_{fin.practice.pk}": "55",
        f"pct_natal_{fin.hospital.pk}": "45",
        "method_postnatal": "care",
        f"pct_postnatal_{fin.practice.pk}": "15",
        f"rate_{fin.types['PRE_CHECK'].pk}": "45",
        f"rate_{fin.types['KZ_HOURS'].pk}": "38",
    }
    return {**data, **overrides}


def test_split_rule_list_and_new_version(fin, client_for):
    client = client_for(fin.finance)
    html = client.get(fin.url("split_rule_list")).content.decode()
    assert "Vaste verdeling" in html and "Praktijk De Wieg" in html and "60,00%" in html
    form = client.get(fin.url("split_rule_create")).content.decode()
    # The form starts from the latest version.
    assert f'name="pct_natal_{fin.practice.pk}"' in form and 'value="60"' in form
    response = client.post(fin.url("split_rule_create"), _split_post(fin))
    assert response.status_code == 302
    rule = SplitRule.unscoped.get(tenant=fin.tenant, year=2026, version=2)
    assert rule.valid_from == dt.date(2026, 7, 1) and rule.created_by == fin.finance
    phases = {p.phase: p for p in SplitPhase.unscoped.filter(rule=rule)}
    assert {p: sp.method for p, sp in phases.items()} == {
        "prenatal": "care",
        "natal": "fixed",
        "postnatal": "care",
    }
    natal = {s.organisation_id: s.share_pct for s in SplitShare.unscoped.filter(split_phase=phases["natal"])}
    assert natal == {fin.practice.pk: Decimal("55.000"), fin.hospital.pk: Decimal("45.000")}
    post = {
        s.organisation_id: s.minimum_pct for s in SplitShare.unscoped.filter(split_phase=phases["postnatal"])
    }
    assert post == {fin.practice.pk: Decimal("15.000")}
    assert {r.event_type_id: r.rate for r in InternalRate.unscoped.filter(rule=rule)} == {
        fin.types["PRE_CHECK"].pk: Decimal("45.00"),
        fin.types["KZ_HOURS"].pk: Decimal("38.00"),
    }


def test_shares_that_do_not_sum_to_100_are_shown_on_the_phase(fin, client_for):
    before = SplitRule.unscoped.count()
    response = client_for(fin.finance).post(
        fin.url("split_rule_create"), _split_post(fin, **{f"pct_natal_{fin.hospital.pk}": "40"})
    )
    assert response.status_code == 400
    message = "De aandelen voor fase nataal tellen op tot 95%, niet tot 100%."
    assert response.context["form"].errors["method_natal"] == [message]
    assert message in row(response.content.decode(), "split-phase-natal")
    assert SplitRule.unscoped.count() == before


# --- work queue ------------------------------------------------------------------------------


def test_work_queue_shows_client_episode_reason_and_message_but_no_care_record(fin, client_for):
    vgz = InsurerFactory(uzovi_code="7095", name="VGZ")
    ep = EpisodeFactory(
        tenant=fin.tenant,
        intake_date=dt.date(2026, 2, 1),
        due_date=dt.date(2026, 9, 1),
        gestational_age_at_intake=70,
        labour_started_at=at(2026, 8, 30, 8),
    )
    fin.insure(ep, vgz)
    CareEventFactory(
        tenant=fin.tenant,
        episode=ep,
        event_type=fin.types["PRE_CHECK"],
        professional=ProfessionalFactory(tenant=fin.tenant, organisation=fin.practice),
        occurred_at=at(2026, 3, 1),
        note=NOTE,
    )
    fin.run()
    item = WorkItem.unscoped.get(episode=ep)
    html = client_for(fin.finance).get(fin.url("work_queue")).content.decode()
    text = unescape(row(html, f"work-item-{item.pk}"))
    assert ep.client.given_names in text and ep.client.family_name in text and f"#{ep.pk}" in text
    assert "Geen contract met de verzekeraar" in text and "Prenataal" in text
    assert item.message in text
    assert fin.url("episode_claims", pk=ep.pk) in html
    assert fin.url("episode_detail", pk=ep.pk) not in html  # finance may not open the care record
    assert NOTE not in html and ep.client.bsn not in html
    # The same item shows on the episode's claims page.
    claims = client_for(fin.finance).get(fin.url("episode_claims", pk=ep.pk)).content.decode()
    assert "Geen contract met de verzekeraar" in row(claims, "episode-work-items")


# --- claims and the explanation ----------------------------------------------------------------


def test_explain_a_postnatal_line_to_the_cent(fin, client_for):
    ep = full_trajectory(fin)
    fin.run()
    line = ClaimLine.unscoped.get(episode=ep, phase="postnatal")
    client = client_for(fin.finance)
    claims = client.get(fin.url("episode_claims", pk=ep.pk)).content.decode()
    assert "€&nbsp;1.500,00" in row(claims, f"line-{line.pk}").replace(" ", "&nbsp;", 1) or "1.500,00" in row(
        claims, f"line-{line.pk}"
    )
    assert fin.url("claim_line_explain", pk=line.pk) in claims

    response = client.get(fin.url("claim_line_explain", pk=line.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert "IGB-POST" in row(html, "explain-line") and "30-08-2026 – 10-10-2026" in row(html, "explain-line")
    assert row(html, "explain-contract").startswith("ZK 2026 · 01-01-2026")
    assert row(html, "explain-tariff") == "€ 1.500,00"
    assert row(html, "explain-amount") == "€ 1.500,00"
    assert 'data-testid="explain-percentage"' not in html  # the whole trajectory: no percentage
    # The care: 49 kraamzorg hours × € 35 = 1715 points, one postnatal visit × € 60 = 60 points.
    kz = CareEvent.unscoped.get(episode=ep, event_type=fin.types["KZ_HOURS"])
    visit = CareEvent.unscoped.get(episode=ep, event_type=fin.types["POST_VISIT"])
    assert row(html, f"explain-event-{kz.pk}") == (
        "31-08-2026 12:00 KZ_HOURS Kraamzorg (uren) 49 uur Kraamzorg Noord € 35,00 1.715"
    )
    assert row(html, f"explain-event-{visit.pk}").endswith("Praktijk De Wieg € 60,00 60")
    assert row(html, "explain-total-points") == "1.775"
    # The division: 5% overhead, 2% reserve, 93% to the members; the practice gets its 10% minimum.
    assert row(html, "alloc-overhead") == "IGO-overhead 5,00% van de regel (contract) € 75,00"
    assert row(html, "alloc-reserve") == "Risicoreserve 2,00% van de regel (contract) € 30,00"
    assert row(html, f"alloc-member-{fin.practice.pk}") == (
        "Praktijk De Wieg 60 van 1.775 punten (3,38%) → gegarandeerd minimum 10,00% ; aandeel 10,00% € 139,50"
    )
    assert row(html, f"alloc-member-{fin.kraam.pk}") == (
        "Kraamzorg Noord 1.715 van 1.775 punten (96,62%); aandeel 90,00% € 1.255,50"
    )
    assert row(html, "alloc-total") == "€ 1.500,00"
    assert "€ 1.395,00" in row(html, "explain-allocations")  # the members' part
    # History: one line, this one. No note text, no BSN; the view is access-logged.
    assert line.number in row(html, "explain-history")
    assert NOTE not in html and ep.client.bsn not in html and "bsn" not in html.lower()
    assert AccessLogEntry.unscoped.filter(
        user=fin.finance, client=ep.client, object_type="claimline", object_id=str(line.pk)
    ).exists()


def test_explain_a_fixed_split_and_a_partial_trajectory(fin, client_for):
    ep = full_trajectory(fin)
    fin.run()
    natal = ClaimLine.unscoped.get(episode=ep, phase="natal")
    html = client_for(fin.admin).get(fin.url("claim_line_explain", pk=natal.pk)).content.decode()
    assert "vaste verdeling" in row(html, "explain-fixed")
    assert row(html, f"alloc-member-{fin.practice.pk}") == "Praktijk De Wieg vast aandeel 60,00% € 502,20"
    assert row(html, f"alloc-member-{fin.hospital.pk}") == "Ziekenhuis Oost vast aandeel 40,00% € 334,80"

    early = EpisodeFactory(
        tenant=fin.tenant,
        intake_date=dt.date(2026, 3, 2),
        due_date=dt.date(2026, 10, 26),
        gestational_age_at_intake=56,
        status="ended",
        end_date=dt.date(2026, 3, 23),
        end_reason="miscarriage",
    )
    fin.insure(early)
    CareEventFactory(
        tenant=fin.tenant,
        episode=early,
        event_type=fin.types["PRE_CHECK"],
        professional=ProfessionalFactory(tenant=fin.tenant, organisation=fin.practice),
        occurred_at=at(2026, 3, 2),
    )
    fin.run()
    line = ClaimLine.unscoped.get(episode=early)
    html = client_for(fin.finance).get(fin.url("claim_line_explain", pk=line.pk)).content.decode()
    assert row(html, "explain-percentage").endswith("€ 1.200,00 × 50,00% = € 600,00")
    assert "Miskraam" in row(html, "explain-percentage")
    assert row(html, "alloc-overhead").endswith("€ 30,00") and row(html, "alloc-reserve").endswith("€ 12,00")
    assert row(html, f"alloc-member-{fin.practice.pk}").endswith("aandeel 100,00% € 558,00")


def _late_care_episode(fin: Fin) -> tuple[Episode, ClientInsurance, Any, Any]:
    ep = EpisodeFactory(
        tenant=fin.tenant,
        intake_date=dt.date(2026, 2, 1),
        due_date=dt.date(2026, 9, 1),
        gestational_age_at_intake=70,
        labour_started_at=at(2026, 8, 30, 8),
    )
    insurance = ClientInsurance.unscoped.create(
        tenant=fin.tenant, client=ep.client, insurer=fin.zk, policy_number="5", valid_from=dt.date(2026, 1, 1)
    )
    mw = ProfessionalFactory(tenant=fin.tenant, organisation=fin.practice)
    gyn = ProfessionalFactory(tenant=fin.tenant, organisation=fin.hospital, discipline="gynaecologist")
    CareEventFactory(
        tenant=fin.tenant,
        episode=ep,
        event_type=fin.types["PRE_CHECK"],
        professional=mw,
        occurred_at=at(2026, 3, 1),
    )
    return ep, insurance, mw, gyn


def touch(ep: Episode) -> None:
    Episode.unscoped.filter(pk=ep.pk).update(changed_at=timezone.now())


def test_resplit_and_credit_and_rebill_history_is_explained(fin, client_for):
    ep, insurance, _mw, gyn = _late_care_episode(fin)
    fin.run()
    first = ClaimLine.unscoped.get(episode=ep)
    with tenant_scope(fin.tenant):
        services.claim_lines_mark_sent(lines=[first])
    # The hospital's echo is logged late: the same line is divided again, the first division is kept.
    CareEventFactory(
        tenant=fin.tenant,
        episode=ep,
        event_type=fin.types["ECHO_SEO"],
        professional=gyn,
        occurred_at=at(2026, 6, 1),
    )
    touch(ep)
    fin.run()
    client = client_for(fin.finance)
    html = client.get(fin.url("claim_line_explain", pk=first.pk)).content.decode()
    # Members' 1116.00 split 50 : 120 points.
    assert row(html, f"alloc-member-{fin.practice.pk}").endswith("€ 328,24")
    assert row(html, f"alloc-member-{fin.hospital.pk}").endswith("€ 787,76")
    assert row(html, "alloc-total") == "€ 1.200,00"
    earlier = row(html, "explain-earlier-splits")
    assert "1 eerdere verdeling" in earlier and "Praktijk De Wieg € 1.116,00" in earlier
    parts = api(fin.finance).get(fin.api(f"claim-lines/{first.pk}/allocations/?include_history=true")).json()
    assert [(a["is_current"], a["organisation"], a["amount"]) for a in parts if a["kind"] == "member"] == [
        (True, fin.practice.pk, "328.24"),
        (True, fin.hospital.pk, "787.76"),
        (False, fin.practice.pk, "1116.00"),
    ]
    assert len(api(fin.finance).get(fin.api(f"claim-lines/{first.pk}/allocations/")).json()) == 4
    # The insured number was wrong: the sent line is credited and a corrected line is billed.
    ClaimLine.unscoped.filter(pk=first.pk).update(status=LineStatus.SENT)
    ClientInsurance.unscoped.filter(pk=insurance.pk).update(policy_number="55")
    touch(ep)
    fin.run()
    _first, credit, rebill = ClaimLine.unscoped.filter(episode=ep).order_by("pk")
    assert (credit.sign, credit.corrects_id, rebill.is_current) == ("credit", first.pk, True)
    html = client.get(fin.url("claim_line_explain", pk=rebill.pk)).content.decode()
    history = row(html, "explain-history")
    assert first.number in history and credit.number in history and rebill.number in history
    assert "€ -1.200,00" in row(html, f"line-{credit.pk}") and "verstuurd" in row(html, f"line-{first.pk}")
    assert row(html, f"alloc-member-{fin.practice.pk}").endswith("€ 328,24")
    credit_html = client.get(fin.url("claim_line_explain", pk=credit.pk)).content.decode()
    assert first.number in row(credit_html, "explain-credit")
    assert row(credit_html, f"alloc-member-{fin.hospital.pk}").endswith("€ -787,76")
    assert row(credit_html, "alloc-total") == "€ -1.200,00"
    assert 'data-testid="explain-events"' not in credit_html


def test_explaining_another_tenants_line_is_404(fin, world_b, client_for):
    ep = full_trajectory(fin)
    fin.run()
    line = ClaimLine.unscoped.filter(episode=ep).first()
    finance_b = world_b.user(Role.IGO_FINANCE)
    url = reverse("claim_line_explain", kwargs={"tenant_slug": world_b.tenant.slug, "pk": line.pk})
    assert client_for(finance_b).get(url).status_code == 404
    url = reverse("episode_claims", kwargs={"tenant_slug": world_b.tenant.slug, "pk": ep.pk})
    assert client_for(finance_b).get(url).status_code == 404


def test_claim_list_shows_episodes_with_their_current_total(fin, client_for):
    ep = full_trajectory(fin)
    fin.run()
    html = client_for(fin.finance).get(fin.url("claim_list")).content.decode()
    text = unescape(row(html, f"claim-episode-{ep.pk}"))  # a generated name may hold an apostrophe
    assert f"#{ep.pk}" in text and ep.client.family_name in text and "€ 3.600,00" in text
    assert 'data-testid="run-billing"' in html
    assert (
        'data-testid="run-billing"' not in client_for(fin.admin).get(fin.url("claim_list")).content.decode()
    )


# --- revenue ---------------------------------------------------------------------------------


def test_revenue_per_member_per_month_counts_sent_lines_and_credits_not_withdrawn(fin, client_for):
    ep, insurance, mw, gyn = _late_care_episode(fin)
    fin.run()
    # Changed before sending: the first line is withdrawn and must not count.
    ClientInsurance.unscoped.filter(pk=insurance.pk).update(policy_number="6")
    touch(ep)
    fin.run()
    assert ClaimLine.unscoped.filter(episode=ep, status=LineStatus.WITHDRAWN).count() == 1
    sent = ClaimLine.unscoped.get(episode=ep, is_current=True)
    with tenant_scope(fin.tenant):
        services.claim_lines_mark_sent(lines=[sent])
    # Late care re-splits the sent line (the superseded division must not count) ...
    CareEventFactory(
        tenant=fin.tenant,
        episode=ep,
        event_type=fin.types["PRE_CHECK"],
        professional=gyn,
        occurred_at=at(2026, 4, 1),
    )
    touch(ep)
    fin.run()
    # ... and a claim change credits it and bills it again: sent line, credit and new line all count.
    ClientInsurance.unscoped.filter(pk=insurance.pk).update(policy_number="7")
    touch(ep)
    fin.run()
    signs = list(ClaimLine.unscoped.filter(episode=ep).order_by("pk").values_list("sign", "status"))
    assert signs == [("debit", "withdrawn"), ("debit", "sent"), ("credit", "ready"), ("debit", "ready")]
    # In an active episode without lines, the practice logged care twice.
    waiting = EpisodeFactory(tenant=fin.tenant)
    CareEventFactory(tenant=fin.tenant, episode=waiting, event_type=fin.types["PRE_CHECK"], professional=mw)
    CareEventFactory(tenant=fin.tenant, episode=waiting, event_type=fin.types["PRE_CHECK"], professional=mw)

    html = client_for(fin.finance).get(fin.url("revenue")).content.decode()

    # 1200.00: overhead 60.00, reserve 24.00, members 1116.00 split 50 : 50 points, booked this month.
    def cells(amount: str) -> str:
        months = ["–"] * 12
        months[timezone.localdate().month - 1] = amount
        return " ".join([*months, amount])

    assert row(html, f"revenue-member-{fin.practice.pk}") == f"Praktijk De Wieg {cells('€ 558,00')}"
    assert row(html, f"revenue-member-{fin.hospital.pk}") == f"Ziekenhuis Oost {cells('€ 558,00')}"
    assert row(html, "revenue-overhead") == f"IGO-overhead {cells('€ 60,00')}"
    assert row(html, "revenue-reserve") == f"Risicoreserve {cells('€ 24,00')}"
    assert row(html, "revenue-total") == "€ 1.200,00"
    assert row(html, "wip-episodes") == "1"
    assert row(html, f"wip-{fin.practice.pk}") == "Praktijk De Wieg 1 2"
    # Without the superseded parts and the withdrawn line, every part adds up to the net claim.
    net = (
        Allocation.unscoped.filter(claim_line__episode=ep, is_current=True)
        .exclude(claim_line__status=LineStatus.WITHDRAWN)
        .aggregate(t=Sum("amount"))["t"]
    )
    assert net == Decimal("1200.00")


# --- the billing run -------------------------------------------------------------------------


def test_run_billing_now_enqueues_the_task_and_progress_polls(
    fin, client_for, django_capture_on_commit_callbacks
):
    ep = full_trajectory(fin)
    cache.delete(progress_key(fin.tenant.pk))
    client = client_for(fin.finance)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(fin.url("billing_run_start"), HTTP_HX_REQUEST="true")
    assert len(callbacks) == 1  # enqueued once the request commits (a real worker is tested elsewhere)
    html = response.content.decode()
    assert response.status_code == 200 and 'hx-trigger="every 2s"' in html and "queued=1" in html
    billing_run.apply(args=[fin.tenant.pk])  # what the worker does with the message, here in-process
    assert ClaimLine.unscoped.filter(episode=ep).count() == 3
    done = client.get(fin.url("billing_run_progress")).content.decode()
    assert "hx-trigger" not in done and "Laatste facturatierun" in done
    # While a run is busy, the bar shows how far it is and keeps polling.
    cache.set(progress_key(fin.tenant.pk), {"done": 250, "total": 500, "running": True}, 60)
    busy = client.get(fin.url("billing_run_progress")).content.decode()
    assert 'hx-trigger="every 2s"' in busy and 'value="50"' in busy and "250" in busy and "500" in busy
    # Without htmx the button redirects back to the claims page.
    with django_capture_on_commit_callbacks(execute=False):
        plain = client.post(fin.url("billing_run_start"))
    assert plain.status_code == 302 and plain["Location"] == fin.url("claim_list")
    cache.delete(progress_key(fin.tenant.pk))


# --- API -------------------------------------------------------------------------------------

API_CONTRACT = {
    "insurer": "7095",
    "name": "VGZ 2026",
    "valid_from": "2026-01-01",
    "overhead_pct": "4.50",
    "reserve_pct": "1.50",
    "tariffs": {
        "prenatal": {"prestatie_code": "IGB-PRE", "amount": "1195.00"},
        "postnatal": {"prestatie_code": "IGB-POST", "amount": "1465.00"},
    },
    "partial_rules": [
        {"end_reason": "miscarriage", "before_week": 16, "phases": ["prenatal"], "percentage": "50"}
    ],
}


def test_api_contracts_list_detail_and_create(fin):
    InsurerFactory(uzovi_code="7095", name="VGZ")
    client = api(fin.finance)
    body = client.get(fin.api("contracts/")).json()
    assert [c["name"] for c in body["results"]] == ["ZK 2026"]
    contract = body["results"][0]
    assert contract["insurer"] == {"uzovi_code": "3311", "name": "Zilveren Kruis"}
    assert {t["phase"]: t["amount"] for t in contract["tariffs"]} == {
        "prenatal": "1200.00",
        "natal": "900.00",
        "postnatal": "1500.00",
    }
    created = client.post(fin.api("contracts/"), API_CONTRACT, format="json")
    assert created.status_code == 201, created.json()
    new = created.json()
    assert [t["phase"] for t in new["tariffs"]] == ["prenatal", "postnatal"]
    assert new["partial_rules"] == [
        {"end_reason": "miscarriage", "before_week": 16, "phases": ["prenatal"], "percentage": "50.00"}
    ]
    detail = api(fin.admin).get(fin.api(f"contracts/{new['id']}/"))
    assert detail.status_code == 200 and detail.json()["name"] == "VGZ 2026"


def test_api_contract_errors_are_nested_by_field_and_nothing_is_stored(fin):
    InsurerFactory(uzovi_code="7095", name="VGZ")
    before = (Contract.unscoped.count(), ContractTariff.unscoped.count())
    payload = {
        **API_CONTRACT,
        "overhead_pct": "150.00",
        "tariffs": {
            "prenatal": {"prestatie_code": "IGB-PRE", "amount": "-1.00"},
            "natal": {"prestatie_code": "", "amount": "900.00"},
        },
    }
    response = api(fin.finance).post(fin.api("contracts/"), payload, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "overhead_pct": ["Vul een percentage van 0 tot 100 in."],
        "tariffs": {
            "prenatal": {"amount": ["Een prijs kan niet negatief zijn."]},
            "natal": {"prestatie_code": ["Vul de prestatiecode in."]},
        },
    }
    overlap = api(fin.finance).post(fin.api("contracts/"), {**API_CONTRACT, "insurer": "3311"}, format="json")
    assert overlap.status_code == 400 and list(overlap.json()) == ["valid_from"]
    empty = api(fin.finance).post(fin.api("contracts/"), {**API_CONTRACT, "tariffs": {}}, format="json")
    assert empty.json() == {"tariffs": {"non_field_errors": ["Een contract dekt minstens één fase."]}}
    assert (Contract.unscoped.count(), ContractTariff.unscoped.count()) == before


def test_api_writes_need_finance_and_other_roles_are_refused(fin, world_b):
    InsurerFactory(uzovi_code="7095", name="VGZ")
    assert api(fin.admin).post(fin.api("contracts/"), API_CONTRACT, format="json").status_code == 403
    assert api(fin.world.user(Role.MIDWIFE)).get(fin.api("contracts/")).status_code == 403
    assert api(fin.world.user(Role.MIDWIFE)).get(fin.api("claim-lines/")).status_code == 403
    assert Contract.unscoped.filter(tenant=fin.tenant).count() == 1
    # Another IGO's contract is not found, and another IGO's user does not reach this one.
    finance_b = world_b.user(Role.IGO_FINANCE)
    assert api(finance_b).get(f"/api/t/{world_b.tenant.slug}/contracts/{fin.contract.pk}/").status_code == 404
    assert api(finance_b).get(fin.api("contracts/")).status_code == 404
    assert api(finance_b).post(fin.api("contracts/"), API_CONTRACT, format="json").status_code == 404


def test_api_claim_lines_with_filters_detail_and_allocations(fin, world_b):
    ep = full_trajectory(fin)
    fin.run()
    client = api(fin.finance)
    body = client.get(fin.api("claim-lines/")).json()
    assert body["count"] == 3
    assert {r["phase"]: r["amount"] for r in body["results"]} == {
        "prenatal": "1200.00",
        "natal": "900.00",
        "postnatal": "1500.00",
    }
    assert all(set(r) >= {"number", "episode", "status", "insurer"} for r in body["results"])
    assert not any("client" in key or "bsn" in key or "policy" in key for key in body["results"][0])
    month = timezone.localdate().strftime("%Y-%m")
    assert client.get(fin.api(f"claim-lines/?phase=natal&status=ready&month={month}")).json()["count"] == 1
    assert client.get(fin.api("claim-lines/?status=sent")).json()["count"] == 0
    assert client.get(fin.api("claim-lines/?month=2020-01")).json()["count"] == 0
    bad = client.get(fin.api("claim-lines/?month=2026-13&phase=labour"))
    assert bad.status_code == 400 and set(bad.json()) == {"month", "phase"}

    line = ClaimLine.unscoped.get(episode=ep, phase="postnatal")
    detail = client.get(fin.api(f"claim-lines/{line.pk}/")).json()
    assert detail["tariff_amount"] == "1500.00" and detail["prestatie_code"] == "IGB-POST"
    parts = {(a["kind"], a["organisation"]): a["amount"] for a in detail["allocations"]}
    assert parts == {
        ("overhead", None): "75.00",
        ("reserve", None): "30.00",
        ("member", fin.practice.pk): "139.50",
        ("member", fin.kraam.pk): "1255.50",
    }
    allocations = api(fin.admin).get(fin.api(f"claim-lines/{line.pk}/allocations/")).json()
    kraam = next(a for a in allocations if a["organisation"] == fin.kraam.pk)
    assert kraam["basis"]["method"] == "care" and kraam["basis"]["points"] == "1715.0000"
    assert kraam["organisation_name"] == "Kraamzorg Noord" and len(kraam["basis"]["events"]) == 1

    finance_b = world_b.user(Role.IGO_FINANCE)
    base_b = f"/api/t/{world_b.tenant.slug}/"
    assert api(finance_b).get(f"{base_b}claim-lines/{line.pk}/").status_code == 404
    assert api(finance_b).get(f"{base_b}claim-lines/{line.pk}/allocations/").status_code == 404
    assert api(finance_b).get(f"{base_b}claim-lines/").json()["count"] == 0


def test_api_schema_has_the_finance_endpoints_and_validates(client):
    from drf_spectacular.validation import validate_schema

    schema = client.get("/api/schema/?format=json").json()
    validate_schema(schema)
    for path in (
        "/api/t/{tenant_slug}/contracts/",
        "/api/t/{tenant_slug}/contracts/{id}/",
        "/api/t/{tenant_slug}/claim-lines/",
        "/api/t/{tenant_slug}/claim-lines/{id}/",
        "/api/t/{tenant_slug}/claim-lines/{id}/allocations/",
    ):
        assert path in schema["paths"], path
    params = {p["name"] for p in schema["paths"]["/api/t/{tenant_slug}/claim-lines/"]["get"]["parameters"]}
    assert {"status", "phase", "month", "page"} <= params
    assert "post" in schema["paths"]["/api/t/{tenant_slug}/contracts/"]
