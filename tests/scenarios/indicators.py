"""A hand-made IGO whose every quality indicator is worked out by hand (`dataset`), and the tables of the
results (`EXPECTED`), for the tests of the indicator engine (tests/quality/test_indicator*.py).

The world has fourteen episodes in one IGO with births in March and April 2026. Episode names E1..E14
are used in the comments and in the expected tables; `EXPECTED` gives, for every indicator, month and
organisation, the numerator, the denominator and the episodes behind each, each row worked out from
the episode descriptions next to `dataset`.

Organisations (of the episode's coordinating professional): P = the midwifery practice, S = the second
midwifery practice ("Zuid"), H = the hospital; E8 has no coordinating professional and counts only in
the IGO total ("*").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from django.utils import timezone

from igo.tenancy import tenant_scope
from pregnancies.models import (
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
from providers.models import MemberOrganisation, Professional
from quality.models import ExperienceResponse
from quality.services import experience_record as _experience_record
from tests.factories import CareEventFactory, EpisodeFactory, MemberOrganisationFactory, ProfessionalFactory
from tests.scenarios.billing import Setup, at, build
from tests.scenarios.people import TenantWorld

D = Decimal
MAR, APR, MAY = dt.date(2026, 3, 1), dt.date(2026, 4, 1), dt.date(2026, 5, 1)
LIVE, STILL = BirthOutcome.LIVE, BirthOutcome.STILLBORN
HOME, CENTRE, POLI, CLIN = (
    BirthPlace.HOME,
    BirthPlace.BIRTH_CENTRE,
    BirthPlace.POLYCLINIC,
    BirthPlace.CLINICAL,
)
SPONT, ASSIST, CS = BirthMode.SPONTANEOUS, BirthMode.ASSISTED, BirthMode.CAESAREAN


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


#
# Perined's population is births from 22+0 weeks: E10 (21+6) counts nowhere (issue 20; it used to count as
# a delivery, a preterm birth, a clinical birth, ...).
# Deliveries (month of the first child): March E1 E2 E3 E4 E5 E6 E7 E12 (P: E1 E2 E6; S: E3 E4 E7;
# H: E5 E12); April E8 E9 E11 E13 (P: E9; S: E11 E13; E8 only in the total; H has none).
# Children: March E1 E2 E3 E4 E5 E6a E7 E12; April E6b E8 E9 E11 E13.
#
# code -> month -> org -> (numerator, denominator, numerator episodes, denominator episodes)
Row = tuple[int, int, str, str]


def _unrecorded(codes: tuple[str, ...], *, mar: str, apr: str) -> dict[str, Any]:
    """Tables of indicators whose field no episode records: 0 of 0 for each organisation listed."""
    return {
        code: {MAR: dict.fromkeys(mar.split(), _NONE), APR: dict.fromkeys(apr.split(), _NONE)}
        for code in codes
    }


_NONE = (0, 0, "", "")

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
            "*": (1, 4, "E8", "E8 E9 E11 E13"),
            "P": (0, 1, "", "E9"),
            "S": (0, 2, "", "E11 E13"),
        },
    },
    "first_line_birth": {
        # Line at the first child's birth. Second: E2 (09:00 < 12:00), E5, E6, E7 (transferred before);
        # E4's transfer came after the birth. April second: E8 (from intake); E11's transfer after birth.
        MAR: {
            "*": (4, 8, "E1 E3 E4 E12", "E1 E2 E3 E4 E5 E6 E7 E12"),
            "P": (1, 3, "E1", "E1 E2 E6"),
            "S": (2, 3, "E3 E4", "E3 E4 E7"),
            "H": (1, 2, "E12", "E5 E12"),
        },
        APR: {
            "*": (3, 4, "E9 E11 E13", "E8 E9 E11 E13"),
            "P": (1, 1, "E9", "E9"),
            "S": (2, 2, "E11 E13", "E11 E13"),
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
            "*": (1, 4, "E9", "E8 E9 E11 E13"),
            "P": (1, 1, "E9", "E9"),
            "S": (0, 2, "", "E11 E13"),
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
            "*": (1, 4, "E13", "E8 E9 E11 E13"),
            "P": (0, 1, "", "E9"),
            "S": (1, 2, "E13", "E11 E13"),
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
            "*": (1, 4, "E11", "E8 E9 E11 E13"),
            "P": (0, 1, "", "E9"),
            "S": (1, 2, "E11", "E11 E13"),
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
            "*": (1, 4, "E8", "E8 E9 E11 E13"),
            "P": (0, 1, "", "E9"),
            "S": (0, 2, "", "E11 E13"),
        },
    },
    "transfer_in_labour": {
        # Denominator: labour started in first line (E5 E6 E7 started in second; E8 had no labour; E10
        # moved the evening before). E2 inside the window (start of labour up to the birth); E4 after the
        # birth. E11: transfer at 11:30 after the birth: a transfer after birth (version 3), not in labour.
        MAR: {
            "*": (1, 5, "E2", "E1 E2 E3 E4 E12"),
            "P": (1, 2, "E2", "E1 E2"),
            "S": (0, 2, "", "E3 E4"),
            "H": (0, 1, "", "E12"),
        },
        APR: {
            "*": (0, 3, "", "E9 E11 E13"),
            "P": (0, 1, "", "E9"),
            "S": (0, 2, "", "E11 E13"),
        },
    },
    "transfer_after_birth": {
        # Denominator: first line at the (last) child's birth: March E1 E3 E4 E12 (E2 moved during labour,
        # E5 E6 E7 before it); April E9 E11 E13 (E8 second line from intake). E4's transfer at 12:00 lies
        # after placenta + 2 h (11:00): outside. E11 (no placenta + 2 h): transfer at 11:30, after the birth
        # and before birth + 2 h (12:00): inside, where it counted as "in labour" before version 3.
        MAR: {
            "*": (0, 4, "", "E1 E3 E4 E12"),
            "P": (0, 1, "", "E1"),
            "S": (0, 2, "", "E3 E4"),
            "H": (0, 1, "", "E12"),
        },
        APR: {
            "*": (1, 3, "E11", "E9 E11 E13"),
            "P": (0, 1, "", "E9"),
            "S": (1, 2, "E11", "E11 E13"),
        },
    },
    "referral_before_labour": {
        # Denominator: first line at intake, born from 22+0 weeks: all March deliveries (8); April E9 E11
        # E13 (E8 second line from intake; E10 at 21+6 outside the population). Numerator: moved to the
        # second line before the start of labour: E5 (1 Feb), E6 (1 Mar), E7 (20 Mar, labour on the 21st).
        MAR: {
            "*": (3, 8, "E5 E6 E7", "E1 E2 E3 E4 E5 E6 E7 E12"),
            "P": (1, 3, "E6", "E1 E2 E6"),
            "S": (1, 3, "E7", "E3 E4 E7"),
            "H": (1, 2, "E5", "E5 E12"),
        },
        APR: {
            "*": (0, 3, "", "E9 E11 E13"),
            "P": (0, 1, "", "E9"),
            "S": (0, 2, "", "E11 E13"),
        },
    },
    "preterm": {
        # Per child from 22+0 weeks, live- and stillborn (issue 20: it counted deliveries). March: E4 36+6
        # (258 d) yes; E3 and E6a 37+0 (259 d) no; E7 stillborn at 39+0 counts in the denominator.
        # April: E6b born the next day at 37+1 (no), E8 34+0 (yes); E10 21+6 is outside the population.
        MAR: {
            "*": (1, 8, "E4", "E1 E2 E3 E4 E5 E6 E7 E12"),
            "P": (0, 3, "", "E1 E2 E6"),
            "S": (1, 3, "E4", "E3 E4 E7"),
            "H": (0, 2, "", "E5 E12"),
        },
        APR: {
            "*": (1, 5, "E8", "E6 E8 E9 E11 E13"),
            "P": (0, 2, "", "E6 E9"),
            "S": (0, 2, "", "E11 E13"),
        },
    },
    "low_birth_weight": {
        # Live born with a weight: March without E7 (stillborn) and E12 (no weight); 2499 g (E4) and
        # 2450 g (E6a) low, 2500 g (E3) not. April: E8 1800 g low; E6b 2600 g not; E10 (480 g, 21+6)
        # is outside the population.
        MAR: {
            "*": (2, 6, "E4 E6", "E1 E2 E3 E4 E5 E6"),
            "P": (1, 3, "E6", "E1 E2 E6"),
            "S": (1, 2, "E4", "E3 E4"),
            "H": (0, 1, "", "E5"),
        },
        APR: {
            "*": (1, 5, "E8", "E6 E8 E9 E11 E13"),
            "P": (0, 2, "", "E6 E9"),
            "S": (0, 2, "", "E11 E13"),
        },
    },
    # No birth-weight reference is loaded in this world: SGA is not computed, so it has no tallies at all
    # (tests/quality/test_sga.py computes it with a synthetic one).
    "sga": {},
    "nicu": {
        # Live born from 22+0: March without E7; NICU E4. April (not E10): E6b and E8.
        MAR: {
            "*": (1, 7, "E4", "E1 E2 E3 E4 E5 E6 E12"),
            "P": (0, 3, "", "E1 E2 E6"),
            "S": (1, 2, "E4", "E3 E4"),
            "H": (0, 2, "", "E5 E12"),
        },
        APR: {
            "*": (2, 5, "E6 E8", "E6 E8 E9 E11 E13"),
            "P": (1, 2, "E6", "E6 E9"),
            "S": (0, 2, "", "E11 E13"),
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
    "perinatal_mortality_28d": {
        # As the 7-day version, and E9, who died on day 7, now counts (the 28 days are days 0..27).
        MAR: {
            "*": (1, 8, "E7", "E1 E2 E3 E4 E5 E6 E7 E12"),
            "P": (0, 3, "", "E1 E2 E6"),
            "S": (1, 3, "E7", "E3 E4 E7"),
            "H": (0, 2, "", "E5 E12"),
        },
        APR: {
            "*": (2, 5, "E8 E9", "E6 E8 E9 E11 E13"),
            "P": (1, 2, "E9", "E6 E9"),
            "S": (0, 2, "", "E11 E13"),
        },
    },
    "perinatal_mortality_24w": {
        # Children from 24+0 (CBS): every child of the 22-week version (the youngest, E8, is 34+0).
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
    "perinatal_mortality_24w_28d": {
        # Children from 24+0: the same children as from 22+0, so the same as the 22-week 28-day version.
        MAR: {
            "*": (1, 8, "E7", "E1 E2 E3 E4 E5 E6 E7 E12"),
            "P": (0, 3, "", "E1 E2 E6"),
            "S": (1, 3, "E7", "E3 E4 E7"),
            "H": (0, 2, "", "E5 E12"),
        },
        APR: {
            "*": (2, 5, "E8 E9", "E6 E8 E9 E11 E13"),
            "P": (1, 2, "E9", "E6 E9"),
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
    "kraamzorg_below_indication": {
        # The clients of the kraamzorg_hours table, one each: below the indication are E3 (40 < 45), E5
        # (30 < 49) and E13 (45 < 49); E1 (49 = 49) and E12 (52 > 49) are not.
        MAR: {
            "*": (1, 2, "E3", "E1 E3"),
            "P": (0, 1, "", "E1"),
            "S": (1, 1, "E3", "E3"),
        },
        APR: {
            "*": (2, 3, "E5 E13", "E5 E12 E13"),
            "S": (1, 1, "E13", "E13"),
            "H": (1, 2, "E5", "E5 E12"),
        },
    },
    "kraamzorg_carers": {
        # Clients with kraamzorg hours logged (E1 E3; E5 E12 E13), all by the one maternity carer "kz":
        # every one has at most two carers. E2 and E4 had no kraamzorg hours logged.
        MAR: {
            "*": (2, 2, "E1 E3", "E1 E3"),
            "P": (1, 1, "E1", "E1"),
            "S": (1, 1, "E3", "E3"),
        },
        APR: {
            "*": (3, 3, "E5 E12 E13", "E5 E12 E13"),
            "S": (1, 1, "E13", "E13"),
            "H": (2, 2, "E5 E12", "E5 E12"),
        },
    },
    # Fields these episodes leave unrecorded: their population is counted (completeness 0), nothing else;
    # tests/quality/test_kernset_indicators.py computes these on records that have them. Breastfeeding:
    # women whose kraamzorg ended in the month (not E5: postnatal end only) with a child alive then.
    **_unrecorded(
        ("induction", "severe_perineal_tear", "low_apgar", "severe_maternal_morbidity"),
        mar="* P S H",
        apr="* P S",
    ),
    **_unrecorded(("breastfeeding_exclusive", "breastfeeding_any"), mar="* P S", apr="* S H"),
    # No PREM answers imported in this scenario: no values (tests/quality/test_prem.py).
    "prem_score": {},
    "prem_response": {},
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
