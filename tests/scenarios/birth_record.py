"""Builders for the birth record: the moments of one birth (`birth_moments`, and `BIRTH`, the home birth of
10 November 2026 the birth-record tests share), the care world's pregnancy at term on that day, a woman
for the Robson classification and an unsaved episode with its births and line transfers for the
plausibility checks (pure functions: no database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pregnancies.models import Birth, Episode, LineTransfer
from pregnancies.robson import RobsonFacts
from tests.factories import ClientFactory, EpisodeFactory
from tests.scenarios.care import Care
from tests.scenarios.care_logging import first_line_from_intake
from tests.scenarios.clock import local


@dataclass(frozen=True)
class BirthMoments:
    """One birth's moments on the Amsterdam clock: active labour from 01:30, the child born at 05:40, the
    placenta at 06:00 (so the postnatal phase begins at 08:00, placenta + 2 hours), and 16:00 that
    afternoon, when the tests record and look at it."""

    labour: datetime
    born: datetime
    placenta: datetime
    afternoon: datetime

    @property
    def day(self) -> date:
        return self.born.date()


def birth_moments(day: date) -> BirthMoments:
    """The moments of a birth on `day` (a date the test chooses, never today's)."""
    return BirthMoments(
        labour=local(day.year, day.month, day.day, 1, 30),
        born=local(day.year, day.month, day.day, 5, 40),
        placenta=local(day.year, day.month, day.day, 6, 0),
        afternoon=local(day.year, day.month, day.day, 16),
    )


BIRTH = birth_moments(date(2026, 11, 10))
DUE = BIRTH.day  # at term: the woman of `episode()` is 40+0 weeks on the day of BIRTH


def at_term(care: Care, moments: BirthMoments = BIRTH, *, parity: int | None = 1) -> None:
    """The care world's pregnancy ready for the delivery of `moments`: first line from the intake, due on
    the day of the birth (40+0 weeks), and (unless None) of `parity`."""
    first_line_from_intake(care)
    changes: dict[str, Any] = {"due_date": moments.day}
    if parity is not None:
        changes["parity"] = parity
    care.update_episode(**changes)


def woman(**changes: Any) -> RobsonFacts:
    """A nulliparous woman with one cephalic child at 40+0 weeks after spontaneous labour (Robson 1);
    `changes` alter one fact at a time."""
    values: dict[str, Any] = {
        "parity": 0,
        "previous_caesareans": 0,
        "fetuses": 1,
        "presentation": "cephalic",
        "gestational_days": 280,
        "labour_onset": "spontaneous",
        **changes,
    }
    return RobsonFacts(**values)


def episode(**changes: Any) -> Episode:
    """An unsaved episode due on DUE, parity 0, with nothing of the birth record filled in."""
    values: dict[str, Any] = {
        "intake_date": DUE - timedelta(weeks=32),
        "due_date": DUE,
        "gestational_age_at_intake": 56,
        "parity": 0,
        **changes,
    }
    return Episode(**values)


def birth(born_at: datetime, number: int = 1, **changes: Any) -> Birth:
    """An unsaved live-born child, spontaneous, at home, 3,400 g."""
    values: dict[str, Any] = {
        "child_number": number,
        "born_at": born_at,
        "outcome": "live",
        "place": "home",
        "mode": "spontaneous",
        "weight_grams": 3400,
        **changes,
    }
    return Birth(**values)


def line(name: str, at: datetime) -> LineTransfer:
    return LineTransfer(line=name, effective_at=at)


def stored_birth(episode: Episode, born_at: datetime, **changes: Any) -> Birth:
    """A child of a stored episode, stored (test data, not under test): live, spontaneous, home, 3,400 g."""
    values: dict[str, Any] = {
        "tenant_id": episode.tenant_id,
        "episode": episode,
        "child_number": 1,
        "born_at": born_at,
        "outcome": "live",
        "place": "home",
        "mode": "spontaneous",
        "weight_grams": 3400,
        **changes,
    }
    return Birth.unscoped.create(**values)


def another_episode(tenant: Any, family_name: str, *, due: date) -> Episode:
    """A second woman of the tenant, due on `due`, with nothing of the birth record yet."""
    client = ClientFactory(tenant=tenant, family_name=family_name, given_names="Bea")
    return EpisodeFactory(
        tenant=tenant,
        client=client,
        intake_date=due - timedelta(weeks=30),
        due_date=due,
        gestational_age_at_intake=70,
    )
