"""Writes of the quality app: recomputing the stored indicator values, and client experience answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from igo.dates import next_month
from igo.models import Tenant, User
from pregnancies.models import AccessAction, Birth, Episode
from pregnancies.services import access_log
from quality import indicators
from quality.models import ExperienceResponse, ExperienceSource, IndicatorValue, PremResponse, QualityState

FULL_MONTHS = 25  # the nightly run recomputes this many months back (two years and the current month)


def indicators_recompute(*, tenant: Tenant, start: date, end: date) -> int:
    """Recompute and replace the stored values of the months [start, end). Call inside tenant_scope.
    Returns the number of values stored."""
    start, end = start.replace(day=1), end.replace(day=1)
    tallies = indicators.compute(start=start, end=end)
    now = timezone.now()
    rows = [
        IndicatorValue(
            tenant=tenant,
            indicator=code,
            period=month,
            organisation_id=org,
            numerator=t.numerator,
            denominator=t.denominator,
            numerator_episodes=sorted(t.numerator_episodes),
            denominator_episodes=sorted(t.denominator_episodes),
            records=t.records,
            population=t.population,
            splits={
                group: {"numerator": str(num), "denominator": str(den), "records": int(records)}
                for group, (num, den, records) in sorted(t.splits.items())
            },
            computed_at=now,
        )
        for (code, month, org), t in tallies.items()
    ]
    with transaction.atomic():
        # One recompute per IGO at a time: two overlapping ones (the nightly run and a sweep) would both
        # delete and then insert the same rows.
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        IndicatorValue.objects.filter(period__gte=start, period__lt=end).delete()
        IndicatorValue.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _months_of(episode_ids: list[int]) -> set[date]:
    months: set[date] = set()
    for born_at in Birth.objects.filter(episode_id__in=episode_ids).values_list("born_at", flat=True):
        months.add(timezone.localtime(born_at).date().replace(day=1))
    for kz, pn in Episode.objects.filter(pk__in=episode_ids).values_list(
        "kraamzorg_ended_on", "postnatal_ended_on"
    ):
        day = kz or pn
        if day is not None:
            months.add(day.replace(day=1))
    for day in ExperienceResponse.objects.filter(episode_id__in=episode_ids).values_list(
        "answered_on", flat=True
    ):
        months.add(day.replace(day=1))
    for sent, answered in PremResponse.objects.filter(episode_id__in=episode_ids).values_list(
        "sent_on", "answered_on"
    ):
        months.update(d.replace(day=1) for d in (sent, answered) if d is not None)
    return months


@dataclass
class RefreshResult:
    months: int = 0
    values: int = 0
    full: bool = False


def indicators_refresh(*, tenant: Tenant, full: bool = False, today: date | None = None) -> RefreshResult:
    """Bring the stored indicators up to date. Without `full`, only the months of episodes changed since
    the last refresh are recomputed (the sweep, every few minutes); `full` recomputes the last two years
    (nightly, which also catches an episode whose dates moved it out of a month). Call inside tenant_scope."""
    today = today or timezone.localdate()
    started = timezone.now()
    state = QualityState.objects.filter(tenant=tenant).first()
    result = RefreshResult(full=full or state is None)
    if result.full:
        end = next_month(today.replace(day=1))
        start = end
        for _i in range(FULL_MONTHS):
            start = (start - timedelta(days=1)).replace(day=1)
        result.values = indicators_recompute(tenant=tenant, start=start, end=end)
        result.months = FULL_MONTHS
    else:
        assert state is not None
        changed = list(
            Episode.objects.filter(
                Q(changed_at__gt=state.computed_at) | Q(experience_response__created_at__gt=state.computed_at)
            ).values_list("pk", flat=True)
        )
        for month in sorted(_months_of(changed)):
            result.values += indicators_recompute(tenant=tenant, start=month, end=next_month(month))
            result.months += 1
    QualityState.objects.update_or_create(
        tenant=tenant,
        defaults={"computed_at": started, **({"full_at": started} if result.full else {})},
    )
    return result


@transaction.atomic
def experience_record(
    *,
    episode: Episode,
    actor: User,
    answered_on: date,
    overall: int,
    informed: int,
    same_team: int,
    recommend: int,
    source: str = ExperienceSource.ENTERED,
) -> ExperienceResponse:
    """Store a client's questionnaire answers (once per episode; answered after the maternity period)."""
    errors: dict[str, list[str]] = {}
    if ExperienceResponse.objects.filter(episode=episode).exists():
        errors.setdefault("episode", []).append(_("This client's answers have already been recorded."))
    ended = episode.kraamzorg_ended_on or episode.postnatal_ended_on or episode.end_date
    if ended is None:
        errors.setdefault("answered_on", []).append(
            _("The questionnaire follows the maternity period, which has not ended.")
        )
    elif answered_on < ended:
        errors.setdefault("answered_on", []).append(_("This lies before the end of the maternity period."))
    if answered_on > timezone.localdate():
        errors.setdefault("answered_on", []).append(_("This lies in the future."))
    for name, value, low, high in (
        ("overall", overall, 1, 10),
        ("informed", informed, 1, 5),
        ("same_team", same_team, 1, 5),
        ("recommend", recommend, 0, 10),
    ):
        if not low <= value <= high:
            errors.setdefault(name, []).append(
                _("Enter a whole number from %(low)s to %(high)s.") % {"low": low, "high": high}
            )
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():  # a double submission: the unique episode decides, not a 500
            response = ExperienceResponse.objects.create(
                tenant_id=episode.tenant_id,
                episode=episode,
                answered_on=answered_on,
                overall=overall,
                informed=informed,
                same_team=same_team,
                recommend=recommend,
                source=source,
                entered_by=actor,
            )
    except IntegrityError:
        raise ValidationError({"episode": [_("This client's answers have already been recorded.")]}) from None
    access_log(
        user=actor, client=episode.client, action=AccessAction.CREATE, obj=response, detail="experience"
    )
    return response
