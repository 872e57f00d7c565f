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

from pregnancies.models import Birth, Episode, LineTransfer
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
    counts = {"presentation": 0, "labour_onset": 0, "previous_caesareans": 0, "perineum": 0, "robson": 0}
    children = apgar = weight = 0
    for episode in episodes:
        births = list(episode.births.all())
        robson = robson_of(episode, births)
        counts["presentation"] += bool(episode.presentation)
        counts["labour_onset"] += bool(episode.labour_onset)
        counts["previous_caesareans"] += episode.previous_caesareans is not None
        counts["perineum"] += bool(episode.perineum)
        counts["robson"] += robson is not None
        children += len(births)
        apgar += sum(1 for b in births if b.apgar_1 is not None and b.apgar_5 is not None)
        weight += sum(1 for b in births if b.weight_grams is not None)
        findings = check(episode, births, list(episode.line_transfers.all()))
        if findings:
            born_on = timezone.localdate(births[0].born_at)
            rows.append(Row(episode=episode, born_on=born_on, findings=findings, robson_group=robson))
    rows.sort(key=lambda r: (r.born_on, r.episode.pk))
    completeness = [
        Completeness(_("Presentation"), counts["presentation"], women),
        Completeness(_("Onset of labour"), counts["labour_onset"], women),
        Completeness(_("Previous caesareans"), counts["previous_caesareans"], women),
        Completeness(_("Perineal damage"), counts["perineum"], women),
        Completeness(_("Robson group derivable"), counts["robson"], women),
        Completeness(_("Apgar at 1 and 5 minutes (children)"), apgar, children),
        Completeness(_("Birth weight (children)"), weight, children),
    ]
    return DataQuality(rows=rows, episodes=women, completeness=completeness)
