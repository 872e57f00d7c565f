"""The data-quality list: the episodes whose birth record has plausibility warnings (pregnancies.plausibility),
and how complete the Kernset fields are, for the births of a year. Read by the IGO's quality officer, who
asks the clinician to correct the record; the warnings never refuse anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from pregnancies.models import Birth, BirthMode, BirthOutcome, Episode, LineTransfer
from pregnancies.plausibility import Finding, check, robson_of


@dataclass(frozen=True)
class Row:
    episode: Episode
    born_on: date
    findings: list[Finding]
    robson_group: int | None


@dataclass(frozen=True)
class Completeness:
    label: str | Promise
    recorded: int
    of: int

    @property
    def percent(self) -> int | None:
        return round(100 * self.recorded / self.of) if self.of else None


@dataclass(frozen=True)
class DataQuality:
    rows: list[Row]  # the episodes with at least one warning, by date of birth
    episodes: int  # episodes with a birth in the year
    completeness: list[Completeness]


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(date(year, 1, 1), time.min))
    end = timezone.make_aware(datetime.combine(date(year + 1, 1, 1), time.min))
    return start, end


def data_quality(*, year: int) -> DataQuality:
    """The year's birth records (by the first child's time of birth), tenant-scoped by the managers. Three
    queries whatever the number of episodes (episodes, births, line transfers)."""
    start, end = _year_bounds(year)
    episodes = list(
        Episode.objects.filter(births__born_at__gte=start, births__born_at__lt=end, births__child_number=1)
        .select_related("client", "coordinating_professional__organisation")
        .prefetch_related(
            Prefetch("births", queryset=Birth.objects.order_by("child_number")),
            Prefetch("line_transfers", queryset=LineTransfer.objects.order_by("effective_at", "pk")),
        )
        .distinct()
    )
    rows: list[Row] = []
    women = len(episodes)
    counts = {
        "presentation": 0,
        "labour_onset": 0,
        "previous_caesareans": 0,
        "robson": 0,
        "blood_loss": 0,
        "lemmon": 0,
    }
    # Fields that apply only to some: the perineum to women with a vaginal birth, the Apgar to live-born
    # children, breastfeeding to women whose kraamzorg has ended (as the indicators count them).
    vaginal = perineum = children = live = apgar = weight = sex = kraamzorg_ended = breastfeeding = 0
    for episode in episodes:
        births = list(episode.births.all())
        robson = robson_of(episode, births)
        counts["presentation"] += bool(episode.presentation)
        counts["labour_onset"] += bool(episode.labour_onset)
        counts["previous_caesareans"] += episode.previous_caesareans is not None
        counts["robson"] += robson is not None
        counts["blood_loss"] += episode.blood_loss_ml is not None
        counts["lemmon"] += episode.severe_morbidity is not None
        if any(b.mode != BirthMode.CAESAREAN for b in births):
            vaginal += 1
            perineum += bool(episode.perineum)
        if episode.kraamzorg_ended_on is not None:
            kraamzorg_ended += 1
            breastfeeding += bool(episode.breastfeeding_at_kraamzorg_end)
        children += len(births)
        born_alive = [b for b in births if b.outcome == BirthOutcome.LIVE]
        live += len(born_alive)
        apgar += sum(1 for b in born_alive if b.apgar_1 is not None and b.apgar_5 is not None)
        weight += sum(1 for b in births if b.weight_grams is not None)
        sex += sum(1 for b in births if b.sex)
        findings = check(episode, births, list(episode.line_transfers.all()))
        if findings:
            born_on = timezone.localdate(births[0].born_at)
            rows.append(Row(episode=episode, born_on=born_on, findings=findings, robson_group=robson))
    rows.sort(key=lambda r: (r.born_on, r.episode.pk))
    completeness = [
        Completeness(_("Presentation"), counts["presentation"], women),
        Completeness(_("Onset of labour"), counts["labour_onset"], women),
        Completeness(_("Previous caesareans"), counts["previous_caesareans"], women),
        Completeness(_("Perineal damage (vaginal births)"), perineum, vaginal),
        Completeness(_("Blood loss"), counts["blood_loss"], women),
        Completeness(_("Severe maternal morbidity (LEMMoN)"), counts["lemmon"], women),
        Completeness(_("Breastfeeding at the end of kraamzorg"), breastfeeding, kraamzorg_ended),
        Completeness(_("Robson group derivable"), counts["robson"], women),
        Completeness(_("Apgar at 1 and 5 minutes (live-born children)"), apgar, live),
        Completeness(_("Birth weight (children)"), weight, children),
        Completeness(_("Sex (children)"), sex, children),
    ]
    return DataQuality(rows=rows, episodes=women, completeness=completeness)
