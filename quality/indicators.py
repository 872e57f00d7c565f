"""Indicator definitions and their computation from the logged care.

Every indicator is a ratio: a numerator over a denominator, each backed by the episodes counted, so a
number on a dashboard can always be opened to the episodes behind it. docs/quality.md describes each
definition for the people who read the dashboards.

Which month an episode counts in depends on the indicator: births count in the month of birth (of the
first child for the delivery-based ones), kraamzorg in the month the kraamzorg (or postnatal care) ended,
experience in the month the client answered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from igo.dates import month_start
from pregnancies.models import (
    Birth,
    BirthMode,
    BirthOutcome,
    BirthPlace,
    Breastfeeding,
    CareEvent,
    Episode,
    EventStatus,
    EventType,
    KraamzorgIndication,
    LabourOnset,
    Line,
    LineTransfer,
    Perineum,
    Phase,
    Unit,
)
from pregnancies.plausibility import robson_of
from quality.birth_weight import Table, table_in_force
from quality.intervals import MET, NOT_MET, UNDECIDABLE, clopper_pearson, decide
from quality.models import ExperienceResponse, PremResponse, ReferenceSex

__all__ = ["MET", "NOT_MET", "UNDECIDABLE"]  # the verdicts of target_decision, for billing's settlement

TERM_DAYS = 280
PRETERM_DAYS = 37 * 7  # born before 37+0 weeks
LABOUR_UNKNOWN_LOOKBACK = timedelta(hours=24)  # _transfers: labour start not recorded
PERINATAL_FROM_DAYS = 22 * 7  # Perined's population: births from 22+0 weeks, live- and stillborn
CBS_FROM_DAYS = 24 * 7  # CBS counts perinatal deaths from 24+0 weeks
EARLY_NEONATAL_DAYS = 7  # died on day 0..6
NEONATAL_DAYS = 28  # died on day 0..27
LOW_WEIGHT_GRAMS = 2500
SEVERE_PPH_ML = 1000
LOW_APGAR = 7  # an Apgar score below this at 5 minutes
SEVERE_TEARS = (Perineum.THIRD, Perineum.FOURTH)
MAX_MATERNITY_CARERS = 2  # Zorginzicht: at most two maternity carers per client
CONTINUITY_TEAM = 4  # "a small team": at most this many professionals before and during labour
SMALL_NUMBER = 10  # below this denominator a percentage says little; the dashboards warn
NULLIPARA, MULTIPARA = "nullipara", "multipara"
PARITY_GROUPS = (NULLIPARA, MULTIPARA)
# The Robson ten-group classification (pregnancies.robson) splits the indicators of a delivery that the
# sector reports by Robson group: the caesarean rate above all (WHO, Perined), and the maternal and
# neonatal outcomes that depend on the way labour began (blood loss, tears, Apgar). A woman whose group
# cannot be derived (a fact missing) counts in ROBSON_UNCLASSIFIED, so the groups add up to the total.
ROBSON_GROUPS = tuple(f"robson_{n}" for n in range(1, 11))
ROBSON_UNCLASSIFIED = "robson_unclassified"
ROBSON_SPLIT_CODES = frozenset({"caesarean", "severe_pph", "severe_perineal_tear", "low_apgar"})


@dataclass(frozen=True)
class Indicator:
    code: str
    name: Any
    unit: str  # "percent", "per_mille" or "score"
    better: str  # "lower", "higher" or "" (descriptive only)
    numerator_text: Any
    denominator_text: Any
    basis: str = "woman"  # "woman" (a delivery), "child", "hours", "questionnaire", "invitation"
    source: Any = ""  # whose definition this follows, and which version of it
    version: int = 1  # the platform's version of the definition (raised when it changes)
    missing_text: Any = ""  # the field whose absence leaves a record out (completeness), if any

    @property
    def factor(self) -> Decimal:
        return {"percent": Decimal(100), "per_mille": Decimal(1000)}.get(self.unit, Decimal(1))

    @property
    def proportion(self) -> bool:
        """A share of records (each counted once in the denominator, at most once in the numerator): it has
        an exact binomial confidence interval. Hours and scores are not proportions."""
        return self.basis in ("woman", "child", "invitation")

    def value(self, numerator: Decimal, denominator: Decimal) -> Decimal | None:
        if not denominator:
            return None
        return (numerator * self.factor / denominator).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


_DELIVERIES = _("women who gave birth from 22+0 weeks in the month")
_CHILDREN = _("children born from 22+0 weeks, live- and stillborn")
_PERINED = _("Perined, Perinatale zorg in Nederland: births from 22+0 weeks")
_OWN = _("the IGO platform's own definition; births from 22+0 weeks as Perined")
_BLOOD_LOSS = _("blood loss at delivery")
_KERNSET = _("Kernset Geboortezorg; births from 22+0 weeks as Perined")
_ZORGINZICHT = _("Zorginzicht, kraamzorg indicators")
_PREM = _("PREM Geboortezorg (patient-reported experience), imported answers")
_BREASTFEEDING = _("women whose kraamzorg ended in the month, with a child alive at its end")
_BREASTFEEDING_FIELD = _("breastfeeding at the end of kraamzorg")
INDICATORS: tuple[Indicator, ...] = (
    Indicator("caesarean", _("Caesarean section"), "percent", "lower", _("women delivered by caesarean section (of any child)"), _DELIVERIES, source=_PERINED, version=2),
    Indicator("first_line_birth", _("Births under first-line care"), "percent", "", _("women with the midwife responsible at birth"), _DELIVERIES, source=_PERINED, version=2),
    Indicator("place_home", _("Births at home"), "percent", "", _("women who gave birth at home"), _DELIVERIES, source=_PERINED, version=2),
    Indicator("place_birth_centre", _("Births in a birth centre"), "percent", "", _("women who gave birth in a birth centre"), _DELIVERIES, source=_PERINED, version=2),
    Indicator("place_polyclinic", _("Polyclinic births"), "percent", "", _("women who gave birth in hospital without medical indication"), _DELIVERIES, source=_PERINED, version=2),
    Indicator("place_clinical", _("Clinical births"), "percent", "", _("women who gave birth in hospital under second-line care"), _DELIVERIES, source=_PERINED, version=2),
    Indicator(
        "referral_before_labour", _("Referral before active labour"), "percent", "lower",
        _("women transferred from first to second line before the start of active labour"),
        _("women from 22+0 weeks under first-line care at intake"), source=_OWN,
    ),
    Indicator(
        "transfer_in_labour", _("Transfer during labour"), "percent", "lower",
        _("women transferred from first to second line between the start of labour and the birth"),
        _("women from 22+0 weeks who started labour under first-line care"), source=_OWN, version=3,
    ),
    Indicator(
        "transfer_after_birth", _("Transfer after birth"), "percent", "lower",
        _("women transferred from first to second line after the birth, up to placenta + 2 h"),
        _("women from 22+0 weeks under first-line care at the birth"), source=_OWN,
    ),
    Indicator(
        "induction", _("Induction of labour"), "percent", "", _("women whose labour was induced"),
        _("women from 22+0 weeks with the onset of labour recorded"), source=_KERNSET,
        missing_text=_("onset of labour"),
    ),
    Indicator(
        "severe_perineal_tear", _("Third- or fourth-degree perineal tear"), "percent", "lower",
        _("women with a third- or fourth-degree tear"),
        _("women from 22+0 weeks with a vaginal birth and the perineum recorded"), source=_KERNSET,
        missing_text=_("perineal damage"),
    ),
    Indicator(
        "preterm", _("Preterm birth"), "percent", "lower", _("children born before 37+0 weeks"), _CHILDREN,
        basis="child", source=_("Perined and VZinfo: children from 22+0 weeks, live- and stillborn"), version=2,
    ),
    Indicator(
        "low_birth_weight", _("Low birth weight"), "percent", "lower",
        _("live-born children under 2,500 g"), _("live-born children from 22+0 weeks with a recorded weight"),
        basis="child", source=_PERINED, version=2, missing_text=_("birth weight"),
    ),
    Indicator(
        "low_apgar", _("Apgar below 7 at 5 minutes"), "percent", "lower",
        _("live-born children with an Apgar score below 7 at 5 minutes"),
        _("live-born children from 22+0 weeks with the 5-minute Apgar recorded"), basis="child",
        source=_KERNSET, missing_text=_("Apgar at 5 minutes"),
    ),
    Indicator(
        "sga", _("Small for gestational age (< p10)"), "percent", "lower",
        _("live-born singletons weighing less than the 10th percentile for their sex and gestational age"),
        _("live-born singletons from 22+0 weeks with sex, weight and an age in the reference"), basis="child",
        source=_("the birth-weight reference loaded by the platform operator (the Dutch standard: Perined, Hoftiezer et al. 2019, by sex and gestational age); births from 22+0 weeks as Perined"),
        missing_text=_("sex, birth weight or a gestational age in the reference"),
    ),
    Indicator(
        "nicu", _("NICU admission"), "percent", "lower", _("live-born children admitted to a NICU"),
        _("live-born children from 22+0 weeks"), basis="child", source=_PERINED, version=2,
    ),
    Indicator(
        "severe_pph", _("Severe postpartum haemorrhage"), "percent", "lower",
        _("women with a blood loss of 1,000 ml or more"), _("women from 22+0 weeks with a recorded blood loss"),
        source=_("Perined / Kernset Geboortezorg (blood loss ≥ 1,000 ml)"), version=2, missing_text=_BLOOD_LOSS,
    ),
    Indicator(
        "severe_maternal_morbidity", _("Severe maternal morbidity (LEMMoN)"), "per_mille", "lower",
        _("women who met at least one LEMMoN criterion of severe maternal morbidity"),
        _("women from 22+0 weeks with the LEMMoN criteria recorded"),
        source=_("LEMMoN study (Zwart et al., BJOG 2008): ICU admission, uterine rupture, eclampsia or HELLP with liver haematoma or rupture, major obstetric haemorrhage, other; births from 22+0 weeks as Perined"),
        missing_text=_("severe maternal morbidity (LEMMoN)"),
    ),
    Indicator(
        "perinatal_mortality", _("Perinatal mortality (22 weeks, 7 days)"), "per_mille", "lower",
        _("children stillborn or died within 7 days"), _CHILDREN, basis="child",
        source=_("Perined, perinatal mortality up to 7 days from 22+0 weeks"),
    ),
    Indicator(
        "perinatal_mortality_28d", _("Perinatal mortality (22 weeks, 28 days)"), "per_mille", "lower",
        _("children stillborn or died within 28 days"), _CHILDREN, basis="child",
        source=_("Perined, perinatal mortality up to 28 days from 22+0 weeks"),
    ),
    Indicator(
        "perinatal_mortality_24w", _("Perinatal mortality (24 weeks, 7 days)"), "per_mille", "lower",
        _("children stillborn or died within 7 days"), _("children born from 24+0 weeks, live- and stillborn"),
        basis="child", source=_("CBS, perinatal mortality up to 7 days from 24+0 weeks"),
    ),
    Indicator(
        "perinatal_mortality_24w_28d", _("Perinatal mortality (24 weeks, 28 days)"), "per_mille", "lower",
        _("children stillborn or died within 28 days"), _("children born from 24+0 weeks, live- and stillborn"),
        basis="child", source=_("international comparison (Euro-Peristat): from 24+0 weeks, up to 28 days"),
    ),
    Indicator(
        "kraamzorg_below_indication", _("Kraamzorg below the indication"), "percent", "lower",
        _("clients who received fewer kraamzorg hours than the (re-)indication in force: the last one dated on or before the end of kraamzorg"),
        _("clients whose kraamzorg ended in the month, with indicated hours"), source=_ZORGINZICHT, version=2,
        missing_text=_("kraamzorg hours indicated"),
    ),
    Indicator(
        "kraamzorg_carers", _("At most two maternity carers"), "percent", "higher",
        _("clients cared for by at most two maternity carers"),
        _("clients whose kraamzorg ended in the month, with kraamzorg hours logged"), source=_ZORGINZICHT,
    ),
    Indicator(
        "kraamzorg_hours", _("Kraamzorg hours delivered versus indicated"), "percent", "higher",
        _("kraamzorg hours delivered"), _("kraamzorg hours indicated (LIP)"), basis="hours",
        source=_("the IGO platform's own extra, beside Zorginzicht's kraamzorg indicators"), version=2,
        missing_text=_("kraamzorg hours indicated"),
    ),
    Indicator(
        "breastfeeding_exclusive", _("Exclusive breastfeeding at the end of kraamzorg"), "percent", "higher",
        _("women breastfeeding exclusively"), _BREASTFEEDING, source=_KERNSET, missing_text=_BREASTFEEDING_FIELD,
    ),
    Indicator(
        "breastfeeding_any", _("Any breastfeeding at the end of kraamzorg"), "percent", "higher",
        _("women breastfeeding exclusively or partially"), _BREASTFEEDING, source=_KERNSET,
        missing_text=_BREASTFEEDING_FIELD,
    ),
    Indicator(
        "continuity", _("Continuity of care"), "percent", "higher",
        _("women with at most 4 professionals before and during labour"),
        _("women from 22+0 weeks with care logged before or during labour"), source=_OWN, version=2,
    ),
    Indicator(
        "prem_score", _("PREM Geboortezorg score"), "score", "higher",
        _("sum of each answered questionnaire's mean item score"), _("PREM questionnaires answered"),
        basis="questionnaire", source=_PREM,
    ),
    Indicator(
        "prem_response", _("PREM Geboortezorg response rate"), "percent", "higher",
        _("PREM questionnaires answered"), _("PREM questionnaires sent in the month"), basis="invitation",
        source=_PREM,
    ),
    Indicator(
        "experience", _("Client experience"), "score", "higher",
        _("sum of overall ratings (1–10)"), _("questionnaires answered"), basis="questionnaire",
        source=_("the IGO platform's own questionnaire, an extra beside the PREM Geboortezorg"),
    ),
)  # fmt: skip
# Kernset indicators the platform cannot compute at all, and why: listed as unavailable, never estimated.
UNAVAILABLE: tuple[tuple[str, Any, Any], ...] = ()
# Indicators computed only once the platform operator has loaded the reference they need (the platform
# ships no percentiles): code -> why it is not computed without it.
NEEDS_REFERENCE: dict[str, Any] = {
    "sga": _(
        "not computed: no birth-weight reference loaded (the platform operator loads the one it is entitled to)"
    ),
}
BY_CODE = {i.code: i for i in INDICATORS}
INDICATOR_CHOICES = [(i.code, i.name) for i in INDICATORS]
# Perinatal mortality: code -> (from gestational days, died before day).
PERINATAL_VARIANTS = {
    "perinatal_mortality": (PERINATAL_FROM_DAYS, EARLY_NEONATAL_DAYS),
    "perinatal_mortality_28d": (PERINATAL_FROM_DAYS, NEONATAL_DAYS),
    "perinatal_mortality_24w": (CBS_FROM_DAYS, EARLY_NEONATAL_DAYS),
    "perinatal_mortality_24w_28d": (CBS_FROM_DAYS, NEONATAL_DAYS),
}


def unavailable(*, reference_loaded: bool) -> list[tuple[str, Any, Any]]:
    """What the dashboard lists as not computed: (code, name, why)."""
    waiting = [] if reference_loaded else [(c, BY_CODE[c].name, why) for c, why in NEEDS_REFERENCE.items()]
    return [*UNAVAILABLE, *waiting]


def interval(
    indicator: Indicator, numerator: Decimal, denominator: Decimal
) -> tuple[Decimal, Decimal] | None:
    """The exact (Clopper–Pearson) 95 % interval of a proportion in the indicator's unit, to one decimal;
    None for hours and scores (not proportions) and for an empty denominator."""
    if not indicator.proportion:
        return None
    ci = clopper_pearson(int(numerator), int(denominator))
    if ci is None:
        return None
    q = Decimal("0.1")
    return (
        (Decimal(repr(ci.lower)) * indicator.factor).quantize(q, rounding=ROUND_HALF_UP),
        (Decimal(repr(ci.upper)) * indicator.factor).quantize(q, rounding=ROUND_HALF_UP),
    )


def target_decision(
    indicator: Indicator, numerator: Decimal, denominator: Decimal, clients: int, target: Decimal
) -> str | None:
    """Whether a target is met, for the dashboards and the bonus/malus settlement alike. For a proportion:
    MET only when the whole exact 95 % interval lies on the good side of the target (at or below it when
    lower is better, at or above it when higher is better), NOT_MET only when it lies wholly on the bad
    side, otherwise UNDECIDABLE. Hours and scores have no exact interval: their value decides, but only
    with at least SMALL_NUMBER clients behind it (and SMALL_NUMBER in the denominator). None: no
    direction, or nothing measured."""
    value = indicator.value(numerator, denominator)
    if value is None or not indicator.better:
        return None
    if indicator.proportion:
        ci = clopper_pearson(int(numerator), int(denominator))
        assert ci is not None
        goal = float(target / indicator.factor)
        return decide(lower=ci.lower, upper=ci.upper, target=goal, better=indicator.better)
    if min(denominator, Decimal(clients)) < SMALL_NUMBER:
        return UNDECIDABLE
    return decide(lower=float(value), upper=float(value), target=float(target), better=indicator.better)


_PLACE_CODES = {
    BirthPlace.HOME: "place_home",
    BirthPlace.BIRTH_CENTRE: "place_birth_centre",
    BirthPlace.POLYCLINIC: "place_polyclinic",
    BirthPlace.CLINICAL: "place_clinical",
}


@dataclass
class Tally:
    numerator: Decimal = Decimal(0)
    denominator: Decimal = Decimal(0)
    numerator_episodes: set[int] = field(default_factory=set)
    denominator_episodes: set[int] = field(default_factory=set)
    records: int = 0  # records counted in the denominator (women, children, episodes, questionnaires)
    population: int = 0  # records in the indicator's population, with or without the field it needs
    # parity group or Robson group -> [num, den, records]
    splits: dict[str, list[Decimal]] = field(default_factory=dict)

    def add(
        self, episode_id: int, num: Decimal | int | bool, den: Decimal | int = 1, groups: tuple[str, ...] = ()
    ) -> None:
        self.denominator += Decimal(den)
        self.denominator_episodes.add(episode_id)
        self.records += 1
        self.population += 1
        if num:
            self.numerator += Decimal(num)
            self.numerator_episodes.add(episode_id)
        for group in groups:
            split = self.splits.setdefault(group, [Decimal(0), Decimal(0), Decimal(0)])
            split[0] += Decimal(num)
            split[1] += Decimal(den)
            split[2] += 1

    def missing(self) -> None:
        """A record of the population without the field the indicator needs: left out, but counted
        against the completeness."""
        self.population += 1


Key = tuple[str, date, int | None]  # indicator, month, organisation (None: the whole IGO)


def _local(moment: datetime) -> date:
    return timezone.localtime(moment).date()


def _line_at(transfers: list[LineTransfer], moment: datetime) -> str | None:
    line = None
    for t in transfers:  # ordered by effective_at
        if t.effective_at <= moment:
            line = t.line
    return line


class Computation:
    """Collects tallies per indicator, month and organisation."""

    def __init__(self, start: date, end: date):
        self.start, self.end = start, end  # months [start, end)
        self.tallies: dict[Key, Tally] = defaultdict(Tally)
        self.parity_group: dict[int, str] = {}  # episode id -> NULLIPARA or MULTIPARA
        self.robson: dict[
            int, str
        ] = {}  # episode id (delivered) -> a ROBSON_GROUPS key or ROBSON_UNCLASSIFIED

    def _keys(self, code: str, day: date, org: int | None) -> list[Key]:
        month = month_start(day)
        if not (self.start <= month < self.end):
            return []
        return [(code, month, None)] + ([(code, month, org)] if org is not None else [])

    def add(self, code: str, day: date, org: int | None, episode_id: int, num: Any, den: Any = 1) -> None:
        groups = tuple(
            g
            for g in (
                self.parity_group.get(episode_id, ""),
                self.robson.get(episode_id, "") if code in ROBSON_SPLIT_CODES else "",
            )
            if g
        )
        for key in self._keys(code, day, org):
            self.tallies[key].add(episode_id, num, den, groups)

    def missing(self, code: str, day: date, org: int | None) -> None:
        for key in self._keys(code, day, org):
            self.tallies[key].missing()


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (
        timezone.make_aware(datetime.combine(start, time.min)),
        timezone.make_aware(datetime.combine(end, time.min)),
    )


def compute(*, start: date, end: date) -> dict[Key, Tally]:
    """All indicators for the months from `start` up to (not including) `end`, for the IGO in scope
    (call inside tenant_scope). Reads in a fixed number of queries, whatever the number of episodes."""
    comp = Computation(month_start(start), month_start(end))
    lo, hi = _bounds(comp.start, comp.end)
    births_by_episode: dict[int, list[Birth]] = defaultdict(list)
    for b in Birth.objects.filter(
        episode__in=Birth.objects.filter(born_at__gte=lo, born_at__lt=hi).values("episode_id")
    ).order_by("episode_id", "child_number"):
        births_by_episode[b.episode_id].append(b)
    kz_episode_ids = set(
        Episode.objects.filter(
            Q(kraamzorg_ended_on__gte=comp.start, kraamzorg_ended_on__lt=comp.end)
            | Q(
                kraamzorg_ended_on__isnull=True,
                postnatal_ended_on__gte=comp.start,
                postnatal_ended_on__lt=comp.end,
            )
        ).values_list("pk", flat=True)
    )
    responses = list(ExperienceResponse.objects.filter(answered_on__gte=comp.start, answered_on__lt=comp.end))
    prems = list(PremResponse.objects.filter(sent_on__gte=comp.start, sent_on__lt=comp.end))
    ids = (
        set(births_by_episode)
        | kz_episode_ids
        | {r.episode_id for r in responses}
        | {p.episode_id for p in prems}
    )
    episodes = {
        e.pk: e for e in Episode.objects.filter(pk__in=ids).select_related("coordinating_professional")
    }
    org_of = {
        pk: (e.coordinating_professional.organisation_id if e.coordinating_professional else None)
        for pk, e in episodes.items()
    }
    comp.parity_group = {pk: NULLIPARA if e.parity == 0 else MULTIPARA for pk, e in episodes.items()}
    comp.robson = {pk: robson_key(episodes[pk], births) for pk, births in births_by_episode.items()}
    transfers: dict[int, list[LineTransfer]] = defaultdict(list)
    for t in LineTransfer.objects.filter(episode_id__in=births_by_episode).order_by("effective_at", "pk"):
        transfers[t.episode_id].append(t)
    professionals = dict(
        CareEvent.objects.filter(
            episode_id__in=births_by_episode,
            status=EventStatus.ACTIVE,
            phase__in=[Phase.PRENATAL, Phase.NATAL],
        )
        .values("episode_id")
        .annotate(n=Count("professional_id", distinct=True))
        .values_list("episode_id", "n")
    )
    kz_types = [t.pk for t in EventType.objects.filter(unit=Unit.HOUR) if t.is_kraamzorg_hours]
    kz_hours: dict[int, Decimal] = {}
    kz_carers: dict[int, int] = {}
    for episode_id, hours, carers in (
        CareEvent.objects.filter(
            episode_id__in=kz_episode_ids, status=EventStatus.ACTIVE, event_type_id__in=kz_types
        )
        .values("episode_id")
        .annotate(h=Sum("quantity"), n=Count("professional_id", distinct=True))
        .values_list("episode_id", "h", "n")
    ):
        kz_hours[episode_id], kz_carers[episode_id] = hours, carers
    indications: dict[int, list[KraamzorgIndication]] = defaultdict(list)
    for ind in KraamzorgIndication.objects.filter(episode_id__in=kz_episode_ids).order_by(
        "indicated_on", "pk"
    ):
        indications[ind.episode_id].append(ind)
    kz_births: dict[int, list[Birth]] = defaultdict(list)
    for b in Birth.objects.filter(episode_id__in=kz_episode_ids):
        kz_births[b.episode_id].append(b)

    reference = table_in_force()  # empty: SGA not computed (no tallies at all)
    for episode_id, births in births_by_episode.items():
        _deliveries(
            comp, episodes[episode_id], births, transfers[episode_id], professionals, org_of[episode_id]
        )
        for b in births:
            _child(comp, episodes[episode_id], b, org_of[episode_id])
            if reference and len(births) == 1:
                _sga(comp, episodes[episode_id], b, org_of[episode_id], reference)
    for episode_id in kz_episode_ids:
        e = episodes[episode_id]
        if kz_births[episode_id] and all(
            gestational_days(e, b.born_at) < PERINATAL_FROM_DAYS for b in kz_births[episode_id]
        ):
            continue  # a birth before 22+0 weeks: outside the population, as for every birth indicator
        day = e.kraamzorg_ended_on or e.postnatal_ended_on
        assert day is not None
        org = org_of[episode_id]
        delivered = kz_hours.get(episode_id) or Decimal(0)
        indicated = indication_in_force(e, indications[episode_id], day)
        if indicated is None:
            comp.missing("kraamzorg_hours", day, org)
            comp.missing("kraamzorg_below_indication", day, org)
        elif indicated:
            comp.add("kraamzorg_hours", day, org, episode_id, delivered, indicated)
            comp.add("kraamzorg_below_indication", day, org, episode_id, delivered < indicated)
        if episode_id in kz_carers:
            comp.add("kraamzorg_carers", day, org, episode_id, kz_carers[episode_id] <= MAX_MATERNITY_CARERS)
        if e.kraamzorg_ended_on is not None:
            _breastfeeding(comp, e, kz_births[episode_id], org)
    for r in responses:
        comp.add("experience", r.answered_on, org_of.get(r.episode_id), r.episode_id, r.overall)
    for p in prems:
        org = org_of.get(p.episode_id)
        comp.add("prem_response", p.sent_on, org, p.episode_id, p.answered_on is not None)
        score = p.mean_score()
        if p.answered_on is not None and score is not None:
            # By the month sent, as the response rate and the PREM page: a questionnaire sent in December and
            # answered in January is one year's on every screen.
            comp.add("prem_score", p.sent_on, org, p.episode_id, score)
    return comp.tallies


def indication_in_force(e: Episode, indications: list[KraamzorgIndication], end: date) -> int | None:
    """The kraamzorg hours indicated that the delivered hours are measured against: the last (re-)indication
    dated on or before the end of kraamzorg (`end`; the latest date, then the latest recorded). Indications
    dated after the end do not count; when all are, or none is recorded, the indication is missing (None).
    An episode without any dated indication (recorded before the history existed and not migrated) falls
    back to its stored hours. `indications` is ordered by date."""
    if not indications:
        return e.kraamzorg_indicated_hours
    in_time = [i for i in indications if i.indicated_on <= end]
    return in_time[-1].hours if in_time else None


def _breastfeeding(comp: Computation, e: Episode, births: list[Birth], org: int | None) -> None:
    """Breastfeeding at the end of kraamzorg, per woman with a child alive at that day (a woman whose
    children all died is not asked)."""
    day = e.kraamzorg_ended_on
    assert day is not None
    alive = any(
        b.outcome == BirthOutcome.LIVE and (b.neonatal_death_on is None or b.neonatal_death_on > day)
        for b in births
    )
    if not alive:
        return
    if not e.breastfeeding_at_kraamzorg_end:
        comp.missing("breastfeeding_exclusive", day, org)
        comp.missing("breastfeeding_any", day, org)
        return
    feeding = e.breastfeeding_at_kraamzorg_end
    comp.add("breastfeeding_exclusive", day, org, e.pk, feeding == Breastfeeding.EXCLUSIVE)
    comp.add("breastfeeding_any", day, org, e.pk, feeding != Breastfeeding.NONE)


def robson_key(episode: Episode, births: list[Birth]) -> str:
    """The split key of a delivered woman's Robson group, derived from her record (never typed)."""
    group = robson_of(episode, births)
    return ROBSON_UNCLASSIFIED if group is None else f"robson_{group}"


def gestational_days(episode: Episode, born_at: datetime) -> int:
    return TERM_DAYS - (episode.due_date - _local(born_at)).days


def _deliveries(
    comp: Computation,
    e: Episode,
    births: list[Birth],
    transfers: list[LineTransfer],
    professionals: dict[int, int],
    org: int | None,
) -> None:
    """The per-woman indicators: one delivery per episode (twins are one), in the month of the first
    child's birth, when that child was born from 22+0 weeks (Perined's population)."""
    first = births[0]
    if gestational_days(e, first.born_at) < PERINATAL_FROM_DAYS:
        return
    day = _local(first.born_at)
    comp.add("caesarean", day, org, e.pk, any(b.mode == BirthMode.CAESAREAN for b in births))
    line = _line_at(transfers, first.born_at)
    if line is None:  # no line recorded: unknown, not "not first line"
        comp.missing("first_line_birth", day, org)
    else:
        comp.add("first_line_birth", day, org, e.pk, line == Line.FIRST)
    for place, code in _PLACE_CODES.items():
        comp.add(code, day, org, e.pk, first.place == place)
    _transfers(comp, e, births, transfers, day, org)
    if not e.labour_onset:
        comp.missing("induction", day, org)
    else:
        comp.add("induction", day, org, e.pk, e.labour_onset == LabourOnset.INDUCED)
    if any(b.mode != BirthMode.CAESAREAN for b in births):
        if not e.perineum:
            comp.missing("severe_perineal_tear", day, org)
        else:
            comp.add("severe_perineal_tear", day, org, e.pk, e.perineum in SEVERE_TEARS)
    if e.blood_loss_ml is None:
        comp.missing("severe_pph", day, org)
    else:
        comp.add("severe_pph", day, org, e.pk, e.blood_loss_ml >= SEVERE_PPH_ML)
    if e.severe_morbidity is None:
        comp.missing("severe_maternal_morbidity", day, org)
    else:
        comp.add("severe_maternal_morbidity", day, org, e.pk, bool(e.severe_morbidity))
    if e.pk in professionals:
        comp.add("continuity", day, org, e.pk, professionals[e.pk] <= CONTINUITY_TEAM)


def _moved(transfers: list[LineTransfer], after: datetime, until: datetime, *, inclusive: bool) -> bool:
    """Whether the line moved to the second line in (after, until], or [after, until] when inclusive."""
    return any(
        t.line == Line.SECOND
        and (after <= t.effective_at if inclusive else after < t.effective_at)
        and t.effective_at <= until
        for t in transfers
    )


def _transfers(
    comp: Computation,
    e: Episode,
    births: list[Birth],
    transfers: list[LineTransfer],
    day: date,
    org: int | None,
) -> None:
    """The three moments a woman may move from the first to the second line, each its own indicator:
    before active labour (of the women under first-line care at intake), during labour (start of labour
    up to the birth of the last child) and after the birth (up to placenta + 2 h, or birth + 2 h when
    that is not recorded). Without a recorded start of labour, the birth closes the first window."""
    last_birth = births[-1].born_at
    labour = e.labour_started_at
    if transfers and transfers[0].line == Line.FIRST:
        before = labour or births[0].born_at
        referred = any(t.line == Line.SECOND and t.effective_at < before for t in transfers)
        comp.add("referral_before_labour", day, org, e.pk, referred)
    if labour is not None and _line_at(transfers, labour) == Line.FIRST:
        comp.add("transfer_in_labour", day, org, e.pk, _moved(transfers, labour, last_birth, inclusive=True))
    elif (
        labour is None
        and e.labour_onset != LabourOnset.NO_LABOUR
        and _line_at(transfers, births[0].born_at - LABOUR_UNKNOWN_LOOKBACK) == Line.FIRST
    ):
        # Under first-line care a day before the birth and not a primary caesarean, but when labour started
        # is not recorded: whether she moved during labour cannot be told; counted against completeness.
        comp.missing("transfer_in_labour", day, org)
    if _line_at(transfers, last_birth) == Line.FIRST:
        until = e.placenta_plus_2h_at or (last_birth + timedelta(hours=2))
        comp.add(
            "transfer_after_birth", day, org, e.pk, _moved(transfers, last_birth, until, inclusive=False)
        )


def _child(comp: Computation, e: Episode, b: Birth, org: int | None) -> None:
    """The per-child indicators: each child of a multiple birth counts, in the month of its own birth,
    when born from 22+0 weeks (24+0 for the CBS variants of perinatal mortality)."""
    ga = gestational_days(e, b.born_at)
    if ga < PERINATAL_FROM_DAYS:
        return
    day = _local(b.born_at)
    live = b.outcome == BirthOutcome.LIVE
    comp.add("preterm", day, org, e.pk, ga < PRETERM_DAYS)
    if live:
        if b.weight_grams is None:
            comp.missing("low_birth_weight", day, org)
        else:
            comp.add("low_birth_weight", day, org, e.pk, b.weight_grams < LOW_WEIGHT_GRAMS)
        comp.add("nicu", day, org, e.pk, b.nicu_admission)
        if b.apgar_5 is None:
            comp.missing("low_apgar", day, org)
        else:
            comp.add("low_apgar", day, org, e.pk, b.apgar_5 < LOW_APGAR)
    lived_days = None if b.neonatal_death_on is None else (b.neonatal_death_on - day).days
    for code, (from_days, within_days) in PERINATAL_VARIANTS.items():
        if ga >= from_days:
            died = lived_days is not None and lived_days < within_days
            comp.add(code, day, org, e.pk, b.outcome == BirthOutcome.STILLBORN or died)


def _sga(comp: Computation, e: Episode, b: Birth, org: int | None, reference: Table) -> None:
    """Small for gestational age: a live-born singleton from 22+0 weeks weighing less than the reference's
    10th percentile for her sex and gestational age at birth. Sex undetermined or not recorded, weight not
    recorded, or an age outside the table: counted against completeness."""
    ga = gestational_days(e, b.born_at)
    if ga < PERINATAL_FROM_DAYS or b.outcome != BirthOutcome.LIVE:
        return
    day = _local(b.born_at)
    p10 = reference.lookup(b.sex, ga) if b.sex in ReferenceSex.values else None
    if p10 is None or b.weight_grams is None:
        comp.missing("sga", day, org)
    else:
        comp.add("sga", day, org, e.pk, b.weight_grams < p10)


def months_between(start: date, end: date) -> Iterable[date]:
    month = month_start(start)
    while month < end:
        yield month
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
