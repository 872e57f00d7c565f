"""Quality indicators computed from logged care, client experience answers, and the compute state."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from igo.tenancy import TenantOwned


class IndicatorValue(TenantOwned):
    """An indicator for one month, for the whole IGO (organisation empty) or one member organisation,
    with the episodes behind its numerator and denominator. Recomputed, never edited by hand."""

    indicator = models.CharField(_("indicator"), max_length=32)
    period = models.DateField(_("month"))
    organisation = models.ForeignKey(
        "providers.MemberOrganisation", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    numerator = models.DecimalField(max_digits=14, decimal_places=2)
    denominator = models.DecimalField(max_digits=14, decimal_places=2)
    numerator_episodes = models.JSONField(default=list)
    denominator_episodes = models.JSONField(default=list)
    # Records counted in the denominator (women, children, episodes, questionnaires) and records of the
    # indicator's population with or without the field it needs: records / population is the
    # completeness (blood loss not recorded leaves a woman out of severe PPH, and lowers it).
    records = models.PositiveIntegerField(default=0)
    population = models.PositiveIntegerField(default=0)
    # The same counts per parity group: {"nullipara": {"numerator": "1", "denominator": "3", "records": 3}}.
    splits = models.JSONField(default=dict)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["indicator", "period"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "indicator", "period", "organisation"],
                name="indicator_value_unique",
                nulls_distinct=False,
            ),
            models.CheckConstraint(condition=Q(period__day=1), name="indicator_value_period_is_month"),
        ]
        indexes = [models.Index(fields=["tenant", "indicator", "period"])]

    def __str__(self) -> str:
        return f"{self.indicator} {self.period:%Y-%m} {self.numerator}/{self.denominator}"


class ExperienceSource(models.TextChoices):
    ENTERED = "entered", _("entered")
    IMPORTED = "imported", _("imported")


class ExperienceResponse(TenantOwned):
    """A client's answers to the short questionnaire after the maternity period (one per episode)."""

    episode = models.OneToOneField(
        "pregnancies.Episode", on_delete=models.PROTECT, related_name="experience_response"
    )
    answered_on = models.DateField(_("answered on"))
    overall = models.PositiveSmallIntegerField(
        _("overall rating (1–10)"), validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    informed = models.PositiveSmallIntegerField(
        _("I was well informed (1–5)"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    same_team = models.PositiveSmallIntegerField(
        _("I saw a small, familiar team (1–5)"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    recommend = models.PositiveSmallIntegerField(
        _("Would recommend (0–10)"), validators=[MaxValueValidator(10)]
    )
    source = models.CharField(
        max_length=8, choices=ExperienceSource.choices, default=ExperienceSource.ENTERED
    )
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("client experience response")
        ordering = ["-answered_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(overall__gte=1, overall__lte=10), name="experience_overall_range"
            ),
            models.CheckConstraint(
                condition=Q(informed__gte=1, informed__lte=5), name="experience_informed_range"
            ),
            models.CheckConstraint(
                condition=Q(same_team__gte=1, same_team__lte=5), name="experience_same_team_range"
            ),
            models.CheckConstraint(condition=Q(recommend__lte=10), name="experience_recommend_range"),
        ]

    def __str__(self) -> str:
        return f"{self.episode_id} {self.overall}"


class PremResponse(TenantOwned):
    """One PREM Geboortezorg questionnaire sent to a client (one per episode), imported from the survey
    tool's file: when it was sent, and, once she answered, when and her score per item (items left blank
    are absent). The item names are quality.prem.PREM_ITEMS; an unanswered questionnaire counts in the
    response rate only."""

    episode = models.OneToOneField(
        "pregnancies.Episode", on_delete=models.PROTECT, related_name="prem_response"
    )
    sent_on = models.DateField(_("sent on"))
    answered_on = models.DateField(_("answered on"), null=True, blank=True)
    items = models.JSONField(_("item scores"), default=dict)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("PREM Geboortezorg response")
        ordering = ["-sent_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(answered_on__isnull=True) | Q(answered_on__gte=models.F("sent_on")),
                name="prem_answered_after_sent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.episode_id} {self.sent_on}"

    def mean_score(self) -> Decimal | None:
        """The mean of the answered items, to two decimals; None when nothing was answered."""
        scores = [Decimal(v) for v in self.items.values() if v is not None]
        if self.answered_on is None or not scores:
            return None
        return (sum(scores, Decimal(0)) / Decimal(len(scores))).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )


class QualityState(TenantOwned):
    """When the indicators of an IGO were last brought up to date (the sweep recomputes what changed since)."""

    computed_at = models.DateTimeField()
    full_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="quality_state_one_per_tenant")]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.computed_at:%Y-%m-%d %H:%M}"


class ReferenceSex(models.TextChoices):
    """The sexes a birth-weight standard is given for (pregnancies.ChildSex without "undetermined")."""

    FEMALE = "female", _("Girl")
    MALE = "male", _("Boy")


class BirthWeightReference(models.Model):
    """A birth-weight standard by sex and gestational age (the Dutch one: Perined / Hoftiezer et al. 2019),
    loaded by the platform operator from the file its owner provides. Platform-wide, not per IGO: a national
    standard is the same for every IGO, and the operator answers for its licence. The newest one is in
    force; none loaded: small for gestational age is not computed. The platform ships no numbers."""

    source = models.CharField(_("source"), max_length=200)
    version = models.CharField(_("version"), max_length=60)
    # A weekly table gives one row per completed week (gestational_days a multiple of 7), each applying to
    # the days of that week; a daily table one row per day.
    by_week = models.BooleanField(_("by completed week"), default=False)
    filename = models.CharField(max_length=200, blank=True)
    loaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    loaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("birth-weight reference")
        ordering = ["-loaded_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.source} {self.version}"


class BirthWeightP10(models.Model):
    """The 10th percentile of birth weight of a reference, for one sex and gestational age."""

    reference = models.ForeignKey(BirthWeightReference, on_delete=models.CASCADE, related_name="rows")
    sex = models.CharField(_("sex"), max_length=8, choices=ReferenceSex.choices)
    gestational_days = models.PositiveSmallIntegerField(_("gestational age (days)"))
    p10_grams = models.PositiveIntegerField(_("10th percentile (g)"))

    class Meta:
        ordering = ["reference", "sex", "gestational_days"]
        constraints = [
            models.UniqueConstraint(
                fields=["reference", "sex", "gestational_days"], name="birth_weight_p10_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sex} {self.gestational_days} d: {self.p10_grams} g"
