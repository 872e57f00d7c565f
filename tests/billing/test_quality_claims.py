"""Quality agreements: the bonus or malus line at the end of the year, to the cent, its split, its way
into the monthly batch (KZ301 record without an insured person) and its correction after sending."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum

from billing.files.conformance import conformance_problems
from billing.models import Allocation, BatchFile, ClaimLine, LineStatus, QualityAgreement
from billing.services import batches, quality_claims
from billing.services.returns import rejected_line_rebill
from igo import dates
from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies.models import Birth
from quality import indicators
from tests.scenarios.billing import BILLING_NOW, at, portfolio, run, zk_november_answered
from tests.scenarios.kz301_reader import parse

pytestmark = pytest.mark.clock(BILLING_NOW)

D = Decimal
AFTER_2026 = dt.date(2027, 1, 15)


@pytest.fixture
def year_2026(s):
    """The portfolio has two deliveries in 2026: the ordinary one (14 Aug, spontaneous) and the insurer
    change (3 Jan, caesarean): caesarean rate 1/2 = 50.0%, exact 95% interval 1.26–98.74% (Clopper–Pearson,
    (0.025)^(1/2) = 0.158 for 0/2 and 2/2 alike): a target is decided only outside it, at ≤ 1.0 (not met)
    or ≤ 99.0 (met). Claimed in 2026 (service end in 2026):
    ZK 900 + 1500 + 1200 (ordinary) + 1200 (transfer week 30) + 1200 (new insurer, prenatal, ends 3 Jan)
    + 1200 (in labour) = 7200.00; VGZ 1000 + 1650 (new insurer, natal and postnatal) = 2650.00."""
    eps = portfolio(s)
    ordinary, _transferred, new_insurer = eps[:3]
    Birth.unscoped.create(
        tenant=s.tenant, episode=ordinary, child_number=1, born_at=at(2026, 8, 14, 14),
        place="home", mode="spontaneous", weight_grams=3400,
    )  # fmt: skip
    Birth.unscoped.create(
        tenant=s.tenant, episode=new_insurer, child_number=1, born_at=at(2026, 1, 3, 13),
        place="clinical", mode="caesarean", weight_grams=3100,
    )  # fmt: skip
    run(s)
    return s


def agree(s, contract, **kw) -> QualityAgreement:
    with tenant_scope(s.tenant):
        return quality_claims.agreement_create(contract=contract, actor=s.admin, **kw)


def settle(s, today=AFTER_2026):
    with tenant_scope(s.tenant):
        return quality_claims.quality_settle(tenant=s.tenant, year=2026, today=today)


def test_malus_and_bonus_lines_to_the_cent(year_2026):
    s = year_2026
    zk = agree(s, s.zk_contract, indicator="caesarean", year=2026, target=D("1.0"), malus_pct=D("1.5"))
    vgz = agree(s, s.vgz_contract, indicator="caesarean", year=2026, target=D("99.0"), bonus_pct=D("2.25"))
    result = settle(s)
    assert (result.agreements, result.lines) == (2, 2)
    malus = ClaimLine.unscoped.get(agreement=zk, is_current=True)
    bonus = ClaimLine.unscoped.get(agreement=vgz, is_current=True)
    # ZK: 50.0% (interval from 1.26%) > 1.0 → not met → malus 1.5% of 7200.00 = 108.00, a credit line.
    assert (malus.sign, malus.amount, malus.insurer_id, malus.episode_id) == (
        "credit",
        D("-108.00"),
        s.zk.pk,
        None,
    )
    # VGZ: 50.0% (interval up to 98.74%) ≤ 99.0 → met → bonus 2.25% of 2650.00 = 59.625 → 59.63 (half up), a debit line.
    assert (bonus.sign, bonus.amount, bonus.insurer_id) == ("debit", D("59.63"), s.vgz.pk)
    assert malus.explanation["value"] == "50.0" and malus.explanation["met"] is False
    assert (malus.explanation["decision"], malus.explanation["ci_lower"], malus.explanation["ci_upper"]) == (
        "not_met",
        "1.3",
        "98.7",
    )
    assert malus.explanation["base"] == "7200.00" and bonus.explanation["base"] == "2650.00"
    assert (malus.service_start, malus.service_end) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    for line in (malus, bonus):
        parts = Allocation.unscoped.filter(claim_line=line, is_current=True)
        assert parts.aggregate(t=Sum("amount"))["t"] == line.amount
        assert all((p.amount <= 0) if line.sign == "credit" else (p.amount >= 0) for p in parts)
    # Each part follows what that party received of the ZK claims of 2026.
    received = dict(
        Allocation.unscoped.filter(
            claim_line__insurer=s.zk, claim_line__agreement__isnull=True, is_current=True
        )
        .values("kind", "organisation_id")
        .annotate(t=Sum("amount"))
        .values_list("organisation_id", "t")
    )
    parts = {a.organisation_id: a.amount for a in Allocation.unscoped.filter(claim_line=malus)}
    for org, amount in parts.items():
        exact = D("-108.00") * received[org] / D("7200.00")
        assert abs(amount - exact) < D("0.01")


def test_settling_again_without_change_changes_nothing(year_2026):
    s = year_2026
    agree(s, s.zk_contract, indicator="caesarean", year=2026, target=D("1.0"), malus_pct=D("1"))
    settle(s)
    before = list(ClaimLine.unscoped.filter(agreement__isnull=False).values_list("pk", "amount", "status"))
    again = settle(s)
    assert (again.unchanged, again.lines, again.replaced) == (1, 0, 0)
    assert (
        list(ClaimLine.unscoped.filter(agreement__isnull=False).values_list("pk", "amount", "status"))
        == before
    )


def test_a_year_is_settled_only_after_it_ended(year_2026):
    s = year_2026
    agree(s, s.zk_contract, indicator="caesarean", year=2026, target=D("30"), malus_pct=D("1"))
    with pytest.raises(ValidationError) as exc:
        settle(s, today=dt.date(2026, 12, 31))
    assert "year" in exc.value.message_dict
    assert not ClaimLine.unscoped.filter(agreement__isnull=False).exists()


def test_a_sent_bonus_is_reversed_and_replaced_when_the_data_changes(year_2026):
    s = year_2026
    zk = agree(
        s,
        s.zk_contract,
        indicator="caesarean",
        year=2026,
        target=D("99.0"),
        malus_pct=D("1"),
        bonus_pct=D("0.5"),
    )
    settle(s)
    bonus = ClaimLine.unscoped.get(agreement=zk, is_current=True)
    assert (bonus.amount, bonus.explanation["value"]) == (D("36.00"), "50.0")  # 0.5% of 7200.00
    with tenant_scope(s.tenant):
        made = batches.batch_create(
            tenant=s.tenant, insurer=s.zk, period=dates.month_start(BILLING_NOW.date()), actor=s.admin
        )
        assert made.batch is not None
        batches.batch_release(batch=made.batch, actor=s.admin)
    # The caesarean is corrected to an assisted birth: 0/2 = 0.0%, interval 0–84.19% ≤ 99.0: still met,
    # the same amount, but the line's explanation changed: reversed and replaced.
    Birth.unscoped.filter(mode="caesarean").update(mode="assisted")
    result = settle(s)
    assert (result.replaced, result.lines) == (1, 1)
    bonus.refresh_from_db()
    assert (bonus.status, bonus.is_current) == (LineStatus.SENT, False)
    counter = ClaimLine.unscoped.get(corrects=bonus)
    assert (counter.sign, counter.amount) == ("credit", D("-36.00"))
    again = ClaimLine.unscoped.get(agreement=zk, is_current=True)
    assert (again.sign, again.amount, again.explanation["value"]) == ("debit", D("36.00"), "0.0")
    assert (again.explanation["ci_lower"], again.explanation["ci_upper"]) == ("0.0", "84.2")


def test_a_sent_malus_is_reversed_when_the_result_is_no_longer_decidable(year_2026):
    s = year_2026
    zk = agree(
        s,
        s.zk_contract,
        indicator="caesarean",
        year=2026,
        target=D("1.0"),
        malus_pct=D("1"),
        bonus_pct=D("0.5"),
    )
    settle(s)
    malus = ClaimLine.unscoped.get(agreement=zk, is_current=True)
    with tenant_scope(s.tenant):
        made = batches.batch_create(
            tenant=s.tenant, insurer=s.zk, period=dates.month_start(BILLING_NOW.date()), actor=s.admin
        )
        assert made.batch is not None
        batches.batch_release(batch=made.batch, actor=s.admin)
    # The caesarean is corrected to an assisted birth: 0/2 = 0.0%, but the interval 0–84.19% contains
    # the target 1.0: not yet decidable → no bonus (before issue 20: "met", a bonus of 36.00).
    Birth.unscoped.filter(mode="caesarean").update(mode="assisted")
    result = settle(s)
    assert (result.replaced, result.lines) == (1, 0)
    malus.refresh_from_db()
    assert (malus.status, malus.is_current) == (LineStatus.SENT, False)
    counter = ClaimLine.unscoped.get(corrects=malus)
    assert (counter.sign, counter.amount) == ("debit", D("72.00"))  # takes back the −72.00 malus
    assert not ClaimLine.unscoped.filter(agreement=zk, is_current=True).exists()
    assert Allocation.unscoped.filter(claim_line=counter).aggregate(t=Sum("amount"))["t"] == D("72.00")
    with tenant_scope(s.tenant):
        outcome = quality_claims.agreement_result(zk)
    assert (outcome.decision, outcome.met, outcome.amount, outcome.upper) == (
        "undecidable",
        None,
        D("0.00"),
        D("84.2"),
    )


def test_the_quality_line_reaches_the_insurer_without_an_insured_person(year_2026):
    s = year_2026
    zk = agree(s, s.zk_contract, indicator="caesarean", year=2026, target=D("1.0"), malus_pct=D("1"))
    settle(s)
    with tenant_scope(s.tenant):
        made = batches.batch_create(
            tenant=s.tenant, insurer=s.zk, period=dates.month_start(BILLING_NOW.date()), actor=s.admin
        )
    batch = made.batch
    assert batch is not None
    assert batch.line_count == 7 and batch.total == D("7200.00") - D("72.00")
    content = BatchFile.unscoped.get(batch=batch, kind="kz301").content
    records = parse(bytes(content))
    quality = [r for r in records if r.code == "04" and r["reference"].startswith(f"Q{zk.pk}-")]
    assert len(quality) == 1
    q = quality[0]
    # No insured person: BSN zeros, no insured number, the platform's quality code, the amount as tariff.
    assert (q["dc_2"], q["amount"], q["bsn"], q["insured_number"]) == ("C", 7200, "000000000", "")
    assert (q["prestatie_code"], q["tariff"], q["calculated"], q["dc_1"]) == ("KWALIT", 7200, 7200, "C")
    position = records.index(q)
    assert records[position - 1].code != "02"  # no insured person before it
    comment = records[position + 1]
    # The 98 comment explains it: result 50.0 against the target <= 1.0, 1% of 7200.00.
    assert comment.code == "98" and comment["line_number"] == 1
    assert all(part in comment["text"] for part in ("50.0", "<= 1.0", "7200.00"))
    assert (records[-1]["total_dc"], records[-1]["total"]) == ("D", 720000 - 7200)
    assert conformance_problems(bytes(content)) == []


# --- finance screens -------------------------------------------------------------------------------


def test_finance_adds_an_agreement_and_sees_its_result(year_2026, world_a, client_for):
    from django.urls import reverse

    from igo.models import Role

    s = year_2026
    finance = client_for(world_a.user(Role.IGO_FINANCE))
    url = reverse("quality_agreement_create", kwargs={"tenant_slug": s.tenant.slug, "pk": s.zk_contract.pk})
    descriptive = finance.post(
        url, {"indicator": "place_home", "year": 2026, "target": "40", "bonus_pct": "1", "malus_pct": "0"}
    )
    assert descriptive.status_code == 400 and set(descriptive.context["form"].errors) == {"indicator"}
    bad = finance.post(
        url, {"indicator": "caesarean", "year": 2026, "target": "150", "bonus_pct": "12", "malus_pct": "0"}
    )
    assert bad.status_code == 400
    # A percentage cannot reach 150; at most 10% bonus.
    assert set(bad.context["form"].errors) == {"target", "bonus_pct"}
    assert not QualityAgreement.unscoped.exists()
    ok = finance.post(
        url, {"indicator": "caesarean", "year": 2026, "target": "1", "bonus_pct": "0", "malus_pct": "1"}
    )
    assert ok.status_code == 302
    agreement = QualityAgreement.unscoped.get()
    page = finance.get(ok["Location"]).content.decode()
    # Measured now: 50.0% (interval 1.3–98.7%) against ≤ 1 → not met → malus 1% of 7200.00, shown before
    # settling.
    assert f'data-testid="agreement-amount-{agreement.pk}"' in page
    assert "-72,00" in page
    assert f'data-testid="agreement-ci-{agreement.pk}"' in page
    settle_url = reverse("quality_settle", kwargs={"tenant_slug": s.tenant.slug})
    assert finance.post(settle_url, {"year": BILLING_NOW.year}).status_code == 302
    assert not ClaimLine.unscoped.filter(agreement__isnull=False).exists()  # the current year is refused


def test_every_error_of_the_agreement_form_shows_in_one_response(year_2026, world_a, client_for):
    """A bonus the form refuses (−1) no longer hides the agreement's own checks of the other fields."""
    from django.urls import reverse

    from igo.models import Role

    s = year_2026
    finance = client_for(world_a.user(Role.IGO_FINANCE))
    url = reverse("quality_agreement_create", kwargs={"tenant_slug": s.tenant.slug, "pk": s.zk_contract.pk})
    bad = finance.post(
        url, {"indicator": "caesarean", "year": 2026, "target": "150", "bonus_pct": "-1", "malus_pct": "11"}
    )
    assert bad.status_code == 400
    errors = bad.context["form"].errors
    assert set(errors) == {"target", "bonus_pct", "malus_pct"}
    assert errors["target"] == ["Vul een streefwaarde in die de indicator kan halen."]
    assert len(errors["bonus_pct"]) == 1 and errors["malus_pct"] == [
        "Vul een percentage in van 0 tot en met 10."
    ]
    page = bad.content.decode()
    assert "Vul een streefwaarde in die de indicator kan halen." in page
    # A year that does not parse still lets the target be checked.
    worse = finance.post(
        url, {"indicator": "caesarean", "year": "", "target": "150", "bonus_pct": "0", "malus_pct": "0"}
    )
    assert set(worse.context["form"].errors) == {"year", "target"}
    assert finance.post(url, {}).status_code == 400  # an empty POST: the form again, nothing checked
    assert not QualityAgreement.unscoped.exists()


def test_a_target_inside_the_interval_gives_neither_bonus_nor_malus_and_says_why(
    year_2026, world_a, client_for
):
    """1/2 = 50.0% against ≤ 30: the old reading said "not met" and took a malus on two deliveries; the
    interval 1.26–98.74% contains 30, so the target is not yet decidable: no line, and the page says so."""
    from django.urls import reverse

    from igo.models import Role

    s = year_2026
    zk = agree(s, s.zk_contract, indicator="caesarean", year=2026, target=D("30"), malus_pct=D("1"))
    vgz = agree(s, s.vgz_contract, indicator="caesarean", year=2026, target=D("60"), bonus_pct=D("1"))
    result = settle(s)
    assert (result.agreements, result.lines) == (2, 0)
    assert not ClaimLine.unscoped.filter(agreement__isnull=False).exists()
    with tenant_scope(s.tenant):
        outcomes = [quality_claims.agreement_result(a) for a in (zk, vgz)]
    for outcome in outcomes:
        assert (outcome.value, outcome.decision, outcome.met, outcome.amount) == (
            D("50.0"),
            "undecidable",
            None,
            D("0.00"),
        )
        assert (outcome.lower, outcome.upper) == (D("1.3"), D("98.7"))
    finance = client_for(world_a.user(Role.IGO_FINANCE))
    page = finance.get(reverse("quality_agreements", kwargs={"tenant_slug": s.tenant.slug}) + "?year=2026")
    html = page.content.decode()
    for agreement in (zk, vgz):
        cell = html.split(f'data-testid="agreement-decision-{agreement.pk}"')[1].split("</td>")[0]
        assert "nog niet te beoordelen" in cell or "not yet decidable" in cell


def test_every_indicator_has_its_own_prestatie_code_of_at_most_16_characters() -> None:
    """The KZ301 prestatie code field holds 16 characters. Cutting "Q-PERINATAL_MORTALITY_28D" at 16 gave the
    four versions of perinatal mortality one code; each indicator must keep a code of its own."""
    codes = {code: quality_claims.indicator_claim_code(code) for code in indicators.BY_CODE}
    assert all(len(c) <= 16 and c.startswith("Q-") for c in codes.values()), codes
    assert len(set(codes.values())) == len(codes), codes
    # A short code is kept as it is.
    assert codes["caesarean"] == "Q-CAESAREAN"


def portfolio_ordinary(s):
    """The ordinary pregnancy of the portfolio: the spontaneous birth of 14 August 2026."""
    return Birth.unscoped.get(tenant=s.tenant, mode="spontaneous").episode


def caesarean_malus(s, year_2026) -> ClaimLine:
    """A caesarean agreement with ZK (target 1.0 %, malus 1.5 %: not met at 50 %) settled for 2026."""
    agreement = agree(s, s.zk_contract, indicator="caesarean", year=2026, target=D("1.0"), malus_pct=D("1.5"))
    settle(s)
    return ClaimLine.unscoped.get(agreement=agreement, is_current=True)


def test_the_base_counts_a_rejected_and_rebilled_phase_once(year_2026, world_a):
    """The insurer rejects the ordinary episode's postnatal line (1500.00, BSN unknown) and finance bills it
    again: the insurer was claimed the phase once (the rejected line booked nothing), so the base stays
    7200.00 and the malus 1.5 % of it, -108.00 (not 8700.00 and -130.50)."""
    s = year_2026
    finance = world_a.user(Role.IGO_FINANCE)
    with tenant_scope(s.tenant):
        postnatal = ClaimLine.objects.get(episode=portfolio_ordinary(s), phase="postnatal", is_current=True)
        zk_november_answered(s, finance, {postnatal: ("rejected", "0101", None)})
        postnatal.refresh_from_db()
        new = rejected_line_rebill(line=postnatal, actor=finance)
    assert new is not None and new.amount == D("1500.00")
    malus = caesarean_malus(s, year_2026)
    assert (malus.explanation["base"], malus.amount) == ("7200.00", D("-108.00"))


def test_the_base_counts_what_the_insurer_awarded_of_a_line_awarded_in_part(year_2026, world_a):
    """The insurer awards the ordinary episode's postnatal line 1400.00 of 1500.00: the base is what it
    keeps, 7100.00, and the malus 1.5 % of that, -106.50."""
    s = year_2026
    finance = world_a.user(Role.IGO_FINANCE)
    with tenant_scope(s.tenant):
        postnatal = ClaimLine.objects.get(episode=portfolio_ordinary(s), phase="postnatal", is_current=True)
        zk_november_answered(s, finance, {postnatal: ("partial", "0611", D("1400.00"))})
    malus = caesarean_malus(s, year_2026)
    assert (malus.explanation["base"], malus.amount) == ("7100.00", D("-106.50"))
    # Divided like the claims it was computed on: its parts add up to it.
    assert Allocation.unscoped.filter(claim_line=malus, is_current=True).aggregate(s=Sum("amount"))["s"] == (
        malus.amount
    )
