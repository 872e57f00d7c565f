"""Retroactive tariff changes (billing.services.repricing): in March 2027 Zilveren Kruis and the IGO agree the
2027 tariffs, valid from 1 January 2027, while January and February were billed under the prolonged 2026
version (1200/900/1500). The world is tests.scenarios.repricing; every step sets the clock.

Splits by hand (5 % overhead, 2 % reserve, then the members' fixed shares):

    natal      950.00: overhead 47.50, reserve 19.00, members 883.50 = practice 60 % 530.10 + hospital 40 % 353.40
    postnatal 1600.00: overhead 80.00, reserve 32.00, members 1488.00 = practice 30 % 446.40 + kraam 70 % 1041.60
    prenatal   650.00 (50 % of 1300): overhead 32.50, reserve 13.00, members 604.50 = practice 70 % 423.15
                      + hospital 30 % 181.35
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import reconcile
from billing.models import (
    Allocation,
    BatchLine,
    ClaimBatch,
    ClaimLine,
    Contract,
    ContractTariff,
    LineStatus,
    ReturnSource,
    WorkItem,
)
from billing.services import batches
from billing.services.payouts import payout_run_release
from billing.services.returns import ReturnEntry, batch_return_record
from igo.models import AuditEntry
from igo.tenancy import tenant_scope
from tests.factories import UserFactory
from tests.scenarios.billing import split_of
from tests.scenarios.clock import travel
from tests.scenarios.payouts import PayoutWorld, accept_all, answer, bill, lines, paid, prepare, send_batch
from tests.scenarios.repricing import (
    LOWER_TARIFFS,
    TARIFFS_2026,
    all_lines,
    at,
    born_in_january,
    current_version,
    miscarriage_in_february,
    preview,
    reprice,
    repricing_world,
)

pytestmark = [pytest.mark.dated, pytest.mark.clock(at(2027, 1, 2))]

D = Decimal
FEB = dt.date(2027, 2, 1)
MAR = dt.date(2027, 3, 1)


@pytest.fixture
def pw(world_a) -> PayoutWorld:
    return repricing_world(world_a)


def books_clean(pw: PayoutWorld, today: dt.date) -> None:
    report = reconcile.books_check(tenant=pw.tenant, today=today)
    assert report.ok, reconcile.problem_lines(report)


def parts(line: ClaimLine, pw: PayoutWorld) -> dict[str, Decimal]:
    names = {pw.practice.name: "practice", pw.hospital.name: "hospital", pw.kraam.name: "kraam"}
    return {names.get(org, kind): amount for (kind, org), amount in split_of(line).items()}


def test_unsent_lines_are_priced_again_in_place_and_divided_again(pw):
    ep, mis = born_in_january(pw), miscarriage_in_february(pw)
    bill(pw, at(2027, 2, 21))
    before = lines(ep)
    assert (before["natal"].amount, before["postnatal"].amount, lines(mis)["prenatal"].amount) == (
        D("900.00"),
        D("1500.00"),
        D("600.00"),
    )
    old = current_version(pw)

    result = reprice(pw, at(2027, 3, 15))

    new = result.contract
    assert (new.valid_from, new.valid_until, new.name) == (dt.date(2027, 1, 1), None, "ZK 2027")
    old.refresh_from_db()
    assert old.valid_until == dt.date(2026, 12, 31)
    after = lines(ep)
    # The same lines (never sent), at the new price of the new version; the prenatal phase started in 2026.
    assert after["natal"].pk == before["natal"].pk and after["postnatal"].pk == before["postnatal"].pk
    natal_tariff = after["natal"].tariff
    assert natal_tariff is not None
    assert (after["natal"].amount, natal_tariff.amount, after["natal"].contract_id) == (
        D("950.00"),
        D("950.00"),
        new.pk,
    )
    assert after["natal"].explanation["repriced"] == {"contract": new.pk, "was": "900.00"}
    assert (after["prenatal"].amount, after["prenatal"].contract_id) == (D("1200.00"), old.pk)
    assert parts(after["natal"], pw) == {
        "overhead": D("47.50"),
        "reserve": D("19.00"),
        "practice": D("530.10"),
        "hospital": D("353.40"),
    }
    assert parts(after["postnatal"], pw) == {
        "overhead": D("80.00"),
        "reserve": D("32.00"),
        "practice": D("446.40"),
        "kraam": D("1041.60"),
    }
    # The miscarriage: 50 % of the new prenatal tariff, by the same rule of the new version.
    prenatal = lines(mis)["prenatal"]
    assert (prenatal.amount, prenatal.percentage) == (D("650.00"), D("50.00"))
    assert prenatal.explanation["partial"]["percentage"] == "50.00"
    assert parts(prenatal, pw) == {
        "overhead": D("32.50"),
        "reserve": D("13.00"),
        "practice": D("423.15"),
        "hospital": D("181.35"),
    }
    # The old parts are superseded, not changed; nothing was credited.
    assert Allocation.unscoped.filter(claim_line=after["natal"], is_current=False).count() == 4
    assert not ClaimLine.unscoped.filter(sign="credit").exists()
    assert (result.repriced_in_place, result.credited, result.rebilled) == (3, 0, 0)
    entry = AuditEntry.objects.get(action="contract.reprice")
    assert entry.object_id == str(new.pk)
    assert entry.details["repriced_in_place"] == 3
    assert entry.details["total"] == {
        "unsent": 3,
        "sent": 0,
        "rejected": 0,
        "unchanged": 0,
        "old": "3000.00",
        "new": "3200.00",
        "difference": "200.00",
    }
    # The next run finds nothing to change.
    bill(pw, at(2027, 3, 16))
    assert {p: x.pk for p, x in lines(ep).items()} == {p: x.pk for p, x in after.items()}
    books_clean(pw, dt.date(2027, 3, 16))


def test_sent_and_accepted_lines_are_credited_and_claimed_again_in_the_next_batch(pw):
    ep = born_in_january(pw)
    bill(pw, at(2027, 2, 21))
    feb = send_batch(pw, FEB, at(2027, 2, 25))
    accept_all(feb, at(2027, 3, 1))
    sent = lines(ep)

    result = reprice(pw, at(2027, 3, 15))

    assert (result.repriced_in_place, result.credited, result.rebilled) == (0, 2, 2)
    for phase, old_amount, new_amount in (("natal", "900.00", "950.00"), ("postnatal", "1500.00", "1600.00")):
        old, credit, rebill = all_lines(ep, phase)
        assert old.pk == sent[phase].pk
        # Nothing of the sent line changed but that it is no longer current.
        assert (old.amount, old.status, old.is_current) == (D(old_amount), LineStatus.ACCEPTED, False)
        assert (credit.sign, credit.amount, credit.corrects_id, credit.status) == (
            "credit",
            -D(old_amount),
            old.pk,
            LineStatus.READY,
        )
        assert split_of(credit) == {k: -v for k, v in split_of(old).items()}
        assert (rebill.sign, rebill.amount, rebill.contract_id, rebill.is_current) == (
            "debit",
            D(new_amount),
            result.contract.pk,
            True,
        )
        assert rebill.explanation["repriced"] == {
            "contract": result.contract.pk,
            "replaces": old.number,
            "credit": credit.number,
            "was": old_amount,
        }
        assert sum(split_of(rebill).values()) == D(new_amount)
    # The prenatal line (care from 2026) keeps its claim.
    assert lines(ep)["prenatal"].pk == sent["prenatal"].pk

    # March's batch carries the two credits and the two new claims: -2400.00 + 2550.00.
    mar = send_batch(pw, MAR, at(2027, 4, 1))
    mar.refresh_from_db()
    assert (mar.line_count, mar.credit_total, mar.debit_total, mar.total) == (
        4,
        D("-2400.00"),
        D("2550.00"),
        D("150.00"),
    )
    refs = dict(BatchLine.unscoped.filter(batch=mar).values_list("number", "corrects_number"))
    assert refs[all_lines(ep, "natal")[1].number] == sent["natal"].number
    accept_all(mar, at(2027, 4, 5))
    books_clean(pw, dt.date(2027, 4, 5))


def test_the_preview_shows_per_phase_what_the_confirmation_does(pw):
    """Mixed: the January birth sent and accepted, the miscarriage billed after the batch (not sent)."""
    ep = born_in_january(pw)
    bill(pw, at(2027, 2, 9))  # the birth's phases are not over yet: nothing for it
    bill(pw, at(2027, 2, 21))
    feb = send_batch(pw, FEB, at(2027, 2, 25))
    accept_all(feb, at(2027, 3, 1))
    mis = miscarriage_in_february(pw)
    bill(pw, at(2027, 3, 2))
    assert lines(mis)["prenatal"].status == LineStatus.READY
    assert lines(ep)["natal"].status == LineStatus.ACCEPTED

    shown = preview(pw, at(2027, 3, 15))

    rows = {p.phase: (p.unsent, p.sent, p.old_amount, p.new_amount, p.difference) for p in shown.phases}
    assert rows == {
        "prenatal": (1, 0, D("600.00"), D("650.00"), D("50.00")),
        "natal": (0, 1, D("900.00"), D("950.00"), D("50.00")),
        "postnatal": (0, 1, D("1500.00"), D("1600.00"), D("100.00")),
    }
    assert (shown.total.unsent, shown.total.sent, shown.total.old_amount, shown.total.new_amount) == (
        1,
        2,
        D("3000.00"),
        D("3200.00"),
    )
    assert not Contract.unscoped.filter(name="ZK 2027").exists()  # a preview writes nothing

    done = reprice(pw, at(2027, 3, 15, 11), expected=shown.fingerprint)

    assert [p.as_dict() for p in done.impact.phases] == [p.as_dict() for p in shown.phases]
    assert done.impact.total.as_dict() == shown.total.as_dict()
    assert (done.repriced_in_place, done.credited, done.rebilled) == (1, 2, 2)
    # What was shown is what the claims now say: per phase, new - old of the current claims.
    assert lines(mis)["prenatal"].amount == D("650.00")
    assert (lines(ep)["natal"].amount, lines(ep)["postnatal"].amount) == (D("950.00"), D("1600.00"))
    books_clean(pw, dt.date(2027, 3, 15))


def test_a_confirmation_after_the_claims_changed_is_refused_and_stores_nothing(pw):
    born_in_january(pw)
    bill(pw, at(2027, 2, 21))
    shown = preview(pw, at(2027, 3, 15))
    miscarriage_in_february(pw)
    bill(pw, at(2027, 3, 16))  # a new claim in the period since the preview
    with pytest.raises(ValidationError) as exc:
        reprice(pw, at(2027, 3, 16, 11), expected=shown.fingerprint)
    assert "sinds de preview" in str(exc.value) or "since the preview" in str(exc.value)
    assert not Contract.unscoped.filter(name="ZK 2027").exists()
    assert current_version(pw).valid_until is None


def test_a_lower_tariff_takes_the_same_route(pw):
    ep, mis = born_in_january(pw), miscarriage_in_february(pw)
    bill(pw, at(2027, 2, 21))
    feb = send_batch(pw, FEB, at(2027, 2, 25))
    accept_all(feb, at(2027, 3, 1))

    result = reprice(pw, at(2027, 3, 15), tariffs=LOWER_TARIFFS)

    # 900 -> 850, 1500 -> 1400, the miscarriage 50 % of 1100 = 550: -50 - 100 - 50.
    assert result.impact.total.difference == D("-200.00")
    assert (result.credited, result.rebilled) == (3, 3)
    assert {p: x.amount for p, x in lines(ep).items()} == {
        "prenatal": D("1200.00"),
        "natal": D("850.00"),
        "postnatal": D("1400.00"),
    }
    assert lines(mis)["prenatal"].amount == D("550.00")
    assert [x.amount for x in all_lines(mis, "prenatal")] == [D("600.00"), D("-600.00"), D("550.00")]
    books_clean(pw, dt.date(2027, 3, 15))


def test_the_same_prices_credit_nothing_and_the_next_run_keeps_the_claims(pw):
    ep = born_in_january(pw)
    bill(pw, at(2027, 2, 21))
    feb = send_batch(pw, FEB, at(2027, 2, 25))
    accept_all(feb, at(2027, 3, 1))
    before = {line.pk: (line.amount, line.tariff_id) for line in ClaimLine.unscoped.all()}

    result = reprice(pw, at(2027, 3, 15), tariffs=TARIFFS_2026)

    assert result.impact.total.changed == 0 and result.impact.total.unchanged == 2
    assert (result.credited, result.rebilled, result.repriced_in_place) == (0, 0, 0)
    assert {line.pk: (line.amount, line.tariff_id) for line in ClaimLine.unscoped.all()} == before
    # The billing run compares the claim as the insurer receives it: the same claim is not credited and sent
    # again because the version changed.
    bill(pw, at(2027, 3, 16))
    assert {line.pk for line in ClaimLine.unscoped.all()} == set(before)
    assert set(lines(ep)) == {"prenatal", "natal", "postnatal"}
    books_clean(pw, dt.date(2027, 3, 16))


def _award(batch: ClaimBatch, moment: dt.datetime, entries: list[ReturnEntry]) -> None:
    with travel(moment):
        batch_return_record(
            batch=batch,
            entries=entries,
            user=UserFactory(email=f"zk{batch.pk}@zk.test"),  # type: ignore[arg-type]
            source=ReturnSource.PORTAL,
        )


def test_pending_and_partly_awarded_lines_are_credited_and_a_rejected_one_only_claimed_anew(pw):
    """Every answer state of a sent line: the natal line awarded in part (800.00 of 900.00), the postnatal
    line rejected, the miscarriage's prenatal line not answered yet."""
    ep, mis = born_in_january(pw), miscarriage_in_february(pw)
    bill(pw, at(2027, 2, 21))
    feb = send_batch(pw, FEB, at(2027, 2, 25))
    sent, mis_sent = lines(ep), lines(mis)["prenatal"]
    _award(
        feb,
        at(2027, 3, 1),
        [
            ReturnEntry(sent["prenatal"].number, "accepted"),
            ReturnEntry(sent["natal"].number, "partial", "0611", awarded_amount=D("800.00")),
            ReturnEntry(sent["postnatal"].number, "rejected", "0202", reason_text="Tarief"),
        ],
    )
    assert WorkItem.unscoped.filter(episode=ep, reason="partial_award", resolved_at__isnull=True).exists()
    assert WorkItem.unscoped.filter(episode=ep, reason="rejected", resolved_at__isnull=True).exists()

    shown = preview(pw, at(2027, 3, 15))
    assert (shown.total.sent, shown.total.rejected, shown.total.unsent) == (3, 1, 0)
    result = reprice(pw, at(2027, 3, 15, 11))

    assert (result.credited, result.withdrawn, result.rebilled) == (2, 1, 3)
    # The partly awarded line: its credit takes back the parts of the 800.00 the members received.
    natal_credit = all_lines(ep, "natal")[1]
    assert sum(split_of(natal_credit).values()) == D("-800.00")
    assert natal_credit.amount == D("-900.00")  # the claim it takes back
    # The rejected line: the insurer booked nothing, so no credit (it would come back as 8017); it is taken
    # out of use with its parts reversed and the phase claimed anew at 1600.00 under a new reference.
    postnatal = all_lines(ep, "postnatal")
    assert [(x.sign, x.amount, x.is_current) for x in postnatal] == [
        ("debit", D("1500.00"), False),
        ("debit", D("1600.00"), True),
    ]
    assert postnatal[0].number != postnatal[1].number
    assert not Allocation.unscoped.filter(claim_line=postnatal[0], is_current=True).exists()
    assert not WorkItem.unscoped.filter(episode=ep, reason="rejected", resolved_at__isnull=True).exists()
    # The line not answered yet: credited and claimed anew too.
    assert [x.amount for x in all_lines(mis, "prenatal")] == [D("600.00"), D("-600.00"), D("650.00")]
    assert all_lines(mis, "prenatal")[0].pk == mis_sent.pk
    # The partial-award and rejection work items are taken up by the credit and the new claim.
    assert not WorkItem.unscoped.filter(episode=ep, resolved_at__isnull=True).exists()
    books_clean(pw, dt.date(2027, 3, 15))

    # The insurer answers the old line late (accepted), then March's batch goes out and is accepted; the
    # natal credit in part, by what it awarded the line (-800.00 of -900.00): it takes back what it paid.
    _award(feb, at(2027, 3, 20), [ReturnEntry(mis_sent.number, "accepted")])
    mar = send_batch(pw, MAR, at(2027, 4, 1))
    others = ClaimLine.unscoped.filter(batch_line__batch=mar).exclude(pk=natal_credit.pk)
    answer(mar, at(2027, 4, 5), accept=others, award=[(natal_credit, D("-800.00"))])
    books_clean(pw, dt.date(2027, 4, 5))


def test_the_books_stay_right_after_members_were_paid_the_old_split(pw):
    born_in_january(pw)
    bill(pw, at(2027, 2, 21))
    feb = send_batch(pw, FEB, at(2027, 2, 25))
    accept_all(feb, at(2027, 3, 1))
    # February's payout pays the old parts: natal 502.20 + 334.80, postnatal 418.50 + 976.50, prenatal
    # 781.20 + 334.80.
    run = prepare(pw, FEB, at(2027, 3, 2))
    assert paid(run) == {
        "Praktijk De Wieg": D("781.20") + D("502.20") + D("418.50"),
        "Ziekenhuis Oost": D("334.80") + D("334.80"),
        "Kraamzorg Noord": D("976.50"),
    }
    with travel(at(2027, 3, 3)), tenant_scope(pw.tenant):
        payout_run_release(run=run, actor=pw.finance_b)
    reprice(pw, at(2027, 3, 15))
    books_clean(pw, dt.date(2027, 3, 15))
    mar = send_batch(pw, MAR, at(2027, 4, 1))
    accept_all(mar, at(2027, 4, 5))
    # March's payout: the credits take back the old parts, the new claims give the new ones: practice
    # -502.20 - 418.50 + 530.10 + 446.40 = 55.80; hospital -334.80 + 353.40 = 18.60; kraamzorg -976.50 +
    # 1041.60 = 65.10.
    run = prepare(pw, MAR, at(2027, 4, 6))
    assert paid(run) == {
        "Praktijk De Wieg": D("55.80"),
        "Ziekenhuis Oost": D("18.60"),
        "Kraamzorg Noord": D("65.10"),
    }
    books_clean(pw, dt.date(2027, 4, 6))


def test_a_line_in_a_batch_for_review_is_withdrawn_and_the_batch_must_be_rebuilt(pw):
    ep = born_in_january(pw)
    bill(pw, at(2027, 2, 21))
    with travel(at(2027, 2, 25)), tenant_scope(pw.tenant):
        draft = batches.batch_create(tenant=pw.tenant, insurer=pw.zk, period=FEB, actor=pw.finance).batch
    assert draft is not None
    shown = preview(pw, at(2027, 3, 15))
    assert (shown.total.unsent, shown.total.sent) == (2, 0)

    result = reprice(pw, at(2027, 3, 15, 11))

    assert (result.withdrawn, result.rebilled, result.credited) == (2, 2, 0)
    old, new = all_lines(ep, "natal")
    assert (old.status, old.is_current, new.amount) == (LineStatus.WITHDRAWN, False, D("950.00"))
    assert new.explanation["repriced"]["replaces"] == old.number
    with travel(at(2027, 3, 15, 12)), tenant_scope(pw.tenant), pytest.raises(ValidationError):
        batches.batch_release(batch=draft, actor=pw.finance)
    with travel(at(2027, 3, 15, 12)), tenant_scope(pw.tenant):
        rebuilt = batches.batch_rebuild(batch=draft, actor=pw.finance, today=dt.date(2027, 3, 15)).batch
    assert rebuilt is not None
    # February's batch goes without them; the new claims wait for March's.
    assert set(BatchLine.unscoped.filter(batch=rebuilt).values_list("amount", flat=True)) == {D("1200.00")}
    mar = send_batch(pw, MAR, at(2027, 4, 1))
    assert set(BatchLine.unscoped.filter(batch=mar).values_list("amount", flat=True)) == {
        D("950.00"),
        D("1600.00"),
    }
    books_clean(pw, dt.date(2027, 4, 1))


def test_quality_agreements_settled_on_changed_claims_are_named(pw):
    from billing.services.quality_claims import agreement_create

    born_in_january(pw)
    bill(pw, at(2027, 2, 21))
    with tenant_scope(pw.tenant):
        agreement = agreement_create(
            contract=current_version(pw),
            actor=pw.finance,
            indicator="caesarean",
            year=2027,
            target=D("20"),
            bonus_pct=D("1"),
        )
    ClaimLine.unscoped.create(
        tenant=pw.tenant,
        agreement=agreement,
        phase="quality",
        number=f"Q{agreement.pk}-D1",
        prestatie_code="Q-CAESAREAN",
        contract=current_version(pw),
        insurer=pw.zk,
        policy_number="",
        service_start=dt.date(2027, 1, 1),
        service_end=dt.date(2027, 12, 31),
        amount=D("24.00"),
    )
    shown = preview(pw, at(2027, 3, 15))
    assert [q.pk for q in shown.quality] == [agreement.pk]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    natal=st.decimals(min_value=0, max_value=9999, places=2),
    postnatal=st.decimals(min_value=0, max_value=9999, places=2),
    prenatal=st.decimals(min_value=0, max_value=9999, places=2),
)
def test_after_any_new_tariffs_every_line_is_divided_to_the_cent(pw_prop, natal, postnatal, prenatal):
    pw, ep, mis = pw_prop
    tariffs = {
        "prenatal": ("IGBPRE", prenatal),
        "natal": ("IGBNAT", natal),
        "postnatal": ("IGBPOS", postnatal),
    }
    with transaction.atomic():
        reprice(pw, at(2027, 3, 15), tariffs=tariffs)
        for line in ClaimLine.unscoped.filter(is_current=True, episode__in=[ep, mis]):
            assert sum(split_of(line).values(), D(0)) == line.amount, line.number
        assert lines(mis)["prenatal"].amount == (prenatal / 2).quantize(D("0.01"), rounding="ROUND_HALF_UP")
        transaction.set_rollback(True)


@pytest.fixture
def pw_prop(world_a):
    pw = repricing_world(world_a)
    ep, mis = born_in_january(pw), miscarriage_in_february(pw)
    bill(pw, at(2027, 2, 21))
    feb = send_batch(pw, FEB, at(2027, 2, 25))
    answer(feb, at(2027, 3, 1), accept=[lines(ep)["natal"]])
    return pw, ep, mis


# --- a change from the version's own first day (the tariffs were wrong from the start) -----------------

YEAR_2026 = dt.date(2026, 1, 1)


def test_a_change_from_the_versions_first_day_replaces_it_whole(pw):
    """ZK 2026 was entered at 1200/900/1500 on 1 January 2026 but the insurer agreed 1300/950/1600 for its
    whole period. The January birth's three phases (prenatal from June 2026) were sent and accepted.

    Credited: -1200.00 - 900.00 - 1500.00 = -3600.00; claimed anew: 1300.00 + 950.00 + 1600.00 = 3850.00;
    the difference 250.00 = 100.00 + 50.00 + 100.00."""
    ep = born_in_january(pw)
    bill(pw, at(2027, 2, 21))
    accept_all(send_batch(pw, FEB, at(2027, 2, 25)), at(2027, 3, 1))
    sent = lines(ep)
    old_version = current_version(pw)
    assert old_version.valid_from == YEAR_2026

    shown = preview(pw, at(2027, 3, 15), valid_from=YEAR_2026)
    # The prenatal phase (care from 1 June 2026) is in the period now, unlike a change from 1 January 2027.
    assert {p.phase: (p.sent, p.old_amount, p.new_amount) for p in shown.phases} == {
        "prenatal": (1, D("1200.00"), D("1300.00")),
        "natal": (1, D("900.00"), D("950.00")),
        "postnatal": (1, D("1500.00"), D("1600.00")),
    }
    assert shown.total.difference == D("250.00")
    from_2027 = preview(pw, at(2027, 3, 15))
    assert shown.fingerprint != from_2027.fingerprint  # the period is part of what was confirmed
    assert not Contract.unscoped.filter(name="ZK 2027").exists()

    result = reprice(pw, at(2027, 3, 15, 11), valid_from=YEAR_2026, expected=shown.fingerprint)

    assert (result.credited, result.rebilled, result.repriced_in_place) == (3, 3, 0)
    old_version.refresh_from_db()
    # The old version is kept with its tariffs for the lines sent under it; its period is empty.
    assert (old_version.valid_from, old_version.valid_until) == (YEAR_2026, dt.date(2025, 12, 31))
    assert old_version.replaced_whole and ContractTariff.unscoped.filter(contract=old_version).count() == 3
    assert (result.contract.valid_from, result.contract.valid_until) == (YEAR_2026, None)
    for phase, old_amount, new_amount in (
        ("prenatal", "1200.00", "1300.00"),
        ("natal", "900.00", "950.00"),
        ("postnatal", "1500.00", "1600.00"),
    ):
        old, credit, new = all_lines(ep, phase)
        assert (old.pk, old.contract_id, old.status) == (sent[phase].pk, old_version.pk, LineStatus.ACCEPTED)
        assert (credit.amount, credit.corrects_id) == (-D(old_amount), old.pk)
        assert (new.amount, new.contract_id, new.is_current) == (D(new_amount), result.contract.pk, True)
    # prenatal 1300.00: overhead 5 % 65.00, reserve 2 % 26.00, members 1209.00 = practice 70 % 846.30
    # + hospital 30 % 362.70
    assert parts(lines(ep)["prenatal"], pw) == {
        "overhead": D("65.00"),
        "reserve": D("26.00"),
        "practice": D("846.30"),
        "hospital": D("362.70"),
    }
    audit = AuditEntry.objects.get(action="contract.reprice")
    assert (audit.details["valid_from"], audit.details["replaces"]) == ("2026-01-01", old_version.pk)
    # The next run finds every phase claimed under the new version: nothing more is credited.
    before = set(ClaimLine.unscoped.values_list("pk", flat=True))
    bill(pw, at(2027, 3, 16))
    assert set(ClaimLine.unscoped.values_list("pk", flat=True)) == before
    mar = send_batch(pw, MAR, at(2027, 4, 1))
    mar.refresh_from_db()
    assert (mar.credit_total, mar.debit_total, mar.total) == (D("-3600.00"), D("3850.00"), D("250.00"))
    accept_all(mar, at(2027, 4, 5))
    books_clean(pw, dt.date(2027, 4, 5))


def test_a_change_before_the_versions_first_day_is_still_refused(pw):
    born_in_january(pw)
    bill(pw, at(2027, 2, 21))
    with pytest.raises(ValidationError) as exc:
        preview(pw, at(2027, 3, 15), valid_from=dt.date(2025, 12, 31))
    assert "valid_from" in exc.value.message_dict
    assert current_version(pw).valid_until is None
