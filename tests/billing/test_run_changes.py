"""What a billing run reads again: per phase, only care that changed since the split was computed or confirmed
(a fingerprint of the phase's care kept with the check); by the day, only episodes a phase can have ended in
(one of their key dates since the day the last check billed by). The amounts are those of the worked
portfolio (tests.scenarios.billing); these tests check what is read and divided again, and that the books
stay the same.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing import services
from billing.models import Allocation, EpisodeBillingState
from billing.services import run as run_module
from billing.services.rollup import ended_phases, phase_end_days
from billing.services.run import phase_end_expressions
from billing.services.split import care_fingerprints
from igo.tenancy import tenant_scope
from pregnancies.models import Episode
from pregnancies.services import care_event_void
from tests.scenarios.billing import (
    BILLING_NOW,
    add_split_rule,
    assert_books_balance,
    at,
    current,
    log,
    ordinary,
    run,
    split_of,
    touch,
)
from tests.scenarios.clock import local

pytestmark = pytest.mark.clock(BILLING_NOW)


@pytest.fixture
def phases_read(monkeypatch) -> list[set[tuple[int, str]]]:
    """The (episode, phase) pairs whose care each batch of a run reads to divide lines."""
    seen: list[set[tuple[int, str]]] = []
    real = run_module.SplitContext

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(set(kwargs.get("phases") or ()))
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "SplitContext", spy)
    return seen


def current_allocations(ep: Episode) -> set[int]:
    return set(
        Allocation.unscoped.filter(claim_line__episode=ep, is_current=True).values_list("pk", flat=True)
    )


def test_a_change_in_one_phase_reads_and_divides_only_that_phase_again(s, phases_read):
    ep = ordinary(s)
    run(s)
    assert phases_read[-1] == {(ep.pk, p) for p in ("prenatal", "natal", "postnatal")}  # new lines
    lines = current(ep)
    before = {p: split_of(line) for p, line in lines.items()}
    state = EpisodeBillingState.unscoped.get(episode=ep)
    with tenant_scope(s.tenant):
        fingerprints = care_fingerprints([(ep.pk, p) for p in ("prenatal", "natal", "postnatal")])
    assert state.seen_care == {
        p: fingerprints.get((ep.pk, p), "") for p in ("prenatal", "natal", "postnatal")
    }
    kept = {p: set(Allocation.unscoped.filter(claim_line=x, is_current=True).values_list("pk", flat=True))
            for p, x in lines.items()}  # fmt: skip

    # A late postnatal visit by the hospital: the episode changed, only its postnatal care did.
    log(s, ep, "POST_VISIT", s.hospital, at(2026, 8, 20))
    touch(ep)
    result = run(s)
    assert phases_read[-1] == {(ep.pk, "postnatal")}
    assert result.lines_replaced == 1
    for phase in ("prenatal", "natal"):
        assert split_of(lines[phase]) == before[phase]
        assert (
            set(
                Allocation.unscoped.filter(claim_line=lines[phase], is_current=True).values_list(
                    "pk", flat=True
                )
            )
            == kept[phase]
        )  # not even superseded by equal parts
    assert split_of(lines["postnatal"]) != before["postnatal"]

    # Touched again with no care changed: nothing is read, nothing divided.
    touch(ep)
    result = run(s)
    assert phases_read[-1] == set()
    assert result.episodes == 1 and result.lines_replaced == 0

    # A prenatal event voided: prenatal care is read and divided again.
    with tenant_scope(s.tenant):
        event = ep.events.filter(event_type__code="ECHO_SEO").get()
        care_event_void(event=event, actor=s.midwife, reason="logged for the wrong client")
    result = run(s)
    assert phases_read[-1] == {(ep.pk, "prenatal")}
    assert result.lines_replaced == 1
    assert_books_balance(s.tenant)


def test_a_new_split_rule_version_divides_every_line_of_a_checked_episode_again(s, phases_read):
    ep = ordinary(s)
    run(s)
    add_split_rule(s, year=2026, valid_from=dt.date(2026, 1, 1))
    touch(ep)
    run(s)
    assert phases_read[-1] == {(ep.pk, p) for p in ("prenatal", "natal", "postnatal")}
    assert_books_balance(s.tenant)


def test_a_check_without_fingerprints_divides_again_once(s, phases_read):
    """A check recorded before the fingerprints were (the migration leaves them empty): the next check of a
    changed episode reads and confirms every divided line once, then only what changes."""
    ep = ordinary(s)
    run(s)
    allocations = current_allocations(ep)
    EpisodeBillingState.unscoped.filter(episode=ep).update(seen_care=None)
    touch(ep)
    assert run(s).lines_replaced == 0
    assert phases_read[-1] == {(ep.pk, p) for p in ("prenatal", "natal", "postnatal")}
    assert current_allocations(ep) == allocations
    touch(ep)
    run(s)
    assert phases_read[-1] == set()


# --- the key dates a phase can end on ------------------------------------------------------------------------

# Naive bounds with a time zone to draw in: hypothesis's way of drawing aware moments.
moments = st.datetimes(
    min_value=dt.datetime(2025, 3, 28),  # noqa: DTZ001
    max_value=dt.datetime(2025, 11, 3),  # noqa: DTZ001
    timezones=st.just(dt.UTC),
)


@st.composite
def care_paths(draw: Any) -> Episode:
    """An episode's care path in any state the model allows: labour, placenta + 2 h, end of postnatal care,
    ended (any reason) or not."""
    intake = draw(st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2025, 3, 27)))
    labour = draw(st.none() | moments)
    placenta = None
    if labour is not None and draw(st.booleans()):
        placenta = labour + dt.timedelta(minutes=draw(st.integers(1, 60 * 30)))
    post_end = None
    if placenta is not None and draw(st.booleans()):
        post_end = placenta.date() + dt.timedelta(days=draw(st.integers(0, 60)))
    fields: dict[str, Any] = {"status": "active", "end_date": None, "end_reason": ""}
    if draw(st.booleans()):
        reason = draw(st.sampled_from(["completed", "miscarriage", "moved_away", "transferred_out"]))
        fields = {
            "status": "ended",
            "end_date": draw(st.dates(min_value=intake, max_value=dt.date(2025, 12, 31))),
            "end_reason": reason,
        }
    return Episode(
        intake_date=intake,
        gestational_age_at_intake=84,
        labour_started_at=labour,
        placenta_plus_2h_at=placenta,
        postnatal_ended_on=post_end,
        **fields,
    )


@given(episode=care_paths())
def test_every_phase_ends_on_one_of_the_key_dates(episode):
    """The run's daily rule looks at an episode only when a key date falls in (rollup.phase_end_days): every
    end the roll-up can bill a phase at is one of them."""
    assert {p.end for p in ended_phases(episode)} <= phase_end_days(episode)


def test_the_key_dates_in_sql_are_the_roll_ups(s):
    """The candidates' SQL takes the local day of labour and of placenta + 2 h as the roll-up does, also
    around midnight and on the nights the clocks change."""
    moments_local = [
        local(2026, 3, 29, 1, 59),  # before the clocks go forward
        local(2026, 3, 29, 3, 0),
        local(2026, 10, 25, 0, 30),  # the night they go back
        local(2026, 10, 24, 23, 59),
        local(2026, 6, 30, 23, 45),
        local(2026, 7, 1, 0, 15),
    ]
    episodes = []
    for moment in moments_local:
        ep = ordinary(s)
        Episode.unscoped.filter(pk=ep.pk).update(
            labour_started_at=moment.astimezone(dt.UTC) - dt.timedelta(hours=1), placenta_plus_2h_at=moment
        )
        episodes.append(ep.pk)
    computed = {k: v for k, v in phase_end_expressions().items() if k in ("labour_on", "placenta_on")}
    assert set(phase_end_expressions()) == {*computed, "postnatal_ended_on", "end_date"}
    with tenant_scope(s.tenant):
        for ep in Episode.objects.filter(pk__in=episodes).annotate(**computed):
            days = {ep.labour_on, ep.placenta_on, ep.postnatal_ended_on, ep.end_date} - {None}
            assert days == phase_end_days(ep)
            assert services.run._candidates(dt.date(2026, 11, 1)).filter(pk=ep.pk).exists()  # never checked


def _traced_events(line: Any) -> set[int]:
    return {
        event
        for allocation in Allocation.unscoped.filter(claim_line=line, is_current=True)
        for event in (allocation.basis or {}).get("events", [])
    }


def test_a_partial_award_between_runs_leaves_no_share_to_care_voided_after_it(s):
    """A partial award divides a line on the care as it is then; if that care is undone before the next
    run, the run must not take the phase for unchanged because its fingerprint equals the last check's."""
    from decimal import Decimal

    from billing.services.partial_awards import partial_award_settle

    episode = ordinary(s)
    run(s)
    line = current(episode)["postnatal"]
    late = log(s, episode, "POST_VISIT", s.hospital, at(2026, 8, 20))
    touch(episode)
    with tenant_scope(s.tenant):
        assert partial_award_settle(line=line, awarded=line.amount - Decimal("10"))
    assert late.pk in _traced_events(line)

    with tenant_scope(s.tenant):
        care_event_void(event=late, actor=s.midwife, reason="wrong client")
    result = run(s)

    assert late.pk not in _traced_events(line)
    assert result.lines_replaced >= 1
    assert_books_balance(s.tenant)
