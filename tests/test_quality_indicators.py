"""The quality indicator engine: a hand-made IGO whose every indicator is worked out by hand, the stored
values and their refresh, the services that record clinical outcomes and client experience, the task.

The world (`dataset`) has fourteen episodes in one IGO with births in March and April 2026. Episode names
E1..E14 are used in the comments and in the expected tables; the table `EXPECTED` below gives, for every
indicator, month and organisation, the numerator, the denominator and the episodes behind each, each row
worked out from the episode descriptions next to `dataset`.

Organisations (of the episode's coordinating professional): P = the midwifery practice, S = the second
midwifery practice ("Zuid"), H = the hospital; E8 has no coordinating professional and counts only in the
IGO total ("*").
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from igo.models import Tenant
from igo.tenancy import tenant_scope
from pregnancies.models import (
    AccessAction,
    AccessLogEntry,
    Birth,
    BirthMode,
    BirthOutcome,
    BirthPlace,
    CareEvent,
    Episode,
    EventStatus,
    Line,
    LineTransfer,
)
from pregnancies.services import birth_record, birth_set_outcome, episode_set_outcomes, line_transfer
from providers.models import MemberOrganisation, Professional
from quality import tasks as quality_tasks
from quality.indicators import BY_CODE, INDICATORS, Tally, compute, gestational_days, months_between
from quality.models import ExperienceResponse, IndicatorValue, QualityState
from quality.services import FULL_MONTHS, indicators_recompute, indicators_refresh
from quality.services import experience_record as _experience_record
from tests.factories import (
    CareEventFactory,
    EpisodeFactory,
    MemberOrganisationFactory,
    ProfessionalFactory,
)
from tests.scenarios.billing import Setup, at, build
from tests.scenarios.concurrency import wait_for_a_lock_wait
from tests.scenarios.people import TenantWorld

pytestmark = pytest.mark.dated

D = Decimal
MAR, APR, MAY = dt.date(2026, 3, 1), dt.date(2026, 4, 1), dt.date(2026, 5, 1)
TODAY = dt.date(2026, 11, 23)  # the refreshes' "today": the window of 25 months holds March and April 2026
LIVE, STILL = BirthOutcome.LIVE, BirthOutcome.STILLBORN
HOME, CENTRE, POLI, CLIN = (
    BirthPlace.HOME,
    BirthPlace.BIRTH_CENTRE,
    BirthPlace.POLYCLINIC,
    BirthPlace.CLINICAL,
)
SPONT, ASSIST, CS = BirthMode.SPONTANEOUS, BirthMode.ASSISTED, BirthMode.CAESAREAN


# --- the world ---------------------------------------------------------------------------------------


@dataclass
class Data:
    s: Setup
    ep: dict[str, Episode] = field(default_factory=dict)
    birth: dict[str, Birth] = field(default_factory=dict)  # "E1", twins "E6a"/"E6b"
    pro: dict[str, Professional] = field(default_factory=dict)
    org: dict[str, int] = field(default_factory=dict)  # "P", "S", "H" -> organisation id

    def ids(self, names: str) -> list[int]:
        return sorted(self.ep[n].pk for n in names.split())


def new_episode(**fields: Any) -> Episode:
    return cast(Episode, EpisodeFactory(**fields))


def new_org(**fields: Any) -> MemberOrganisation:
    return cast(MemberOrganisation, MemberOrganisationFactory(**fields))


def new_pro(**fields: Any) -> Professional:
    return cast(Professional, ProfessionalFactory(**fields))


def _episode(
    d: Data,
    name: str,
    *,
    coord: str | None,
    birth_day: dt.date,
    ga: int,
    intake_line: str = Line.FIRST,
    transfers: tuple[dt.datetime, ...] = (),
    **fields: Any,
) -> Episode:
    """An episode whose first child is born on `birth_day` at `ga` days (due date = what makes it so),
    with intake at 12+0 weeks; `transfers` alternate the line from the one at intake."""
    due = birth_day + dt.timedelta(days=280 - ga)
    intake = due - dt.timedelta(days=280 - 84)
    ep = new_episode(
        tenant=d.s.tenant,
        intake_date=intake,
        due_date=due,
        gestational_age_at_intake=84,
        coordinating_professional=d.pro[coord] if coord else None,
        **fields,
    )
    line = intake_line
    moments = [timezone.make_aware(dt.datetime.combine(intake, dt.time.min)), *transfers]
    for i, moment in enumerate(moments):
        if i:
            line = Line.SECOND if line == Line.FIRST else Line.FIRST
        LineTransfer.unscoped.create(
            tenant=d.s.tenant, episode=ep, line=line, effective_at=moment, created_by=d.s.admin
        )
    d.ep[name] = ep
    return ep


def _birth(
    d: Data,
    key: str,
    born_at: dt.datetime,
    place: str,
    mode: str,
    weight: int | None,
    outcome: str = LIVE,
    child: int = 1,
    **fields: Any,
) -> Birth:
    b = Birth.unscoped.create(
        tenant=d.s.tenant,
        episode=d.ep[key.rstrip("ab")],
        child_number=child,
        born_at=born_at,
        outcome=outcome,
        place=place,
        mode=mode,
        weight_grams=weight,
        **fields,
    )
    d.birth[key] = b
    return b


def _ev(
    d: Data,
    name: str,
    code: str,
    pro: str,
    when: dt.datetime,
    qty: str = "1",
    voided: bool = False,
    phase: str = "",
) -> CareEvent:
    et = d.s.types[code]
    professional = d.pro[pro]
    event = CareEventFactory(
        tenant=d.s.tenant,
        episode=d.ep[name],
        event_type=et,
        phase=phase or et.phase,
        professional=professional,
        organisation=professional.organisation,
        occurred_at=when,
        quantity=D(qty),
        created_by=d.s.midwife,
        status=EventStatus.VOIDED if voided else EventStatus.ACTIVE,
        change_reason="wrong client" if voided else "",
    )
    return cast(CareEvent, event)


def _prenatal(d: Data, name: str, *pros: str) -> None:
    for i, pro in enumerate(pros):
        _ev(d, name, "PRE_CHECK", pro, at(2026, 1, 5 + i, 10))


def experience(d: Data, name: str, answered_on: dt.date, overall: int) -> ExperienceResponse:
    with tenant_scope(d.s.tenant):
        return _experience_record(
            episode=d.ep[name],
            actor=d.s.midwife,
            answered_on=answered_on,
            overall=overall,
            informed=4,
            same_team=4,
            recommend=8,
        )


def dataset(world: TenantWorld) -> Data:
    s = build(world, split_rule=False)
    d = Data(s=s)
    d.org = {"P": s.practice.pk, "S": s.south.pk, "H": s.hospital.pk}
    d.pro = {
        "mwP": s.pros[s.practice.pk],
        "mwS": s.pros[s.south.pk],
        "gyn": s.pros[s.hospital.pk],
        "kz": s.pros[s.kraam.pk],
        "mwP2": new_pro(tenant=s.tenant, organisation=s.practice),
        "mwP3": new_pro(tenant=s.tenant, organisation=s.practice),
        "mwS2": new_pro(tenant=s.tenant, organisation=s.south),
    }

    # E1 (P): home, spontaneous, 3400 g, first line throughout, 39+5 weeks. Blood loss 300 ml. Kraamzorg
    # indicated 49 h, delivered 7 x 7 = 49 h of KZ_HOURS (the 3 h of labour assistance do not count), ended
    # 11 March. Care before/during labour by mwP, mwP2 and the maternity carer (labour assistance): 3.
    # Answered the questionnaire on 25 March: 9.
    _episode(
        d, "E1", coord="mwP", birth_day=dt.date(2026, 3, 3), ga=278,
        labour_started_at=at(2026, 3, 3, 8), placenta_plus_2h_at=at(2026, 3, 3, 16, 30),
        blood_loss_ml=300, kraamzorg_indicated_hours=49, kraamzorg_ended_on=dt.date(2026, 3, 11),
    )  # fmt: skip
    _birth(d, "E1", at(2026, 3, 3, 14), HOME, SPONT, 3400)
    _prenatal(d, "E1", "mwP", "mwP", "mwP2")
    _ev(d, "E1", "DELIV_HOME", "mwP", at(2026, 3, 3, 14))
    _ev(d, "E1", "PARTUS_ASSIST", "kz", at(2026, 3, 3, 12), "3")
    for day in range(4, 11):
        _ev(d, "E1", "KZ_HOURS", "kz", at(2026, 3, day, 9), "7")
    experience(d, "E1", dt.date(2026, 3, 25), 9)

    # E2 (P): labour starts in first line at 04:00, transferred to second line at 09:00 (inside the labour
    # window, which ends at placenta + 2 h = 14:30); assisted, clinical, 3150 g, 39+0. Blood loss 1000 ml
    # (severe: the threshold counts). Kraamzorg ended but nothing indicated: not in that denominator. Care
    # by mwP, mwP2, mwP3, mwS before and gyn during labour: 5 professionals.
    _episode(
        d, "E2", coord="mwP", birth_day=dt.date(2026, 3, 10), ga=273, transfers=(at(2026, 3, 10, 9),),
        labour_started_at=at(2026, 3, 10, 4), placenta_plus_2h_at=at(2026, 3, 10, 14, 30),
        blood_loss_ml=1000, kraamzorg_ended_on=dt.date(2026, 3, 18),
    )  # fmt: skip
    _birth(d, "E2", at(2026, 3, 10, 12), CLIN, ASSIST, 3150)
    _prenatal(d, "E2", "mwP", "mwP2", "mwP3", "mwS")
    _ev(d, "E2", "DELIV_CLIN", "gyn", at(2026, 3, 10, 12))

    # E3 (S): birth centre, spontaneous, 2500 g (not low: under 2500 is), 37+0 exactly (not preterm), first
    # line. Blood loss 999 ml (not severe). Kraamzorg indicated 45 h, delivered 5 x 8 = 40 h (a voided 8 h
    # event does not count), ended 20 March. Care before/during labour by mwS, mwS2, mwP, gyn: 4 (a voided
    # event by mwP3 and a postnatal visit by mwP2 do not count). Answered on 10 April: 8.
    _episode(
        d, "E3", coord="mwS", birth_day=dt.date(2026, 3, 12), ga=259,
        labour_started_at=at(2026, 3, 12, 2), placenta_plus_2h_at=at(2026, 3, 12, 12),
        blood_loss_ml=999, kraamzorg_indicated_hours=45, kraamzorg_ended_on=dt.date(2026, 3, 20),
    )  # fmt: skip
    _birth(d, "E3", at(2026, 3, 12, 10), CENTRE, SPONT, 2500)
    _prenatal(d, "E3", "mwS", "mwS2", "mwP")
    _ev(d, "E3", "PRE_CHECK", "mwP3", at(2026, 2, 20, 10), voided=True)
    _ev(d, "E3", "DELIV_CENTRE", "mwS", at(2026, 3, 12, 10))
    _ev(d, "E3", "REFERRAL", "gyn", at(2026, 3, 12, 6), phase="natal")  # any-phase type, logged in labour
    _ev(d, "E3", "POST_VISIT", "mwP2", at(2026, 3, 14, 10))
    for day in range(13, 18):
        _ev(d, "E3", "KZ_HOURS", "kz", at(2026, 3, day, 9), "8")
    _ev(d, "E3", "KZ_HOURS", "kz", at(2026, 3, 18, 9), "8", voided=True)
    experience(d, "E3", dt.date(2026, 4, 10), 8)

    # E4 (S): polyclinic, spontaneous, 2499 g (low), 36+6 (preterm), NICU. Labour in first line; the
    # transfer to second line at 12:00 lies after placenta + 2 h (11:00): in the transfer denominator only,
    # and first line at birth. Blood loss not recorded: not in that denominator. Kraamzorg ended, nothing
    # indicated. No care logged. Answered on 5 April: 7.
    _episode(
        d, "E4", coord="mwS", birth_day=dt.date(2026, 3, 15), ga=258, transfers=(at(2026, 3, 15, 12),),
        labour_started_at=at(2026, 3, 15, 1), placenta_plus_2h_at=at(2026, 3, 15, 11),
        kraamzorg_ended_on=dt.date(2026, 3, 23),
    )  # fmt: skip
    _birth(d, "E4", at(2026, 3, 15, 9), POLI, SPONT, 2499, nicu_admission=True)
    experience(d, "E4", dt.date(2026, 4, 5), 7)

    # E5 (H): second line since 1 February (before labour: not in the transfer denominator); caesarean,
    # clinical, 3800 g, 40+2. Blood loss 1200 ml. Kraamzorg indicated 49 h, delivered 3 x 10 = 30 h; no
    # end of kraamzorg recorded, postnatal care ended 28 April: counts in April. Care by mwP before and gyn
    # before/during labour: 2. Answered on 30 April: 7.
    _episode(
        d, "E5", coord="gyn", birth_day=dt.date(2026, 3, 18), ga=282, transfers=(at(2026, 2, 1, 10),),
        labour_started_at=at(2026, 3, 18, 6), placenta_plus_2h_at=at(2026, 3, 18, 13),
        blood_loss_ml=1200, kraamzorg_indicated_hours=49, postnatal_ended_on=dt.date(2026, 4, 28),
    )  # fmt: skip
    _birth(d, "E5", at(2026, 3, 18, 11), CLIN, CS, 3800)
    _prenatal(d, "E5", "mwP", "gyn")
    _ev(d, "E5", "DELIV_CLIN", "gyn", at(2026, 3, 18, 11))
    for day in (19, 20, 21):
        _ev(d, "E5", "KZ_HOURS", "kz", at(2026, 3, day, 9), "10")
    experience(d, "E5", dt.date(2026, 4, 30), 7)

    # E6 (P): twins, second line since 1 March. Child 1 spontaneous, 31 March 23:40, 2450 g (low), 37+0;
    # child 2 by caesarean 20 minutes later on 1 April 00:20 (22:20 UTC on 31 March!), 2600 g, NICU. One
    # delivery, caesarean, in March; two children: one in March, one in April. Blood loss 800 ml.
    _episode(
        d, "E6", coord="mwP", birth_day=dt.date(2026, 3, 31), ga=259, transfers=(at(2026, 3, 1, 10),),
        labour_started_at=at(2026, 3, 31, 18), placenta_plus_2h_at=at(2026, 4, 1, 2, 40), blood_loss_ml=800,
    )  # fmt: skip
    _birth(d, "E6a", at(2026, 3, 31, 23, 40), CLIN, SPONT, 2450)
    _birth(d, "E6b", at(2026, 4, 1, 0, 20), CLIN, CS, 2600, child=2, nicu_admission=True)

    # E7 (S): stillborn at 39+0, 3000 g, clinical, spontaneous; second line from the day before labour.
    # Perinatal death; not in the low-weight or NICU denominators. Blood loss 500 ml.
    _episode(
        d, "E7", coord="mwS", birth_day=dt.date(2026, 3, 21), ga=273, transfers=(at(2026, 3, 20, 10),),
        labour_started_at=at(2026, 3, 21, 8), placenta_plus_2h_at=at(2026, 3, 21, 16), blood_loss_ml=500,
    )  # fmt: skip
    _birth(d, "E7", at(2026, 3, 21, 14), CLIN, SPONT, 3000, outcome=STILL)

    # E12 (H): polyclinic, spontaneous, first line, 40+1, weight not recorded (not in the low-weight
    # denominator, in the NICU one). Blood loss 600 ml. Kraamzorg indicated 49 h, delivered 4 x 12 + 4 = 52 h,
    # ended 2 April (April). Only postnatal care logged: not in the continuity denominator.
    _episode(
        d, "E12", coord="gyn", birth_day=dt.date(2026, 3, 25), ga=281,
        labour_started_at=at(2026, 3, 25, 4), placenta_plus_2h_at=at(2026, 3, 25, 12),
        blood_loss_ml=600, kraamzorg_indicated_hours=49, kraamzorg_ended_on=dt.date(2026, 4, 2),
    )  # fmt: skip
    _birth(d, "E12", at(2026, 3, 25, 10), POLI, SPONT, None)
    for day, hours in ((26, "12"), (27, "12"), (28, "12"), (30, "12"), (31, "4")):
        _ev(d, "E12", "KZ_HOURS", "kz", at(2026, 3, day, 9), hours)

    # E8 (no coordinating professional): second line from intake; caesarean without labour, clinical,
    # 34+0 (preterm), 1800 g (low), NICU, died on 8 April = day 6 (perinatal death). Blood loss 700 ml.
    _episode(
        d, "E8", coord=None, birth_day=dt.date(2026, 4, 2), ga=238, intake_line=Line.SECOND,
        blood_loss_ml=700,
    )  # fmt: skip
    _birth(
        d,
        "E8",
        at(2026, 4, 2, 10),
        CLIN,
        CS,
        1800,
        nicu_admission=True,
        neonatal_death_on=dt.date(2026, 4, 8),
    )

    # E9 (P): home, spontaneous, 3200 g, 40+0, first line; died on 12 April = day 7 (not perinatal: the
    # first seven days are days 0..6). Blood loss 400 ml. Care by mwP, mwP2: 2.
    _episode(
        d, "E9", coord="mwP", birth_day=dt.date(2026, 4, 5), ga=280,
        labour_started_at=at(2026, 4, 5, 9), placenta_plus_2h_at=at(2026, 4, 5, 17, 30), blood_loss_ml=400,
    )  # fmt: skip
    _birth(d, "E9", at(2026, 4, 5, 15), HOME, SPONT, 3200, neonatal_death_on=dt.date(2026, 4, 12))
    _prenatal(d, "E9", "mwP", "mwP2")
    _ev(d, "E9", "DELIV_HOME", "mwP", at(2026, 4, 5, 15))

    # E10 (S): live born at 21+6 (before 22+0: outside the perinatal denominator although the child died
    # the same day), 480 g (low), clinical, spontaneous; second line since the evening before labour. It
    # is still a delivery (and preterm). Blood loss not recorded.
    _episode(
        d, "E10", coord="mwS", birth_day=dt.date(2026, 4, 8), ga=153, transfers=(at(2026, 4, 7, 20),),
        labour_started_at=at(2026, 4, 7, 22), placenta_plus_2h_at=at(2026, 4, 8, 5),
    )  # fmt: skip
    _birth(d, "E10", at(2026, 4, 8, 3), CLIN, SPONT, 480, neonatal_death_on=dt.date(2026, 4, 8))

    # E11 (S): polyclinic, spontaneous, 3300 g, 41+0, first line at birth; no placenta + 2 h recorded, so
    # the labour window ends 2 h after the birth (12:00): the transfer at 11:30 lies inside it. Blood loss
    # 1500 ml. Care by mwS only: 1.
    _episode(
        d, "E11", coord="mwS", birth_day=dt.date(2026, 4, 14), ga=287, transfers=(at(2026, 4, 14, 11, 30),),
        labour_started_at=at(2026, 4, 14, 6), blood_loss_ml=1500,
    )  # fmt: skip
    _birth(d, "E11", at(2026, 4, 14, 10), POLI, SPONT, 3300)
    _ev(d, "E11", "PRE_CHECK", "mwS", at(2026, 2, 2, 10))
    _ev(d, "E11", "DELIV_POLI", "mwS", at(2026, 4, 14, 10))

    # E13 (S): birth centre, assisted, 3000 g, 39+0, first line. Blood loss 250 ml. Kraamzorg indicated
    # 49 h, delivered 5 x 9 = 45 h, ended 30 April. Care by mwS, mwS2, mwP, mwP2 before and mwP3 during
    # labour: 5.
    _episode(
        d, "E13", coord="mwS", birth_day=dt.date(2026, 4, 22), ga=273,
        labour_started_at=at(2026, 4, 22, 1), placenta_plus_2h_at=at(2026, 4, 22, 9), blood_loss_ml=250,
        kraamzorg_indicated_hours=49, kraamzorg_ended_on=dt.date(2026, 4, 30),
    )  # fmt: skip
    _birth(d, "E13", at(2026, 4, 22, 7), CENTRE, ASSIST, 3000)
    _prenatal(d, "E13", "mwS", "mwS2", "mwP", "mwP2")
    _ev(d, "E13", "DELIV_CENTRE", "mwP3", at(2026, 4, 22, 7))
    for day in range(23, 28):
        _ev(d, "E13", "KZ_HOURS", "kz", at(2026, 4, day, 9), "9")

    # E14 (S): still pregnant (due 20 December); prenatal care only. Counts nowhere.
    _episode(d, "E14", coord="mwS", birth_day=dt.date(2026, 12, 20), ga=280)
    _prenatal(d, "E14", "mwS", "mwS2")
    return d


# --- the expected tallies, by hand -------------------------------------------------------------------
#
# Deliveries (month of the first child): March E1 E2 E3 E4 E5 E6 E7 E12 (P: E1 E2 E6; S: E3 E4 E7;
# H: E5 E12); April E8 E9 E10 E11 E13 (P: E9; S: E10 E11 E13; E8 only in the total; H has none).
# Children: March E1 E2 E3 E4 E5 E6a E7 E12; April E6b E8 E9 E10 E11 E13.
#
# code -> month -> org -> (numerator, denominator, numerator episodes, denominator episodes)
Row = tuple[int, int, str, str]
EXPECTED: dict[str, dict[dt.date, dict[str, Row]]] = {
    "caesarean": {
        # E5 caesarean; E6's second twin by caesarean makes the delivery caesarean. April: E8.
        MAR: {
            "*": (2, 8, "E5 E6", "E1 E2 E3 E4 E5 E6 E7 E12"),
            "P": (1, 3, "E6", "E1 E2 E6"),
            "S": (0, 3, "", "E3 E4 E7"),
            "H": (1, 2, "E5", "E5 E12"),
        },
        APR: {
            "*": (1, 5, "E8", "E8 E9 E10 E11 E13"),
            "P": (0, 1, "", "E9"),
            "S": (0, 3, "", "E10 E11 E13"),
        },
    },
    "first_line_birth": {
        # Line at the first child's birth. Second: E2 (09:00 < 12:00), E5, E6, E7 (transferred before);
        # E4's transfer came after the birth. April second: E8 (from intake), E10; E11's transfer after birth.
        MAR: {
            "*": (4, 8, "E1 E3 E4 E12", "E1 E2 E3 E4 E5 E6 E7 E12"),
            "P": (1, 3, "E1", "E1 E2 E6"),
            "S": (2, 3, "E3 E4", "E3 E4 E7"),
            "H": (1, 2, "E12", "E5 E12"),
        },
        APR: {
            "*": (3, 5, "E9 E11 E13", "E8 E9 E10 E11 E13"),
            "P": (1, 1, "E9", "E9"),
            "S": (2, 3, "E11 E13", "E10 E11 E13"),
        },
    },
    "place_home": {
        MAR: {
            "*": (1, 8, "E1", "E1 E2 E3 E4 E5 E6 E7 E12"),
            "P": (1, 3, "E1", "E1 E2 E6"),
            "S": (0, 3, "", "E3 E4 E7"),
            "H": (0, 2, "", "E5 E12"),
        },
        APR: {
            "*": (1, 5, "E9", "E8 E9 E10 E11 E13"),
            "P": (1, 1, "E9", "E9"),
            "S": (0, 3, "", "E10 E11 E13"),
        },
    },
    "place_birth_centre": {
        MAR: {
            "*": (1, 8, "E3", "E1 E2 E3 E4 E5 E6 E7 E12"),
            "P": (0, 3, "", "E1 E2 E6"),
            "S": (1, 3, "E3", "E3 E4 E7"),
            "H": (0, 2, "", "E5 E12"),
        },
        APR: {
            "*": (1, 5, "E13", "E8 E9 E10 E11 E13"),
            "P": (0, 1, "", "E9"),
            "S": (1, 3, "E13", "E10 E11 E13"),
        },
    },
    "place_polyclinic": {
        MAR: {
            "*": (2, 8, "E4 E12", "E1 E2 E3 E4 E5 E6 E7 E12"),
            "P": (0, 3, "", "E1 E2 E6"),
            "S": (1, 3, "E4", "E3 E4 E7"),
            "H": (1, 2, "E12", "E5 E12"),
        },
        APR: {
            "*": (1, 5, "E11", "E8 E9 E10 E11 E13"),
            "P": (0, 1, "", "E9"),
            "S": (1, 3, "E11", "E10 E11 E13"),
        },
    },
    "place_clinical": {
        MAR: {
            "*": (4, 8, "E2 E5 E6 E7", "E1 E2 E3 E4 E5 E6 E7 E12"),
            "P": (2, 3, "E2 E6", "E1 E2 E6"),
            "S": (1, 3, "E7", "E3 E4 E7"),
            "H": (1, 2, "E5", "E5 E12"),
        },
        APR: {
            "*": (2, 5, "E8 E10", "E8 E9 E10 E11 E13"),
            "P": (0, 1, "", "E9"),
            "S": (1, 3, "E10", "E10 E11 E13"),
        },
    },
    "transfer_in_labour": {
        # Denominator: labour started in first line (E5 E6 E7 started in second; E8 had no labour; E10
        # moved the evening before). E2 inside the window; E4 one hour after placenta + 2 h: outside.
        # E11: no placenta + 2 h, window to birth + 2 h (12:00), transfer at 11:30: inside.
        MAR: {
            "*": (1, 5, "E2", "E1 E2 E3 E4 E12"),
            "P": (1, 2, "E2", "E1 E2"),
            "S": (0, 2, "", "E3 E4"),
            "H": (0, 1, "", "E12"),
        },
        APR: {
            "*": (1, 3, "E11", "E9 E11 E13"),
            "P": (0, 1, "", "E9"),
            "S": (1, 2, "E11", "E11 E13"),
        },
    },
    "preterm": {
        # E4 36+6 (258 d) yes; E3 and E6 37+0 (259 d) no. April: E8 34+0, E10 21+6.
        MAR: {
            "*": (1, 8, "E4", "E1 E2 E3 E4 E5 E6 E7 E12"),
            "P": (0, 3, "", "E1 E2 E6"),
            "S": (1, 3, "E4", "E3 E4 E7"),
            "H": (0, 2, "", "E5 E12"),
        },
        APR: {
            "*": (2, 5, "E8 E10", "E8 E9 E10 E11 E13"),
            "P": (0, 1, "", "E9"),
            "S": (1, 3, "E10", "E10 E11 E13"),
        },
    },
    "low_birth_weight": {
        # Live born with a weight: March without E7 (stillborn) and E12 (no weight); 2499 g (E4) and
        # 2450 g (E6a) low, 2500 g (E3) not. April: E8 1800 g and E10 480 g low; E6b 2600 g not.
        MAR: {
            "*": (2, 6, "E4 E6", "E1 E2 E3 E4 E5 E6"),
            "P": (1, 3, "E6", "E1 E2 E6"),
            "S": (1, 2, "E4", "E3 E4"),
            "H": (0, 1, "", "E5"),
        },
        APR: {
            "*": (2, 6, "E8 E10", "E6 E8 E9 E10 E11 E13"),
            "P": (0, 2, "", "E6 E9"),
            "S": (1, 3, "E10", "E10 E11 E13"),
        },
    },
    "nicu": {
        # Live born: March without E7; NICU E4. April: E6b and E8.
        MAR: {
            "*": (1, 7, "E4", "E1 E2 E3 E4 E5 E6 E12"),
            "P": (0, 3, "", "E1 E2 E6"),
            "S": (1, 2, "E4", "E3 E4"),
            "H": (0, 2, "", "E5 E12"),
        },
        APR: {
            "*": (2, 6, "E6 E8", "E6 E8 E9 E10 E11 E13"),
            "P": (1, 2, "E6", "E6 E9"),
            "S": (0, 3, "", "E10 E11 E13"),
        },
    },
    "severe_pph": {
        # Recorded blood loss: not E4 (March), not E10 (April). 1000 (E2), 1200 (E5), 1500 (E11) severe;
        # 999 (E3) not.
        MAR: {
            "*": (2, 7, "E2 E5", "E1 E2 E3 E5 E6 E7 E12"),
            "P": (1, 3, "E2", "E1 E2 E6"),
            "S": (0, 2, "", "E3 E7"),
            "H": (1, 2, "E5", "E5 E12"),
        },
        APR: {
            "*": (1, 4, "E11", "E8 E9 E11 E13"),
            "P": (0, 1, "", "E9"),
            "S": (1, 2, "E11", "E11 E13"),
        },
    },
    "perinatal_mortality": {
        # Children from 22+0: all of March (E7 stillborn). April: not E10 (21+6); E8 died on day 6
        # (counts), E9 on day 7 (does not).
        MAR: {
            "*": (1, 8, "E7", "E1 E2 E3 E4 E5 E6 E7 E12"),
            "P": (0, 3, "", "E1 E2 E6"),
            "S": (1, 3, "E7", "E3 E4 E7"),
            "H": (0, 2, "", "E5 E12"),
        },
        APR: {
            "*": (1, 5, "E8", "E6 E8 E9 E11 E13"),
            "P": (0, 2, "", "E6 E9"),
            "S": (0, 2, "", "E11 E13"),
        },
    },
    "kraamzorg_hours": {
        # Month of the end of kraamzorg (else of postnatal care), hours indicated only. March: E1 49/49,
        # E3 40/45 (E2 and E4 had nothing indicated). April: E5 30/49 (postnatal end 28 April), E12 52/49,
        # E13 45/49. Numerator and denominator are hours, not episodes.
        MAR: {
            "*": (89, 94, "E1 E3", "E1 E3"),
            "P": (49, 49, "E1", "E1"),
            "S": (40, 45, "E3", "E3"),
        },
        APR: {
            "*": (127, 147, "E5 E12 E13", "E5 E12 E13"),
            "S": (45, 49, "E13", "E13"),
            "H": (82, 98, "E5 E12", "E5 E12"),
        },
    },
    "continuity": {
        # Deliveries with active prenatal/natal care logged: March E1 (3), E2 (5), E3 (4), E5 (2); E12
        # has postnatal care only. April E9 (2), E11 (1), E13 (5).
        MAR: {
            "*": (3, 4, "E1 E3 E5", "E1 E2 E3 E5"),
            "P": (1, 2, "E1", "E1 E2"),
            "S": (1, 1, "E3", "E3"),
            "H": (1, 1, "E5", "E5"),
        },
        APR: {
            "*": (2, 3, "E9 E11", "E9 E11 E13"),
            "P": (1, 1, "E9", "E9"),
            "S": (1, 2, "E11", "E11 E13"),
        },
    },
    "experience": {
        # Month answered: March E1 9; April E3 8, E4 7, E5 7. Numerator is the sum of the ratings.
        MAR: {
            "*": (9, 1, "E1", "E1"),
            "P": (9, 1, "E1", "E1"),
        },
        APR: {
            "*": (22, 3, "E3 E4 E5", "E3 E4 E5"),
            "S": (15, 2, "E3 E4", "E3 E4"),
            "H": (7, 1, "E5", "E5"),
        },
    },
}

# Indicator.value of the IGO totals: percent / per mille to 0.1, scores to 0.1.
EXPECTED_VALUE: dict[tuple[str, dt.date], str] = {
    ("caesarean", MAR): "25.0",  # 2/8
    ("caesarean", APR): "20.0",  # 1/5
    ("first_line_birth", MAR): "50.0",  # 4/8
    ("first_line_birth", APR): "60.0",  # 3/5
    ("place_home", MAR): "12.5",  # 1/8
    ("place_clinical", APR): "40.0",  # 2/5
    ("transfer_in_labour", MAR): "20.0",  # 1/5
    ("transfer_in_labour", APR): "33.3",  # 1/3 = 33.33
    ("preterm", MAR): "12.5",  # 1/8
    ("low_birth_weight", MAR): "33.3",  # 2/6
    ("nicu", MAR): "14.3",  # 1/7 = 14.29
    ("nicu", APR): "33.3",  # 2/6
    ("severe_pph", MAR): "28.6",  # 2/7 = 28.57
    ("severe_pph", APR): "25.0",  # 1/4
    ("perinatal_mortality", MAR): "125.0",  # 1/8 per mille
    ("perinatal_mortality", APR): "200.0",  # 1/5 per mille
    ("kraamzorg_hours", MAR): "94.7",  # 89/94 = 94.68 %
    ("kraamzorg_hours", APR): "86.4",  # 127/147 = 86.39 %
    ("continuity", MAR): "75.0",  # 3/4
    ("continuity", APR): "66.7",  # 2/3 = 66.67
    ("experience", MAR): "9.0",  # 9/1
    ("experience", APR): "7.3",  # 22/3 = 7.33
}


def expected_tallies(
    d: Data,
) -> dict[tuple[str, dt.date, int | None], tuple[Decimal, Decimal, list[int], list[int]]]:
    out = {}
    for code, months in EXPECTED.items():
        for month, orgs in months.items():
            for org, (num, den, num_eps, den_eps) in orgs.items():
                key = (code, month, None if org == "*" else d.org[org])
                out[key] = (D(num), D(den), d.ids(num_eps), d.ids(den_eps))
    return out


def as_rows(tallies: dict[Any, Tally]) -> dict[Any, tuple[Decimal, Decimal, list[int], list[int]]]:
    return {
        k: (t.numerator, t.denominator, sorted(t.numerator_episodes), sorted(t.denominator_episodes))
        for k, t in tallies.items()
    }


def stored(
    tenant: Tenant,
) -> dict[tuple[str, dt.date, int | None], tuple[Decimal, Decimal, list[int], list[int]]]:
    return {
        (v.indicator, v.period, v.organisation_id): (
            v.numerator,
            v.denominator,
            v.numerator_episodes,
            v.denominator_episodes,
        )
        for v in IndicatorValue.unscoped.filter(tenant=tenant)
    }


@pytest.fixture
def d(world_a: TenantWorld) -> Data:
    return dataset(world_a)


# --- 1. the worked example ---------------------------------------------------------------------------


def test_every_indicator_matches_the_hand_worked_tables(d: Data) -> None:
    assert {i.code for i in INDICATORS} == set(EXPECTED)  # every indicator has its table
    with tenant_scope(d.s.tenant):
        got = as_rows(compute(start=MAR, end=MAY))
    want = expected_tallies(d)
    # Key by key, so that a failure names the indicator, month and organisation.
    for key in sorted(want, key=str):
        assert got.get(key) == want[key], key
    # And nothing else: no value for an organisation without deliveries (H in April), none for E14 or
    # for E8's organisation (it has none), none outside March and April.
    assert set(got) == set(want)


def test_the_birth_before_22_weeks_and_the_dating_helpers(d: Data) -> None:
    # The due dates were derived so that the first child is born at the stated gestational age.
    assert gestational_days(d.ep["E10"], d.birth["E10"].born_at) == 153  # 21+6
    assert gestational_days(d.ep["E4"], d.birth["E4"].born_at) == 258  # 36+6
    assert gestational_days(d.ep["E3"], d.birth["E3"].born_at) == 259  # 37+0
    # The second twin was born on 1 April local time, 31 March UTC: its day is the local one.
    assert d.birth["E6b"].born_at.astimezone(dt.UTC).date() == dt.date(2026, 3, 31)
    assert gestational_days(d.ep["E6"], d.birth["E6b"].born_at) == 260
    assert list(months_between(dt.date(2025, 11, 15), dt.date(2026, 2, 1))) == [
        dt.date(2025, 11, 1),
        dt.date(2025, 12, 1),
        dt.date(2026, 1, 1),
    ]


def test_organisation_split_adds_up_and_the_episode_without_coordinator_is_only_in_the_total(d: Data) -> None:
    with tenant_scope(d.s.tenant):
        got = compute(start=MAR, end=MAY)
    e8 = d.ep["E8"].pk
    for (code, month, org), t in got.items():
        if org is None:
            continue
        assert e8 not in t.denominator_episodes, (code, month, org)
        total = got[(code, month, None)]
        assert t.denominator_episodes <= total.denominator_episodes
    for (code, month, org), total in got.items():
        if org is not None:
            continue
        parts = [t for (c, m, o), t in got.items() if (c, m) == (code, month) and o is not None]
        # The member organisations together make the total, except for what E8 contributes (one delivery
        # or one child: 1 in a denominator, 1 in a numerator when counted there).
        e8_den = 1 if e8 in total.denominator_episodes else 0
        e8_num = 1 if e8 in total.numerator_episodes else 0
        assert sum(t.denominator for t in parts) + e8_den == total.denominator, (code, month)
        assert sum(t.numerator for t in parts) + e8_num == total.numerator, (code, month)
    # E8 is in April's totals: a delivery (caesarean, clinical, preterm) and a child (low weight, NICU,
    # perinatal death).
    for code in ("caesarean", "place_clinical", "preterm", "low_birth_weight", "nicu", "perinatal_mortality"):
        assert e8 in got[(code, APR, None)].numerator_episodes, code


def test_a_month_computed_alone_equals_its_part_of_a_longer_run(d: Data) -> None:
    """The twins straddle the month boundary: March alone still counts the delivery and the first child,
    April alone the second child only."""
    with tenant_scope(d.s.tenant):
        both = as_rows(compute(start=MAR, end=MAY))
        march = as_rows(compute(start=MAR, end=APR))
        april = as_rows(compute(start=dt.date(2026, 4, 15), end=MAY))  # start rounds down to the month
    assert {k[1] for k in march} == {MAR}
    assert {k[1] for k in april} == {APR}
    assert {**march, **april} == both
    assert d.ep["E6"].pk not in april[("caesarean", APR, None)][3]
    assert d.ep["E6"].pk in april[("nicu", APR, None)][2]


def test_compute_reads_in_a_fixed_number_of_queries(d: Data) -> None:
    with tenant_scope(d.s.tenant), CaptureQueriesContext(connection) as queries:
        compute(start=MAR, end=MAY)
    # births, kraamzorg episodes, answers, episodes, transfers, professionals, hour types, hours
    assert len(queries) <= 8


def test_indicator_values_of_the_totals(d: Data) -> None:
    with tenant_scope(d.s.tenant):
        got = compute(start=MAR, end=MAY)
    for (code, month), text in EXPECTED_VALUE.items():
        t = got[(code, month, None)]
        assert BY_CODE[code].value(t.numerator, t.denominator) == D(text), (code, month)
    # A per-organisation value: S's perinatal mortality in March, 1/3 per mille = 333.3.
    t = got[("perinatal_mortality", MAR, d.org["S"])]
    assert BY_CODE["perinatal_mortality"].value(t.numerator, t.denominator) == D("333.3")


def test_indicator_value_units_and_an_empty_denominator() -> None:
    assert BY_CODE["caesarean"].unit == "percent"
    assert BY_CODE["perinatal_mortality"].unit == "per_mille"
    assert BY_CODE["experience"].unit == "score"
    assert BY_CODE["caesarean"].value(D(1), D(3)) == D("33.3")
    assert BY_CODE["caesarean"].value(D(2), D(3)) == D("66.7")
    assert BY_CODE["perinatal_mortality"].value(D(3), D(700)) == D("4.3")  # 4.2857 per mille
    assert BY_CODE["experience"].value(D(23), D(3)) == D("7.7")  # 7.667
    assert BY_CODE["experience"].value(D(16), D(2)) == D("8.0")
    assert BY_CODE["kraamzorg_hours"].value(D("52.00"), D("49.00")) == D("106.1")  # above 100 is possible
    for code in ("caesarean", "perinatal_mortality", "experience"):
        assert BY_CODE[code].value(D(0), D(0)) is None
        assert BY_CODE[code].value(D(3), D("0.00")) is None
    assert BY_CODE["nicu"].value(D(0), D(4)) == D("0.0")


def test_indicator_value_rounds_half_up() -> None:
    assert BY_CODE["experience"].value(D(33), D(4)) == D("8.3")  # 8.25
    assert BY_CODE["caesarean"].value(D(1), D(16)) == D("6.3")  # 6.25 %


# --- 2. stored values and their refresh --------------------------------------------------------------


def refresh(tenant: Tenant, full: bool = False) -> Any:
    with tenant_scope(tenant):
        return indicators_refresh(tenant=tenant, full=full, today=TODAY)


def test_refresh_stores_everything_first_then_only_what_changed(d: Data) -> None:
    tenant = d.s.tenant
    first = refresh(tenant)
    # First call: the full window, 25 months (November 2024 up to November 2026).
    assert (first.full, first.months) == (True, FULL_MONTHS)
    values = stored(tenant)
    assert first.values == len(values) == IndicatorValue.unscoped.filter(tenant=tenant).count()
    assert values == expected_tallies(d)  # every value of the tables, and only those (March and April)
    state = QualityState.unscoped.get(tenant=tenant)
    assert state.full_at == state.computed_at

    # Nothing changed: nothing recomputed, nothing rewritten.
    stamps = dict(IndicatorValue.unscoped.filter(tenant=tenant).values_list("pk", "computed_at"))
    second = refresh(tenant)
    assert (second.full, second.months, second.values) == (False, 0, 0)
    assert dict(IndicatorValue.unscoped.filter(tenant=tenant).values_list("pk", "computed_at")) == stamps

    # E9's child (April only) is admitted to the NICU: April is recomputed, March is not touched.
    with tenant_scope(tenant):
        birth_set_outcome(
            birth=d.birth["E9"],
            actor=d.s.midwife,
            nicu_admission=True,
            neonatal_death_on=dt.date(2026, 4, 12),
        )
    third = refresh(tenant)
    april_keys = [k for k in values if k[1] == APR]
    assert (third.full, third.months, third.values) == (False, 1, len(april_keys))
    values = stored(tenant)
    e6, e8, e9 = d.ep["E6"].pk, d.ep["E8"].pk, d.ep["E9"].pk
    nicu_den = d.ids("E6 E8 E9 E10 E11 E13")
    # NICU April: was 2/6 (E6b, E8), now 3/6 with E9; P: 2/2.
    assert values[("nicu", APR, None)] == (D(3), D(6), sorted([e6, e8, e9]), nicu_den)
    assert values[("nicu", APR, d.org["P"])] == (D(2), D(2), sorted([e6, e9]), sorted([e6, e9]))
    march = IndicatorValue.unscoped.filter(tenant=tenant, period=MAR)
    assert all(stamps[v.pk] == v.computed_at for v in march)
    assert not IndicatorValue.unscoped.filter(tenant=tenant, period=APR, pk__in=stamps).exists()

    # The twins (March delivery, April child): both months. Blood loss 800 -> 1000 ml: severe.
    with tenant_scope(tenant):
        episode_set_outcomes(
            episode=d.ep["E6"], actor=d.s.midwife, blood_loss_ml=1000, kraamzorg_indicated_hours=None
        )
    fourth = refresh(tenant)
    assert (fourth.months, fourth.values) == (2, len(values))
    # Severe PPH March: was 2/7 (E2, E5), now 3/7.
    assert stored(tenant)[("severe_pph", MAR, None)][:3] == (D(3), D(7), d.ids("E2 E5 E6"))

    # An answered questionnaire alone (E2's kraamzorg ended 18 March; answered in April): April.
    experience(d, "E2", dt.date(2026, 4, 3), 10)
    fifth = refresh(tenant)
    assert fifth.months == 2  # the episode's months: March (delivery, end of kraamzorg) and April (answer)
    # Experience April: was 22/3, now 32/4; P joins with 10/1.
    assert stored(tenant)[("experience", APR, None)][:3] == (D(32), D(4), d.ids("E2 E3 E4 E5"))
    assert stored(tenant)[("experience", APR, d.org["P"])][:2] == (D(10), D(1))


def test_full_refresh_replaces_without_duplicates(d: Data) -> None:
    tenant = d.s.tenant
    refresh(tenant)
    before = stored(tenant)
    count = IndicatorValue.unscoped.filter(tenant=tenant).count()
    again = refresh(tenant, full=True)
    assert (again.full, again.months, again.values) == (True, FULL_MONTHS, count)
    assert stored(tenant) == before
    keys = Counter(
        IndicatorValue.unscoped.filter(tenant=tenant).values_list("indicator", "period", "organisation_id")
    )
    assert max(keys.values()) == 1
    assert len(set(IndicatorValue.unscoped.filter(tenant=tenant).values_list("computed_at", flat=True))) == 1
    # Recomputing one month directly also replaces (the whole IGO row has no organisation: the unique
    # constraint treats the empty organisation as a value).
    with tenant_scope(tenant):
        n = indicators_recompute(tenant=tenant, start=dt.date(2026, 3, 17), end=APR)
    assert n == len([k for k in before if k[1] == MAR])
    assert IndicatorValue.unscoped.filter(tenant=tenant).count() == count
    with pytest.raises(IntegrityError), transaction.atomic():
        IndicatorValue.unscoped.create(
            tenant=tenant, indicator="caesarean", period=MAR, organisation=None, numerator=1, denominator=2
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        IndicatorValue.unscoped.create(
            tenant=tenant, indicator="caesarean", period=dt.date(2026, 3, 2), numerator=1, denominator=2
        )


def test_another_tenants_data_never_appears(d: Data, world_b: TenantWorld) -> None:
    tb = world_b.tenant
    org_b = new_org(tenant=tb, name="Praktijk B")
    pro_b = new_pro(tenant=tb, organisation=org_b)
    ep_b = new_episode(
        tenant=tb, intake_date=dt.date(2025, 9, 1), due_date=dt.date(2026, 3, 9), coordinating_professional=pro_b,
        blood_loss_ml=2000, kraamzorg_indicated_hours=80, kraamzorg_ended_on=dt.date(2026, 3, 17),
    )  # fmt: skip
    Birth.unscoped.create(
        tenant=tb,
        episode=ep_b,
        born_at=at(2026, 3, 9),
        place=CLIN,
        mode=CS,
        weight_grams=1200,
        nicu_admission=True,
    )
    refresh(d.s.tenant)
    a_rows = stored(d.s.tenant)
    assert a_rows == expected_tallies(d)
    a_episodes = set(Episode.unscoped.filter(tenant=d.s.tenant).values_list("pk", flat=True))
    for num_eps, den_eps in IndicatorValue.unscoped.filter(tenant=d.s.tenant).values_list(
        "numerator_episodes", "denominator_episodes"
    ):
        assert set(num_eps) | set(den_eps) <= a_episodes
    assert not IndicatorValue.unscoped.filter(tenant=d.s.tenant, organisation=org_b).exists()

    # B's refresh stores B's own values and leaves A's alone.
    b = refresh(tb)
    assert b.full
    b_rows = stored(tb)
    assert b_rows[("caesarean", MAR, None)] == (D(1), D(1), [ep_b.pk], [ep_b.pk])
    assert b_rows[("caesarean", MAR, org_b.pk)] == (D(1), D(1), [ep_b.pk], [ep_b.pk])
    assert b_rows[("kraamzorg_hours", MAR, None)] == (D(0), D(80), [], [ep_b.pk])
    assert {k[1] for k in b_rows} == {MAR}
    assert stored(d.s.tenant) == a_rows
    # Within B's scope the scoped manager shows only B's values.
    with tenant_scope(tb):
        assert set(IndicatorValue.objects.values_list("tenant_id", flat=True)) == {tb.pk}
    assert QualityState.unscoped.count() == 2


def test_recording_a_birth_is_picked_up_by_the_next_sweep(d: Data) -> None:
    tenant = d.s.tenant
    refresh(tenant)
    ep = d.ep["E14"]  # still pregnant, due 20 December; born early in November
    with tenant_scope(tenant):
        Episode.unscoped.filter(pk=ep.pk).update(
            labour_started_at=at(2026, 11, 2, 6), placenta_plus_2h_at=at(2026, 11, 2, 12)
        )
        ep.refresh_from_db()
        birth_record(
            episode=ep, actor=d.s.midwife, child_number=1, born_at=at(2026, 11, 2, 10),
            outcome=LIVE, place=HOME, mode=SPONT, weight_grams=2900,
        )  # fmt: skip
    result = refresh(tenant)
    assert result.months == 1
    assert stored(tenant)[("caesarean", dt.date(2026, 11, 1), None)] == (D(0), D(1), [], [ep.pk])


def test_a_line_transfer_is_picked_up_by_the_next_sweep(d: Data) -> None:
    tenant = d.s.tenant
    refresh(tenant)
    with tenant_scope(tenant):
        line_transfer(
            episode=d.ep["E1"], actor=d.s.midwife, line=Line.SECOND, effective_at=at(2026, 3, 3, 10),
            reason="failure to progress",
        )  # fmt: skip
    result = refresh(tenant)
    assert result.months == 1  # E1: March (delivery, end of kraamzorg, answer)
    # Transfer during labour March: was 1/5 (E2), now 2/5 (E1, E2).
    assert stored(tenant)[("transfer_in_labour", MAR, None)][:3] == (D(2), D(5), d.ids("E1 E2"))


def _one_birth(tenant: Tenant, day: dt.date) -> Episode:
    """An episode of a new member organisation with one home birth at term on `day`, nothing else logged."""
    org = new_org(tenant=tenant)
    pro = new_pro(tenant=tenant, organisation=org)
    ep = new_episode(
        tenant=tenant, intake_date=day - dt.timedelta(days=196), due_date=day, coordinating_professional=pro
    )
    Birth.unscoped.create(
        tenant=tenant,
        episode=ep,
        born_at=timezone.make_aware(dt.datetime.combine(day, dt.time(12))),
        place=HOME,
        mode=SPONT,
        weight_grams=3500,
    )
    return ep


@pytest.mark.django_db(transaction=True)
def test_two_recomputes_of_the_same_month_at_once(world_a: TenantWorld) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    tenant = world_a.tenant
    _one_birth(tenant, dt.date(2026, 3, 9))
    with tenant_scope(tenant):
        rows = indicators_recompute(tenant=tenant, start=MAR, end=APR)
    inside, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow() -> None:
        """A recompute whose transaction stays open a while, as a 25-month one with many rows does."""
        try:
            with tenant_scope(tenant), transaction.atomic():
                indicators_recompute(tenant=tenant, start=MAR, end=APR)
                inside.set()
                release.wait(timeout=30)
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)
        finally:
            inside.set()
            connections.close_all()

    def quick() -> None:
        try:
            inside.wait(timeout=30)
            with tenant_scope(tenant):
                indicators_recompute(tenant=tenant, start=MAR, end=APR)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=slow), threading.Thread(target=quick)]
    for t in threads:
        t.start()
    try:
        wait_for_a_lock_wait()  # let the first commit only once the second waits on its lock
    finally:
        release.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    assert IndicatorValue.unscoped.filter(tenant=tenant).count() == rows


# --- 3. the outcome and experience services refuse bad input -----------------------------------------


def _log_count(d: Data) -> int:
    return AccessLogEntry.unscoped.filter(tenant=d.s.tenant).count()


def _refused(call: Any) -> set[str]:
    with pytest.raises(ValidationError) as exc:
        call()
    return set(exc.value.message_dict)


def test_episode_set_outcomes_validation_and_log(d: Data) -> None:
    actor = d.s.midwife
    pregnant, e4 = d.ep["E14"], d.ep["E4"]
    with tenant_scope(d.s.tenant):
        logs, changed = _log_count(d), Episode.unscoped.get(pk=e4.pk).changed_at
        cases = [
            # No labour and no birth yet: a blood loss cannot be known.
            (pregnant, 300, None, {"blood_loss_ml"}),
            (e4, -1, None, {"blood_loss_ml"}),
            (e4, 20001, None, {"blood_loss_ml"}),
            (e4, None, 81, {"kraamzorg_indicated_hours"}),
            (e4, None, -1, {"kraamzorg_indicated_hours"}),
            (e4, 20001, 81, {"blood_loss_ml", "kraamzorg_indicated_hours"}),
        ]
        for ep, blood, hours, keys in cases:
            assert (
                _refused(
                    lambda ep=ep, blood=blood, hours=hours: episode_set_outcomes(
                        episode=ep, actor=actor, blood_loss_ml=blood, kraamzorg_indicated_hours=hours
                    )
                )
                == keys
            ), (blood, hours)
        fresh = Episode.unscoped.get(pk=e4.pk)
        assert (fresh.blood_loss_ml, fresh.kraamzorg_indicated_hours, fresh.changed_at) == (
            None,
            None,
            changed,
        )
        assert Episode.unscoped.get(pk=pregnant.pk).blood_loss_ml is None
        assert _log_count(d) == logs

        # The limits themselves are accepted; the change touches the episode and is logged.
        episode_set_outcomes(episode=e4, actor=actor, blood_loss_ml=20000, kraamzorg_indicated_hours=80)
        episode_set_outcomes(episode=e4, actor=actor, blood_loss_ml=0, kraamzorg_indicated_hours=0)
        # Hours may be indicated before the birth; a blood loss may be cleared.
        episode_set_outcomes(episode=pregnant, actor=actor, blood_loss_ml=None, kraamzorg_indicated_hours=49)
    fresh = Episode.unscoped.get(pk=e4.pk)
    assert (fresh.blood_loss_ml, fresh.kraamzorg_indicated_hours) == (0, 0)
    assert fresh.changed_at > changed
    assert Episode.unscoped.get(pk=pregnant.pk).kraamzorg_indicated_hours == 49
    entries = AccessLogEntry.unscoped.filter(tenant=d.s.tenant).order_by("pk")[logs:]
    assert [(e.action, e.object_type, e.object_id, e.detail, e.client_id, e.user_id) for e in entries] == [
        (AccessAction.UPDATE, "episode", str(e4.pk), "outcomes", e4.client_id, actor.pk),
        (AccessAction.UPDATE, "episode", str(e4.pk), "outcomes", e4.client_id, actor.pk),
        (AccessAction.UPDATE, "episode", str(pregnant.pk), "outcomes", pregnant.client_id, actor.pk),
    ]


def test_birth_set_outcome_validation_and_log(d: Data) -> None:
    actor = d.s.midwife
    still, live = d.birth["E7"], d.birth["E1"]  # E1 born 3 March 2026
    now = timezone.now()
    recent = Birth.unscoped.create(
        tenant=d.s.tenant, episode=d.ep["E14"], born_at=now - dt.timedelta(days=1), place=HOME, mode=SPONT
    )
    today = timezone.localdate()
    with tenant_scope(d.s.tenant):
        logs = _log_count(d)
        changed = Episode.unscoped.get(pk=still.episode_id).changed_at
        cases = [
            (still, False, dt.date(2026, 3, 22), {"neonatal_death_on"}),  # stillborn cannot die after birth
            (still, True, None, {"nicu_admission"}),  # nor be admitted
            (still, True, dt.date(2026, 3, 22), {"neonatal_death_on", "nicu_admission"}),
            (live, False, dt.date(2026, 3, 2), {"neonatal_death_on"}),  # before the birth
            (live, False, dt.date(2026, 4, 1), {"neonatal_death_on"}),  # day 29: after the neonatal period
            (recent, False, today + dt.timedelta(days=1), {"neonatal_death_on"}),  # in the future
        ]
        for birth, nicu, death, keys in cases:
            assert (
                _refused(
                    lambda birth=birth, nicu=nicu, death=death: birth_set_outcome(
                        birth=birth, actor=actor, nicu_admission=nicu, neonatal_death_on=death
                    )
                )
                == keys
            ), (birth.pk, nicu, death)
        assert Birth.unscoped.filter(nicu_admission=True, pk__in=[still.pk, live.pk, recent.pk]).count() == 0
        assert (
            Birth.unscoped.filter(
                neonatal_death_on__isnull=False, pk__in=[still.pk, live.pk, recent.pk]
            ).count()
            == 0
        )
        assert Episode.unscoped.get(pk=still.episode_id).changed_at == changed
        assert _log_count(d) == logs

        # Day 27 (the last day of the neonatal period) and today are accepted.
        birth_set_outcome(
            birth=live, actor=actor, nicu_admission=True, neonatal_death_on=dt.date(2026, 3, 30)
        )
        birth_set_outcome(birth=recent, actor=actor, nicu_admission=False, neonatal_death_on=today)
        birth_set_outcome(
            birth=still, actor=actor, nicu_admission=False, neonatal_death_on=None
        )  # no-op is fine
    live.refresh_from_db()
    assert (live.nicu_admission, live.neonatal_death_on) == (True, dt.date(2026, 3, 30))
    assert Episode.unscoped.get(pk=live.episode_id).changed_at > changed
    entries = AccessLogEntry.unscoped.filter(tenant=d.s.tenant).order_by("pk")[logs:]
    assert [(e.action, e.object_type, e.object_id, e.detail, e.client_id) for e in entries] == [
        (AccessAction.UPDATE, "birth", str(live.pk), "outcome", d.ep["E1"].client_id),
        (AccessAction.UPDATE, "birth", str(recent.pk), "outcome", d.ep["E14"].client_id),
        (AccessAction.UPDATE, "birth", str(still.pk), "outcome", d.ep["E7"].client_id),
    ]


def test_experience_record_validation_and_log(d: Data) -> None:
    actor = d.s.midwife
    e9, e12, e1 = d.ep["E9"], d.ep["E12"], d.ep["E1"]  # E9: no end recorded; E12 kraamzorg ended 2 April
    good = {"overall": 8, "informed": 4, "same_team": 3, "recommend": 9}
    today = timezone.localdate()

    def record(ep: Episode, answered_on: dt.date, **answers: int) -> ExperienceResponse:
        a = {**good, **answers}
        return _experience_record(
            episode=ep,
            actor=actor,
            answered_on=answered_on,
            overall=a["overall"],
            informed=a["informed"],
            same_team=a["same_team"],
            recommend=a["recommend"],
        )

    with tenant_scope(d.s.tenant):
        logs, responses = _log_count(d), ExperienceResponse.unscoped.count()
        cases = [
            (e1, dt.date(2026, 5, 1), {}, {"episode"}),  # already answered
            (e9, dt.date(2026, 5, 1), {}, {"answered_on"}),  # maternity period not ended
            (e12, dt.date(2026, 4, 1), {}, {"answered_on"}),  # before the end of kraamzorg
            (e12, today + dt.timedelta(days=1), {}, {"answered_on"}),  # in the future
            (e12, dt.date(2026, 4, 2), {"overall": 0}, {"overall"}),
            (e12, dt.date(2026, 4, 2), {"overall": 11}, {"overall"}),
            (e12, dt.date(2026, 4, 2), {"informed": 6}, {"informed"}),
            (e12, dt.date(2026, 4, 2), {"same_team": 0}, {"same_team"}),
            (e12, dt.date(2026, 4, 2), {"recommend": 11}, {"recommend"}),
            (e12, dt.date(2026, 4, 2), {"recommend": -1}, {"recommend"}),
            (e9, dt.date(2026, 5, 1), {"overall": 0, "informed": 0}, {"answered_on", "overall", "informed"}),
        ]
        for ep, on, answers, keys in cases:
            assert _refused(lambda ep=ep, on=on, answers=answers: record(ep, on, **answers)) == keys, (
                on,
                answers,
            )
        assert ExperienceResponse.unscoped.count() == responses
        assert _log_count(d) == logs

        # On the day kraamzorg ended, with the extremes of every scale.
        response = record(e12, dt.date(2026, 4, 2), overall=1, informed=5, same_team=1, recommend=0)
    assert (response.tenant_id, response.episode_id, response.entered_by_id) == (
        d.s.tenant.pk,
        e12.pk,
        actor.pk,
    )
    entries = list(AccessLogEntry.unscoped.filter(tenant=d.s.tenant).order_by("pk")[logs:])
    assert [(e.action, e.object_type, e.object_id, e.detail, e.client_id) for e in entries] == [
        (AccessAction.CREATE, "experienceresponse", str(response.pk), "experience", e12.client_id)
    ]


# --- 4. the Celery task ------------------------------------------------------------------------------


def test_quality_refresh_task_returns_the_result(world_a: TenantWorld) -> None:
    """Called in-process (the task body) and through `apply` (eager); it enters the tenant scope itself.
    It refreshes up to the real date, so the birth lies in last month."""
    tenant = world_a.tenant
    last_month = timezone.localdate().replace(day=1) - dt.timedelta(days=10)
    ep = _one_birth(tenant, last_month)
    result = quality_tasks.quality_refresh(tenant.pk, True)
    rows = IndicatorValue.unscoped.filter(tenant=tenant)
    assert result == {"months": FULL_MONTHS, "values": rows.count(), "full": True}
    # caesarean, first line, four places, preterm, low weight, NICU, perinatal mortality (no labour, blood
    # loss or care logged: no transfer, haemorrhage or continuity): for the IGO and the organisation.
    assert rows.count() == 2 * 10
    assert rows.get(indicator="place_home", organisation=None).numerator_episodes == [ep.pk]
    assert rows.get(indicator="place_home", organisation=None).period == last_month.replace(day=1)

    again = quality_tasks.quality_refresh.apply(args=(tenant.pk,)).get()
    assert again == {"months": 0, "values": 0, "full": False}
