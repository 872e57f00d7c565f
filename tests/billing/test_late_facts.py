"""Late facts are billed until the submission deadline, however long ago the episode ended: the service that
records a fact the roll-up reads marks the episodes it affects (a contract) or touches them (an insurance,
a key date, an end reason), and the next run bills them, without a time window and without "Run now".
Past the deadline a phase never claimed gets no line but a work item with the amount lost.

The IGO is that of tests.scenarios.partial: Zilveren Kruis from 2026, CZ without a contract until a test
records one (1300/1000/1650, deadline 12 months after the care). Each step sets the clock (Amsterdam time)
and the run bills by that day.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import connection, connections

from billing import services
from billing.models import ClaimLine, EpisodeBillingState, WorkItem
from billing.services import claim_lines_mark_sent
from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies import services as care_services
from pregnancies.models import Episode
from providers.models import Professional
from tests.scenarios.billing import D, assert_books_balance, at
from tests.scenarios.clock import local, travel
from tests.scenarios.concurrency import wait_for_a_lock_wait
from tests.scenarios.partial import (
    PartialWorld,
    completed_under,
    lines,
    moved_away_at_20_weeks,
    open_items,
    partial_world,
    record_cz_contract,
)

pytestmark = pytest.mark.clock(local(2024, 5, 1, 9))


@pytest.fixture
def w(world_a) -> PartialWorld:
    return partial_world(world_a)


def run_at(w: PartialWorld, moment: dt.datetime) -> services.RunResult:
    """A run at `moment`, billing by its day."""
    with travel(moment):
        return w.run(moment.date())


def state(ep) -> EpisodeBillingState:
    return EpisodeBillingState.unscoped.get(episode=ep)


def test_a_contract_recorded_eight_months_after_the_end_is_billed_on_the_next_run(w):
    # Care completed 21 Jan 2026 under CZ, with which the IGO has no contract yet.
    ep = completed_under(
        w, w.cz, intake=dt.date(2025, 6, 2), labour=at(2025, 12, 10, 8), post_end=dt.date(2026, 1, 21)
    )
    run_at(w, local(2026, 1, 22, 9))
    assert set(open_items(ep)) == {(p, "no_contract") for p in ("prenatal", "natal", "postnatal")}
    # Eight months later: the morning run has checked the episode today already.
    run_at(w, local(2026, 9, 22, 9))
    assert not lines(ep)
    with travel(local(2026, 9, 22, 10)):
        record_cz_contract(w, valid_from=dt.date(2025, 1, 1))
    assert state(ep).recheck  # the service marked it
    # The next run of the same day (the sweep, not "Run now") bills it: 1300.00 + 1000.00 + 1650.00.
    result = run_at(w, local(2026, 9, 22, 10, 15))
    assert result.episodes == 1
    assert {p: (x.amount, x.insurer_id) for p, x in lines(ep).items()} == {
        "prenatal": (D("1300.00"), w.cz.pk),
        "natal": (D("1000.00"), w.cz.pk),
        "postnatal": (D("1650.00"), w.cz.pk),
    }
    assert not open_items(ep)  # the three no_contract items resolved
    assert not state(ep).recheck  # the run cleared the mark
    assert run_at(w, local(2026, 9, 22, 10, 30)).episodes == 0
    assert_books_balance(w.tenant)


def test_a_contract_recorded_after_the_deadline_is_a_work_item_with_the_amount_lost(w):
    # Labour 12 Dec 2024, care completed 23 Jan 2025, under CZ without a contract.
    ep = completed_under(
        w, w.cz, intake=dt.date(2024, 6, 3), labour=at(2024, 12, 12, 8), post_end=dt.date(2025, 1, 23)
    )
    run_at(w, local(2025, 1, 24, 9))
    assert set(open_items(ep)) == {(p, "no_contract") for p in ("prenatal", "natal", "postnatal")}
    with travel(local(2026, 1, 15, 10)):
        record_cz_contract(w, valid_from=dt.date(2024, 1, 1))
    run_at(w, local(2026, 1, 15, 11))
    # Prenatal and natal care ended 12 Dec 2024: deadline 12 Dec 2025 (12 months), passed on 15 Jan 2026.
    # Postnatal care ended 23 Jan 2025: deadline 23 Jan 2026, still ahead: billed, 1650.00.
    assert {p: x.amount for p, x in lines(ep).items()} == {"postnatal": D("1650.00")}
    items = open_items(ep)
    assert set(items) == {("prenatal", "deadline_passed"), ("natal", "deadline_passed")}
    assert (items[("prenatal", "deadline_passed")].amount, items[("natal", "deadline_passed")].amount) == (
        D("1300.00"),
        D("1000.00"),
    )
    assert items[("prenatal", "deadline_passed")].message == (
        "Indieningstermijn verstreken op 12-12-2025: € 1.300,00 kan niet meer worden gedeclareerd."
    )
    assert not WorkItem.unscoped.filter(episode=ep, reason="no_contract", resolved_at__isnull=True).exists()
    # Nothing can change by the passing of time any more: the episode is not re-checked every day.
    assert run_at(w, local(2026, 1, 16, 9)).episodes == 0
    assert not ClaimLine.unscoped.filter(episode=ep, phase__in=["prenatal", "natal"]).exists()


def test_a_waiting_phase_passes_its_deadline_by_the_passing_of_time(w):
    # Moved away at 20 weeks on 30 Mar 2026; the contract has no rule and finance did not decide. Finance
    # decides a year later, when the deadline (30 Mar 2027) has passed: nothing can be claimed any more.
    ep = moved_away_at_20_weeks(w)
    run_at(w, local(2026, 4, 1, 9))
    assert set(open_items(ep)) == {("prenatal", "no_partial_rule")}
    with travel(local(2027, 4, 2, 10)):
        w.decide(ep, choice="full", reason="Volledig geleverd.", today=dt.date(2027, 4, 2))
    items = open_items(ep)
    assert set(items) == {("prenatal", "deadline_passed")}
    assert items[("prenatal", "deadline_passed")].amount == D("1200.00")
    assert not lines(ep)


def test_an_insurance_recorded_late_credits_and_rebills(w):
    record_cz_contract(w, valid_from=dt.date(2026, 1, 1))
    ep = completed_under(
        w, w.zk, intake=dt.date(2026, 1, 5), labour=at(2026, 6, 10, 8), post_end=dt.date(2026, 7, 22)
    )
    run_at(w, local(2026, 7, 23, 9))
    first = lines(ep)
    assert {p: (x.amount, x.insurer_id) for p, x in first.items()} == {
        "prenatal": (D("1200.00"), w.zk.pk),
        "natal": (D("900.00"), w.zk.pk),
        "postnatal": (D("1500.00"), w.zk.pk),
    }
    with tenant_scope(w.tenant):
        claim_lines_mark_sent(lines=first.values())
    # Seven months after the end, the IGO learns the client moved to CZ on 1 June 2026, before labour.
    run_at(w, local(2027, 3, 1, 9))
    with travel(local(2027, 3, 1, 10)), tenant_scope(w.tenant):
        care_services.insurance_change(
            client=ep.client,
            actor=w.admin,
            insurer=w.cz,
            policy_number="CZ5",
            valid_from=dt.date(2026, 6, 1),
        )
    run_at(w, local(2027, 3, 1, 11))
    # Prenatal care started 5 Jan under ZK: unchanged. Natal and postnatal care started 10 Jun under CZ:
    # the sent ZK lines are credited (-900.00, -1500.00) and CZ billed (1000.00, 1650.00).
    assert {p: (x.amount, x.insurer_id, x.policy_number) for p, x in lines(ep).items()} == {
        "prenatal": (D("1200.00"), w.zk.pk, "ZK-77"),
        "natal": (D("1000.00"), w.cz.pk, "CZ5"),
        "postnatal": (D("1650.00"), w.cz.pk, "CZ5"),
    }
    credits = ClaimLine.unscoped.filter(episode=ep, sign="credit")
    assert sorted(c.amount for c in credits) == [D("-1500.00"), D("-900.00")]
    assert_books_balance(w.tenant)


def test_an_end_reason_corrected_a_year_later_is_billed(w):
    ep = moved_away_at_20_weeks(w)
    run_at(w, local(2026, 4, 1, 9))
    assert set(open_items(ep)) == {("prenatal", "no_partial_rule")}
    run_at(w, local(2027, 3, 20, 9))
    # Almost a year later the midwife corrects the end reason: transferred out of the region, not moved
    # away (ending an episode takes a linked obstetric professional: issue 17).
    midwife = w.world.user(Role.MIDWIFE)
    Professional.unscoped.filter(pk=w.pros[w.practice.pk].pk).update(user=midwife)
    with travel(local(2027, 3, 20, 10)), tenant_scope(w.tenant):
        care_services.episode_end(
            episode=ep, actor=midwife, end_date=dt.date(2026, 3, 30), end_reason="transferred_out"
        )
    run_at(w, local(2027, 3, 20, 11))
    # Week 20 lies in the band [0, 24) of "transferred out, prenatal": 1200.00 x 40% = 480.00.
    assert {p: x.amount for p, x in lines(ep).items()} == {"prenatal": D("480.00")}
    assert not open_items(ep)


def test_a_key_date_corrected_a_year_later_is_billed(w):
    ep = completed_under(
        w, w.zk, intake=dt.date(2026, 1, 5), labour=at(2026, 6, 10, 8), post_end=dt.date(2026, 7, 22)
    )
    run_at(w, local(2026, 7, 23, 9))
    before = {p: x.pk for p, x in lines(ep).items()}
    run_at(w, local(2027, 5, 1, 9))
    # Labour started the evening before: prenatal care ended on 9 June, natal care ran 9 to 10 June.
    with travel(local(2027, 5, 1, 10)), tenant_scope(w.tenant):
        care_services.episode_set_key_dates(episode=ep, actor=w.admin, labour_started_at=at(2026, 6, 9, 22))
    run_at(w, local(2027, 5, 1, 11))
    now = lines(ep)
    assert {p: (x.service_start, x.service_end) for p, x in now.items()} == {
        "prenatal": (dt.date(2026, 1, 5), dt.date(2026, 6, 9)),
        "natal": (dt.date(2026, 6, 9), dt.date(2026, 6, 10)),
        "postnatal": (dt.date(2026, 6, 10), dt.date(2026, 7, 22)),
    }
    assert now["prenatal"].pk != before["prenatal"] and now["natal"].pk != before["natal"]
    assert now["postnatal"].pk == before["postnatal"]


def test_which_episodes_a_run_checks_again(w):
    """Episodes that can still change by the passing of time are re-checked daily: one waiting in a work
    item, one with a key date (a phase can end on it) on or after the day its last check billed by. An
    episode ended long ago with nothing waiting is not (the national month runs this query over 165,000
    episodes), nor an active one none of whose phases can have ended since, until a service marks or
    touches it."""
    done = completed_under(
        w, w.zk, intake=dt.date(2026, 1, 5), labour=at(2026, 6, 10, 8), post_end=dt.date(2026, 7, 22)
    )
    waiting = completed_under(
        w, w.cz, intake=dt.date(2026, 1, 12), labour=at(2026, 6, 17, 8), post_end=dt.date(2026, 7, 29)
    )
    active = w.episode(intake_date=dt.date(2026, 6, 1), due_date=dt.date(2026, 12, 7))
    w.log(active, "PRE_CHECK", w.practice, at(2026, 6, 8))
    run_at(w, local(2026, 8, 1, 9))
    assert set(open_items(waiting)) == {(p, "no_contract") for p in ("prenatal", "natal", "postnatal")}
    assert state(active).checked_for == dt.date(2026, 8, 1)

    def checked(moment: dt.datetime) -> set[int]:
        run_at(w, moment)
        return set(
            EpisodeBillingState.unscoped.filter(checked_at=moment).values_list("episode_id", flat=True)
        )

    # The next day: the one waiting for a contract; not the one fully claimed, nor the active one (no key
    # date yet: no phase can have ended).
    assert checked(local(2026, 8, 2, 9)) == {waiting.pk}
    assert checked(local(2026, 8, 2, 10)) == set()  # checked today already
    # A mark brings the claimed one back, once.
    EpisodeBillingState.unscoped.filter(episode=done).update(recheck=True)
    assert checked(local(2026, 8, 2, 11)) == {done.pk}
    assert checked(local(2026, 8, 2, 12)) == set()
    # An episode ended on or after the day of its last check is checked again the next day.
    EpisodeBillingState.unscoped.filter(episode=done).update(
        checked_at=local(2026, 7, 22, 9), checked_for=dt.date(2026, 7, 22)
    )
    assert checked(local(2026, 8, 3, 9)) == {done.pk, waiting.pk}
    # Key dates ahead of the day (as entered, unchanged since the last check): the active episode is
    # checked again on the day labour starts, and its prenatal care is claimed then.
    Episode.unscoped.filter(pk=active.pk).update(labour_started_at=at(2026, 8, 5, 8))
    assert checked(local(2026, 8, 4, 9)) == {waiting.pk}
    assert not lines(active)
    assert checked(local(2026, 8, 5, 9)) == {waiting.pk, active.pk}
    assert set(lines(active)) == {"prenatal"}
    assert checked(local(2026, 8, 6, 9)) == {waiting.pk, active.pk}  # its key date was the check's day
    assert checked(local(2026, 8, 7, 9)) == {waiting.pk}
    # A check from before the day was recorded falls back to every active episode.
    EpisodeBillingState.unscoped.filter(episode=active).update(checked_for=None)
    assert checked(local(2026, 8, 8, 9)) == {waiting.pk, active.pk}


def test_contract_end_marks_the_episodes_of_the_period_it_gives_up(w):
    ep = completed_under(
        w, w.zk, intake=dt.date(2026, 1, 5), labour=at(2026, 6, 10, 8), post_end=dt.date(2026, 7, 22)
    )
    other = completed_under(
        w, w.cz, intake=dt.date(2026, 1, 5), labour=at(2026, 6, 10, 8), post_end=dt.date(2026, 7, 22)
    )
    with travel(local(2026, 1, 3, 9)):
        w.run(dt.date(2026, 1, 3))  # both known to billing, nothing ended yet
    with travel(local(2026, 1, 4, 9)), tenant_scope(w.tenant):
        services.contract_end(contract=w.contract, actor=w.finance, valid_until=dt.date(2026, 3, 31))
    assert (state(ep).recheck, state(other).recheck) == (True, False)  # only ZK's insured


@pytest.mark.django_db(transaction=True)
def test_a_mark_made_while_a_run_holds_the_episode_is_not_lost(world_a, monkeypatch):
    """A contract recorded while a run has the episode locked, after that run read the contracts: the mark
    waits for the run to record its check, and the next run bills the episode."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    w = partial_world(world_a)
    ep = completed_under(
        w, w.cz, intake=dt.date(2025, 6, 2), labour=at(2025, 12, 10, 8), post_end=dt.date(2026, 1, 21)
    )
    run_at(w, local(2026, 9, 22, 9))  # no contract yet: work items
    real_rollup = services.run.rollup_episodes
    read_contracts = threading.Event()
    errors: list[BaseException] = []

    def slow_rollup(**kwargs: Any) -> Any:
        result = real_rollup(**kwargs)  # has read the contracts: none for CZ
        read_contracts.set()
        assert wait_for_a_lock_wait(), "the contract's service never waited for the run"
        return result

    monkeypatch.setattr(services.run, "rollup_episodes", slow_rollup)

    def run_in_thread() -> None:
        try:
            with travel(local(2026, 9, 22, 10)), tenant_scope(w.tenant):
                services.billing_run_batch(tenant=w.tenant, episode_ids=[ep.pk], today=dt.date(2026, 9, 22))
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run_in_thread)
    thread.start()
    assert read_contracts.wait(timeout=30)
    with travel(local(2026, 9, 22, 10, 1)):
        record_cz_contract(w, valid_from=dt.date(2025, 1, 1))  # waits for the run's lock
    thread.join(timeout=60)
    assert not errors, errors
    assert not lines(ep) and state(ep).recheck
    monkeypatch.setattr(services.run, "rollup_episodes", real_rollup)
    run_at(w, local(2026, 9, 22, 10, 30))
    assert {p: x.amount for p, x in lines(ep).items()} == {
        "prenatal": D("1300.00"),
        "natal": D("1000.00"),
        "postnatal": D("1650.00"),
    }
