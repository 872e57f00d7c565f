"""Edges of the indicators' populations found in review (issue 20): a kraamzorg client whose child was
born before 22+0 weeks is outside the kraamzorg indicators as she is outside every birth indicator; a
woman without any line record is unknown for first-line birth, not "not first line"; a woman under first-
line care whose start of labour is not recorded counts against the completeness of transfer in labour.

All in July 2025; the IGO has no organisations, so the IGO's total (organisation None) is read."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies.models import (
    Birth,
    BirthOutcome,
    Episode,
    KraamzorgIndication,
    LabourOnset,
    Line,
    LineTransfer,
)
from quality.indicators import compute
from tests.factories import EpisodeFactory

pytestmark = pytest.mark.django_db

TZ = timezone.get_default_timezone()
JULY = dt.date(2025, 7, 1)
BORN = dt.datetime(2025, 7, 10, 10, tzinfo=TZ)


def _episode(world, *, weeks: int, line: str | None, **fields) -> Episode:
    born = BORN.date()
    episode = EpisodeFactory(
        tenant=world.tenant,
        intake_date=born - dt.timedelta(days=weeks * 7 - 70),
        due_date=born + dt.timedelta(days=280 - weeks * 7),
        gestational_age_at_intake=70,
        **fields,
    )
    if line is not None:
        LineTransfer.unscoped.create(
            tenant=world.tenant, episode=episode, line=line, created_by=world.user(Role.IGO_ADMIN),
            effective_at=dt.datetime.combine(episode.intake_date, dt.time(9), tzinfo=TZ),
        )  # fmt: skip
    Birth.unscoped.create(
        tenant=world.tenant, episode=episode, child_number=1, born_at=BORN, outcome=BirthOutcome.LIVE,
        place="home", mode="spontaneous", weight_grams=3400 if weeks >= 37 else 400,
    )  # fmt: skip
    return episode


def _tallies(world):
    with tenant_scope(world.tenant):
        return compute(start=JULY, end=dt.date(2025, 8, 1))


def test_kraamzorg_after_a_birth_before_22_weeks_is_outside_the_kraamzorg_indicators(world_a):
    early = _episode(world_a, weeks=20, line=Line.SECOND, kraamzorg_ended_on=dt.date(2025, 7, 15))
    term = _episode(world_a, weeks=40, line=Line.FIRST, kraamzorg_ended_on=dt.date(2025, 7, 15))
    for episode in (early, term):
        KraamzorgIndication.unscoped.create(
            tenant=world_a.tenant, episode=episode, indicated_on=dt.date(2025, 7, 10), hours=49
        )
    tally = _tallies(world_a)[("kraamzorg_below_indication", JULY, None)]
    # Only the term birth counts: no hours delivered against 49 indicated, so 1 of 1 below the indication.
    assert tally.denominator_episodes == {term.pk}
    assert (tally.numerator, tally.denominator) == (Decimal(1), Decimal(1))


def test_a_woman_without_a_line_record_is_unknown_for_first_line_birth(world_a):
    first = _episode(world_a, weeks=40, line=Line.FIRST)
    unknown = _episode(world_a, weeks=40, line=None)
    tally = _tallies(world_a)[("first_line_birth", JULY, None)]
    assert tally.denominator_episodes == {first.pk}
    assert (tally.numerator, tally.denominator, tally.population) == (Decimal(1), Decimal(1), 2)
    assert unknown.pk not in tally.numerator_episodes


def test_labour_not_timed_under_the_first_line_counts_against_completeness_of_transfer_in_labour(world_a):
    timed = _episode(world_a, weeks=40, line=Line.FIRST, labour_started_at=BORN - dt.timedelta(hours=6))
    _episode(world_a, weeks=40, line=Line.FIRST)  # labour start not recorded
    _episode(world_a, weeks=40, line=Line.FIRST, labour_onset=LabourOnset.NO_LABOUR)  # primary caesarean
    _episode(world_a, weeks=40, line=Line.SECOND)  # not under first-line care
    tally = _tallies(world_a)[("transfer_in_labour", JULY, None)]
    assert tally.denominator_episodes == {timed.pk}
    # One timed woman in the denominator; the untimed first-line woman is in the population, missing.
    assert (tally.records, tally.population) == (1, 2)
