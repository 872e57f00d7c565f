"""Plausibility checks on the birth record: combinations that are possible to enter but unlikely to be true
(a caesarean in first-line care without a transfer, a birth weight far outside what the gestational age
allows, a stillborn child with an Apgar score). They warn, they never refuse: the clinician sees them after
saving the delivery, the IGO's quality officer in the data-quality list.

Pure functions: the caller passes the episode with its births and line transfers (prefetched lists);
nothing here queries the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise

from django.utils import timezone
from django.utils.translation import gettext as _

from pregnancies.dating import gestational_age_days
from pregnancies.models import (
    Birth,
    BirthMode,
    BirthOutcome,
    BirthPlace,
    Episode,
    LabourOnset,
    LemmonCriterion,
    Line,
    LineTransfer,
)
from pregnancies.robson import RobsonFacts, robson_group

# A coarse plausibility band for birth weight by gestational age, not a growth standard: a rounded median
# birth weight (boys and girls together) per completed week, as birth-weight charts of Dutch and other
# European births roughly show, and a band from half the median to 1.7 times it. Only weights far outside
# what occurs are flagged (typically a wrong unit, a typo or a wrong due date).
MEDIAN_GRAMS: tuple[tuple[int, int], ...] = (
    (22, 500),
    (24, 650),
    (26, 850),
    (28, 1100),
    (30, 1450),
    (32, 1800),
    (34, 2300),
    (36, 2750),
    (38, 3200),
    (40, 3500),
    (42, 3650),
)
BAND_LOW = 0.5
BAND_HIGH = 1.7
# Blood loss beyond which a typing error is likelier than the bleeding (a severe haemorrhage is 1,000 ml+).
BLOOD_LOSS_IMPLAUSIBLE_ML = 5000
# A LEMMoN major obstetric haemorrhage (4+ units transfused, or embolisation or hysterectomy for it) with a
# recorded blood loss below a severe haemorrhage's: one of the two is likely wrong.
MAJOR_HAEMORRHAGE_MIN_ML = 1000
MAJOR_HAEMORRHAGE = frozenset({LemmonCriterion.TRANSFUSION, LemmonCriterion.EMBOLISATION_HYSTERECTOMY})

OPERATIVE_IN_FIRST_LINE = "operative_in_first_line"
WEIGHT_FOR_AGE = "weight_for_age"
STILLBORN_APGAR = "stillborn_apgar"
APGAR_INCOMPLETE = "apgar_incomplete"
BLOOD_LOSS = "blood_loss"
DEATH_BEFORE_BIRTH = "death_before_birth"
CAESAREAN_NULLIPAROUS = "caesarean_nulliparous"
NO_LABOUR_VAGINAL = "no_labour_vaginal"
HAEMORRHAGE_LOW_BLOOD_LOSS = "haemorrhage_low_blood_loss"


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    child: int | None = None


def median_weight(gestational_days: int) -> float | None:
    """The rounded median birth weight at a gestational age (linear between the table's weeks); None
    outside the table."""
    weeks = gestational_days / 7
    points = MEDIAN_GRAMS
    if weeks < points[0][0] or weeks > points[-1][0] + 1:
        return None
    if weeks >= points[-1][0]:
        return float(points[-1][1])
    for (w0, g0), (w1, g1) in pairwise(points):
        if w0 <= weeks <= w1:
            return g0 + (g1 - g0) * (weeks - w0) / (w1 - w0)
    return None  # pragma: no cover  (the table is contiguous)


def weight_band(gestational_days: int) -> tuple[int, int] | None:
    """The plausible birth weights (grams, inclusive) at a gestational age, None outside the table."""
    median = median_weight(gestational_days)
    if median is None:
        return None
    return round(median * BAND_LOW), round(median * BAND_HIGH)


def line_at(transfers: Sequence[LineTransfer], moment: datetime) -> str | None:
    line = None
    for transfer in sorted(transfers, key=lambda t: (t.effective_at, t.pk or 0)):
        if transfer.effective_at <= moment:
            line = transfer.line
    return line


def gestational_days_at_birth(episode: Episode, births: Sequence[Birth]) -> int | None:
    if not births or episode.due_date is None:
        return None
    first = min(b.born_at for b in births)
    return gestational_age_days(due_date=episode.due_date, on=timezone.localdate(first))


def robson_of(episode: Episode, births: Sequence[Birth]) -> int | None:
    """The episode's Robson group from its record, None before the delivery or when a fact is missing.
    Presentation is the first child's (for twins the group is 8 whatever it is)."""
    if not births:
        return None
    return robson_group(
        RobsonFacts(
            parity=episode.parity,
            previous_caesareans=episode.previous_caesareans,
            fetuses=len(births),
            presentation=episode.presentation,
            gestational_days=gestational_days_at_birth(episode, births),
            labour_onset=episode.labour_onset,
        )
    )


def check(episode: Episode, births: Sequence[Birth], transfers: Sequence[LineTransfer]) -> list[Finding]:
    """Every plausibility warning of an episode's birth record, in a stable order."""
    found: list[Finding] = []
    days = gestational_days_at_birth(episode, births)
    for birth in sorted(births, key=lambda b: b.child_number):
        n = birth.child_number
        label = {"n": n}
        operative = birth.mode in (BirthMode.CAESAREAN, BirthMode.ASSISTED)
        if operative and line_at(transfers, birth.born_at) != Line.SECOND:
            found.append(
                Finding(
                    OPERATIVE_IN_FIRST_LINE,
                    _(
                        "Child %(n)s: %(mode)s recorded in first-line care; a caesarean or assisted "
                        "birth is second-line care. Record the transfer or correct the mode or place."
                    )
                    % {**label, "mode": birth.get_mode_display().lower()},
                    n,
                )
            )
        elif operative and birth.place != BirthPlace.CLINICAL:
            place = birth.get_place_display().lower()
            found.append(
                Finding(
                    OPERATIVE_IN_FIRST_LINE,
                    _(
                        "Child %(n)s: %(mode)s recorded with the place %(place)s; a caesarean or assisted "
                        "birth is a clinical birth. Correct the mode or the place."
                    )
                    % {**label, "mode": birth.get_mode_display().lower(), "place": place},
                    n,
                )
            )
        if birth.weight_grams is not None and days is not None:
            band = weight_band(days)
            if band is not None and not band[0] <= birth.weight_grams <= band[1]:
                found.append(
                    Finding(
                        WEIGHT_FOR_AGE,
                        _(
                            "Child %(n)s: a birth weight of %(g)s g is implausible at %(weeks)s weeks "
                            "(expected roughly %(low)s–%(high)s g). Check the weight and the due date."
                        )
                        % {
                            **label,
                            "g": birth.weight_grams,
                            "weeks": days // 7,
                            "low": band[0],
                            "high": band[1],
                        },
                        n,
                    )
                )
        if birth.outcome == BirthOutcome.STILLBORN and any(
            a is not None and a > 0 for a in (birth.apgar_1, birth.apgar_5)
        ):
            found.append(
                Finding(
                    STILLBORN_APGAR,
                    _("Child %(n)s: stillborn, yet an Apgar score above 0 was recorded.") % label,
                    n,
                )
            )
        if (birth.apgar_1 is None) != (birth.apgar_5 is None):
            found.append(
                Finding(
                    APGAR_INCOMPLETE,
                    _("Child %(n)s: only one of the Apgar scores (1 and 5 minutes) was recorded.") % label,
                    n,
                )
            )
        if birth.neonatal_death_on is not None and birth.neonatal_death_on < _local_day(birth.born_at):
            found.append(
                Finding(
                    DEATH_BEFORE_BIRTH, _("Child %(n)s: the date of death lies before the birth.") % label, n
                )
            )
        if episode.labour_onset == LabourOnset.NO_LABOUR and birth.mode != BirthMode.CAESAREAN:
            found.append(
                Finding(
                    NO_LABOUR_VAGINAL,
                    _("Child %(n)s: born vaginally, yet labour is recorded as a primary caesarean.") % label,
                    n,
                )
            )
    if episode.blood_loss_ml is not None and episode.blood_loss_ml > BLOOD_LOSS_IMPLAUSIBLE_ML:
        found.append(
            Finding(
                BLOOD_LOSS,
                _("A blood loss of %(ml)s ml is recorded; check that it is not a typing error.")
                % {"ml": episode.blood_loss_ml},
            )
        )
    if (
        episode.blood_loss_ml is not None
        and episode.blood_loss_ml < MAJOR_HAEMORRHAGE_MIN_ML
        and MAJOR_HAEMORRHAGE.intersection(episode.severe_morbidity or ())
    ):
        found.append(
            Finding(
                HAEMORRHAGE_LOW_BLOOD_LOSS,
                _(
                    "A major obstetric haemorrhage (LEMMoN) is recorded with a blood loss of %(ml)s ml, under "
                    "1,000 ml; check both."
                )
                % {"ml": episode.blood_loss_ml},
            )
        )
    if episode.parity == 0 and episode.previous_caesareans:
        found.append(
            Finding(
                CAESAREAN_NULLIPAROUS,
                _("A previous caesarean is recorded for a woman who has not given birth before (parity 0)."),
            )
        )
    return found


def _local_day(moment: datetime) -> date:
    return timezone.localdate(moment)
