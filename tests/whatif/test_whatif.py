"""What-if simulations (issue 19): a draft split rule or contract version applied in memory to the care of
2026 (tests.scenarios.whatif), beside what was actually billed and allocated; nothing written to the books;
a draft adopted as the new version through billing's own services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from billing.models import Allocation, ClaimLine, Contract, ContractTariff, SplitRule, WorkItem
from billing.services.returns import ReturnEntry, batch_return_record
from igo.models import AuditEntry, Role
from igo.tenancy import tenant_scope
from pregnancies.models import AccessLogEntry
from tests.scenarios.batches import make_batch
from tests.scenarios.billing import (
    BILLING_NOW,
    ZK_TARIFFS,
    add_split_rule,
    assert_books_balance,
    run,
    snapshot,
    transferred_in_week_30,
)
from tests.scenarios.whatif import TODAY, billed_2026, contract_draft, simulate, split_draft
from whatif import services, tasks
from whatif.models import Simulation, SimulationKind, SimulationStatus

D = Decimal
pytestmark = pytest.mark.clock(BILLING_NOW)


def table(simulation: Simulation, name: str) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    return {
        row["key"]: (D(row["actual"]), D(row["simulated"]), D(row["difference"]))
        for row in simulation.results[name]
    }


def test_a_natal_split_from_60_40_to_50_50_moves_exactly_the_hand_computed_amounts(world_a):
    """Natal lines of 2026: Zilveren Kruis 900.00 (ordinary) and VGZ 1000.00 (switched insurer).
    900.00: overhead 5% 45.00, reserve 2% 18.00, members 837.00; 60/40 = 502.20 / 334.80; 50/50 = 418.50 each.
    1000.00: overhead 50.00, reserve 20.00, members 930.00; 60/40 = 558.00 / 372.00; 50/50 = 465.00 each.
    Practice: (418.50 - 502.20) + (465.00 - 558.00) = -83.70 - 93.00 = -176.70; hospital +176.70.
    Prenatal and postnatal keep their method: the kraamzorg, overhead and reserve do not move; nothing billed
    changes (1200 + 900 + 1500 + 1000 + 1650 = 6250.00 in 2026; the switched prenatal started in 2025)."""
    w = billed_2026(world_a)
    simulation = simulate(w, SimulationKind.SPLIT_RULE, split_draft(w, natal=(50, 50)))
    assert simulation.status == SimulationStatus.DONE
    members = table(simulation, "members")
    practice, hospital = str(w.s.practice.pk), str(w.s.hospital.pk)
    assert members[practice][2] == D("-176.70")
    assert members[hospital][2] == D("176.70")
    assert {k: v[2] for k, v in members.items() if k not in (practice, hospital)} == dict.fromkeys(
        set(members) - {practice, hospital}, D("0.00")
    )
    # The actual side is what the books hold for these lines.
    lines = ClaimLine.unscoped.filter(tenant=w.s.tenant, is_current=True, service_start__year=2026)
    assert members[hospital][0] == sum(
        Allocation.unscoped.filter(
            claim_line__in=lines, is_current=True, organisation=w.s.hospital
        ).values_list("amount", flat=True)
    )
    assert sum(v[0] for v in members.values()) == sum(v[1] for v in members.values()) == D("6250.00")
    assert {k: v[2] for k, v in table(simulation, "insurers").items()} == {
        str(w.s.zk.pk): D("0.00"),
        str(w.s.vgz.pk): D("0.00"),
    }
    assert table(simulation, "phases")["natal"] == (D("1900.00"), D("1900.00"), D("0.00"))
    # The two episodes move; the switched one most (93.00 each way, against 83.70).
    top = simulation.results["episodes"]
    assert [m["episode"] for m in top] == [w.switched.pk, w.ordinary.pk]
    assert D(top[0]["moved"]) == D("186.00")
    assert top[1]["parts"] == {practice: "-83.70", hospital: "83.70"}


def test_a_draft_natal_tariff_changes_what_is_billed_and_its_split_to_the_cent(world_a):
    """Zilveren Kruis natal 900.00 -> 1000.00 from 1 Jan 2026: ordinary's natal line bills 100.00 more.
    1000.00 splits 50.00 / 20.00 / 558.00 / 372.00 against 45.00 / 18.00 / 502.20 / 334.80: overhead +5.00,
    reserve +2.00, practice +55.80, hospital +37.20 (together +100.00). VGZ does not move."""
    w = billed_2026(world_a)
    draft = contract_draft(w, valid_from=dt.date(2026, 1, 1), natal=D("1000.00"))
    simulation = simulate(w, SimulationKind.CONTRACT, draft)
    assert simulation.status == SimulationStatus.DONE, simulation.error
    diff = {k: v[2] for k, v in table(simulation, "members").items()}
    assert diff == {
        "overhead": D("5.00"),
        "reserve": D("2.00"),
        str(w.s.practice.pk): D("55.80"),
        str(w.s.hospital.pk): D("37.20"),
        str(w.s.kraam.pk): D("0.00"),
    }
    assert table(simulation, "insurers")[str(w.s.zk.pk)] == (D("3600.00"), D("3700.00"), D("100.00"))
    assert table(simulation, "insurers")[str(w.s.vgz.pk)][2] == D("0.00")
    assert table(simulation, "phases")["natal"][2] == D("100.00")
    assert [m["episode"] for m in simulation.results["episodes"]] == [w.ordinary.pk]


def test_a_simulation_writes_nothing_to_the_books(world_a):
    w = billed_2026(world_a)
    before = snapshot(w.s.tenant)
    counts = (WorkItem.unscoped.count(), SplitRule.unscoped.count(), Contract.unscoped.count())
    simulate(w, SimulationKind.SPLIT_RULE, split_draft(w, natal=(30, 70)))
    simulate(w, SimulationKind.CONTRACT, contract_draft(w, valid_from=dt.date(2026, 1, 1), natal=D("1")))
    assert snapshot(w.s.tenant) == before
    assert (WorkItem.unscoped.count(), SplitRule.unscoped.count(), Contract.unscoped.count()) == counts
    assert Contract.unscoped.get(pk=w.s.zk_contract.pk).valid_until is None
    assert_books_balance(w.s.tenant)


def test_a_draft_that_could_not_be_stored_is_refused_before_it_is_simulated(world_a):
    w = billed_2026(world_a)
    with pytest.raises(ValidationError) as exc:
        simulate(w, SimulationKind.SPLIT_RULE, split_draft(w, natal=(50, 40)))
    assert "natal" in exc.value.message_dict
    assert not Simulation.unscoped.exists()


def test_adopting_a_split_draft_stores_it_as_the_new_version_with_its_audit_entry(world_a):
    w = billed_2026(world_a)
    simulation = simulate(w, SimulationKind.SPLIT_RULE, split_draft(w, natal=(50, 50)))
    with tenant_scope(w.s.tenant):
        rule = services.simulation_adopt(simulation=simulation, actor=w.finance)
        assert isinstance(rule, SplitRule)
        assert (rule.year, rule.version, str(rule.valid_from)) == (2026, 1, "2026-01-01")
        natal = rule.phases.get(phase="natal")
        assert {s.organisation_id: s.share_pct for s in natal.shares.all()} == {
            w.s.practice.pk: D("50"),
            w.s.hospital.pk: D("50"),
        }
        with pytest.raises(ValidationError):  # once only
            services.simulation_adopt(simulation=simulation, actor=w.finance)
    simulation.refresh_from_db()
    assert (simulation.adopted_by, simulation.adopted_id) == (w.finance, rule.pk)
    assert AuditEntry.objects.filter(action="split_rule.create", object_id=str(rule.pk)).exists()
    assert AuditEntry.objects.filter(action="whatif.adopt", object_id=str(simulation.pk)).exists()


def test_adoption_is_refused_when_the_split_rules_changed_since_the_simulation(world_a):
    w = billed_2026(world_a)
    simulation = simulate(w, SimulationKind.SPLIT_RULE, split_draft(w, natal=(50, 50)))
    add_split_rule(w.s, year=2026)  # someone stored a version meanwhile
    with (
        tenant_scope(w.s.tenant),
        translation.override("en"),
        pytest.raises(ValidationError, match="changed since"),
    ):
        services.simulation_adopt(simulation=simulation, actor=w.finance)
    assert SplitRule.unscoped.filter(tenant=w.s.tenant, year=2026).count() == 1


def test_adopting_a_contract_draft_goes_through_the_contract_version_checks(world_a):
    """From 1 Jan 2026 the new version would take over lines already claimed: contract_end refuses it.
    From 1 Jan 2027 it is stored, and the current version ends on 31 Dec 2026."""
    w = billed_2026(world_a)
    late = simulate(
        w, SimulationKind.CONTRACT, contract_draft(w, valid_from=dt.date(2026, 1, 1), natal=D("950"))
    )
    with (
        tenant_scope(w.s.tenant),
        translation.override("en"),
        pytest.raises(ValidationError, match="Claims already"),
    ):
        services.simulation_adopt(simulation=late, actor=w.finance)
    ahead = simulate(
        w, SimulationKind.CONTRACT, contract_draft(w, valid_from=dt.date(2027, 1, 1), natal=D("950"))
    )
    assert ahead.results["changed_lines"] == 0  # it starts after the simulated care
    with tenant_scope(w.s.tenant):
        new = services.simulation_adopt(simulation=ahead, actor=w.finance)
    assert isinstance(new, Contract) and new.valid_from == dt.date(2027, 1, 1)
    assert ContractTariff.unscoped.get(contract=new, phase="natal").amount == D("950.00")
    assert Contract.unscoped.get(pk=w.s.zk_contract.pk).valid_until == dt.date(2026, 12, 31)


def test_the_pages_serve_finance_log_the_clients_and_refuse_other_roles_and_tenants(
    world_a, world_b, client_for
):
    w = billed_2026(world_a)
    slug = w.s.tenant.slug
    finance = client_for(w.finance)
    s = w.s
    data = {
        "period-period_start": "2026-01-01",
        "period-period_end": "2026-12-31",
        "year": "2026",
        "overhead_pct": "5",
        "reserve_pct": "2",
        "method_prenatal": "care",
        "method_natal": "fixed",
        f"pct_natal_{s.practice.pk}": "50",
        f"pct_natal_{s.hospital.pk}": "50",
        "method_postnatal": "care",
        f"pct_postnatal_{s.practice.pk}": "10",
        **{
            f"rate_{s.types[c].pk}": r
            for c, r in (("PRE_CHECK", "50"), ("ECHO_SEO", "120"), ("KZ_HOURS", "35"))
        },
        f"rate_{s.types['POST_VISIT'].pk}": "60",
    }
    response = finance.post(reverse("whatif_new_split", args=[slug]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    simulation = Simulation.unscoped.get(tenant=s.tenant)
    assert simulation.status == SimulationStatus.QUEUED
    with tenant_scope(s.tenant):
        services.simulation_run(simulation_id=simulation.pk, today=TODAY)
    detail = reverse("whatif_detail", args=[slug, simulation.pk])
    before = AccessLogEntry.unscoped.filter(user=w.finance).count()
    page = finance.get(detail)
    assert page.status_code == 200
    body = page.content.decode()
    assert str(w.ordinary.client) in body and "176,70" in body
    assert AccessLogEntry.unscoped.filter(user=w.finance).count() - before == 2  # the two clients shown
    # In the reader's convention: Dutch (semicolons, decimal comma) by default in the Dutch interface, the
    # international one on request; the file name says which.
    csv = finance.get(reverse("whatif_csv", args=[slug, simulation.pk]))
    assert csv.status_code == 200 and b"members;" in csv.content and b";-176,70" in csv.content
    assert "_nl.csv" in csv["Content-Disposition"]
    csv = finance.get(reverse("whatif_csv", args=[slug, simulation.pk]), {"convention": "intl"})
    assert (
        b"members," in csv.content
        and b",-176.70" in csv.content
        and "_intl.csv" in csv["Content-Disposition"]
    )
    pdf = finance.get(reverse("whatif_pdf", args=[slug, simulation.pk]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    progress = finance.get(reverse("whatif_progress", args=[slug, simulation.pk]), HTTP_HX_REQUEST="true")
    assert progress["HX-Redirect"] == detail
    # Administrators may look, not simulate or adopt; a midwife may not look.
    admin = client_for(world_a.user(Role.IGO_ADMIN))
    assert admin.get(detail).status_code == 200
    assert admin.get(reverse("whatif_new_split", args=[slug])).status_code == 403
    assert admin.post(reverse("whatif_adopt", args=[slug, simulation.pk])).status_code == 403
    assert client_for(world_a.user(Role.MIDWIFE)).get(detail).status_code == 403
    # Finance of another IGO: the simulation is not there.
    other = client_for(world_b.user(Role.IGO_FINANCE))
    assert other.get(reverse("whatif_detail", args=[world_b.tenant.slug, simulation.pk])).status_code == 404
    assert other.post(reverse("whatif_adopt", args=[world_b.tenant.slug, simulation.pk])).status_code == 404
    assert not SplitRule.unscoped.filter(year=2026).exists()
    # Finance adopts from the result screen.
    response = finance.post(reverse("whatif_adopt", args=[slug, simulation.pk]))
    assert response.status_code == 302
    assert SplitRule.unscoped.filter(tenant=s.tenant, year=2026).count() == 1


def test_the_task_computes_a_simulation_once(world_a):
    """The worker's task computes the queued simulation; delivered again it leaves the result as it is."""
    w = billed_2026(world_a)
    with tenant_scope(w.s.tenant):
        simulation = services.simulation_create(
            tenant=w.s.tenant,
            actor=w.finance,
            kind=SimulationKind.SPLIT_RULE,
            draft=split_draft(w),
            period_start=dt.date(2026, 1, 1),
            period_end=dt.date(2026, 12, 31),
        )
    assert tasks.whatif_run.apply(args=[w.s.tenant.pk, simulation.pk]).get() == SimulationStatus.DONE
    simulation.refresh_from_db()
    finished, results = simulation.finished_at, simulation.results
    assert (simulation.done, simulation.total, simulation.percent) == (2, 2, 100)
    assert tasks.whatif_run.apply(args=[w.s.tenant.pk, simulation.pk]).get() == SimulationStatus.DONE
    simulation.refresh_from_db()
    assert (simulation.finished_at, simulation.results) == (finished, results)


def test_finance_drafts_tariffs_in_the_contract_version_form(world_a, client_for):
    w = billed_2026(world_a)
    client = client_for(w.finance)
    url = reverse("whatif_new_contract", args=[w.s.tenant.slug, w.s.zk_contract.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'value="900,00"' in page.content.decode()
    data = {
        "period-period_start": "2026-01-01",
        "period-period_end": "2026-12-31",
        "valid_from": "2026-01-01",
        "name": "ZK integraal",
        "submission_months": "12",
        "answer_days": "30",
        "code_prenatal": "IGBPRE",
        "amount_prenatal": "1200.00",
        "code_natal": "IGBNAT",
        "amount_natal": "1000.00",
        "code_postnatal": "IGBPOS",
        "amount_postnatal": "1500.00",
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "1",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        "rules-0-end_reason": "transferred_out",
        "rules-0-phase": "prenatal",
        "rules-0-from_week": "",
        "rules-0-until_week": "",
        "rules-0-percentage": "100",
    }
    assert client.post(url, {**data, "amount_natal": "-1"}).status_code == 400  # the contract's own check
    assert not Simulation.unscoped.exists()
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    simulation = Simulation.unscoped.get()
    assert simulation.draft["tariffs"]["natal"] == ["IGBNAT", "1000.00"]
    assert simulation.draft["partial_rules"][0]["end_reason"] == "transferred_out"
    page = client.get(reverse("whatif_detail", args=[w.s.tenant.slug, simulation.pk]))
    assert page.status_code == 200 and b"hx-get" in page.content  # the progress bar polls while it waits


def test_a_draft_partial_rule_bills_an_interrupted_phase_at_its_percentage(world_a):
    """The client who transferred out in week 30 (8 Jun 2026): Zilveren Kruis prenatal 1200.00, billed in full
    by the contract's rule. A draft billing it at 50% bills 600.00: 600.00 less for Zilveren Kruis.
    Its prenatal care: 6 checks by the practice (6 x 50 = 300 points), an anomaly scan by the hospital (120).
    Actual 1200.00: overhead 60.00, reserve 24.00, members 1116.00 = 797.14 (300/420) + 318.86 (120/420).
    Draft 600.00: overhead 30.00, reserve 12.00, members 558.00 = 398.57 + 159.43.
    Moves: overhead -30.00, reserve -12.00, practice -398.57, hospital -159.43 (together -600.00)."""
    w = billed_2026(world_a)
    transferred = transferred_in_week_30(w.s)
    run(w.s, TODAY)
    draft = services.contract_draft_json(
        contract=w.s.zk_contract,
        valid_from=dt.date(2026, 1, 1),
        tariffs=ZK_TARIFFS,
        partial_rules=[{"end_reason": "transferred_out", "phase": "prenatal", "percentage": D("50")}],
    )
    simulation = simulate(w, SimulationKind.CONTRACT, draft)
    diff = {k: v[2] for k, v in table(simulation, "members").items() if v[2]}
    assert diff == {
        "overhead": D("-30.00"),
        "reserve": D("-12.00"),
        str(w.s.practice.pk): D("-398.57"),
        str(w.s.hospital.pk): D("-159.43"),
    }
    assert table(simulation, "insurers")[str(w.s.zk.pk)][2] == D("-600.00")
    assert [m["episode"] for m in simulation.results["episodes"]] == [transferred.pk]


def test_a_line_awarded_in_part_is_simulated_at_what_the_insurer_awarded(world_a):
    """Zilveren Kruis awards the ordinary natal line (900.00) in part: 800.00. Its parts are divided anew at
    800.00: overhead 5% 40.00, reserve 2% 16.00, members 744.00 at 60/40 = 446.40 / 297.60. The 50/50 draft
    divides the same 800.00: 40.00 / 16.00 / 372.00 / 372.00, so the practice gives up 74.40 there (not
    the 83.70 of the claimed amount), and overhead and reserve do not move. With VGZ's natal line (1000.00,
    -93.00 / +93.00): practice -167.40, hospital +167.40. What was billed stays the claimed amount."""
    w = billed_2026(world_a)
    batch = make_batch(w.s, w.s.zk)
    natal = ClaimLine.unscoped.get(episode=w.ordinary, phase="natal", is_current=True)
    with tenant_scope(w.s.tenant):
        batch_return_record(
            batch=batch,
            entries=[
                ReturnEntry(natal.number, "partial", "0202", "Tarief", awarded_amount=D("800.00")),
                *(
                    ReturnEntry(line.number, "accepted")
                    for line in ClaimLine.unscoped.filter(batch_line__batch=batch).exclude(pk=natal.pk)
                ),
            ],
            user=w.finance,
        )
    assert sum(
        Allocation.unscoped.filter(claim_line=natal, is_current=True).values_list("amount", flat=True)
    ) == D("800.00")
    simulation = simulate(w, SimulationKind.SPLIT_RULE, split_draft(w, natal=(50, 50)))
    diff = {k: v[2] for k, v in table(simulation, "members").items()}
    assert diff[str(w.s.practice.pk)] == D("-167.40")
    assert diff[str(w.s.hospital.pk)] == D("167.40")
    assert diff["overhead"] == diff["reserve"] == D("0.00")
    assert table(simulation, "phases")["natal"] == (D("1900.00"), D("1900.00"), D("0.00"))
