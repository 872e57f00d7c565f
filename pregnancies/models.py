"""Clients, pregnancy episodes with their key dates, the care-event catalogue, care events, access log."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from igo.models import AppendOnly, AppendOnlyManager, AppendOnlyQuerySet, identity_label
from igo.tenancy import TenantManager, TenantOwned
from igo.validators import validate_bsn


def mask_bsn(bsn: str) -> str:
    """A BSN as pages and messages show it: only its last four digits."""
    return f"*****{bsn[-4:]}"


class Client(TenantOwned):
    """A pregnant woman in the care of the IGO. The BSN is sensitive: never in URLs or logs."""

    family_name = models.CharField(_("family name"), max_length=150)
    given_names = models.CharField(_("given names"), max_length=150)
    date_of_birth = models.DateField(_("date of birth"))
    bsn = models.CharField(_("BSN"), max_length=9, validators=[validate_bsn])
    postcode = models.CharField(_("postcode"), max_length=7, blank=True)
    address = models.CharField(_("street and house number"), max_length=200, blank=True)
    city = models.CharField(_("city"), max_length=80, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    gp_name = models.CharField(_("general practitioner"), max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        ordering = ["family_name", "given_names"]
        constraints = [models.UniqueConstraint(fields=["tenant", "bsn"], name="client_bsn_unique_per_tenant")]
        indexes = [
            models.Index(fields=["tenant", "family_name"]),
            models.Index(fields=["tenant", "date_of_birth"]),
        ]

    def __str__(self) -> str:
        return f"{self.given_names} {self.family_name}"

    @property
    def bsn_masked(self) -> str:
        return mask_bsn(self.bsn)


class ClientInsurance(TenantOwned):
    """Which insurer covers the client over which period (a change on 1 January is common)."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="insurances")
    insurer = models.ForeignKey(
        "igo.Insurer", on_delete=models.PROTECT, related_name="+", verbose_name=_("insurer")
    )
    policy_number = models.CharField(_("insured number"), max_length=20)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)

    class Meta:
        verbose_name = _("insurance")
        verbose_name_plural = _("insurances")
        ordering = ["valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="insurance_period_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.insurer} {self.policy_number}"


class EpisodeStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    ENDED = "ended", _("ended")


class EndReason(models.TextChoices):
    COMPLETED = "completed", _("Care completed")
    MISCARRIAGE = "miscarriage", _("Miscarriage")
    TERMINATION = "termination", _("Termination of pregnancy")
    MOVED_AWAY = "moved_away", _("Moved away")
    TRANSFERRED_OUT = "transferred_out", _("Transferred out of the region")
    DEATH = "death", _("Death")


class Line(models.TextChoices):
    FIRST = "first", _("First line (midwife)")
    SECOND = "second", _("Second line (gynaecologist)")


class Phase(models.TextChoices):
    PRENATAL = "prenatal", _("Prenatal")
    NATAL = "natal", _("Natal")
    POSTNATAL = "postnatal", _("Postnatal")


class DatingMethod(models.TextChoices):
    LMP = "lmp", _("Last menstrual period")
    ULTRASOUND = "ultrasound", _("Ultrasound dating")
    DUE_DATE = "due_date", _("Due date as given")


class Presentation(models.TextChoices):
    CEPHALIC = "cephalic", _("Cephalic")
    BREECH = "breech", _("Breech")
    TRANSVERSE = "transverse", _("Transverse or oblique")


class LabourOnset(models.TextChoices):
    SPONTANEOUS = "spontaneous", _("Spontaneous")
    INDUCED = "induced", _("Induced")
    NO_LABOUR = "no_labour", _("No labour (primary caesarean)")


class Perineum(models.TextChoices):
    INTACT = "intact", _("Intact")
    FIRST = "first", _("First-degree tear")
    SECOND = "second", _("Second-degree tear")
    THIRD = "third", _("Third-degree tear")
    FOURTH = "fourth", _("Fourth-degree tear")
    EPISIOTOMY = "episiotomy", _("Episiotomy")


class Breastfeeding(models.TextChoices):
    EXCLUSIVE = "exclusive", _("Exclusive breastfeeding")
    PARTIAL = "partial", _("Partial breastfeeding")
    NONE = "none", _("No breastfeeding")


class LemmonCriterion(models.TextChoices):
    """The inclusion criteria of severe maternal morbidity of the LEMMoN study (Zwart et al., BJOG 2008),
    in its five groups: ICU admission (1), uterine rupture (2), eclampsia and HELLP with liver haematoma
    or rupture (3), major obstetric haemorrhage (4) and other severe morbidity (5). docs/quality.md cites
    the source."""

    ICU = "icu", _("Admission to intensive or coronary care (not routine recovery after surgery)")
    UTERINE_RUPTURE = "uterine_rupture", _("Uterine rupture")
    ECLAMPSIA = "eclampsia", _("Eclampsia")
    HELLP_LIVER = "hellp_liver", _("HELLP syndrome with liver haematoma or liver rupture")
    TRANSFUSION = "transfusion", _("Transfusion of 4 or more units of packed red cells")
    EMBOLISATION_HYSTERECTOMY = (
        "embolisation_hysterectomy",
        _("Embolisation or hysterectomy for major obstetric haemorrhage"),
    )
    OTHER = "other", _("Other severe maternal morbidity, in the treating obstetrician's judgement")


# The LEMMoN group of each criterion (1..5), as the study reports them.
LEMMON_GROUP = {
    LemmonCriterion.ICU: 1,
    LemmonCriterion.UTERINE_RUPTURE: 2,
    LemmonCriterion.ECLAMPSIA: 3,
    LemmonCriterion.HELLP_LIVER: 3,
    LemmonCriterion.TRANSFUSION: 4,
    LemmonCriterion.EMBOLISATION_HYSTERECTOMY: 4,
    LemmonCriterion.OTHER: 5,
}
# Recorded as "none of the criteria" (stored as an empty list; None is "not recorded").
LEMMON_NONE = "none"


class Episode(TenantOwned):
    """One pregnancy of a client, from intake to the end of postnatal care (twins: one episode)."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="episodes")
    intake_date = models.DateField(_("intake date"))
    due_date = models.DateField(_("expected due date"))
    gestational_age_at_intake = models.PositiveSmallIntegerField(
        _("gestational age at intake (days)"), validators=[MaxValueValidator(45 * 7)]
    )
    parity = models.PositiveSmallIntegerField(_("parity"), default=0, validators=[MaxValueValidator(20)])
    gravida = models.PositiveSmallIntegerField(
        _("gravida"), default=1, validators=[MinValueValidator(1), MaxValueValidator(30)]
    )
    # How the due date was reached: from the last menstrual period, from an ultrasound (the gestational age
    # measured on a day), or as given (e.g. by a referring practice).
    dating_method = models.CharField(
        _("dating"), max_length=16, choices=DatingMethod.choices, default=DatingMethod.DUE_DATE
    )
    lmp_date = models.DateField(_("first day of the last menstrual period"), null=True, blank=True)
    ultrasound_on = models.DateField(_("date of the dating ultrasound"), null=True, blank=True)
    ultrasound_gestational_days = models.PositiveSmallIntegerField(
        _("gestational age at the ultrasound (days)"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(45 * 7)],
    )
    # The maternity-care organisation that will care for her after the birth (chosen at intake or later);
    # its carers see her on their day list from the birth on.
    kraamzorg_organisation = models.ForeignKey(
        "providers.MemberOrganisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="kraamzorg_episodes",
        verbose_name=_("maternity-care organisation"),
    )
    coordinating_professional = models.ForeignKey(
        "providers.Professional",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coordinated_episodes",
        verbose_name=_("coordinating care provider"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=EpisodeStatus.choices, default=EpisodeStatus.ACTIVE
    )
    end_date = models.DateField(_("end of responsibility"), null=True, blank=True)
    end_reason = models.CharField(
        _("reason for the end"), max_length=32, choices=EndReason.choices, blank=True
    )
    labour_started_at = models.DateTimeField(_("start of active labour"), null=True, blank=True)
    placenta_at = models.DateTimeField(_("birth of the placenta"), null=True, blank=True)
    placenta_plus_2h_at = models.DateTimeField(_("placenta + 2 hours"), null=True, blank=True)
    hospital_admitted_at = models.DateTimeField(_("hospital admission"), null=True, blank=True)
    hospital_discharged_at = models.DateTimeField(_("hospital discharge"), null=True, blank=True)
    kraamzorg_ended_on = models.DateField(_("end of kraamzorg"), null=True, blank=True)
    postnatal_ended_on = models.DateField(_("end of postnatal care"), null=True, blank=True)
    # Clinical outcomes the quality indicators need (Perined-style definitions in quality.indicators).
    blood_loss_ml = models.PositiveIntegerField(
        _("blood loss at delivery (ml)"), null=True, blank=True, validators=[MaxValueValidator(20000)]
    )
    kraamzorg_indicated_hours = models.PositiveSmallIntegerField(
        _("kraamzorg hours indicated (LIP)"), null=True, blank=True, validators=[MaxValueValidator(80)]
    )
    # The Kernset Geboortezorg fields recorded with the delivery. Empty means "not recorded", so the
    # quality screens can count completeness; the Robson group is derived from these (pregnancies.robson),
    # never entered.
    presentation = models.CharField(
        _("presentation"), max_length=16, choices=Presentation.choices, blank=True
    )
    labour_onset = models.CharField(
        _("onset of labour"), max_length=16, choices=LabourOnset.choices, blank=True
    )
    previous_caesareans = models.PositiveSmallIntegerField(
        _("previous caesareans"), null=True, blank=True, validators=[MaxValueValidator(10)]
    )
    perineum = models.CharField(_("perineal damage"), max_length=16, choices=Perineum.choices, blank=True)
    breastfeeding_at_kraamzorg_end = models.CharField(
        _("breastfeeding at the end of kraamzorg"), max_length=16, choices=Breastfeeding.choices, blank=True
    )
    # The LEMMoN criteria of severe maternal morbidity she met (LemmonCriterion codes, sorted): None is
    # "not recorded", an empty list "none of them".
    severe_morbidity = models.JSONField(
        _("severe maternal morbidity (LEMMoN)"), null=True, blank=True, default=None
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When anything that may change what is billed last changed (dates, events, insurance): the billing
    # sweep recomputes episodes changed since it last looked.
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("pregnancy episode")
        verbose_name_plural = _("pregnancy episodes")
        ordering = ["-intake_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(due_date__gt=models.F("intake_date")), name="episode_due_after_intake"
            ),
            models.CheckConstraint(
                condition=Q(status="active", end_date__isnull=True, end_reason="")
                | Q(status="ended", end_date__isnull=False) & ~Q(end_reason=""),
                name="episode_end_consistent",
            ),
            models.CheckConstraint(
                condition=Q(placenta_plus_2h_at__isnull=True)
                | Q(labour_started_at__isnull=False, placenta_plus_2h_at__gt=models.F("labour_started_at")),
                name="episode_placenta_after_labour",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "status"])]

    def __str__(self) -> str:
        return f"{self.client} – {self.intake_date:%d-%m-%Y}"

    def phase_at(self, moment: datetime) -> str:
        """The billing phase a moment falls in, from the key dates (NZa: prenatal / natal / postnatal)."""
        if self.labour_started_at is None or moment < self.labour_started_at:
            return Phase.PRENATAL
        if self.placenta_plus_2h_at is None or moment <= self.placenta_plus_2h_at:
            return Phase.NATAL
        return Phase.POSTNATAL


class LineTransfer(TenantOwned):
    """Medical responsibility over time: the first entry is the line at intake, later ones are transfers."""

    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="line_transfers")
    line = models.CharField(_("line"), max_length=8, choices=Line.choices)
    effective_at = models.DateTimeField(_("from"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["effective_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_line_display()} {self.effective_at:%d-%m-%Y %H:%M}"


class KraamzorgIndication(TenantOwned):
    """The kraamzorg hours indicated by the LIP (Landelijk Indicatieprotocol), each with its date: the
    first is the intake indication, later ones are re-indications (more or fewer hours once the mother's
    or child's situation is known). The one in force for the quality indicators is the last indication
    dated on or before the end of kraamzorg (quality.indicators). Rows are written by
    pregnancies.services.kraamzorg_indication_record only; Episode.kraamzorg_indicated_hours holds the
    newest one for the screens that need just the current number. 0 hours: no kraamzorg indicated (e.g.
    declined)."""

    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="kraamzorg_indications")
    indicated_on = models.DateField(_("date of the indication"))
    hours = models.PositiveSmallIntegerField(_("hours indicated"), validators=[MaxValueValidator(80)])
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("kraamzorg indication")
        verbose_name_plural = _("kraamzorg indications")
        ordering = ["indicated_on", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(hours__lte=80), name="kraamzorg_indication_hours_range"),
        ]

    def __str__(self) -> str:
        return f"{self.hours} h {self.indicated_on:%d-%m-%Y}"


class BirthOutcome(models.TextChoices):
    LIVE = "live", _("Live born")
    STILLBORN = "stillborn", _("Stillborn")


class ChildSex(models.TextChoices):
    """The child's sex as the Kernset Geboortezorg and Perined record it; empty on the record: not recorded."""

    FEMALE = "female", _("Girl")
    MALE = "male", _("Boy")
    UNDETERMINED = "undetermined", _("Undetermined")


class BirthPlace(models.TextChoices):
    HOME = "home", _("Home")
    BIRTH_CENTRE = "birth_centre", _("Birth centre")
    POLYCLINIC = "polyclinic", _("Hospital, no medical indication (polyclinic)")
    CLINICAL = "clinical", _("Hospital, clinical")


class BirthMode(models.TextChoices):
    SPONTANEOUS = "spontaneous", _("Spontaneous vaginal")
    ASSISTED = "assisted", _("Assisted vaginal (vacuum/forceps)")
    CAESAREAN = "caesarean", _("Caesarean section")


class Birth(TenantOwned):
    """The birth of one child of an episode."""

    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="births")
    child_number = models.PositiveSmallIntegerField(_("child"), default=1, validators=[MinValueValidator(1)])
    born_at = models.DateTimeField(_("born at"))
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=BirthOutcome.choices, default=BirthOutcome.LIVE
    )
    place = models.CharField(_("place of birth"), max_length=16, choices=BirthPlace.choices)
    mode = models.CharField(_("mode of birth"), max_length=16, choices=BirthMode.choices)
    sex = models.CharField(
        _("sex"), max_length=16, choices=ChildSex.choices, blank=True, help_text=_("Empty: not recorded.")
    )
    weight_grams = models.PositiveIntegerField(
        _("birth weight (g)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(200), MaxValueValidator(7000)],
    )
    apgar_1 = models.PositiveSmallIntegerField(
        _("Apgar at 1 minute"), null=True, blank=True, validators=[MaxValueValidator(10)]
    )
    apgar_5 = models.PositiveSmallIntegerField(
        _("Apgar at 5 minutes"), null=True, blank=True, validators=[MaxValueValidator(10)]
    )
    nicu_admission = models.BooleanField(_("admitted to a NICU"), default=False)
    neonatal_death_on = models.DateField(_("date of neonatal death"), null=True, blank=True)

    class Meta:
        ordering = ["child_number"]
        constraints = [models.UniqueConstraint(fields=["episode", "child_number"], name="birth_child_unique")]

    def __str__(self) -> str:
        return f"{self.episode} #{self.child_number}"


class Unit(models.TextChoices):
    VISIT = "visit", _("visit")
    HOUR = "hour", _("hour")
    DAY = "day", _("day")
    ITEM = "item", _("item")


class EventType(TenantOwned):
    """An entry of the IGO's care-event catalogue: what may be logged, in which phase, by whom."""

    code = models.CharField(_("code"), max_length=32)
    name_nl = models.CharField(_("name (Dutch)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=120)
    phase = models.CharField(
        _("phase"),
        max_length=16,
        choices=Phase.choices,
        blank=True,
        help_text=_("Empty: allowed in every phase."),
    )
    unit = models.CharField(_("unit"), max_length=8, choices=Unit.choices, default=Unit.VISIT)
    disciplines = models.JSONField(_("disciplines that may log it"), default=list)
    max_quantity = models.DecimalField(
        _("maximum per event"), max_digits=6, decimal_places=2, default=Decimal("1")
    )
    is_active = models.BooleanField(_("active"), default=True)
    duplicate_window_minutes = models.PositiveIntegerField(
        _("ask to confirm a repeat within (minutes)"),
        default=0,
        help_text=_("The same entry again for the client within this time asks for confirmation; 0: never."),
    )

    class Meta:
        verbose_name = _("care event type")
        verbose_name_plural = _("care event types")
        ordering = ["phase", "code"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="event_type_code_unique_per_tenant")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return self.name_en if (get_language() or "nl").startswith("en") else self.name_nl

    @property
    def is_kraamzorg_hours(self) -> bool:
        """Postnatal maternity-care hours: what the national indication protocol (LIP) caps at 80 hours.
        Labour assistance (natal) is indicated separately and does not count."""
        return (
            self.unit == Unit.HOUR and self.phase == Phase.POSTNATAL and "maternity_carer" in self.disciplines
        )


class EventStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    SUPERSEDED = "superseded", _("corrected")
    VOIDED = "voided", _("voided")


class CareEvent(TenantOwned):
    """A unit of care delivered in an episode. Never deleted: a correction supersedes, a void keeps the row."""

    episode = models.ForeignKey(Episode, on_delete=models.PROTECT, related_name="events")
    event_type = models.ForeignKey(
        EventType, on_delete=models.PROTECT, related_name="+", verbose_name=_("type")
    )
    occurred_at = models.DateTimeField(_("date and time"))
    quantity = models.DecimalField(_("quantity"), max_digits=6, decimal_places=2, default=Decimal("1"))
    phase = models.CharField(_("phase"), max_length=16, choices=Phase.choices)
    professional = models.ForeignKey(
        "providers.Professional",
        on_delete=models.PROTECT,
        related_name="events",
        verbose_name=_("performed by"),
    )
    organisation = models.ForeignKey(
        "providers.MemberOrganisation",
        on_delete=models.PROTECT,
        related_name="events",
        verbose_name=_("on behalf of"),
    )
    location = models.CharField(_("location"), max_length=120, blank=True)
    note = models.TextField(_("note"), blank=True)
    status = models.CharField(max_length=16, choices=EventStatus.choices, default=EventStatus.ACTIVE)
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="superseded_by"
    )
    change_reason = models.CharField(_("reason"), max_length=200, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    submission_key = models.UUIDField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("care event")
        verbose_name_plural = _("care events")
        ordering = ["occurred_at", "pk"]
        constraints = [
            # A form submitted twice (double click, retry) creates one event.
            models.UniqueConstraint(fields=["tenant", "submission_key"], name="care_event_submission_once"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="care_event_quantity_positive"),
        ]
        indexes = [
            models.Index(fields=["episode", "occurred_at"]),
            models.Index(fields=["tenant", "occurred_at"]),
            # Who logged care in which episodes, read from the index alone (finance's work in progress:
            # billing.selectors.work_in_progress), without visiting the events themselves.
            models.Index(
                fields=["episode", "organisation"],
                condition=Q(status="active"),
                name="careevent_active_episode_org",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.occurred_at:%d-%m-%Y %H:%M}"


class AccessAction(models.TextChoices):
    VIEW = "view", _("viewed")
    SEARCH = "search", _("found in a search")
    CREATE = "create", _("created")
    UPDATE = "update", _("changed")
    VOID = "void", _("voided")
    EXPORT = "export", _("exported")


TenantAppendOnlyManager = TenantManager.from_queryset(AppendOnlyQuerySet)


class AccessLogEntry(AppendOnly, TenantOwned):
    """NEN 7513: who accessed which client's record, how, when, and on whose responsibility.

    Append-only: the application never changes or removes an entry; on PostgreSQL a trigger refuses it.
    Kept at least five years.
    """

    at = models.DateTimeField(default=timezone.now)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Who the users were when the entry was written: a later change of name or e-mail does not move earlier
    # entries (rows from before 2026-12: pregnancies/migrations/0006_access_log_identity_snapshots.py).
    user_name = models.CharField(_("name at the time"), max_length=150, blank=True)
    user_email = models.EmailField(_("e-mail address at the time"), blank=True)
    on_behalf_of_name = models.CharField(max_length=150, blank=True)
    on_behalf_of_email = models.EmailField(blank=True)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=16, choices=AccessAction.choices)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=200, blank=True)

    objects = TenantAppendOnlyManager()  # type: ignore[misc]  # the same manager, with snapshot filling
    unscoped = AppendOnlyManager()  # type: ignore[misc]
    identity_snapshots: ClassVar[dict[str, tuple[str, str]]] = {
        "user": ("user_name", "user_email"),
        "on_behalf_of": ("on_behalf_of_name", "on_behalf_of_email"),
    }

    class Meta:
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log")
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["tenant", "client", "-at"]),
            models.Index(fields=["tenant", "user", "-at"]),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user_id} {self.action} {self.client_id}"

    @property
    def user_label(self) -> str:
        return identity_label(self.user_name, self.user_email)

    @property
    def on_behalf_of_label(self) -> str:
        return identity_label(self.on_behalf_of_name, self.on_behalf_of_email)


class ClinicalRevision(AppendOnly, TenantOwned):
    """What a recorded clinical fact of an episode was before a change, and why it changed: a delivery
    corrected, the severe maternal morbidity (LEMMoN) changed, an ended episode's end corrected.

    Part of the client's record, not of the audit trail: it is shown on the episode's history page, which
    is access-logged (NEN 7513). The audit entry of the same change names the fields that changed and this
    revision, never the values (an administrator reads the audit trail without a care relationship).
    Append-only in the application.
    """

    class Kind(models.TextChoices):
        DELIVERY = "delivery", _("Delivery")
        SEVERE_MORBIDITY = "severe_morbidity", _("Severe maternal morbidity")
        END = "end", _("End of care")

    episode = models.ForeignKey("Episode", on_delete=models.PROTECT, related_name="clinical_revisions")
    kind = models.CharField(_("what"), max_length=32, choices=Kind.choices)
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_by_name = models.CharField(_("name at the time"), max_length=150, blank=True)
    changed_by_email = models.EmailField(_("e-mail address at the time"), blank=True)
    reason = models.TextField(_("reason"), blank=True)
    fields = models.JSONField(_("fields changed"), default=list)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)

    objects = TenantAppendOnlyManager()  # type: ignore[misc]
    unscoped = AppendOnlyManager()  # type: ignore[misc]
    identity_snapshots: ClassVar[dict[str, tuple[str, str]]] = {
        "changed_by": ("changed_by_name", "changed_by_email")
    }

    class Meta:
        verbose_name = _("clinical revision")
        verbose_name_plural = _("clinical revisions")
        ordering = ["-changed_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.changed_at:%Y-%m-%d %H:%M} {self.kind}"

    @property
    def changed_by_label(self) -> str:
        return identity_label(self.changed_by_name, self.changed_by_email)

    def changes(self) -> list[tuple[str, Any, Any]]:
        """(field, before, after) of each field that changed, for the history page."""

        def value(state: Any, path: list[str]) -> Any:
            for part in path:
                if isinstance(state, dict):
                    state = state.get(part)
                elif isinstance(state, list):  # children, by their number
                    state = next((c for c in state if str(c.get("child")) == part), None)
                else:
                    return None
            return state

        return [
            (name, value(self.before, name.split(".")), value(self.after, name.split(".")))
            for name in self.fields
        ]
