"""The Robson ten-group classification, derived from the birth record (pregnancies.robson), for a hand-made
cohort: each woman differs from the reference woman (nulliparous, one cephalic child at 40+0 weeks,
spontaneous labour: group 1) by the facts named in her case, and her group follows from the WHO
definitions written out in docs/quality.md."""

from __future__ import annotations

import pytest

from pregnancies.robson import RobsonFacts, robson_group
from tests.scenarios.birth_record import woman

# (who she is, her facts, her group by the definitions)
COHORT: list[tuple[str, RobsonFacts, int]] = [
    ("first child, cephalic, term, spontaneous labour", woman(), 1),
    ("first child, cephalic, term, induced", woman(labour_onset="induced"), 2),
    ("first child, cephalic, term, caesarean before labour", woman(labour_onset="no_labour"), 2),
    ("second child, no scar, cephalic, term, spontaneous", woman(parity=1), 3),
    ("third child, no scar, cephalic, term, induced", woman(parity=2, labour_onset="induced"), 4),
    ("second child, no scar, planned caesarean", woman(parity=1, labour_onset="no_labour"), 4),
    ("after one caesarean, cephalic, term, spontaneous", woman(parity=1, previous_caesareans=1), 5),
    (
        "after two caesareans, planned caesarean",
        woman(parity=2, previous_caesareans=2, labour_onset="no_labour"),
        5,
    ),
    ("first child in breech, term", woman(presentation="breech"), 6),
    ("first child in breech, preterm, induced", woman(presentation="breech", gestational_days=240), 6),
    ("second child in breech", woman(parity=1, presentation="breech"), 7),
    ("breech after a caesarean", woman(parity=1, previous_caesareans=1, presentation="breech"), 7),
    ("twins, first child", woman(fetuses=2), 8),
    (
        "twins after a caesarean, preterm",
        woman(fetuses=2, parity=1, previous_caesareans=1, gestational_days=230),
        8,
    ),
    ("transverse lie", woman(presentation="transverse"), 9),
    (
        "transverse lie after a caesarean",
        woman(parity=1, previous_caesareans=1, presentation="transverse"),
        9,
    ),
    ("first child cephalic at 36+6", woman(gestational_days=36 * 7 + 6), 10),
    ("after a caesarean, cephalic at 34+0", woman(parity=1, previous_caesareans=1, gestational_days=238), 10),
]


@pytest.mark.parametrize(("who", "facts", "group"), COHORT, ids=[c[0] for c in COHORT])
def test_each_woman_falls_in_her_group(who: str, facts: RobsonFacts, group: int) -> None:
    assert robson_group(facts) == group


def test_the_cohort_covers_all_ten_groups() -> None:
    assert {group for _who, _facts, group in COHORT} == set(range(1, 11))


def test_term_starts_at_37_plus_0() -> None:
    """36+6 is preterm (group 10), 37+0 is term (group 1 for the reference woman)."""
    assert robson_group(woman(gestational_days=37 * 7 - 1)) == 10
    assert robson_group(woman(gestational_days=37 * 7)) == 1


@pytest.mark.parametrize(
    "missing",
    [
        {"presentation": ""},
        {"parity": None},
        {"gestational_days": None},
        {"labour_onset": ""},
        {"parity": 1, "previous_caesareans": None},
    ],
    ids=["presentation", "parity", "gestational age", "onset", "previous caesarean of a multipara"],
)
def test_a_missing_fact_leaves_a_single_cephalic_birth_unclassified(missing: dict[str, object]) -> None:
    assert robson_group(woman(**missing)) is None


def test_twins_are_group_8_whatever_else_is_missing() -> None:
    facts = woman(fetuses=2, presentation="", parity=None, gestational_days=None, labour_onset="")
    assert robson_group(facts) == 8


def test_a_breech_needs_no_onset_nor_gestational_age() -> None:
    assert robson_group(woman(presentation="breech", labour_onset="", gestational_days=None)) == 6


def test_no_child_no_group() -> None:
    assert robson_group(woman(fetuses=0)) is None
