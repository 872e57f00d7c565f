"""Partial trajectories by phase reached, worked out to the cent: after an early ending the phases the IGO
completed are billed in full, the interrupted phase at the contract's rule for its end reason, phase and
week band, phases not reached never; without a rule a work item waits for finance's decision (in full, a
percentage, or not at all), which is recorded with its reason, audited and shown in "explain this amount".

The contract is Zilveren Kruis 2026 at 1200/900/1500 with the rules of tests.scenarios.partial
(PARTIAL_RULES). Seen from 20 November 2026; runs bill by 1 November 2026.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from billing import reconcile, services
from billing.models import ClaimLine, PartialDecision, PartialRule, WorkItem
from igo.models import AuditEntry
from igo.tenancy import tenant_scope
from pregnancies.models import AccessLogEntry
from tests.scenarios.billing import BILLING_NOW, D, assert_books_balance, touch
from tests.scenarios.partial import (
    PartialWorld,
    lines,
    miscarriage_at_11_weeks,
    moved_away_at_20_weeks,
    open_items,
    partial_world,
    transferred_after_birth,
    transferred_at_30_weeks,
)

pytestmark = pytest.mark.clock(BILLING_NOW)
TODAY = dt.date(2026, 11, 1)


@pytest.fixture
def w(world_a) -> PartialWorld:
    return partial_world(world_a)


def amounts(ep) -> dict[str, tuple]:
    return {p: (x.amount, x.percentage, x.service_start, x.service_end) for p, x in lines(ep).items()}


# --- the contract's rules ---------------------------------------------------------------------------


def test_transfer_out_three_days_after_the_birth(w):
    ep = transferred_after_birth(w)
    # Week at the end: 84 days at intake + 196 days (2 Feb to 17 Aug) = 280 days = week 40.
    assert services.gestational_week(ep, ep.end_date) == 40
    w.run(TODAY)
    assert amounts(ep) == {
        # Prenatal care completed at the start of labour: in full, 1200.00.
        "prenatal": (D("1200.00"), D("100"), dt.date(2026, 2, 2), dt.date(2026, 8, 14)),
        # Natal care completed at placenta + 2 h: in full, 900.00 (the 50% rule for natal care
        # interrupted by a transfer does not apply: it was not interrupted).
        "natal": (D("900.00"), D("100"), dt.date(2026, 8, 14), dt.date(2026, 8, 14)),
        # Postnatal care interrupted on 17 Aug: 1500.00 x 33.33% = 499.95.
        "postnatal": (D("499.95"), D("33.33"), dt.date(2026, 8, 14), dt.date(2026, 8, 17)),
    }
    # 1200.00 + 900.00 + 499.95 = 2599.95 in all.
    assert sum(x.amount for x in lines(ep).values()) == D("2599.95")
    got = lines(ep)
    assert got["prenatal"].explanation == {"completed": True}
    assert got["natal"].explanation == {"completed": True}
    rule = PartialRule.unscoped.get(contract=w.contract, end_reason="transferred_out", phase="postnatal")
    assert got["postnatal"].explanation == {
        "partial": {
            "end_reason": "transferred_out",
            "week": 40,
            "rule": rule.pk,
            "from_week": None,
            "until_week": None,
            "percentage": "33.33",
        }
    }
    assert not open_items(ep)
    assert_books_balance(w.tenant)


def test_transfer_out_at_30_weeks_bills_prenatal_care_at_its_band(w):
    ep = transferred_at_30_weeks(w)
    assert services.gestational_week(ep, ep.end_date) == 30  # 84 + 126 = 210 days
    w.run(TODAY)
    # Week 30 lies in the band [24, ∞) of "transferred out, prenatal": 1200.00 x 87.55% = 1050.60.
    assert amounts(ep) == {"prenatal": (D("1050.60"), D("87.55"), dt.date(2026, 2, 2), dt.date(2026, 6, 8))}
    partial = lines(ep)["prenatal"].explanation["partial"]
    assert (partial["week"], partial["from_week"], partial["until_week"], partial["percentage"]) == (
        30,
        24,
        None,
        "87.55",
    )
    assert not open_items(ep)
    assert_books_balance(w.tenant)


def test_miscarriage_at_11_weeks_bills_prenatal_care_only(w):
    ep = miscarriage_at_11_weeks(w)
    assert services.gestational_week(ep, ep.end_date) == 11  # 56 + 21 = 77 days
    w.run(TODAY)
    # Week 11 lies in the band [0, 16) of "miscarriage, prenatal": 1200.00 x 27.15% = 325.80. Natal and
    # postnatal care were never reached: no line, although the contract has a rule for natal care.
    assert amounts(ep) == {"prenatal": (D("325.80"), D("27.15"), dt.date(2026, 3, 2), dt.date(2026, 3, 23))}
    assert set(ClaimLine.unscoped.filter(episode=ep).values_list("phase", flat=True)) == {"prenatal"}
    assert not open_items(ep)


def test_an_active_episode_bills_only_its_completed_phases(w):
    ep = transferred_after_birth(w)
    ep.status, ep.end_date, ep.end_reason = "active", None, ""
    ep.save()
    w.run(TODAY)
    assert {p: x.amount for p, x in lines(ep).items()} == {"prenatal": D("1200.00"), "natal": D("900.00")}
    assert lines(ep)["prenatal"].explanation == {}  # not an early ending


def test_a_corrected_end_reason_takes_the_line_back_and_asks_finance(w):
    ep = transferred_at_30_weeks(w)
    w.run(TODAY)
    (first,) = lines(ep).values()
    ep.end_reason = "moved_away"
    ep.save()
    touch(ep)
    w.run(TODAY)
    first.refresh_from_db()
    # The ready line is withdrawn (nothing sent yet); no rule for moving away: a work item, no line.
    assert (first.status, first.is_current) == ("withdrawn", False)
    assert not lines(ep)
    assert set(open_items(ep)) == {("prenatal", "no_partial_rule")}


# --- no rule: finance decides ------------------------------------------------------------------------


def test_moved_away_without_a_rule_is_a_work_item_and_nothing_is_guessed(w):
    ep = moved_away_at_20_weeks(w)
    w.run(TODAY)
    assert not ClaimLine.unscoped.filter(episode=ep).exists()
    item = open_items(ep)[("prenatal", "no_partial_rule")]
    assert "ZK 2026" in item.message and "week 20" in item.message
    # The run again: still one item, still no line.
    w.run(TODAY)
    assert WorkItem.unscoped.filter(episode=ep).count() == 1
    assert not ClaimLine.unscoped.filter(episode=ep).exists()


def _decided(w: PartialWorld, ep, decision: PartialDecision) -> AuditEntry:
    """The decision is current, the work item resolved, and the audit log holds it."""
    assert list(PartialDecision.unscoped.filter(episode=ep, is_current=True)) == [decision]
    assert not open_items(ep)
    assert WorkItem.unscoped.get(episode=ep, reason="no_partial_rule").resolved_at is not None
    entry = AuditEntry.objects.get(action="partial_decision.record", object_id=str(decision.pk))
    assert entry.actor == w.finance and entry.tenant == w.tenant
    return entry


def test_finance_decides_to_bill_in_full(w):
    ep = moved_away_at_20_weeks(w)
    w.run(TODAY)
    decision = w.decide(ep, choice="full", reason="Zorg tot verhuizing volledig geleverd.", today=TODAY)
    # Billed at once, in full: 1200.00 x 100% = 1200.00.
    assert amounts(ep) == {"prenatal": (D("1200.00"), D("100"), dt.date(2026, 2, 2), dt.date(2026, 3, 30))}
    explanation = lines(ep)["prenatal"].explanation["decision"]
    assert explanation == {
        "id": decision.pk,
        "choice": "full",
        "percentage": "100.00",
        "reason": "Zorg tot verhuizing volledig geleverd.",
        "by": str(w.finance),
        "at": decision.decided_at.isoformat(),
    }
    entry = _decided(w, ep, decision)
    assert entry.details == {
        "episode": ep.pk,
        "phase": "prenatal",
        "choice": "full",
        "percentage": "100",
        "supersedes": None,
    }  # no end reason, no free text: those are clinical and stay on the decision
    assert_books_balance(w.tenant)


def test_finance_decides_to_bill_a_percentage(w):
    ep = moved_away_at_20_weeks(w)
    w.run(TODAY)
    decision = w.decide(
        ep, choice="percentage", percentage="41.67", reason="Vijf van twaalf controles.", today=TODAY
    )
    # 1200.00 x 41.67% = 500.04.
    assert amounts(ep) == {"prenatal": (D("500.04"), D("41.67"), dt.date(2026, 2, 2), dt.date(2026, 3, 30))}
    assert lines(ep)["prenatal"].explanation["decision"]["percentage"] == "41.67"
    entry = _decided(w, ep, decision)
    assert (entry.details["choice"], entry.details["percentage"]) == ("percentage", "41.67")
    assert_books_balance(w.tenant)


def test_finance_decides_not_to_bill(w):
    ep = moved_away_at_20_weeks(w)
    w.run(TODAY)
    decision = w.decide(ep, choice="none", reason="Afspraak met ZK: niet declareren.", today=TODAY)
    assert decision.percentage == D("0")
    assert not ClaimLine.unscoped.filter(episode=ep).exists()
    entry = _decided(w, ep, decision)
    assert entry.details["choice"] == "none"
    # The next runs leave it so: no line, no new work item.
    w.run(TODAY)
    assert not ClaimLine.unscoped.filter(episode=ep).exists() and not open_items(ep)
    # The books check counts the phase as rightly unclaimed.
    report = reconcile.books_check(tenant=w.tenant)
    assert report.ok, reconcile.problem_lines(report)


def test_a_later_decision_supersedes_the_earlier_one_and_rebills(w):
    ep = moved_away_at_20_weeks(w)
    w.run(TODAY)
    first = w.decide(ep, choice="full", reason="Eerst: volledig.", today=TODAY)
    (line,) = lines(ep).values()
    second = w.decide(ep, choice="percentage", percentage="50", reason="Na overleg: de helft.", today=TODAY)
    first.refresh_from_db()
    line.refresh_from_db()
    assert (first.is_current, second.is_current) == (False, True)  # the first is kept
    # The unsent 1200.00 line is withdrawn; 1200.00 x 50% = 600.00 billed instead.
    assert (line.status, line.is_current) == ("withdrawn", False)
    assert {p: x.amount for p, x in lines(ep).items()} == {"prenatal": D("600.00")}
    assert AuditEntry.objects.get(object_id=str(second.pk)).details["supersedes"] == first.pk


def test_a_decision_for_another_end_reason_no_longer_counts(w):
    ep = moved_away_at_20_weeks(w)
    w.run(TODAY)
    w.decide(ep, choice="full", reason="Volledig.", today=TODAY)
    ep.end_reason = "death"  # corrected later; the decision was about moving away
    ep.save()
    touch(ep)
    w.run(TODAY)
    assert not lines(ep)
    assert set(open_items(ep)) == {("prenatal", "no_partial_rule")}


# --- bad input: refused, nothing stored ---------------------------------------------------------------


def _nothing_stored(ep) -> None:
    assert not PartialDecision.unscoped.filter(episode=ep).exists()
    assert not AuditEntry.objects.filter(action="partial_decision.record").exists()
    assert not ClaimLine.unscoped.filter(episode=ep).exists()


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        pytest.param({"choice": "full", "reason": ""}, {"reason"}, id="no-reason"),
        pytest.param({"choice": "full", "reason": "   "}, {"reason"}, id="blank-reason"),
        pytest.param(
            {"choice": "percentage", "percentage": "100.01", "reason": "x"}, {"percentage"}, id="over-100"
        ),
        pytest.param({"choice": "percentage", "percentage": "150", "reason": "x"}, {"percentage"}, id="150"),
        pytest.param(
            {"choice": "percentage", "percentage": "-1", "reason": "x"}, {"percentage"}, id="negative"
        ),
        pytest.param(
            {"choice": "percentage", "percentage": None, "reason": "x"}, {"percentage"}, id="missing"
        ),
        pytest.param(
            {"choice": "percentage", "percentage": "12.345", "reason": "x"}, {"percentage"}, id="decimals"
        ),
        pytest.param({"choice": "maybe", "reason": "x"}, {"choice"}, id="unknown-choice"),
        pytest.param({"choice": "full", "reason": "x", "phase": "natal"}, {"phase"}, id="phase-not-reached"),
        pytest.param(
            {"choice": "percentage", "percentage": "200", "reason": ""}, {"percentage", "reason"}, id="both"
        ),
    ],
)
def test_a_bad_decision_is_refused_with_field_errors(w, kwargs, fields):
    ep = moved_away_at_20_weeks(w)
    w.run(TODAY)
    with pytest.raises(ValidationError) as exc:
        w.decide(ep, today=TODAY, **kwargs)
    assert set(exc.value.message_dict) == fields
    _nothing_stored(ep)
    assert set(open_items(ep)) == {("prenatal", "no_partial_rule")}


def test_a_decision_is_refused_where_the_contract_has_a_rule(w):
    ep = transferred_at_30_weeks(w)
    w.run(TODAY)
    with pytest.raises(ValidationError) as exc:
        w.decide(ep, choice="full", reason="Volledig.", today=TODAY)
    assert "ZK 2026" in exc.value.message_dict["phase"][0]
    assert not PartialDecision.unscoped.filter(episode=ep).exists()
    assert {p: x.amount for p, x in lines(ep).items()} == {"prenatal": D("1050.60")}


def test_a_decision_is_refused_for_a_completed_phase_or_a_completed_episode(w):
    ep = transferred_after_birth(w)
    w.run(TODAY)
    for phase in ("prenatal", "natal"):  # completed before the transfer
        with pytest.raises(ValidationError) as exc:
            w.decide(ep, phase=phase, choice="full", reason="x", today=TODAY)
        assert set(exc.value.message_dict) == {"phase"}
    assert not PartialDecision.unscoped.exists()


def test_access_log_untouched_by_the_service(w):
    """The service reads no client page: the view logs the access (see the page tests)."""
    ep = moved_away_at_20_weeks(w)
    w.run(TODAY)
    before = AccessLogEntry.unscoped.count()
    with tenant_scope(w.tenant):
        w.decide(ep, choice="full", reason="Volledig.", today=TODAY)
    assert AccessLogEntry.unscoped.count() == before


# --- the pages: the work queue, the decision, the episode's claims, "explain this amount" -------------


def test_finance_decides_from_the_work_queue_and_sees_it_explained(w, client_for):
    ep = moved_away_at_20_weeks(w)
    w.run(TODAY)
    item = WorkItem.unscoped.get(episode=ep, reason="no_partial_rule")
    finance = client_for(w.finance)
    queue = finance.get(w.url("work_queue")).content.decode()
    url = w.url("partial_decision", pk=ep.pk, phase="prenatal")
    assert f'href="{url}"' in queue and f'data-testid="decide-{item.pk}"' in queue
    claims = finance.get(w.url("episode_claims", pk=ep.pk)).content.decode()
    assert f'href="{url}"' in claims

    page = finance.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="decision-week">20<' in html
    assert "1.200,00" in html  # the tariff
    assert item.message in html
    assert AccessLogEntry.unscoped.filter(client=ep.client, action="view", detail="partial decision").exists()

    response = finance.post(
        url, {"choice": "percentage", "percentage": "41.67", "reason": "Vijf van twaalf controles."}
    )
    assert response.status_code == 302 and response["Location"] == w.url("episode_claims", pk=ep.pk)
    decision = PartialDecision.unscoped.get(episode=ep)
    assert (decision.choice, decision.percentage, decision.decided_by) == (
        "percentage",
        D("41.67"),
        w.finance,
    )
    assert AccessLogEntry.unscoped.filter(
        client=ep.client, action="update", detail="partial decision prenatal"
    )
    # 1200.00 x 41.67% = 500.04, billed at once.
    (line,) = lines(ep).values()
    assert line.amount == D("500.04")

    claims = finance.get(w.url("episode_claims", pk=ep.pk)).content.decode()
    assert f'data-testid="decision-{decision.pk}"' in claims
    assert "Vijf van twaalf controles." in claims and str(w.finance) in claims
    explain = finance.get(w.url("claim_line_explain", pk=line.pk)).content.decode()
    assert 'data-testid="explain-decision"' in explain
    assert "Vijf van twaalf controles." in explain
    assert "41,67%" in explain and "500,04" in explain


def test_the_explanation_of_a_rule_and_of_a_completed_phase(w, client_for):
    ep = transferred_after_birth(w)
    w.run(TODAY)
    finance = client_for(w.finance)
    got = lines(ep)
    post = finance.get(w.url("claim_line_explain", pk=got["postnatal"].pk)).content.decode()
    assert "week 40" in post and "33,33%" in post and "499,95" in post
    pre = finance.get(w.url("claim_line_explain", pk=got["prenatal"].pk)).content.decode()
    assert 'data-testid="explain-percentage"' in pre and "1.200,00" in pre


def test_a_bad_decision_on_the_page_shows_the_errors_and_stores_nothing(w, client_for):
    ep = moved_away_at_20_weeks(w)
    w.run(TODAY)
    finance = client_for(w.finance)
    url = w.url("partial_decision", pk=ep.pk, phase="prenatal")
    response = finance.post(url, {"choice": "percentage", "percentage": "150", "reason": "  "})
    assert response.status_code == 400
    html = response.content.decode()
    assert html.count('class="errorlist') >= 2  # on the percentage and on the reason
    _nothing_stored(ep)


def test_the_page_of_a_phase_with_a_rule_offers_no_decision(w, client_for):
    ep = transferred_at_30_weeks(w)
    w.run(TODAY)
    html = client_for(w.finance).get(w.url("partial_decision", pk=ep.pk, phase="prenatal")).content.decode()
    assert 'data-testid="decision-rule"' in html and "partial-decision-form" not in html
