"""The Robson ten-group classification of a woman who gave birth, derived from what was recorded with the
delivery (never entered by hand). The groups split all births into ten mutually exclusive groups by five
facts: parity (with or without a uterine scar from a caesarean), the number of fetuses, the presentation,
the gestational age at birth and how labour began. docs/quality.md describes the groups.

A pure function: the caller passes the facts, this module reads nothing from the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from pregnancies.models import LabourOnset, Presentation

TERM_DAYS = 37 * 7  # 37+0 weeks: term


@dataclass(frozen=True)
class RobsonFacts:
    """What the classification needs; None or "" where it was not recorded."""

    parity: int | None
    previous_caesareans: int | None
    fetuses: int
    presentation: str
    gestational_days: int | None
    labour_onset: str


def robson_group(facts: RobsonFacts) -> int | None:
    """The Robson group (1 to 10), or None when a fact the woman's group depends on is missing (a twin
    birth is group 8 whatever else is missing; a single cephalic birth needs all five facts)."""
    if facts.fetuses < 1:
        return None
    if facts.fetuses > 1:
        return 8
    if facts.presentation == Presentation.TRANSVERSE:
        return 9
    if facts.presentation not in (Presentation.BREECH, Presentation.CEPHALIC) or facts.parity is None:
        return None
    if facts.presentation == Presentation.BREECH:
        return 6 if facts.parity == 0 else 7
    # A single cephalic child.
    if facts.gestational_days is None:
        return None
    if facts.gestational_days < TERM_DAYS:
        return 10
    if facts.parity > 0:
        if facts.previous_caesareans is None:
            return None
        if facts.previous_caesareans > 0:
            return 5
    if facts.labour_onset not in LabourOnset.values:
        return None
    spontaneous = facts.labour_onset == LabourOnset.SPONTANEOUS
    if facts.parity == 0:
        return 1 if spontaneous else 2
    return 3 if spontaneous else 4
