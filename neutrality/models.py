"""Budget neutrality: what the same care would have earned under monodisciplinary funding.

Three kinds of reference data, none of them guessed:
- `ReferenceTariff`: the maximum tariffs of midwifery (verloskunde) and maternity care (kraamzorg) per
  prestatie, dated; operator data, shared by all IGOs (the NZa sets them nationally);
- `DbcAmount`: the hospital part, an amount per DBC care product that the IGO itself enters (hospital prices
  are negotiated per hospital, so they belong to the tenant);
- `CatalogueMapping`: how an entry of the IGO's care catalogue would have been billed monodisciplinary.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from igo.tenancy import TenantOwned


class TariffDiscipline(models.TextChoices):
    VERLOSKUNDE = "verloskunde", _("Midwifery (verloskunde)")
    KRAAMZORG = "kraamzorg", _("Maternity care (kraamzorg)")


class TariffUnit(models.TextChoices):
    # Once per pregnancy and member, however many events lead to it (a midwife's prenatal care, a DBC).
    TRAJECTORY = "trajectory", _("per trajectory")
    HOUR = "hour", _("per hour")
    CONTACT = "contact", _("per contact")


class ReferenceSource(models.TextChoices):
    VERLOSKUNDE = "verloskunde", _("Midwifery (verloskunde)")
    KRAAMZORG = "kraamzorg", _("Maternity care (kraamzorg)")
    DBC = "dbc", _("Hospital (DBC care product)")
    # Part of another prestatie (e.g. a check inside the midwife's trajectory): counts for nothing, knowingly.
    INCLUDED = "included", _("Not billed separately")


class ReferenceTariff(models.Model):
    """A monodisciplinary maximum tariff of one prestatie over a period (operator reference data)."""

    discipline = models.CharField(_("discipline"), max_length=16, choices=TariffDiscipline.choices)
    code = models.CharField(_("prestatie code"), max_length=16)
    description = models.CharField(_("description"), max_length=200)
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    max_tariff = models.DecimalField(
        _("maximum tariff"), max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    unit = models.CharField(_("unit"), max_length=16, choices=TariffUnit.choices)
    source_note = models.CharField(
        _("source"), max_length=300, help_text=_("Where the amount comes from (e.g. the NZa policy rule).")
    )

    class Meta:
        verbose_name = _("reference tariff")
        verbose_name_plural = _("reference tariffs")
        ordering = ["discipline", "code", "valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["discipline", "code", "valid_from"], name="reference_tariff_version_unique"
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="reference_tariff_period_valid",
            ),
            models.CheckConstraint(condition=Q(max_tariff__gte=0), name="reference_tariff_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.get_discipline_display()} {self.code} {self.valid_from:%d-%m-%Y}"


dbc_code_validator = RegexValidator(r"^\d{9}$", _("A DBC care product code has 9 digits."))


class DbcAmount(TenantOwned):
    """What the hospital would have earned for one DBC care product over a period, as the IGO enters it."""

    code = models.CharField(_("DBC care product"), max_length=9, validators=[dbc_code_validator])
    description = models.CharField(_("description"), max_length=200)
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    amount = models.DecimalField(
        _("amount"), max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )

    class Meta:
        verbose_name = _("DBC amount")
        verbose_name_plural = _("DBC amounts")
        ordering = ["code", "valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "code", "valid_from"], name="dbc_amount_version_unique"
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="dbc_amount_period_valid",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="dbc_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"DBC {self.code} {self.valid_from:%d-%m-%Y}"


class CatalogueMapping(TenantOwned):
    """How one entry of the care catalogue would have been billed monodisciplinary: a reference prestatie of
    midwifery or kraamzorg, or a DBC care product of the hospital. An entry without a mapping is not
    estimated: its events count as missing reference data."""

    event_type = models.OneToOneField(
        "pregnancies.EventType",
        on_delete=models.CASCADE,
        related_name="neutrality_mapping",
        verbose_name=_("care event type"),
    )
    source = models.CharField(_("billed as"), max_length=16, choices=ReferenceSource.choices)
    code = models.CharField(_("prestatie or DBC code"), max_length=16, blank=True)

    class Meta:
        verbose_name = _("catalogue mapping")
        verbose_name_plural = _("catalogue mappings")
        ordering = ["event_type__code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(source="included", code="") | (~Q(source="included") & ~Q(code="")),
                name="catalogue_mapping_code_given",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type_id} → {self.source}:{self.code}"
