"""Member organisations of an IGO and the professionals who work for them."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from igo.tenancy import TenantOwned
from igo.validators import validate_agb_code, validate_big_number


class OrganisationKind(models.TextChoices):
    MIDWIFERY_PRACTICE = "midwifery_practice", _("Midwifery practice")
    HOSPITAL = "hospital", _("Hospital")
    GYNAECOLOGISTS = "gynaecologists", _("Gynaecologists' partnership")
    KRAAMZORG = "kraamzorg", _("Maternity care organisation")


class MemberOrganisation(TenantOwned):
    """A care provider that is a member of the IGO for a period (a practice, hospital or kraamzorg)."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=32, choices=OrganisationKind.choices)
    agb_code = models.CharField(_("AGB code"), max_length=8, validators=[validate_agb_code])
    member_from = models.DateField(_("member from"))
    member_until = models.DateField(_("member until"), null=True, blank=True)
    # Where its payouts go (billing.services.payouts); validated with schwifty, changes audited.
    iban = models.CharField(_("IBAN"), max_length=34, blank=True)
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    account_holder = models.CharField(_("account holder"), max_length=70, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("member organisation")
        verbose_name_plural = _("member organisations")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "agb_code"], name="member_org_agb_unique_per_tenant"),
            models.CheckConstraint(
                condition=Q(member_until__isnull=True) | Q(member_until__gte=models.F("member_from")),
                name="member_org_period_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def is_member_on(self, day: date) -> bool:
        return self.member_from <= day and (self.member_until is None or day <= self.member_until)


class Discipline(models.TextChoices):
    MIDWIFE = "midwife", _("Midwife")
    CLINICAL_MIDWIFE = "clinical_midwife", _("Clinical midwife")
    GYNAECOLOGIST = "gynaecologist", _("Gynaecologist")
    OBSTETRIC_NURSE = "obstetric_nurse", _("Obstetric nurse")
    MATERNITY_CARER = "maternity_carer", _("Maternity carer")
    SONOGRAPHER = "sonographer", _("Sonographer")


# Disciplines registered in the BIG register (Wet BIG): midwives and doctors.
BIG_DISCIPLINES = frozenset({Discipline.MIDWIFE, Discipline.CLINICAL_MIDWIFE, Discipline.GYNAECOLOGIST})


class Professional(TenantOwned):
    """A person who delivers care for a member organisation; may be linked to a user account."""

    full_name = models.CharField(_("full name"), max_length=150)
    discipline = models.CharField(_("discipline"), max_length=32, choices=Discipline.choices)
    agb_code = models.CharField(
        _("personal AGB code"), max_length=8, blank=True, validators=[validate_agb_code]
    )
    big_number = models.CharField(
        _("BIG number"), max_length=11, blank=True, validators=[validate_big_number]
    )
    organisation = models.ForeignKey(
        MemberOrganisation,
        on_delete=models.PROTECT,
        related_name="professionals",
        verbose_name=_("works for"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="professional_profiles",
        verbose_name=_("user account"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("professional")
        verbose_name_plural = _("professionals")
        ordering = ["full_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user"],
                condition=Q(user__isnull=False),
                name="professional_one_per_user_per_tenant",
            ),
            models.UniqueConstraint(
                fields=["tenant", "agb_code"],
                condition=~Q(agb_code=""),
                name="professional_agb_unique_per_tenant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.get_discipline_display()})"
